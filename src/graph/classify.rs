//! One table that decides what a Graph error means for the caller: wait and retry
//! (replication or throttling), treat as success (already exists), or give up.
//!
//! Microsoft asks clients to branch on `code` only, but the replication errors share
//! generic codes (`Request_BadRequest`), so — like terraform and the Azure CLI — some rows
//! match a message fragment. That is Graph's text, matched as data: every fragment lives in
//! this table, each row names the Graph error sample it came from
//! (`fixtures/graph-samples/`, a test checks the sample lands on that row), and the rows come
//! from the error section of `docs/provision.md`. Our own error texts are never matched.

/// What a failed Graph call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A just-created object is not visible everywhere yet: poll and retry.
    ReplicationTransient,
    /// Graph is shedding load (429/503/504): wait `Retry-After` and retry.
    Throttled,
    /// The thing we tried to create is already there: read it instead.
    AlreadyExists,
    /// Retrying will not help.
    Permanent,
}

/// One row of the table. `None` matches anything; `message` is a case-insensitive fragment.
struct Rule {
    status: Option<u16>,
    code: Option<&'static str>,
    message: Option<&'static str>,
    class: ErrorClass,
    /// The Graph error body in `fixtures/graph-samples/` this row was written from (every
    /// row with a `message` has one). Read by the tests, which check the sample hits the row.
    #[cfg_attr(not(test), allow(dead_code))]
    sample: Option<&'static str>,
}

const fn rule(
    status: Option<u16>,
    code: Option<&'static str>,
    message: Option<&'static str>,
    class: ErrorClass,
) -> Rule {
    Rule {
        status,
        code,
        message,
        class,
        sample: None,
    }
}

impl Rule {
    const fn with_sample(self, file: &'static str) -> Rule {
        Rule {
            sample: Some(file),
            ..self
        }
    }
}

use ErrorClass::*;

/// First matching row wins, so specific rows come before the generic ones for the same status.
const RULES: &[Rule] = &[
    // Throttling and temporary unavailability (Graph throttling guidance, SDK retry handler).
    rule(Some(429), None, None, Throttled).with_sample("error-429-too-many-requests.json"),
    rule(Some(503), None, None, Throttled),
    rule(Some(504), None, None, Throttled),
    // Duplicate app-role assignment: Graph answers 400, the assignment exists.
    rule(
        Some(400),
        None,
        Some("permission being assigned already exists on the object"),
        AlreadyExists,
    )
    .with_sample("error-400-approleassignment-duplicate.json"),
    // A second service principal for the same appId.
    rule(
        Some(409),
        Some("Request_MultipleObjectsWithSameKeyValue"),
        None,
        AlreadyExists,
    )
    .with_sample("error-409-service-principal-exists.json"),
    // A just-created object read by id, used as a reference, or patched.
    rule(
        Some(404),
        Some("Request_ResourceNotFound"),
        None,
        ReplicationTransient,
    )
    .with_sample("error-404-request-resource-not-found.json"),
    // App-role assignment naming a just-created service principal.
    rule(
        Some(400),
        None,
        Some("not a valid reference update"),
        ReplicationTransient,
    )
    .with_sample("error-400-approleassignment-not-valid-reference.json"),
    // Service principal for a just-created application ("NoBackingApplicationObject").
    rule(
        Some(400),
        None,
        Some("does not reference a valid application object"),
        ReplicationTransient,
    )
    .with_sample("error-400-sp-no-backing-application.json"),
    // Same, when the caller holds Application.ReadWrite.OwnedBy (a misleading 403).
    rule(
        Some(403),
        Some("Authorization_RequestDenied"),
        Some("backing application of the service principal being created must in the local tenant"),
        ReplicationTransient,
    )
    .with_sample("error-403-sp-ownedby-backing-application.json"),
    // PATCH on a just-created application can answer 409 "as per the service design".
    rule(Some(409), None, None, ReplicationTransient),
    // Everything below is final.
    rule(
        Some(403),
        Some("Authorization_RequestDenied"),
        None,
        Permanent,
    )
    .with_sample("error-403-authorization-request-denied.json"),
    rule(
        Some(400),
        Some("CredentialInvalidLifetimeAsPerAppPolicy"),
        None,
        Permanent,
    )
    .with_sample("error-400-credential-lifetime-policy.json"),
    rule(
        Some(401),
        Some("InvalidAuthenticationToken"),
        None,
        Permanent,
    ),
];

/// Classify a Graph error response by HTTP status, error `code` and `message`.
pub fn classify(status: u16, code: &str, message: &str) -> ErrorClass {
    matching_row(status, code, message)
        .map(|i| RULES[i].class)
        .unwrap_or(Permanent)
}

/// The index of the first row of [`RULES`] that matches.
fn matching_row(status: u16, code: &str, message: &str) -> Option<usize> {
    let message = message.to_ascii_lowercase();
    RULES.iter().position(|r| {
        r.status.is_none_or(|s| s == status)
            && r.code.is_none_or(|c| c.eq_ignore_ascii_case(code))
            && r.message.is_none_or(|m| message.contains(m))
    })
}

