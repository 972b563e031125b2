//! Deleting the realm's application and its service principal. Entra ID keeps deleted
//! applications restorable for 30 days ("Deleted applications" in the portal).

use serde::Serialize;

use super::error::ProvisionError;
use super::progress::Progress;
use super::resolve::FoundApp;
use crate::graph::{GraphClient, GraphError};

const DELETE_NEEDS: &str =
    "Application.ReadWrite.All (or Application.ReadWrite.OwnedBy as an owner of the application)";

/// What was (or in a dry run would be) deleted.
#[derive(Debug, Clone, Serialize)]
pub struct Deprovisioned {
    pub dry_run: bool,
    pub display_name: Option<String>,
    pub app_object_id: String,
    pub app_id: String,
    /// The service principal, if the application had one.
    pub sp_id: Option<String>,
}

/// Delete the service principal (first, so no enterprise application is left orphaned if
/// the second call fails) and then the application. Objects already gone count as deleted.
pub async fn deprovision(
    graph: &GraphClient,
    found: &FoundApp,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<Deprovisioned, ProvisionError> {
    let app = &found.app;
    let sp = graph.find_service_principal_by_app_id(&app.app_id).await?;
    let verb = if dry_run { "Would delete" } else { "Deleting" };
    if let Some(sp) = &sp {
        progress.step(&format!("{verb} the service principal {}", sp.id));
        if !dry_run {
            deleted(graph.delete_service_principal(&sp.id).await).map_err(|e| {
                ProvisionError::from_write(e, "delete the service principal", DELETE_NEEDS)
            })?;
        }
    }
    progress.step(&format!(
        "{verb} the application {} (client ID {})",
        app.display_name.as_deref().unwrap_or(&app.id),
        app.app_id
    ));
    if !dry_run {
        deleted(graph.delete_application(&app.id).await)
            .map_err(|e| ProvisionError::from_write(e, "delete the application", DELETE_NEEDS))?;
    }
    Ok(Deprovisioned {
        dry_run,
        display_name: app.display_name.clone(),
        app_object_id: app.id.clone(),
        app_id: app.app_id.clone(),
        sp_id: sp.map(|s| s.id),
    })
}

/// A delete that finds nothing to delete has reached its goal.
fn deleted(result: Result<(), GraphError>) -> Result<(), GraphError> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}
