//! `rotate` and its two other forms: replace the realm's client secret everywhere and remove
//! the one(s) it replaced ([`rotate`]), remove what the secret in use replaced after a
//! rolling restart ([`finish`]), and remove keyIds an operator names ([`remove_named`]).
//!
//! Which secrets may go is decided by `retire`, the one policy `setup`'s clean-up uses too;
//! this module gathers what that policy needs (what the config directories hold, the
//! application read fresh, whether the new secret was verified) and refuses what a rotation
//! cannot start from. The command line only parses flags and renders what is returned.

use std::path::PathBuf;
use std::time::Duration;

use crate::cloud::Endpoints;
use crate::esconfig::EsConfigError;
use crate::exit::{ExitCode, UserFacing};
use crate::graph::models::Application;
use crate::graph::{GraphClient, GraphError};
use crate::keystore::{self, FormatVersion, KeystoreError};
use crate::provision::{self, NewSecret, Progress, ProvisionError, ProvisionOptions};
use crate::secret::{ExposeSecret, SecretString};

use super::error::SetupError;
use super::retire::{self, RetireError, Retired};
use super::{ConfigDir, SetupOptions, SetupOutcome};

/// A rotation (or its `--finish` / `--remove-secret-id` form) failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// A config directory does not name the realm's application: there is nothing to rotate.
    #[error("{} has no client_id for realm {realm}; run `setup` first (rotate only replaces the secret of a configured realm)", yml.display())]
    NotConfigured { yml: PathBuf, realm: String },
    /// The first config directory lacks the realm's IDs.
    #[error("{} lacks the realm's client_id or tenant_id; run `setup`", yml.display())]
    IdsMissing { yml: PathBuf },
    /// No config directory was given (the argument parser normally refuses this first).
    #[error("{command} needs at least one --config directory")]
    NoConfigDir { command: &'static str },
    /// `--finish`: a config directory holds no secret for the realm.
    #[error("{} holds no client secret for realm {realm}; run `rotate` (without --finish) or `setup`", keystore.display())]
    NoSecretHeld { keystore: PathBuf, realm: String },
    /// `--finish`: the config directories hold different secrets (the rotated keystore was
    /// not copied everywhere yet).
    #[error("the config directories hold different client secrets for realm {realm} ({} differs); copy the rotated keystore to every node before --finish", dir.display())]
    DifferentSecrets { dir: PathBuf, realm: String },
    /// `--finish`: the token endpoint refuses the secret in use, so nothing may be removed.
    #[error("the client secret in the keystore does not work ({source}); nothing was removed")]
    SecretInUseRejected {
        #[source]
        source: crate::auth::AuthError,
    },
    /// The application the realm names is gone from the tenant.
    #[error(
        "the application {client_id} configured for realm {realm} no longer exists; run `setup`"
    )]
    ApplicationGone { client_id: String, realm: String },
    /// Adding and writing the new secret failed; nothing was removed.
    #[error("{source}; previous client secrets were kept")]
    Setup {
        #[source]
        source: Box<SetupError>,
    },
    #[error(transparent)]
    Retire(#[from] RetireError),
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    #[error(transparent)]
    EsConfig(#[from] EsConfigError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl UserFacing for RotateError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RotateError::NotConfigured { .. }
            | RotateError::IdsMissing { .. }
            | RotateError::NoSecretHeld { .. }
            | RotateError::DifferentSecrets { .. }
            | RotateError::ApplicationGone { .. } => ExitCode::Config,
            RotateError::NoConfigDir { .. } => ExitCode::Usage,
            RotateError::SecretInUseRejected { source } => source.exit_code(),
            RotateError::Setup { source } => source.exit_code(),
            RotateError::Retire(e) => e.exit_code(),
            RotateError::Keystore(e) => e.exit_code(),
            RotateError::EsConfig(e) => e.exit_code(),
            RotateError::Provision(e) => e.exit_code(),
            RotateError::Graph(e) => e.exit_code(),
        }
    }
}

