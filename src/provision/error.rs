//! Why a provisioning run stopped, as failures a user can tell apart, each with its exit
//! code and a next step.

use std::time::Duration;

use crate::exit::{ExitCode, UserFacing};
use crate::graph::{ApiError, GraphError};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A Graph call failed (its message carries Graph's code and request ids).
    #[error(transparent)]
    Graph(#[from] GraphError),

    /// Graph refused a write for lack of privileges.
    #[error(
        "not allowed to {action}: the identity running msgraph-keystore needs {needs}; {graph}"
    )]
    Forbidden {
        action: String,
        needs: String,
        graph: Box<GraphError>,
    },

    /// More than one application matches, so the tool will not guess.
    #[error("{} applications match {how} (appIds: {}); pass --app-id with the one to use", app_ids.len(), app_ids.join(", "))]
    Ambiguous { how: String, app_ids: Vec<String> },

    /// An application named by id does not exist.
    #[error("no application with appId {app_id} exists in this tenant ({source_desc}); {remedy}")]
    AppNotFound {
        app_id: String,
        source_desc: String,
        remedy: String,
        code: ExitCode,
    },

    /// A tenant app-management policy refused the secret.
    #[error("the tenant's application management policy refused a client secret valid for {days} days{}; pass --secret-lifetime {} or less — {graph}", limit_days.map(|l| format!(" (the policy allows at most {l} days)")).unwrap_or_default(), limit_days.map(|l| l.to_string()).unwrap_or_else(|| "with a shorter lifetime, e.g. 90,".to_string()))]
    SecretPolicy {
        days: u32,
        limit_days: Option<u32>,
        graph: Box<ApiError>,
    },

    /// A new object did not become consistently readable before the deadline.
    #[error("{what} did not replicate within the --timeout deadline ({}s); Entra ID replication can take several minutes: run the same command again to resume, or raise --timeout{}", waited.as_secs(), last.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    ReplicationTimeout {
        what: String,
        waited: Duration,
        last: Option<Box<GraphError>>,
    },

    /// Microsoft Graph's service principal lacks a permission we need.
    #[error("the tenant's Microsoft Graph service principal offers no application permission named {value}")]
    UnknownPermission { value: String },

    /// None of the ways to learn the tenant id worked.
    #[error("cannot tell the tenant ID: the service principal has no appOwnerOrganizationId, the access token has no tid claim, and {reason}")]
    TenantUnknown { reason: String },
}

impl ProvisionError {
    /// Wrap a Graph error from a write: a 403 becomes [`ProvisionError::Forbidden`] naming
    /// the permission the caller lacks; anything else passes through.
    pub fn from_write(e: GraphError, action: &str, needs: &str) -> ProvisionError {
        match e.api() {
            Some(api) if api.status == 403 => ProvisionError::Forbidden {
                action: action.to_string(),
                needs: needs.to_string(),
                graph: Box::new(e),
            },
            _ => ProvisionError::Graph(e),
        }
    }

    /// The Graph error inside, if this is one.
    pub fn graph(&self) -> Option<&GraphError> {
        match self {
            ProvisionError::Graph(e) => Some(e),
            ProvisionError::Forbidden { graph, .. } => Some(graph),
            _ => None,
        }
    }
}

impl UserFacing for ProvisionError {
    fn exit_code(&self) -> ExitCode {
        match self {
            ProvisionError::Graph(e) => e.exit_code(),
            ProvisionError::Forbidden { .. } => ExitCode::NoPermission,
            ProvisionError::Ambiguous { .. }
            | ProvisionError::SecretPolicy { .. }
            | ProvisionError::UnknownPermission { .. } => ExitCode::Config,
            ProvisionError::AppNotFound { code, .. } => *code,
            ProvisionError::ReplicationTimeout { .. } => ExitCode::TempFail,
            ProvisionError::TenantUnknown { .. } => ExitCode::Unavailable,
        }
    }
}

/// Read a lifetime limit out of a policy message, if the tenant said one: "… 90 days …"
/// or an ISO-8601 duration such as `P90D`.
pub fn limit_days_from_message(message: &str) -> Option<u32> {
    let words: Vec<&str> = message
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '\'' | '.'))
        .filter(|w| !w.is_empty())
        .collect();
    for pair in words.windows(2) {
        if pair[1].eq_ignore_ascii_case("days") || pair[1].eq_ignore_ascii_case("day") {
            if let Ok(n) = pair[0].parse() {
                return Some(n);
            }
        }
    }
    words.iter().find_map(|w| {
        w.strip_prefix('P')
            .and_then(|rest| rest.strip_suffix('D'))
            .and_then(|n| n.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ApiError {
        ApiError {
            method: "POST".into(),
            path: "/applications/o/addPassword".into(),
            status,
            code: code.into(),
            message:
                "Credential lifetime exceeds the max value allowed as per assigned policy 'p'."
                    .into(),
            request_id: Some("req-9".into()),
            client_request_id: Some("cli-9".into()),
            date: None,
            detail_codes: vec![],
        }
    }

    #[test]
    fn policy_message_names_the_flag_and_limit() {
        let e = ProvisionError::SecretPolicy {
            days: 180,
            limit_days: Some(90),
            graph: Box::new(api(400, "CredentialInvalidLifetimeAsPerAppPolicy")),
        };
        let m = e.to_string();
        assert!(m.contains("--secret-lifetime 90 or less"), "{m}");
        assert!(m.contains("180 days"), "{m}");
        assert!(m.contains("req-9"), "{m}");
        assert_eq!(e.exit_code(), ExitCode::Config);
        let e = ProvisionError::SecretPolicy {
            days: 180,
            limit_days: None,
            graph: Box::new(api(400, "CredentialInvalidLifetimeAsPerAppPolicy")),
        };
        assert!(e
            .to_string()
            .contains("--secret-lifetime with a shorter lifetime"));
    }

    #[test]
    fn limits_are_read_from_messages() {
        assert_eq!(
            limit_days_from_message("max allowed lifetime is 90 days."),
            Some(90)
        );
        assert_eq!(
            limit_days_from_message("maxLifetime P30D exceeded"),
            Some(30)
        );
        assert_eq!(
            limit_days_from_message(
                "Credential lifetime exceeds the max value allowed as per assigned policy 'aaa'."
            ),
            None
        );
    }

    #[test]
    fn forbidden_writes_name_the_missing_permission() {
        let e = ProvisionError::from_write(
            GraphError::Api(Box::new(api(403, "Authorization_RequestDenied"))),
            "create the application",
            "Application.ReadWrite.All",
        );
        assert_eq!(e.exit_code(), ExitCode::NoPermission);
        assert!(e.to_string().contains("Application.ReadWrite.All"));
        let e = ProvisionError::from_write(
            GraphError::Api(Box::new(api(400, "Request_BadRequest"))),
            "x",
            "y",
        );
        assert!(matches!(e, ProvisionError::Graph(_)));
    }

    #[test]
    fn ambiguity_lists_the_app_ids() {
        let e = ProvisionError::Ambiguous {
            how: "display name 'x'".into(),
            app_ids: vec!["a1".into(), "a2".into()],
        };
        let m = e.to_string();
        assert!(
            m.starts_with("2 applications match display name 'x' (appIds: a1, a2)"),
            "{m}"
        );
        assert!(m.contains("--app-id"));
    }
}
