//! The provisioning flow: small steps in a fixed order, each of which first reads what is
//! there and writes only what is missing. A run that stops anywhere (crash, deadline,
//! Ctrl-C) is resumed by running it again: the marker tag finds the application, and every
//! later step converges from whatever state it finds.

use super::error::ProvisionError;
use super::options::{AddSecret, ConsentMode, ProvisionOptions};
use super::permissions::{resolve_permissions, GraphPermission};
use super::progress::Progress;
use super::record::{Change, ChangeKind, ConsentOutcome, FoundBy, Provisioned, SecretInfo};
use super::resolve::find_app;
use crate::graph::models::ServicePrincipal;
use crate::graph::GraphClient;

/// State shared by the steps of one run.
pub(crate) struct Flow<'a> {
    pub graph: &'a GraphClient,
    pub opts: &'a ProvisionOptions,
    pub progress: &'a dyn Progress,
    pub changes: Vec<Change>,
}

impl<'a> Flow<'a> {
    pub fn new(
        graph: &'a GraphClient,
        opts: &'a ProvisionOptions,
        progress: &'a dyn Progress,
    ) -> Self {
        Flow {
            graph,
            opts,
            progress,
            changes: Vec::new(),
        }
    }

    /// Record a change (made, or in a dry run planned) and say so.
    pub fn change(&mut self, kind: ChangeKind, detail: String) {
        if self.opts.dry_run {
            self.progress.step(&format!("Would {detail}"));
        } else {
            self.progress.step(&capitalized(&detail));
        }
        self.changes.push(Change { kind, detail });
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Make sure the realm's application exists and is configured: resolve or create it, wait
/// for replication, tag it, declare and grant the Graph permissions, and add a client
/// secret when asked. With `opts.dry_run`, only reads: the record lists the planned
/// changes.
pub async fn provision(
    graph: &GraphClient,
    opts: &ProvisionOptions,
    progress: &dyn Progress,
) -> Result<Provisioned, ProvisionError> {
    let mut flow = Flow::new(graph, opts, progress);
    progress.step(&format!("Looking for the application '{}'", opts.app_name));
    let found = find_app(graph, opts).await?;
    if let Some(f) = &found {
        progress.step(&format!(
            "Found application {} (client ID {}) by {}",
            f.app.display_name.as_deref().unwrap_or(&opts.app_name),
            f.app.app_id,
            describe(f.found_by)
        ));
    }
    let (graph_sp_id, permissions) = flow.graph_permissions().await?;

    let (app, known_sp, created, found_by) = match found {
        Some(f) => (f.app, None, false, Some(f.found_by)),
        None if opts.dry_run => return flow.plan_new_application().await,
        None => {
            let (app, sp) = flow.create_application().await?;
            (app, Some(sp), true, None)
        }
    };
    let app = flow.ensure_marker(app, created).await?;
    let sp = flow
        .ensure_service_principal(&app, known_sp, created)
        .await?;
    flow.ensure_required_access(&app, permissions.as_deref())
        .await?;
    let tenant_id = flow.tenant_id(sp.as_ref()).await?;
    let consent = flow
        .consent(
            sp.as_ref(),
            graph_sp_id.as_deref(),
            permissions.as_deref(),
            &tenant_id,
            &app.app_id,
        )
        .await?;
    let new_secret = flow.secret(&app).await?;

    let mut secrets: Vec<SecretInfo> = app
        .password_credentials
        .iter()
        .map(SecretInfo::from)
        .collect();
    if let Some(s) = &new_secret {
        if !secrets.iter().any(|c| c.key_id == s.key_id) {
            secrets.push(SecretInfo {
                key_id: s.key_id.clone(),
                display_name: s.display_name.clone(),
                end_date_time: s.end_date_time,
            });
        }
    }
    Ok(Provisioned {
        dry_run: opts.dry_run,
        display_name: app
            .display_name
            .clone()
            .unwrap_or_else(|| opts.app_name.clone()),
        app_object_id: Some(app.id.clone()),
        app_id: Some(app.app_id.clone()),
        sp_id: sp.map(|s| s.id),
        tenant_id,
        created,
        found_by,
        changes: flow.changes,
        permissions: opts.permissions,
        granted_permissions: consent.granted,
        missing_permissions: consent.missing,
        consent: consent.outcome,
        secrets,
        new_secret,
    })
}

fn describe(found_by: FoundBy) -> &'static str {
    match found_by {
        FoundBy::AppId => "--app-id",
        FoundBy::ConfiguredClientId => "the realm's configured client_id",
        FoundBy::MarkerTag => "its msgraph-keystore tag",
        FoundBy::DisplayName => "its display name",
    }
}

impl Flow<'_> {
    /// The tenant's Microsoft Graph service principal and the permissions of the chosen
    /// set, resolved by value. A tenant without one (rare: it appears with the first
    /// Microsoft 365 use) gets it created; in a dry run that is planned and the ids stay
    /// unknown.
    async fn graph_permissions(
        &mut self,
    ) -> Result<(Option<String>, Option<Vec<GraphPermission>>), ProvisionError> {
        let sp = match self
            .graph
            .microsoft_graph_service_principal()
            .await
            .map_err(|e| {
                ProvisionError::from_write(
                    e,
                    "read Microsoft Graph's service principal",
                    "Application.Read.All",
                )
            })? {
            Some(sp) => sp,
            None if self.opts.dry_run => {
                self.change(
                    ChangeKind::CreateGraphServicePrincipal,
                    "create the tenant's Microsoft Graph service principal".to_string(),
                );
                return Ok((None, None));
            }
            None => self.create_graph_service_principal().await?,
        };
        let permissions = resolve_permissions(&sp, self.opts.permissions)?;
        Ok((Some(sp.id), Some(permissions)))
    }

