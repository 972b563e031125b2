//! Finding the application a run is about, in a fixed order: `--app-id`, the realm's
//! configured `client_id`, the tool's marker tag, an exact display name. Never a guess:
//! more than one match is an error listing the candidates.

use super::error::ProvisionError;
use super::options::ProvisionOptions;
use super::record::FoundBy;
use crate::exit::ExitCode;
use crate::graph::models::Application;
use crate::graph::GraphClient;

/// The application found, and how.
#[derive(Debug, Clone)]
pub struct FoundApp {
    pub app: Application,
    pub found_by: FoundBy,
}

const LIST_NEEDS: &str =
    "Application.Read.All (or Application.ReadWrite.All; Application.ReadWrite.OwnedBy cannot list applications)";

/// Resolve the application for `opts`, or `None` when nothing matches (so it may be
/// created). An id that was given explicitly but matches nothing is an error: the tool
/// never creates a second application in place of one the user named.
pub async fn find_app(
    graph: &GraphClient,
    opts: &ProvisionOptions,
) -> Result<Option<FoundApp>, ProvisionError> {
    if let Some(app_id) = &opts.app_id {
        return by_app_id(
            graph,
            app_id,
            FoundBy::AppId,
            "given with --app-id",
            "check the Application (client) ID, or leave --app-id out to find or create the application by name",
            ExitCode::Usage,
        )
        .await
        .map(Some);
    }
    if let Some(client_id) = &opts.configured_client_id {
        let source = opts
            .configured_client_id_source
            .clone()
            .unwrap_or_else(|| "the realm's configured client_id".to_string());
        return by_app_id(
            graph,
            client_id,
            FoundBy::ConfiguredClientId,
            &source,
            "fix or remove that client_id setting, or pass --app-id",
            ExitCode::Config,
        )
        .await
        .map(Some);
    }
    // Both look-ups in one round trip. The tag still wins: the display-name answer (or its
    // error) only counts when no application carries the tag, as if asked afterwards.
    let (tagged, named) = tokio::join!(
        graph.find_applications_by_tag(&opts.marker_tag),
        graph.find_applications_by_display_name(&opts.app_name)
    );
    match tagged {
        Ok(tagged) => {
            if let Some(found) = single(tagged, FoundBy::MarkerTag, || {
                format!("the marker tag '{}'", opts.marker_tag)
            })? {
                return Ok(Some(found));
            }
        }
        // A tenant (or Graph version) that does not support filtering on tags answers
        // 400; the display-name lookup still finds the application.
        Err(e) if e.api().is_some_and(|a| a.status == 400) => {
            tracing::debug!("tag lookup not supported, falling back to the display name: {e}");
        }
        Err(e) => {
            return Err(ProvisionError::from_write(
                e,
                "list applications",
                LIST_NEEDS,
            ));
        }
    }
    let named =
        named.map_err(|e| ProvisionError::from_write(e, "list applications", LIST_NEEDS))?;
    single(named, FoundBy::DisplayName, || {
        format!("the display name '{}'", opts.app_name)
    })
}

async fn by_app_id(
    graph: &GraphClient,
    app_id: &str,
    found_by: FoundBy,
    source_desc: &str,
    remedy: &str,
    code: ExitCode,
) -> Result<FoundApp, ProvisionError> {
    let found = graph
        .find_applications_by_app_id(app_id)
        .await
        .map_err(|e| ProvisionError::from_write(e, "read applications", LIST_NEEDS))?;
    found
        .into_iter()
        .next()
        .map(|app| FoundApp { app, found_by })
        .ok_or_else(|| ProvisionError::AppNotFound {
            app_id: app_id.to_string(),
            source_desc: source_desc.to_string(),
            remedy: remedy.to_string(),
            code,
        })
}

fn single(
    mut apps: Vec<Application>,
    found_by: FoundBy,
    how: impl FnOnce() -> String,
) -> Result<Option<FoundApp>, ProvisionError> {
    match apps.len() {
        0 => Ok(None),
        1 => Ok(apps.pop().map(|app| FoundApp { app, found_by })),
        _ => Err(ProvisionError::Ambiguous {
            how: how(),
            app_ids: apps.into_iter().map(|a| a.app_id).collect(),
        }),
    }
}
