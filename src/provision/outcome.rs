//! What the `provision`/`deprovision` commands decide after (or around) a run, as values the
//! command line only renders: the exit code and consent notice a finished run calls for,
//! which application a config dir's `client_id` picks, what `deprovision` does when nothing
//! is found, and storing the new secret in its file (taking it off the application again if
//! that fails, so no secret nobody holds is left behind).

use std::path::{Path, PathBuf};

use super::{
    admin_consent_instructions, find_app, remove_passwords, ConsentOutcome, FoundApp, NewSecret,
    ProvisionError, ProvisionOptions, Provisioned,
};
use crate::cloud::Endpoints;
use crate::esconfig::{realm_setting_key, EsConfigError, EsYml};
use crate::exit::{ExitCode, UserFacing};
use crate::graph::GraphClient;
use crate::secret::ExposeSecret;

/// What a finished `provision` run tells the user about admin consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentNotice {
    /// Consent is still required and the signed-in identity may not grant it: exit 3, with
    /// the permissions still missing and the instructions for an administrator.
    Required {
        missing: Vec<String>,
        instructions: String,
    },
    /// `--no-consent` left permissions ungranted: exit 0, with a note (not in silent mode).
    Skipped {
        missing: Vec<String>,
        instructions: String,
    },
    /// Nothing to say.
    None,
}

impl ConsentNotice {
    /// The exit code the run ends with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ConsentNotice::Required { .. } => ExitCode::ConsentRequired,
            ConsentNotice::Skipped { .. } | ConsentNotice::None => ExitCode::Ok,
        }
    }
}

/// The consent notice for a finished run: consent the identity could not grant is "still
/// required" (exit 3); consent deliberately skipped while permissions are missing is a note
/// (exit 0), given only when the application exists to be consented to.
pub fn consent_notice(record: &Provisioned, endpoints: &Endpoints) -> ConsentNotice {
    match &record.consent {
        ConsentOutcome::Forbidden { instructions } => ConsentNotice::Required {
            missing: record.missing_permissions.clone(),
            instructions: instructions.clone(),
        },
        ConsentOutcome::Skipped if !record.missing_permissions.is_empty() => match &record.app_id {
            Some(app_id) => ConsentNotice::Skipped {
                missing: record.missing_permissions.clone(),
                instructions: admin_consent_instructions(&record.tenant_id, app_id, endpoints),
            },
            None => ConsentNotice::None,
        },
        _ => ConsentNotice::None,
    }
}

/// The realm's `client_id` in `config_dir/elasticsearch.yml` (a blank value counts as unset),
/// with a description of where it came from for messages; `None` without a config dir.
pub fn configured_client_id(
    config_dir: Option<&Path>,
    realm: &str,
) -> Result<Option<(String, String)>, EsConfigError> {
    let Some(dir) = config_dir else {
        return Ok(None);
    };
    let yml = EsYml::load(dir)?;
    let key = realm_setting_key(realm, "client_id");
    Ok(yml
        .get_resolved(&key)?
        .filter(|v| !v.trim().is_empty())
        .map(|id| (id, format!("{key} in {}", yml.path().display()))))
}

/// `<cluster>/<realm>`: the label in a new secret's display name, which `rotate` uses to
/// find the secrets this tool made for the realm. The cluster is `--cluster-name`, else
/// `cluster.name` from the first config dir's elasticsearch.yml (as Elasticsearch resolves
/// it; as written when a placeholder does not resolve here), else `elasticsearch`.
pub fn secret_label(cluster_name: Option<&str>, first_dir: Option<&Path>, realm: &str) -> String {
    let cluster = cluster_name
        .map(str::to_owned)
        .or_else(|| {
            first_dir.and_then(|d| EsYml::load(d).ok()).and_then(|yml| {
                yml.get_resolved("cluster.name")
                    .unwrap_or_else(|_| yml.get("cluster.name"))
            })
        })
        .unwrap_or_else(|| "elasticsearch".to_string());
    format!("{cluster}/{realm}")
}

/// Put the configured `client_id` (from [`configured_client_id`]) into the options.
pub fn apply_configured_client_id(
    opts: &mut ProvisionOptions,
    configured: Option<(String, String)>,
) {
    if let Some((id, source)) = configured {
        opts.configured_client_id = Some(id);
        opts.configured_client_id_source = Some(source);
    }
}