    async fn create_graph_service_principal(&mut self) -> Result<ServicePrincipal, ProvisionError> {
        let sp = self
            .graph
            .create_service_principal(crate::cloud::MICROSOFT_GRAPH_APP_ID)
            .await
            .map_err(|e| {
                ProvisionError::from_write(
                    e,
                    "create the tenant's Microsoft Graph service principal",
                    "Application.ReadWrite.All",
                )
            })?;
        self.change(
            ChangeKind::CreateGraphServicePrincipal,
            "create the tenant's Microsoft Graph service principal".to_string(),
        );
        Ok(sp)
    }

    /// The record of a dry run that would create the application: nothing to read yet.
    async fn plan_new_application(mut self) -> Result<Provisioned, ProvisionError> {
        let opts = self.opts;
        self.change(
            ChangeKind::CreateApplication,
            format!(
                "create the application '{}' and its service principal",
                opts.app_name
            ),
        );
        self.change(
            ChangeKind::TagApplication,
            format!("tag the application '{}'", opts.marker_tag),
        );
        let values: Vec<String> = opts
            .permissions
            .role_values()
            .iter()
            .map(|v| v.to_string())
            .collect();
        self.change(
            ChangeKind::SetRequiredResourceAccess,
            format!(
                "declare the Microsoft Graph application permissions {}",
                values.join(", ")
            ),
        );
        let consent = match opts.consent {
            ConsentMode::Grant => {
                for v in &values {
                    self.change(
                        ChangeKind::GrantPermission,
                        format!("grant admin consent for {v}"),
                    );
                }
                ConsentOutcome::Planned
            }
            ConsentMode::Skip => ConsentOutcome::Skipped,
        };
        if opts.add_secret != AddSecret::Never {
            self.change(
                ChangeKind::AddSecret,
                format!(
                    "add a client secret '{}' valid for {} days",
                    opts.secret_display_name, opts.secret_lifetime_days
                ),
            );
        }
        let tenant_id = self.tenant_id(None).await?;
        Ok(Provisioned {
            dry_run: true,
            display_name: opts.app_name.clone(),
            app_object_id: None,
            app_id: None,
            sp_id: None,
            tenant_id,
            created: true,
            found_by: None,
            changes: self.changes,
            permissions: opts.permissions,
            granted_permissions: Vec::new(),
            missing_permissions: values,
            consent,
            secrets: Vec::new(),
            new_secret: None,
        })
    }
}