/// A 400 from `addPassword` that a tenant app-management policy caused: every such code
/// starts with `Credential` (`CredentialInvalidLifetimeAsPerAppPolicy`,
/// `CredentialTypeNotAllowedAsPerAppPolicy`, …). Graph's `code`, matched as data; test vector:
/// `error-400-credential-lifetime-policy.json`.
pub fn is_credential_policy_rejection(status: u16, code: &str) -> bool {
    status == 400 && code.starts_with("Credential")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(code, message)` of a Graph error sample, read from its envelope directly (the
    /// `error` module's parser uses this one, so the test does not use it).
    fn sample(file: &str) -> (String, String) {
        let path = format!(
            "{}/fixtures/graph-samples/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
        let field = |k: &str| v["error"][k].as_str().unwrap_or_default().to_string();
        (field("code"), field("message"))
    }

    /// Every row that matches Graph's text has the sample it came from, and that sample (with
    /// the row's status) lands on exactly that row.
    #[test]
    fn every_row_is_reached_by_its_sample() {
        for (i, row) in RULES.iter().enumerate() {
            if row.message.is_some() {
                assert!(
                    row.sample.is_some(),
                    "row {i} matches a message without a sample"
                );
            }
            let Some(file) = row.sample else { continue };
            let (code, message) = sample(file);
            let status = row.status.expect("rows with a sample name their status");
            assert_eq!(
                matching_row(status, &code, &message),
                Some(i),
                "{file} ({status} {code}: {message})"
            );
        }
    }

    #[test]
    fn the_credential_policy_sample_is_a_policy_rejection() {
        let (code, _) = sample("error-400-credential-lifetime-policy.json");
        assert!(is_credential_policy_rejection(400, &code));
    }

    #[test]
    fn too_many_requests_is_throttled() {
        assert_eq!(
            classify(429, "TooManyRequests", "Please retry again later."),
            Throttled
        );
    }

    #[test]
    fn service_unavailable_is_throttled() {
        assert_eq!(
            classify(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable."
            ),
            Throttled
        );
    }

    #[test]
    fn gateway_timeout_is_throttled() {
        assert_eq!(classify(504, "", ""), Throttled);
    }

    #[test]
    fn resource_not_found_on_a_new_object_is_replication() {
        assert_eq!(
            classify(
                404,
                "Request_ResourceNotFound",
                "Resource 'cec88ac3-9136-4db0-9415-6f67f8d7030f' does not exist or one of its queried reference-property objects are not present."
            ),
            ReplicationTransient
        );
    }

    #[test]
    fn not_a_valid_reference_update_is_replication() {
        assert_eq!(
            classify(400, "Request_BadRequest", "Not a valid reference update."),
            ReplicationTransient
        );
    }

    #[test]
    fn service_principal_without_backing_application_is_replication() {
        assert_eq!(
            classify(
                400,
                "Request_BadRequest",
                "The appId 'a3177365-66d9-447e-a2c8-5ee485ce87d7' of the service principal does not reference a valid application object."
            ),
            ReplicationTransient
        );
    }

    #[test]
    fn owned_by_backing_application_403_is_replication() {
        assert_eq!(
            classify(
                403,
                "Authorization_RequestDenied",
                "When using this permission, the backing application of the service principal being created must in the local tenant"
            ),
            ReplicationTransient
        );
    }

    #[test]
    fn conflict_on_patch_of_a_new_application_is_replication() {
        assert_eq!(
            classify(409, "Request_Conflict", "Conflict"),
            ReplicationTransient
        );
    }

    #[test]
    fn duplicate_service_principal_already_exists() {
        assert_eq!(
            classify(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "The service principal cannot be created, updated, or restored because the service principal name 8e85 is already in use."
            ),
            AlreadyExists
        );
    }

    #[test]
    fn duplicate_app_role_assignment_already_exists() {
        assert_eq!(
            classify(
                400,
                "Request_BadRequest",
                "Permission being assigned already exists on the object."
            ),
            AlreadyExists
        );
    }

    #[test]
    fn insufficient_privileges_is_permanent() {
        assert_eq!(
            classify(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation."
            ),
            Permanent
        );
    }

    #[test]
    fn secret_lifetime_policy_is_permanent_and_a_policy_rejection() {
        let (code, msg) = (
            "CredentialInvalidLifetimeAsPerAppPolicy",
            "Credential lifetime exceeds the max value allowed as per assigned policy 'x'.",
        );
        assert_eq!(classify(400, code, msg), Permanent);
        assert!(is_credential_policy_rejection(400, code));
        assert!(is_credential_policy_rejection(
            400,
            "CredentialTypeNotAllowedAsPerAppPolicy"
        ));
        assert!(!is_credential_policy_rejection(400, "Request_BadRequest"));
    }

    #[test]
    fn invalid_authentication_token_is_permanent() {
        assert_eq!(
            classify(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid."
            ),
            Permanent
        );
    }

    #[test]
    fn other_bad_requests_are_permanent() {
        assert_eq!(
            classify(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'tags'."
            ),
            Permanent
        );
        assert_eq!(classify(500, "UnknownError", ""), Permanent);
    }

    #[test]
    fn message_match_ignores_case() {
        assert_eq!(
            classify(400, "Request_BadRequest", "NOT A VALID REFERENCE UPDATE."),
            ReplicationTransient
        );
    }
}
