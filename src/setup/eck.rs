//! `setup --output k8s-secret`: what goes into the ECK Secret and configuration snippet, where
//! the manifest goes, and what happens to the new client secret when it could not be
//! delivered. The CLI only prints what [`deliver`] returns.

use std::path::{Path, PathBuf};

use crate::cloud::Endpoints;
use crate::exit::{ExitCode, UserFacing};
use crate::graph::GraphClient;
use crate::k8s::{self, EckOutput, K8sError};
use crate::provision::Progress;
use crate::secret::{ExposeSecret, SecretString};
use crate::secret_file::{self, SecretOutputError};

use super::{remove_unused_secret, SecretCleanup, SetupOutcome};

/// The user's choices for the Kubernetes output.
#[derive(Debug, Clone, Copy)]
pub struct EckRequest<'a> {
    pub realm: &'a str,
    pub namespace: Option<&'a str>,
    /// `--secret-name`; else [`k8s::default_secret_name`] of the realm.
    pub secret_name: Option<&'a str>,
    /// `--order`; else 0, which [`Delivered::assumed_order`] reports.
    pub order: Option<i64>,
    /// `--output-file`: the manifest is written there (0600, never over an existing file);
    /// else the caller prints it.
    pub output_file: Option<&'a Path>,
    pub endpoints: &'a Endpoints,
}

/// The realm's order when `--order` is not given.
const ASSUMED_ORDER: i64 = 0;

impl EckRequest<'_> {
    /// `Some(order)` when `--order` was not given: the order the snippet then uses.
    pub fn assumed_order(&self) -> Option<i64> {
        self.order.is_none().then_some(ASSUMED_ORDER)
    }
}

/// What a run produced for Kubernetes.
pub enum Eck {
    /// `--dry-run`: nothing was created, so there is no secret to put in a manifest.
    DryRun,
    Delivered(Delivered),
}

/// The manifest and snippet of a real run.
pub struct Delivered {
    pub output: EckOutput,
    /// Where the manifest was written; `None`: the caller prints it.
    pub written_to: Option<PathBuf>,
    /// `Some(order)` when `--order` was not given. There is no `elasticsearch.yml` to read the
    /// other realms' orders from, and Elasticsearch refuses two realms with the same order,
    /// so the user must be told which one was assumed.
    pub assumed_order: Option<i64>,
}