/// Refuse a rotation of a realm some config directory does not name an application for.
pub fn check_configured(dirs: &[ConfigDir], realm: &str) -> Result<(), RotateError> {
    for dir in dirs {
        if dir.realm_yml(realm)?.client_id.is_none() {
            return Err(RotateError::NotConfigured {
                yml: dir.yml.path().to_path_buf(),
                realm: realm.to_string(),
            });
        }
    }
    Ok(())
}

/// What a rotation needs besides the connection and the directories.
pub struct RotateRequest {
    pub realm: String,
    /// `<cluster>/<realm>`, the label of the secrets this tool makes for the realm.
    pub label: String,
    /// Provisioning options; the credential name is set here (it records what is replaced).
    pub provision: ProvisionOptions,
    /// `--keep-old`: remove nothing now (`--finish` does, after the rolling restart).
    pub keep_old: bool,
    pub verify_wait: Duration,
    pub verify_retry_interval: Duration,
}

/// What a rotation did.
pub struct Rotation {
    pub outcome: SetupOutcome,
    /// keyIds the new secret records it replaces (what `--finish` removes after `--keep-old`).
    pub replaces: Vec<String>,
    /// What the removing step did; `kept` also lists what could not be attributed before.
    pub retired: Retired,
}

/// Add a new secret, write it to every config directory, verify it and (unless `keep_old`,
/// or it is not verified) remove the secret(s) the directories held before. The directories
/// are unlocked before anything is removed.
pub async fn rotate(
    graph: &GraphClient,
    http: &reqwest::Client,
    endpoints: &Endpoints,
    dirs: Vec<ConfigDir>,
    request: RotateRequest,
    progress: &dyn Progress,
) -> Result<Rotation, RotateError> {
    let RotateRequest {
        realm,
        label,
        mut provision,
        keep_old,
        verify_wait,
        verify_retry_interval,
    } = request;
    // Read what the directories hold before replacing it: the new secret's display name
    // records which keyId it replaces, the only secret this rotation may remove.
    let (replaces, mut kept) =
        retire::rotation_predecessors(graph, http, endpoints, &dirs, &realm, &provision).await?;
    provision.credential_name = provision::secret_display_name_replacing(&label, &replaces);
    let opts = SetupOptions {
        realm,
        provision,
        new_secret: true,
        order: None,
        new_keystore_version: FormatVersion::LATEST,
        endpoints: endpoints.clone(),
        dry_run: false,
        verify: true,
        verify_wait,
        verify_retry_interval,
    };
    let (outcome, _) = super::run_setup(graph, http, &dirs, &opts, progress)
        .await
        .map_err(|source| RotateError::Setup {
            source: Box::new(source),
        })?;
    drop(dirs);
    let mut retired = match retire_step(&outcome, keep_old) {
        RetireStep::Nothing | RetireStep::KeepOld => Retired::default(),
        RetireStep::KeepUnverified => {
            progress.step("The new secret is not verified yet: previous secrets are kept");
            Retired::default()
        }
        RetireStep::Retire { new, object_id } => {
            let app = graph.get_application(object_id).await?;
            progress.step("Removing the secret(s) the new one replaced");
            retire::retire_replaced(
                graph,
                &app,
                retire::Successor::New(new),
                std::slice::from_ref(&new.value),
                &label,
            )
            .await?
        }
    };
    kept.append(&mut retired.kept);
    retired.kept = kept;
    Ok(Rotation {
        outcome,
        replaces,
        retired,
    })
}

/// Whether a rotation removes the secret(s) the new one replaced now.
#[derive(Debug)]
pub enum RetireStep<'a> {
    /// No new secret was added (or the application is unknown): nothing to retire.
    Nothing,
    /// The new secret is not verified: the old ones stay (whatever `--keep-old` says).
    KeepUnverified,
    /// `--keep-old`: the old ones stay until `--finish`.
    KeepOld,
    /// Verified: remove what `new`'s display name records it replaced.
    Retire {
        new: &'a NewSecret,
        object_id: &'a str,
    },
}

