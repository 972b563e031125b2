//! Admin consent for application permissions: one app-role assignment per permission,
//! from the application's service principal to Microsoft Graph's. Only missing ones are
//! created; "already exists" counts as granted; a caller who may not grant gets the exact
//! instructions for an administrator instead of a failure.

use std::collections::HashSet;

use super::concurrent::join_all;
use super::error::ProvisionError;
use super::flow::Flow;
use super::options::ConsentMode;
use super::permissions::GraphPermission;
use super::record::{ChangeKind, ConsentOutcome, ConsentState};
use super::wait::while_replicating;
use crate::cloud::Endpoints;
use crate::graph::models::ServicePrincipal;
use crate::graph::ErrorClass;

/// The `redirect_uri` of the admin-consent link. Microsoft's v2 endpoint requires one and
/// refuses any that is not registered on the application, so the instructions say to register
/// it; after consenting, the browser lands on it with `admin_consent=True` (nothing needs to
/// listen there: the consent is recorded before the redirect).
pub const CONSENT_REDIRECT_URI: &str = "https://localhost";

/// The `state` of the admin-consent link (returned on the redirect; names who sent the admin).
const CONSENT_STATE: &str = "msgraph-keystore";

/// How an administrator grants the consent the caller could not: the portal path and the
/// admin-consent URL on the cloud's login host.
pub fn admin_consent_instructions(tenant_id: &str, app_id: &str, endpoints: &Endpoints) -> String {
    instructions(
        tenant_id,
        app_id,
        &endpoints.access_token_host,
        &endpoints.scope,
    )
}

/// Microsoft identity platform's documented admin-consent endpoint
/// (learn.microsoft.com/entra/identity-platform/v2-admin-consent):
/// `{login}/{tenant}/v2.0/adminconsent` with its required `client_id`, `scope` and
/// `redirect_uri`, and the recommended `state`. `scope` is the Graph resource's `/.default`:
/// "In order to request app permissions, you must use the /.default value", which asks for
/// everything the application declares in `requiredResourceAccess`. (The older
/// `{login}/{tenant}/adminconsent?client_id=…` form is not documented by Microsoft.)
pub fn admin_consent_url(login_host: &str, tenant_id: &str, app_id: &str, scope: &str) -> String {
    let enc = crate::graph::odata::encode_query_value;
    format!(
        "{}/{}/v2.0/adminconsent?client_id={}&scope={}&redirect_uri={}&state={}",
        login_host.trim_end_matches('/'),
        enc(tenant_id),
        enc(app_id),
        enc(scope),
        enc(CONSENT_REDIRECT_URI),
        CONSENT_STATE
    )
}

fn instructions(tenant_id: &str, app_id: &str, login_host: &str, scope: &str) -> String {
    format!(
        "An administrator (Privileged Role Administrator or Global Administrator) must grant admin consent for the application with client ID {app_id}:\n\
         \x20 - in the Microsoft Entra admin center: Entra ID → Enterprise applications → (the application) → Permissions → Grant admin consent for the tenant\n\
         \x20   (or: Entra ID → App registrations → (the application) → API permissions → Grant admin consent)\n\
         \x20 - or open Microsoft's admin-consent endpoint, after adding {CONSENT_REDIRECT_URI} as a Web redirect URI of the application (App registrations → (the application) → Authentication; the endpoint refuses an unregistered redirect_uri):\n\
         \x20   {}\n\
         Then run this command again to confirm the permissions are granted.",
        admin_consent_url(login_host, tenant_id, app_id, scope)
    )
}

const CONSENT_NEEDS_READ: &str = "Application.Read.All";