/// The application `deprovision` would delete. An application given by `--app-id` that
/// does not exist is `None`, like one not found by name: deleting what does not exist has
/// reached its goal, so scripts can run `deprovision` twice.
pub async fn find_app_to_delete(
    graph: &GraphClient,
    opts: &ProvisionOptions,
) -> Result<Option<FoundApp>, ProvisionError> {
    match find_app(graph, opts).await {
        Ok(found) => Ok(found),
        Err(ProvisionError::AppNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What became of a new secret whose file could not be written.
#[derive(Debug)]
pub enum SecretCleanup {
    /// It was removed from the application again.
    Removed,
    /// Removing it failed too: the user must delete it in the portal.
    RemoveFailed {
        key_id: String,
        error: ProvisionError,
    },
    /// The application's object ID is unknown, so it could not be removed here.
    NotAttempted { key_id: String },
}

impl std::fmt::Display for SecretCleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretCleanup::Removed => f.write_str("it was removed from the application again"),
            SecretCleanup::RemoveFailed { key_id, error } => write!(
                f,
                "removing it from the application failed too ({error}): delete the client secret with keyId {key_id} in the portal"
            ),
            SecretCleanup::NotAttempted { key_id } => {
                write!(f, "delete the client secret with keyId {key_id} in the portal")
            }
        }
    }
}

/// The new secret's file could not be written (the value is lost).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the new client secret to {}: {source}; {cleanup}", path.display())]
pub struct SecretFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
    pub cleanup: SecretCleanup,
}

impl UserFacing for SecretFileError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::IoError
    }
}