/// Only a verified new secret replaces anything, and `--keep-old` defers the removal to
/// `--finish`.
pub fn retire_step(outcome: &SetupOutcome, keep_old: bool) -> RetireStep<'_> {
    let verified = outcome
        .verify
        .as_ref()
        .is_some_and(|r| r.exit_code() == ExitCode::Ok);
    let (Some(new), Some(object_id)) = (
        &outcome.provisioned.new_secret,
        &outcome.provisioned.app_object_id,
    ) else {
        return RetireStep::Nothing;
    };
    if !verified {
        return RetireStep::KeepUnverified;
    }
    if keep_old {
        return RetireStep::KeepOld;
    }
    RetireStep::Retire { new, object_id }
}

/// The one client secret every config directory holds for `realm` (`--finish` removes what
/// it replaced, so it must be the same everywhere).
pub fn secret_in_use(dirs: &[ConfigDir], realm: &str) -> Result<SecretString, RotateError> {
    let mut current: Option<SecretString> = None;
    for dir in dirs {
        let secret = dir
            .client_secret(realm)?
            .ok_or_else(|| RotateError::NoSecretHeld {
                keystore: keystore::keystore_path(&dir.dir),
                realm: realm.to_string(),
            })?;
        match &current {
            Some(prev) if prev.expose_secret() != secret.expose_secret() => {
                return Err(RotateError::DifferentSecrets {
                    dir: dir.dir.clone(),
                    realm: realm.to_string(),
                })
            }
            Some(_) => {}
            None => current = Some(secret),
        }
    }
    current.ok_or(RotateError::NoConfigDir {
        command: "rotate --finish",
    })
}

/// The realm's client_id and tenant_id from the first config directory's yml.
pub fn realm_ids(dirs: &[ConfigDir], realm: &str) -> Result<(String, String), RotateError> {
    let Some(first) = dirs.first() else {
        return Err(RotateError::NoConfigDir { command: "rotate" });
    };
    let realm_yml = first.realm_yml(realm)?;
    match (realm_yml.client_id, realm_yml.tenant_id) {
        (Some(client_id), Some(tenant_id)) => Ok((client_id, tenant_id)),
        _ => Err(RotateError::IdsMissing {
            yml: first.yml.path().to_path_buf(),
        }),
    }
}

/// The application the realm is configured for (its `client_id`), read fresh.
pub async fn configured_app(
    graph: &GraphClient,
    opts: &ProvisionOptions,
    realm: &str,
    client_id: &str,
) -> Result<Application, RotateError> {
    let mut opts = opts.clone();
    opts.configured_client_id = Some(client_id.to_string());
    let found =
        provision::find_app(graph, &opts)
            .await?
            .ok_or_else(|| RotateError::ApplicationGone {
                client_id: client_id.to_string(),
                realm: realm.to_string(),
            })?;
    Ok(found.app)
}

/// What `--finish` or `--remove-secret-id` did, and for which application.
pub struct Removed {
    pub client_id: String,
    pub retired: Retired,
}

/// `rotate --finish`: the secret every config directory holds must work; then the secret(s)
/// its display name records it replaced are removed (see `retire`), nothing else.
pub async fn finish(
    graph: &GraphClient,
    http: &reqwest::Client,
    endpoints: &Endpoints,
    dirs: &[ConfigDir],
    realm: &str,
    label: &str,
    opts: &ProvisionOptions,
) -> Result<Removed, RotateError> {
    let current = secret_in_use(dirs, realm)?;
    let (client_id, tenant_id) = realm_ids(dirs, realm)?;
    // The secret in use must work before anything is removed.
    crate::auth::client_credentials_token(
        http,
        &endpoints.access_token_host,
        &tenant_id,
        &client_id,
        &current,
        super::verify::REALM_SCOPE,
    )
    .await
    .map_err(|source| RotateError::SecretInUseRejected { source })?;
    let app = configured_app(graph, opts, realm, &client_id).await?;
    let retired = retire::retire_replaced(
        graph,
        &app,
        retire::Successor::InUse(&current),
        std::slice::from_ref(&current),
        label,
    )
    .await?;
    Ok(Removed { client_id, retired })
}

