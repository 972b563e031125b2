//! The provisioning flow: steps that each first read what is there and write only what is
//! missing. A run that stops anywhere (crash, deadline, Ctrl-C) is resumed by running it
//! again: the marker tag (or the display name) finds the application, and every later step
//! converges from whatever state it finds.
//!
//! Every round trip counts (Graph answers take 50–500 ms, and `setup` should finish in a
//! handful of them), so steps that do not need each other's answers run at once:
//!
//! 1. the application look-ups, Microsoft Graph's service principal and (when the client
//!    ID is already known) the application's service principal;
//! 2. only when nothing was found: instantiate the template, then confirm both new objects
//!    with one round of concurrent reads;
//! 3. three independent branches: one PATCH of the application (tag, notes, permissions);
//!    the service principal, the granted roles and the missing grants (all at once); the
//!    client secret. Each retries its own writes through replication.
//!
//! The changes of the branches are recorded in that fixed order, not in the order the
//! answers came, so the record of a run does not depend on timing.

use super::error::ProvisionError;
use super::options::{AddSecret, ConsentMode, ProvisionOptions};
use super::permissions::{resolve_permissions, GraphPermission};
use super::progress::Progress;
use super::record::{
    Change, ChangeKind, ConsentOutcome, ConsentState, FoundBy, Provisioned, SecretInfo,
};
use super::resolve::find_app;
use crate::graph::models::{Application, ServicePrincipal};
use crate::graph::{GraphClient, GraphError};