impl Flow<'_> {
    /// Grant the missing permissions (or, with `--no-consent` or in a dry run, report
    /// them). `sp` is `None` only in a dry run that would create the service principal;
    /// `fresh` says this run created it, so nothing is granted yet and there is nothing to
    /// read (a grant someone slipped in meanwhile answers "already exists", which counts as
    /// granted).
    pub(crate) async fn consent(
        &mut self,
        sp: Option<&ServicePrincipal>,
        fresh: bool,
        graph_sp_id: Option<&str>,
        permissions: Option<&[GraphPermission]>,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<ConsentState, ProvisionError> {
        let all: Vec<String> = self
            .opts
            .permissions
            .role_values()
            .iter()
            .map(|v| v.to_string())
            .collect();
        let (Some(sp), Some(graph_sp_id), Some(permissions)) = (sp, graph_sp_id, permissions)
        else {
            // Dry run with nothing to read yet: everything would be granted.
            return Ok(self.nothing_granted_yet(all));
        };
        let granted_ids = if fresh {
            HashSet::new()
        } else {
            self.granted_role_ids(&sp.id, graph_sp_id).await?
        };
        let mut granted: Vec<String> = Vec::new();
        let mut missing: Vec<&GraphPermission> = Vec::new();
        for p in permissions {
            if granted_ids.contains(&p.id.to_ascii_lowercase()) {
                granted.push(p.value.clone());
            } else {
                missing.push(p);
            }
        }
        if missing.is_empty() {
            return Ok(ConsentState {
                outcome: ConsentOutcome::AlreadyGranted,
                granted,
                missing: Vec::new(),
            });
        }
        let missing_values = |m: &[&GraphPermission]| m.iter().map(|p| p.value.clone()).collect();
        if self.opts.consent == ConsentMode::Skip {
            return Ok(ConsentState {
                outcome: ConsentOutcome::Skipped,
                granted,
                missing: missing_values(&missing),
            });
        }
        if self.opts.dry_run {
            for p in &missing {
                self.change(
                    ChangeKind::GrantPermission,
                    format!("grant admin consent for {}", p.value),
                );
            }
            return Ok(ConsentState {
                outcome: ConsentOutcome::Planned,
                granted,
                missing: missing_values(&missing),
            });
        }
        // The grants do not depend on each other: all at once, each retried through
        // replication on its own. Results are read in permission order, so the record does
        // not depend on which answer came first.
        let graph = self.graph;
        let progress = self.progress;
        let results = join_all(missing.iter().map(|p| async move {
            let what = format!("grant {}", p.value);
            while_replicating(graph, progress, &what, || {
                graph.create_app_role_assignment(graph_sp_id, &sp.id, &p.id)
            })
            .await
        }))
        .await;
        let mut still_missing: Vec<&GraphPermission> = Vec::new();
        let mut forbidden = false;
        let mut failure: Option<ProvisionError> = None;
        for (p, result) in missing.iter().copied().zip(results) {
            match result {
                Ok(_) => {
                    self.change(
                        ChangeKind::GrantPermission,
                        format!("grant admin consent for {}", p.value),
                    );
                    granted.push(p.value.clone());
                }
                Err(ProvisionError::Graph(e)) if e.class() == ErrorClass::AlreadyExists => {
                    granted.push(p.value.clone());
                }
                Err(ProvisionError::Graph(e)) if e.api().is_some_and(|a| a.status == 403) => {
                    tracing::info!("the caller may not grant admin consent: {e}");
                    forbidden = true;
                    still_missing.push(p);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                    still_missing.push(p);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let outcome = if forbidden {
            ConsentOutcome::Forbidden {
                instructions: instructions(
                    tenant_id,
                    app_id,
                    &self.opts.access_token_host,
                    self.graph.scope(),
                ),
            }
        } else {
            ConsentOutcome::Granted
        };
        Ok(ConsentState {
            outcome,
            granted,
            missing: missing_values(&still_missing),
        })
    }

    fn nothing_granted_yet(&mut self, all: Vec<String>) -> ConsentState {
        let outcome = match self.opts.consent {
            ConsentMode::Skip => ConsentOutcome::Skipped,
            ConsentMode::Grant => {
                for v in &all {
                    self.change(
                        ChangeKind::GrantPermission,
                        format!("grant admin consent for {v}"),
                    );
                }
                ConsentOutcome::Planned
            }
        };
        ConsentState {
            outcome,
            granted: Vec::new(),
            missing: all,
        }
    }

    /// App role ids (lower-case) already granted to `sp_id` on Microsoft Graph. A caller
    /// who may not read assignments gets an empty set: creating then answers "already
    /// exists" for the granted ones, which counts as success.
    async fn granted_role_ids(
        &self,
        sp_id: &str,
        graph_sp_id: &str,
    ) -> Result<HashSet<String>, ProvisionError> {
        let graph = self.graph;
        let listed = while_replicating(graph, self.progress, "read granted permissions", || {
            graph.list_app_role_assignments(sp_id)
        })
        .await;
        match listed {
            Ok(assignments) => Ok(assignments
                .into_iter()
                .filter(|a| a.resource_id.eq_ignore_ascii_case(graph_sp_id))
                .map(|a| a.app_role_id.to_ascii_lowercase())
                .collect()),
            Err(ProvisionError::Graph(e)) if e.api().is_some_and(|a| a.status == 403) => {
                tracing::info!(
                    "cannot read granted permissions (needs {CONSENT_NEEDS_READ}); assuming none: {e}"
                );
                Ok(HashSet::new())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;

    #[test]
    fn instructions_name_the_portal_path_and_the_cloud_url() {
        let text = admin_consent_instructions("tenant-1", "app-1", &Cloud::Usgov.endpoints());
        assert!(text.contains("Enterprise applications"), "{text}");
        assert!(text.contains("Grant admin consent"), "{text}");
        assert!(
            text.contains("https://login.microsoftonline.us/tenant-1/v2.0/adminconsent?client_id=app-1&scope=https%3A%2F%2Fgraph.microsoft.us%2F.default&"),
            "{text}"
        );
        assert!(
            text.contains("adding https://localhost as a Web redirect URI"),
            "{text}"
        );
        let text = instructions(
            "t",
            "a",
            "http://127.0.0.1:9/",
            "https://graph.microsoft.com/.default",
        );
        assert!(
            text.contains("http://127.0.0.1:9/t/v2.0/adminconsent?client_id=a&"),
            "{text}"
        );
    }

    #[test]
    fn the_consent_url_is_the_documented_v2_endpoint_with_its_parameters() {
        let url = admin_consent_url(
            "https://login.microsoftonline.com/",
            "contoso.onmicrosoft.com",
            "00001111-aaaa-2222-bbbb-3333cccc4444",
            "https://graph.microsoft.com/.default",
        );
        let parsed = match url::Url::parse(&url) {
            Ok(u) => u,
            Err(e) => panic!("{url}: {e}"),
        };
        assert_eq!(parsed.path(), "/contoso.onmicrosoft.com/v2.0/adminconsent");
        let query: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            query,
            vec![
                (
                    "client_id".into(),
                    "00001111-aaaa-2222-bbbb-3333cccc4444".into()
                ),
                (
                    "scope".into(),
                    "https://graph.microsoft.com/.default".into()
                ),
                ("redirect_uri".into(), CONSENT_REDIRECT_URI.into()),
                ("state".into(), "msgraph-keystore".into()),
            ]
        );
    }
}