/// Write the new secret to `path` (mode 0600, created exclusively). If that fails the value
/// is lost, so take the secret off the application again rather than leave an unusable one.
pub async fn store_secret(
    graph: &GraphClient,
    record: &Provisioned,
    secret: &NewSecret,
    path: &Path,
) -> Result<(), SecretFileError> {
    let written =
        crate::fsutil::write_new_secret_file(path, secret.value.expose_secret().as_bytes());
    let Err(source) = written else {
        return Ok(());
    };
    let key_id = secret.key_id.clone();
    let cleanup = match &record.app_object_id {
        Some(object_id) => {
            match remove_passwords(graph, object_id, std::slice::from_ref(&secret.key_id)).await {
                Ok(_) => SecretCleanup::Removed,
                Err(error) => SecretCleanup::RemoveFailed { key_id, error },
            }
        }
        None => SecretCleanup::NotAttempted { key_id },
    };
    Err(SecretFileError {
        path: path.to_path_buf(),
        source,
        cleanup,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
    use crate::provision::PermissionSet;

    fn record(consent: ConsentOutcome, missing: &[&str], app_id: Option<&str>) -> Provisioned {
        Provisioned {
            dry_run: false,
            display_name: "n".into(),
            app_object_id: Some("o".into()),
            app_id: app_id.map(str::to_owned),
            sp_id: Some("s".into()),
            tenant_id: "t".into(),
            created: false,
            found_by: None,
            changes: vec![],
            permissions: PermissionSet::Default,
            granted_permissions: vec![],
            missing_permissions: missing.iter().map(|m| m.to_string()).collect(),
            consent,
            secrets: vec![],
            new_secret: None,
        }
    }

    #[test]
    fn consent_the_identity_cannot_grant_is_exit_3_and_a_skipped_one_is_a_note() {
        let endpoints = Cloud::Global.endpoints();
        let forbidden = ConsentOutcome::Forbidden {
            instructions: "ask an admin".into(),
        };
        let notice = consent_notice(
            &record(forbidden, &["User.Read.All"], Some("a")),
            &endpoints,
        );
        assert_eq!(
            notice,
            ConsentNotice::Required {
                missing: vec!["User.Read.All".into()],
                instructions: "ask an admin".into()
            }
        );
        assert_eq!(notice.exit_code(), ExitCode::ConsentRequired);

        let skipped = consent_notice(
            &record(ConsentOutcome::Skipped, &["User.Read.All"], Some("a")),
            &endpoints,
        );
        let ConsentNotice::Skipped { instructions, .. } = &skipped else {
            panic!("{skipped:?}");
        };
        assert_eq!(
            instructions,
            &admin_consent_instructions("t", "a", &endpoints)
        );
        assert_eq!(skipped.exit_code(), ExitCode::Ok);

        // Skipped with nothing missing, or before the application exists: nothing to say.
        for quiet in [
            record(ConsentOutcome::Skipped, &[], Some("a")),
            record(ConsentOutcome::Skipped, &["User.Read.All"], None),
            record(ConsentOutcome::Granted, &[], Some("a")),
            record(ConsentOutcome::AlreadyGranted, &[], Some("a")),
            record(ConsentOutcome::Planned, &["User.Read.All"], None),
        ] {
            let notice = consent_notice(&quiet, &endpoints);
            assert_eq!(notice, ConsentNotice::None, "{:?}", quiet.consent);
            assert_eq!(notice.exit_code(), ExitCode::Ok);
        }
    }

    #[test]
    fn the_configured_client_id_is_read_from_the_realm() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(configured_client_id(Some(dir.path()), "r1").unwrap(), None);
        std::fs::write(
            dir.path().join("elasticsearch.yml"),
            "xpack.security.authc.realms.microsoft_graph.r1.client_id: 0b7e4a52-7a3f-4c59-9d8e-7d1c6f6c1111\nxpack.security.authc.realms.microsoft_graph.r3.client_id: \"  \"\n",
        )
        .unwrap();
        let (id, source) = configured_client_id(Some(dir.path()), "r1")
            .unwrap()
            .unwrap();
        assert_eq!(id, "0b7e4a52-7a3f-4c59-9d8e-7d1c6f6c1111");
        assert!(source.contains("elasticsearch.yml"), "{source}");
        assert_eq!(configured_client_id(Some(dir.path()), "r2").unwrap(), None);
        // A blank client_id does not pick an application.
        assert_eq!(configured_client_id(Some(dir.path()), "r3").unwrap(), None);
        assert_eq!(configured_client_id(None, "r1").unwrap(), None);

        let mut opts = ProvisionOptions::for_endpoints(&Cloud::Global.endpoints());
        apply_configured_client_id(&mut opts, Some((id.clone(), source.clone())));
        assert_eq!(opts.configured_client_id.as_deref(), Some(id.as_str()));
        assert_eq!(
            opts.configured_client_id_source.as_deref(),
            Some(source.as_str())
        );
    }

    #[test]
    fn the_secret_label_names_the_flag_else_the_yml_cluster_else_elasticsearch() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(secret_label(None, None, "r1"), "elasticsearch/r1");
        assert_eq!(
            secret_label(None, Some(dir.path()), "r1"),
            "elasticsearch/r1"
        );
        std::fs::write(
            dir.path().join("elasticsearch.yml"),
            "cluster.name: prod-east\n",
        )
        .unwrap();
        assert_eq!(secret_label(None, Some(dir.path()), "r1"), "prod-east/r1");
        assert_eq!(
            secret_label(Some("flagged"), Some(dir.path()), "r1"),
            "flagged/r1"
        );
        // A placeholder that does not resolve here is kept as written.
        std::fs::write(
            dir.path().join("elasticsearch.yml"),
            "cluster.name: ${MSGRAPH_KEYSTORE_TEST_UNSET_CLUSTER}\n",
        )
        .unwrap();
        assert_eq!(
            secret_label(None, Some(dir.path()), "r1"),
            "${MSGRAPH_KEYSTORE_TEST_UNSET_CLUSTER}/r1"
        );
    }

    #[test]
    fn a_lost_secret_file_says_what_became_of_the_secret_and_keeps_the_cause() {
        use std::error::Error as _;
        let err = SecretFileError {
            path: PathBuf::from("/x/secret"),
            source: std::io::Error::other("disk full"),
            cleanup: SecretCleanup::NotAttempted {
                key_id: "k1".into(),
            },
        };
        assert_eq!(
            err.to_string(),
            "cannot write the new client secret to /x/secret: disk full; delete the client secret with keyId k1 in the portal"
        );
        assert_eq!(err.exit_code(), ExitCode::IoError);
        assert_eq!(err.source().unwrap().to_string(), "disk full");
        assert_eq!(
            SecretCleanup::Removed.to_string(),
            "it was removed from the application again"
        );
    }
}