/// `rotate --remove-secret-id KEYID…`: remove the named tool-made secrets, refusing any that a
/// given config directory holds (see [`retire::remove_named`]).
pub async fn remove_named(
    graph: &GraphClient,
    dirs: &[ConfigDir],
    realm: &str,
    opts: &ProvisionOptions,
    key_ids: &[String],
) -> Result<Removed, RotateError> {
    let held = retire::held_secrets(dirs, realm)?;
    let (client_id, _) = realm_ids(dirs, realm)?;
    let app = configured_app(graph, opts, realm, &client_id).await?;
    let retired = retire::remove_named(graph, &app, key_ids, &held).await?;
    Ok(Removed { client_id, retired })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::keystore::Keystore;
    use crate::setup::error::PasswordFailure;
    use crate::setup::verify::{Verdict, VerifyReport};
    use crate::setup::{client_secret_key, test_outcome, test_provisioned};

    const REALM: &str = "microsoft_graph1";
    const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
    const TENANT_ID: &str = "66666666-7777-8888-9999-000000000000";

    fn setting(name: &str, value: &str) -> String {
        format!("xpack.security.authc.realms.microsoft_graph.{REALM}.{name}: {value}\n")
    }

    /// A config directory `name` under `root` whose yml sets `settings` for the realm and
    /// whose keystore (none when `secret` is `None`) holds `secret`, opened as `rotate` opens it.
    fn dir_with(
        root: &Path,
        name: &str,
        settings: &[(&str, &str)],
        secret: Option<&str>,
    ) -> ConfigDir {
        let dir = root.join(name);
        std::fs::create_dir(&dir).unwrap();
        let yml: String = settings.iter().map(|(k, v)| setting(k, v)).collect();
        std::fs::write(dir.join("elasticsearch.yml"), yml).unwrap();
        if let Some(secret) = secret {
            let mut ks = Keystore::new(FormatVersion::V4).unwrap();
            ks.set_string(&client_secret_key(REALM), secret).unwrap();
            keystore::save(&dir, &ks).unwrap();
        }
        let mut no_password = |_: &Path| -> Result<SecretString, PasswordFailure> {
            panic!("the test keystores have no password")
        };
        ConfigDir::open(&dir, REALM, &mut no_password, false).unwrap()
    }

    const CONFIGURED: &[(&str, &str)] = &[
        ("order", "2"),
        ("client_id", CLIENT_ID),
        ("tenant_id", TENANT_ID),
    ];

    #[test]
    fn a_directory_without_the_realms_client_id_is_refused_before_anything_else() {
        let root = tempfile::tempdir().unwrap();
        let a = dir_with(root.path(), "a", CONFIGURED, Some("s1"));
        let b = dir_with(root.path(), "b", &[("order", "2")], Some("s1"));
        assert!(check_configured(std::slice::from_ref(&a), REALM).is_ok());
        let err = check_configured(&[a, b], REALM).unwrap_err();
        assert!(
            matches!(&err, RotateError::NotConfigured { yml, .. } if yml.starts_with(root.path().join("b"))),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), ExitCode::Config);
        assert!(err.to_string().ends_with(
            "has no client_id for realm microsoft_graph1; run `setup` first (rotate only replaces the secret of a configured realm)"
        ), "{err}");
    }

    #[test]
    fn finish_needs_the_same_secret_in_every_directory() {
        let root = tempfile::tempdir().unwrap();
        let a = dir_with(root.path(), "a", CONFIGURED, Some("secret-1"));
        let same = dir_with(root.path(), "same", CONFIGURED, Some("secret-1"));
        let other = dir_with(root.path(), "other", CONFIGURED, Some("secret-2"));
        let none = dir_with(root.path(), "none", CONFIGURED, None);

        let found = secret_in_use(&[a, same], REALM).unwrap();
        assert_eq!(found.expose_secret(), "secret-1");

        let a = dir_with(root.path(), "a2", CONFIGURED, Some("secret-1"));
        let err = secret_in_use(&[a, other], REALM).unwrap_err();
        assert!(
            matches!(&err, RotateError::DifferentSecrets { dir, .. } if dir.ends_with("other")),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), ExitCode::Config);

        let err = secret_in_use(&[none], REALM).unwrap_err();
        assert!(matches!(err, RotateError::NoSecretHeld { .. }), "{err:?}");
        assert_eq!(err.exit_code(), ExitCode::Config);

        let err = secret_in_use(&[], REALM).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Usage);
        assert_eq!(
            err.to_string(),
            "rotate --finish needs at least one --config directory"
        );
    }

    #[test]
    fn the_realms_ids_come_from_the_first_directory_and_both_are_needed() {
        let root = tempfile::tempdir().unwrap();
        let full = dir_with(root.path(), "full", CONFIGURED, None);
        let half = dir_with(
            root.path(),
            "half",
            &[("order", "2"), ("client_id", CLIENT_ID)],
            None,
        );
        assert_eq!(
            realm_ids(std::slice::from_ref(&full), REALM).unwrap(),
            (CLIENT_ID.to_string(), TENANT_ID.to_string())
        );
        let err = realm_ids(&[half, full], REALM).unwrap_err();
        assert!(
            matches!(&err, RotateError::IdsMissing { yml } if yml.starts_with(root.path().join("half"))),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), ExitCode::Config);
        let err = realm_ids(&[], REALM).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rotate needs at least one --config directory"
        );
    }

    fn report(verdict: Verdict) -> VerifyReport {
        VerifyReport {
            verdict,
            token_attempts: 1,
            permission_set: provision::PermissionSet::Default,
            permission_source: "token",
            roles: Vec::new(),
            calls: Vec::new(),
            principals: Vec::new(),
        }
    }

    fn with_new_secret() -> crate::provision::Provisioned {
        let mut p = test_provisioned(&[]);
        p.new_secret = Some(NewSecret {
            key_id: "new".to_string(),
            display_name: None,
            end_date_time: None,
            value: SecretString::from("new-value".to_string()),
        });
        p
    }

    #[test]
    fn only_a_verified_new_secret_retires_its_predecessors_and_keep_old_defers_it() {
        let verified = test_outcome(with_new_secret(), Some(report(Verdict::Ok)));
        assert!(matches!(
            retire_step(&verified, false),
            RetireStep::Retire { new, object_id: "object-1" } if new.key_id == "new"
        ));
        assert!(matches!(retire_step(&verified, true), RetireStep::KeepOld));

        let consent_missing =
            test_outcome(with_new_secret(), Some(report(Verdict::PermissionsMissing)));
        assert!(matches!(
            retire_step(&consent_missing, false),
            RetireStep::KeepUnverified
        ));
        let not_verified = test_outcome(with_new_secret(), None);
        for keep_old in [false, true] {
            assert!(matches!(
                retire_step(&not_verified, keep_old),
                RetireStep::KeepUnverified
            ));
        }

        let no_new_secret = test_outcome(test_provisioned(&[]), Some(report(Verdict::Ok)));
        assert!(matches!(
            retire_step(&no_new_secret, false),
            RetireStep::Nothing
        ));
    }

    #[test]
    fn a_failed_setup_inside_a_rotation_keeps_its_code_message_and_cause() {
        let cause = SetupError::DirsDisagree {
            setting: "client_id",
            first: "a".to_string(),
            other: "b".to_string(),
            yml: PathBuf::from("/etc/es/elasticsearch.yml"),
        };
        let text = cause.to_string();
        let err = RotateError::Setup {
            source: Box::new(cause),
        };
        assert_eq!(err.exit_code(), ExitCode::Config);
        assert_eq!(
            err.to_string(),
            format!("{text}; previous client secrets were kept")
        );
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some(text.as_str()));
    }
}