/// Why the Kubernetes output could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum EckError {
    /// The run made no new secret (a re-run that kept the configured one): Graph shows a
    /// secret's value only when it is created, so there is nothing to put in a manifest.
    #[error("no new client secret was created, so no Kubernetes Secret can be written")]
    NoNewSecret,
    #[error(transparent)]
    Names(#[from] K8sError),
    #[error(transparent)]
    OutputFile(#[from] SecretOutputError),
}

impl UserFacing for EckError {
    fn exit_code(&self) -> ExitCode {
        match self {
            EckError::NoNewSecret => ExitCode::Software,
            EckError::Names(e) => e.exit_code(),
            EckError::OutputFile(e) => e.exit_code(),
        }
    }
}

/// The output failed after the tenant got a new secret, and what became of that secret.
#[derive(Debug, thiserror::Error)]
#[error("{source}; {cleanup}")]
pub struct NotDelivered {
    #[source]
    pub source: EckError,
    pub cleanup: SecretCleanup,
    /// As [`Delivered::assumed_order`], when the failure came after the order was chosen
    /// (the note belongs before the error: the user still has to choose an order).
    pub assumed_order: Option<i64>,
}

impl UserFacing for NotDelivered {
    fn exit_code(&self) -> ExitCode {
        self.source.exit_code()
    }
}

/// Build the Secret manifest and the snippet for `outcome` and write the manifest to
/// `--output-file` when one was given. When that fails, the new secret is removed from the
/// application again: its value was shown once and reached nobody, so nobody can use it.
pub async fn deliver(
    graph: &GraphClient,
    outcome: &SetupOutcome,
    new_secret: Option<SecretString>,
    request: &EckRequest<'_>,
    progress: &dyn Progress,
) -> Result<Eck, NotDelivered> {
    if outcome.dry_run {
        return Ok(Eck::DryRun);
    }
    match build_and_write(outcome, new_secret, request) {
        Ok(delivered) => Ok(Eck::Delivered(delivered)),
        Err(source) => {
            let assumed_order = match source {
                EckError::NoNewSecret => None,
                _ => request.assumed_order(),
            };
            let cleanup = remove_unused_secret(graph, &outcome.provisioned, progress).await;
            Err(NotDelivered {
                source,
                cleanup,
                assumed_order,
            })
        }
    }
}

/// Everything of [`deliver`] but the clean-up; no network.
pub fn build_and_write(
    outcome: &SetupOutcome,
    new_secret: Option<SecretString>,
    request: &EckRequest<'_>,
) -> Result<Delivered, EckError> {
    let (Some(secret), Some(client_id)) = (new_secret, outcome.provisioned.app_id.as_deref())
    else {
        return Err(EckError::NoNewSecret);
    };
    let secret_name = request
        .secret_name
        .map_or_else(|| k8s::default_secret_name(request.realm), str::to_string);
    let order = request.order.unwrap_or(ASSUMED_ORDER);
    let settings = super::realm_values(
        client_id,
        &outcome.provisioned.tenant_id,
        Some(order),
        request.endpoints,
    )
    .settings(order);
    let output = EckOutput::build(
        request.namespace,
        &secret_name,
        request.realm,
        &settings,
        &secret,
    )?;
    let written_to = match request.output_file {
        Some(path) => {
            crate::fsutil::write_new_secret_file(
                path,
                output.secret_manifest.expose_secret().as_bytes(),
            )
            .map_err(|e| secret_file::write_error("--output-file", path, e))?;
            Some(path.to_path_buf())
        }
        None => None,
    };
    Ok(Delivered {
        output,
        written_to,
        assumed_order: request.assumed_order(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::{test_outcome, test_provisioned};

    fn endpoints() -> Endpoints {
        crate::cloud::Cloud::Global.endpoints()
    }

    fn request<'a>(
        endpoints: &'a Endpoints,
        order: Option<i64>,
        file: Option<&'a Path>,
    ) -> EckRequest<'a> {
        EckRequest {
            realm: "microsoft_graph1",
            namespace: Some("elastic"),
            secret_name: None,
            order,
            output_file: file,
            endpoints,
        }
    }

    fn secret() -> Option<SecretString> {
        Some(SecretString::from("s3cr3t-value".to_string()))
    }

    /// The value of the realm's `order` setting in the snippet.
    fn order_in(snippet: &str) -> String {
        let line = snippet
            .lines()
            .find(|l| l.contains(".order"))
            .unwrap_or_else(|| panic!("no order line in {snippet}"));
        line.rsplit(':')
            .next()
            .unwrap()
            .trim()
            .trim_matches('"')
            .to_string()
    }

    #[test]
    fn without_a_new_secret_there_is_no_manifest() {
        let outcome = test_outcome(test_provisioned(&[]), None);
        let endpoints = endpoints();
        let err = build_and_write(&outcome, None, &request(&endpoints, Some(3), None))
            .err()
            .expect("no secret, no manifest");
        assert!(matches!(err, EckError::NoNewSecret), "{err}");
        assert_eq!(err.exit_code(), ExitCode::Software);
    }

    #[test]
    fn an_unset_order_is_assumed_zero_and_reported() {
        let outcome = test_outcome(test_provisioned(&[]), None);
        let endpoints = endpoints();
        let assumed =
            build_and_write(&outcome, secret(), &request(&endpoints, None, None)).unwrap();
        assert_eq!(assumed.assumed_order, Some(0));
        assert_eq!(order_in(&assumed.output.config_snippet), "0");
        assert!(assumed.written_to.is_none());
        let given =
            build_and_write(&outcome, secret(), &request(&endpoints, Some(7), None)).unwrap();
        assert_eq!(given.assumed_order, None);
        assert_eq!(order_in(&given.output.config_snippet), "7");
        // The default Secret name is derived from the realm name.
        assert!(given
            .output
            .secret_manifest
            .expose_secret()
            .contains("microsoft-graph1-client-secret"));
    }

    #[test]
    fn the_manifest_file_is_written_private_and_never_over_an_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let outcome = test_outcome(test_provisioned(&[]), None);
        let endpoints = endpoints();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.yaml");
        let done = build_and_write(
            &outcome,
            secret(),
            &request(&endpoints, Some(1), Some(&path)),
        )
        .unwrap();
        assert_eq!(done.written_to.as_deref(), Some(path.as_path()));
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, done.output.secret_manifest.expose_secret());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = build_and_write(
            &outcome,
            secret(),
            &request(&endpoints, Some(1), Some(&path)),
        )
        .err()
        .expect("an existing file is not overwritten");
        assert!(matches!(err, EckError::OutputFile(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    }

    #[test]
    fn a_failure_after_the_secret_was_made_says_what_became_of_it() {
        let err = NotDelivered {
            source: EckError::NoNewSecret,
            cleanup: SecretCleanup::Removed {
                key_id: "k-1".into(),
            },
            assumed_order: None,
        };
        assert_eq!(err.exit_code(), ExitCode::Software);
        assert!(err.to_string().ends_with(
            "; the new client secret (keyId k-1) was removed from the application again"
        ));
        assert!(std::error::Error::source(&err).is_some());
    }
}