/// State shared by the steps of one run (or of one of its concurrent branches).
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

    /// A flow for one branch that runs concurrently with others: the same run, with its
    /// own list of changes for [`Flow::absorb`] to merge.
    fn branch(&self) -> Flow<'a> {
        Flow::new(self.graph, self.opts, self.progress)
    }

    fn absorb(&mut self, branch: Flow<'_>) {
        self.changes.extend(branch.changes);
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
    let known_client_id = opts
        .app_id
        .as_deref()
        .or(opts.configured_client_id.as_deref());
    let (found, graph_sp, early_sp) = tokio::join!(
        find_app(graph, opts),
        graph.microsoft_graph_service_principal(),
        service_principal_of(graph, known_client_id),
    );
    let found = found?;
    if let Some(f) = &found {
        progress.step(&format!(
            "Found application {} (client ID {}) by {}",
            f.app.display_name.as_deref().unwrap_or(&opts.app_name),
            f.app.app_id,
            describe(f.found_by)
        ));
    }
    let (graph_sp_id, permissions) = flow.graph_permissions(graph_sp).await?;

    let (app, known_sp, created, found_by) = match found {
        Some(f) => {
            let sp = early_sp.filter(|sp| sp.app_id.eq_ignore_ascii_case(&f.app.app_id));
            (f.app, sp, false, Some(f.found_by))
        }
        None if opts.dry_run => return flow.plan_new_application().await,
        None => {
            let (app, sp) = flow.create_application().await?;
            (app, Some(sp), true, None)
        }
    };

    let (mut on_app, mut on_sp, mut on_secret) = (flow.branch(), flow.branch(), flow.branch());
    let (configured, granted, added) = tokio::join!(
        on_app.configure_application(app.clone(), created, permissions.as_deref()),
        on_sp.service_principal_and_consent(
            &app,
            known_sp,
            created,
            graph_sp_id.as_deref(),
            permissions.as_deref()
        ),
        on_secret.secret(&app),
    );
    flow.absorb(on_app);
    flow.absorb(on_sp);
    flow.absorb(on_secret);
    let new_secret = match added {
        Ok(s) => s,
        Err(e) => return Err(configured.err().or(granted.err()).unwrap_or(e)),
    };
    let (app, (sp, tenant_id, consent)) = match configured.and_then(|a| granted.map(|g| (a, g))) {
        Ok(done) => done,
        Err(e) => {
            // The secret's value would die with this run: nobody could ever use it.
            if let Some(s) = &new_secret {
                flow.remove_unused_secret(&app, s).await;
            }
            return Err(e);
        }
    };

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

/// The service principal of `app_id`, read alongside the application itself when the
/// client ID is known up front. Best effort: on any failure the service principal step
/// looks again (and reports the error then).
async fn service_principal_of(
    graph: &GraphClient,
    app_id: Option<&str>,
) -> Option<ServicePrincipal> {
    match graph.find_service_principal_by_app_id(app_id?).await {
        Ok(sp) => sp,
        Err(e) => {
            tracing::debug!("service principal look-up ahead of time failed: {e}");
            None
        }
    }
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
    /// The tenant's Microsoft Graph service principal (as `looked_up` found it) and the
    /// permissions of the chosen set, resolved by value. A tenant without one (rare: it appears with the first
    /// Microsoft 365 use) gets it created; in a dry run that is planned and the ids stay
    /// unknown.
    async fn graph_permissions(
        &mut self,
        looked_up: Result<Option<ServicePrincipal>, GraphError>,
    ) -> Result<(Option<String>, Option<Vec<GraphPermission>>), ProvisionError> {
        let sp = match looked_up.map_err(|e| {
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

    /// The branch about the service principal: find or create it, learn the tenant ID,
    /// grant what is missing. `app_is_new` says this run created the application.
    async fn service_principal_and_consent(
        &mut self,
        app: &Application,
        known: Option<ServicePrincipal>,
        app_is_new: bool,
        graph_sp_id: Option<&str>,
        permissions: Option<&[GraphPermission]>,
    ) -> Result<(Option<ServicePrincipal>, String, ConsentState), ProvisionError> {
        let (sp, fresh) = self
            .ensure_service_principal(app, known, app_is_new)
            .await?;
        let tenant_id = self.tenant_id(sp.as_ref()).await?;
        let consent = self
            .consent(
                sp.as_ref(),
                fresh,
                graph_sp_id,
                permissions,
                &tenant_id,
                &app.app_id,
            )
            .await?;
        Ok((sp, tenant_id, consent))
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
                    opts.credential_name, opts.secret_lifetime_days
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::auth::ClientSecretSource;
    use crate::cloud::Cloud;
    use crate::graph::RetryPolicy;
    use crate::net::{build_client, HttpOptions};
    use crate::provision::{AddSecret, NoProgress};
    use fake_tenant::{FakeTenant, FakeTenantConfig, Faults};

    fn graph(tenant: &FakeTenant, timeout: Duration) -> GraphClient {
        let admin = tenant.admin();
        let http = build_client(&HttpOptions::default()).unwrap();
        let tokens = ClientSecretSource::new(
            http.clone(),
            &tenant.access_token_host(),
            &admin.tenant_id,
            &admin.client_id,
            admin.client_secret,
        )
        .unwrap();
        GraphClient::new(
            http,
            Arc::new(tokens),
            &tenant.graph_host(),
            &Cloud::Global.endpoints().scope,
            Instant::now() + timeout,
        )
        .unwrap()
        .with_retry_policy(RetryPolicy {
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(40),
            ..RetryPolicy::default()
        })
    }

    /// The secret is added while the grants still wait for the new service principal to
    /// replicate; when that wait runs out, the secret — whose value this failed run can
    /// hand to nobody — is removed again, and the next run adds the one secret it keeps.
    /// (400 refused grants outlast 800 ms of 5–40 ms backoffs; the re-run, with a longer
    /// deadline, waits out the rest: the count is fixed when the principal is created.)
    #[tokio::test]
    async fn a_secret_added_by_a_failed_run_is_removed_again() {
        let tenant = FakeTenant::start(FakeTenantConfig {
            faults: Faults {
                not_valid_reference: 400,
                ..Faults::default()
            },
            tenant_id: None,
        })
        .await
        .unwrap();
        let mut endpoints = Cloud::Global.endpoints();
        endpoints.access_token_host = tenant.access_token_host();
        endpoints.graph_host = tenant.graph_host();
        let mut opts = ProvisionOptions::for_endpoints(&endpoints).with_app_name("unused-secret");
        opts.add_secret = AddSecret::IfNone;

        let err = provision(
            &graph(&tenant, Duration::from_millis(800)),
            &opts,
            &NoProgress,
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("did not replicate"), "{err}");
        let snap = tenant.snapshot();
        let apps = snap.applications_named("unused-secret");
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].password_credentials.len(), 0, "the secret is gone");

        tenant.set_faults(Faults::default());
        let done = provision(&graph(&tenant, Duration::from_secs(30)), &opts, &NoProgress)
            .await
            .unwrap();
        assert!(done.new_secret.is_some());
        let snap = tenant.snapshot();
        assert_eq!(
            snap.applications_named("unused-secret")[0]
                .password_credentials
                .len(),
            1
        );
    }
}
