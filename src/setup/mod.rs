//! Where provisioning meets local files: `setup`, `rotate`, `verify` and `status`.
//!
//! This is the only module that knows both sides. It asks `provision` for an application and
//! (when needed) a secret, then writes the realm's secret into each config directory's
//! keystore and its non-secure settings into `elasticsearch.yml`, all or none, and proves the
//! result with `verify`.

pub mod eck;
pub mod error;
pub mod es_home;
pub mod local;
pub mod realm_config;
pub mod retire;
pub mod role_mapping;
pub mod rotate;
pub mod status;
pub mod verify;

use std::time::Duration;

use serde::Serialize;

use crate::cloud::{Endpoints, DEFAULT_ACCESS_TOKEN_HOST, DEFAULT_GRAPH_HOST};
use crate::esconfig::EsConfigError;
use crate::exit::{ExitCode, UserFacing};
use crate::graph::GraphClient;
use crate::keystore::FormatVersion;
use crate::provision::{self, AddSecret, ConsentOutcome, Progress, ProvisionOptions, Provisioned};
use crate::secret::{ExposeSecret, SecretString};

pub use error::{CommitError, ConfigDirError, PasswordFailure, SecretCleanup, SetupError};
pub use local::{client_secret_key, commit_all, ConfigDir, DirPlan, RealmValues};
pub use verify::{verify, VerifyInput, VerifyReport};

/// What `setup`/`rotate` should do, beyond the provisioning options.
pub struct SetupOptions {
    pub realm: String,
    /// Provisioning options (app name, permissions, lifetime, consent, …). `add_secret` is
    /// decided here from the local state and `rotate`.
    pub provision: ProvisionOptions,
    /// Always add a new secret (`--new-secret`, `rotate`).
    pub new_secret: bool,
    /// `--order`.
    pub order: Option<i64>,
    /// Format of a keystore this run creates (an existing one keeps its own).
    pub new_keystore_version: FormatVersion,
    pub endpoints: Endpoints,
    pub dry_run: bool,
    /// Run `verify` after writing.
    pub verify: bool,
    pub verify_wait: Duration,
    pub verify_retry_interval: Duration,
}

/// One directory's part of the result.
#[derive(Debug, Serialize)]
pub struct DirOutcome {
    pub config_dir: String,
    pub yml_changed: bool,
    pub keystore_changes: Vec<String>,
    pub notes: Vec<String>,
    /// The yml diff (dry run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yml_diff: Option<String>,
}

/// What a `setup` (or `rotate`) run did.
#[derive(Debug, Serialize)]
pub struct SetupOutcome {
    pub realm: String,
    pub dry_run: bool,
    pub provisioned: Provisioned,
    /// Why a secret was or was not added.
    pub credential_decision: String,
    pub config_dirs: Vec<DirOutcome>,
    /// Files renamed into place.
    pub files_written: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyReport>,
    /// Why verification did not run, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_skipped: Option<String>,
    /// One-line warnings for the operator (the CLI adds its own, e.g. an unset cluster.name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl SetupOutcome {
    /// Nothing changed anywhere (Graph or files).
    pub fn changed_nothing(&self) -> bool {
        self.provisioned.changes.is_empty()
            && self.files_written == 0
            && self
                .config_dirs
                .iter()
                .all(|d| !d.yml_changed && d.keystore_changes.is_empty())
    }

    /// The process exit code this outcome calls for.
    pub fn exit_code(&self) -> ExitCode {
        if matches!(self.provisioned.consent, ConsentOutcome::Forbidden { .. }) {
            return ExitCode::ConsentRequired;
        }
        match &self.verify {
            Some(report) => report.exit_code(),
            None => ExitCode::Ok,
        }
    }
}

/// The realm's non-secure values for `endpoints` and a provisioned app.
pub fn realm_values(
    client_id: &str,
    tenant_id: &str,
    order: Option<i64>,
    endpoints: &Endpoints,
) -> RealmValues {
    let non_default = |value: &str, default: &str| {
        (value.trim_end_matches('/') != default).then(|| value.trim_end_matches('/').to_string())
    };
    RealmValues {
        client_id: client_id.to_string(),
        tenant_id: tenant_id.to_string(),
        order,
        access_token_host: non_default(&endpoints.access_token_host, DEFAULT_ACCESS_TOKEN_HOST),
        graph_host: non_default(&endpoints.graph_host, DEFAULT_GRAPH_HOST),
    }
}

/// What the config directories already hold for the realm, when they all agree.
struct ExistingRealm {
    client_id: Option<String>,
    tenant_id: Option<String>,
    /// The secret, when every directory holds the same one.
    secret: Option<SecretString>,
    /// Every directory has a secret and a client id.
    complete: bool,
    /// How many directories hold a client secret for the realm.
    with_secret: usize,
    /// The directories holding a secret all hold the same one.
    same_secret: bool,
}

fn existing_realm(dirs: &[ConfigDir], realm: &str) -> Result<ExistingRealm, SetupError> {
    let mut client_id: Option<String> = None;
    let mut tenant_id: Option<String> = None;
    let mut secret: Option<SecretString> = None;
    let mut complete = !dirs.is_empty();
    let mut same_secret = true;
    let mut with_secret = 0;
    for dir in dirs {
        let yml = dir.configured(realm)?;
        for (what, found, seen) in [
            ("client_id", &yml.client_id, &mut client_id),
            ("tenant_id", &yml.tenant_id, &mut tenant_id),
        ] {
            match (found, seen.as_ref()) {
                (Some(v), Some(prev)) if v != prev => {
                    return Err(SetupError::DirsDisagree {
                        setting: what,
                        first: prev.clone(),
                        other: v.clone(),
                        yml: dir.yml.path().to_path_buf(),
                    })
                }
                (Some(v), None) => *seen = Some(v.clone()),
                _ => {}
            }
        }
        complete &= yml.client_id.is_some();
        match dir.client_secret(realm)? {
            None => complete = false,
            Some(s) => {
                with_secret += 1;
                match &secret {
                    None => secret = Some(s),
                    Some(prev) => same_secret &= prev.expose_secret() == s.expose_secret(),
                }
            }
        }
    }
    if !same_secret {
        complete = false;
        secret = None;
    }
    Ok(ExistingRealm {
        client_id,
        tenant_id,
        secret,
        complete,
        with_secret,
        same_secret,
    })
}

/// Provision the realm's application and write every config directory (all or none), then
/// verify. `dirs` are already opened (locked, read, checked). With no dirs (the Kubernetes
/// output) a new secret is always added and nothing local is written; the caller takes the
/// secret from `provisioned.new_secret`.
///
/// Everything local that can be checked is checked before the tenant is touched: every
/// directory is planned with provisional values (so an edit the yml refuses shows now) and,
/// unless dry-running, probed for writing. If writing still fails after a new secret was
/// added, that secret is removed from the application again.
pub async fn run_setup(
    graph: &GraphClient,
    http: &reqwest::Client,
    dirs: &[ConfigDir],
    opts: &SetupOptions,
    progress: &dyn Progress,
) -> Result<(SetupOutcome, Option<SecretString>), SetupError> {
    let existing = existing_realm(dirs, &opts.realm)?;
    let mut popts = opts.provision.clone();
    if popts.configured_client_id.is_none() {
        popts.configured_client_id = existing.client_id.clone();
        if existing.client_id.is_some() {
            popts.configured_client_id_source = dirs.first().map(|d| {
                format!(
                    "{} ({})",
                    d.yml.path().display(),
                    crate::esconfig::realm_setting_key(&opts.realm, "client_id")
                )
            });
        }
    }
    popts.dry_run = opts.dry_run;

    // Decide whether a new secret is needed: only when asked, or when the directories do not
    // hold a working one for this very application.
    let (add, reason) = decide_secret(http, dirs, &existing, opts, progress).await?;
    popts.add_secret = if add {
        AddSecret::Always
    } else {
        AddSecret::Never
    };
    preflight(dirs, opts, &existing, add)?;

    let provisioned = provision::provision(graph, &popts, progress).await?;
    // Say what was done, not only why: a first run's "no secret yet" is not a warning.
    let credential_decision = match (&provisioned.new_secret, add) {
        (Some(new), _) => format!("added a new client secret (keyId {}): {reason}", new.key_id),
        (None, true) => format!("would add a new client secret: {reason}"),
        (None, false) => reason,
    };

    let secret: Option<SecretString> = match &provisioned.new_secret {
        Some(new) => Some(new.value.clone()),
        None => existing.secret.clone(),
    };
    let client_id = provisioned
        .app_id
        .clone()
        .unwrap_or_else(|| "<client ID of the new application>".to_string());
    let values = realm_values(
        &client_id,
        &provisioned.tenant_id,
        opts.order,
        &opts.endpoints,
    );

    // In a dry run that would add a secret there is no value yet: a placeholder shows the
    // keystore change without inventing a secret.
    let planned_secret = match (&secret, opts.dry_run && add) {
        (_, true) => Some(SecretString::from(PLACEHOLDER_SECRET.to_string())),
        (Some(s), false) => Some(s.clone()),
        (None, false) => None,
    };
    let written = plan_and_commit(dirs, opts, &values, planned_secret.as_ref());
    let (plans, files_written) = match written {
        Ok(done) => done,
        Err(failure) => return Err(undo_new_secret(graph, &provisioned, failure, progress).await),
    };
    let config_dirs = plans
        .iter()
        .map(|p| DirOutcome {
            config_dir: p.dir.display().to_string(),
            yml_changed: p.yml_after.is_some(),
            keystore_changes: p.keystore_changes.clone(),
            notes: p.notes.clone(),
            yml_diff: opts.dry_run.then(|| p.yml_diff()),
        })
        .collect();

    let (verify, verify_skipped) = if opts.dry_run {
        (None, Some("dry run".to_string()))
    } else if !opts.verify {
        (None, Some("--no-verify".to_string()))
    } else if !consent_done(&provisioned.consent) {
        (
            None,
            Some("admin consent has not been granted yet; run `verify` once it is".to_string()),
        )
    } else {
        match (&secret, &provisioned.app_id) {
            (Some(secret), Some(app_id)) => {
                progress.step("Verifying the realm's credentials as the realm will use them");
                let report = verify::verify(
                    http,
                    &VerifyInput {
                        access_token_host: &opts.endpoints.access_token_host,
                        graph_host: &opts.endpoints.graph_host,
                        tenant_id: &provisioned.tenant_id,
                        client_id: app_id,
                        client_secret: secret,
                        required_roles: Some(opts.provision.permissions.role_values()),
                        replication_wait: opts.verify_wait,
                        retry_interval: opts.verify_retry_interval,
                        progress,
                        secret_age: None,
                        // Only a grant made moments ago excuses a token without its roles.
                        granted_this_run: matches!(
                            provisioned.consent,
                            crate::provision::ConsentOutcome::Granted
                        ),
                        principals: &[],
                        timeouts: verify::RealmTimeouts::default(),
                    },
                )
                .await
                // The run did its work; only the proof failed. Say so, or the user would think
                // nothing happened.
                .map_err(|source| SetupError::VerifyAfterWrite {
                    source: Box::new(source),
                    files_written,
                })?;
                (Some(report), None)
            }
            _ => (None, Some("no client secret is known locally".to_string())),
        }
    };

    let outcome = SetupOutcome {
        realm: opts.realm.clone(),
        dry_run: opts.dry_run,
        credential_decision,
        config_dirs,
        files_written,
        verify,
        verify_skipped,
        provisioned,
        warnings: Vec::new(),
    };
    let new_secret = if dirs.is_empty() { secret } else { None };
    Ok((outcome, new_secret))
}

/// Stands in for values not known before provisioning (the client and tenant IDs of an app
/// not created yet): GUID-shaped, so the yml edit is checked as it will really be made.
const PLACEHOLDER_GUID: &str = "00000000-0000-0000-0000-000000000000";
/// Stands in for a secret Graph has not issued yet (dry runs and the pre-flight check).
const PLACEHOLDER_SECRET: &str = "<new client secret>";

/// Plan every directory with the values known before provisioning, and (unless dry-running)
/// probe each file that would change for writing, so local problems stop the run before
/// anything is created in the tenant.
fn preflight(
    dirs: &[ConfigDir],
    opts: &SetupOptions,
    existing: &ExistingRealm,
    add_secret: bool,
) -> Result<(), SetupError> {
    let client_id = existing
        .client_id
        .as_deref()
        .or(opts.provision.app_id.as_deref())
        .unwrap_or(PLACEHOLDER_GUID);
    let tenant_id = existing.tenant_id.as_deref().unwrap_or(PLACEHOLDER_GUID);
    let values = realm_values(client_id, tenant_id, opts.order, &opts.endpoints);
    let secret = if add_secret {
        Some(SecretString::from(PLACEHOLDER_SECRET.to_string()))
    } else {
        existing.secret.clone()
    };
    for dir in dirs {
        let plan = dir.plan_preview(
            &opts.realm,
            &values,
            secret.as_ref(),
            opts.new_keystore_version,
        )?;
        if !opts.dry_run {
            local::probe_writable(&plan).map_err(|source| SetupError::NotWritable { source })?;
        }
    }
    Ok(())
}

/// Plan every directory with the provisioned values and, unless dry-running, write them all
/// or none. Returns the plans and the number of files replaced.
fn plan_and_commit(
    dirs: &[ConfigDir],
    opts: &SetupOptions,
    values: &RealmValues,
    secret: Option<&SecretString>,
) -> Result<(Vec<DirPlan>, usize), CommitError> {
    let plans = dirs
        .iter()
        .map(|dir| dir.plan(&opts.realm, values, secret, opts.new_keystore_version))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CommitError::Plan(Box::new(e)))?;
    let written = if opts.dry_run || dirs.is_empty() {
        0
    } else {
        commit_all(&plans)?
    };
    Ok((plans, written))
}

/// A write failed after provisioning: if this run added a secret that reached no keystore,
/// remove it from the application again (nobody could ever use it), and say what happened.
async fn undo_new_secret(
    graph: &GraphClient,
    provisioned: &Provisioned,
    failure: CommitError,
    progress: &dyn Progress,
) -> SetupError {
    let Some(new) = &provisioned.new_secret else {
        return SetupError::Commit(failure);
    };
    // Only a keystore holds the secret: an `elasticsearch.yml` replaced before the failure
    // does not make it reachable.
    let in_a_keystore = failure
        .replaced()
        .iter()
        .any(|p| p.file_name() == Some(std::ffi::OsStr::new(crate::keystore::KEYSTORE_FILENAME)));
    if in_a_keystore {
        return SetupError::CommitNewSecretKept {
            source: failure,
            key_id: new.key_id.clone(),
        };
    }
    let cleanup = remove_unused_secret(graph, provisioned, progress).await;
    SetupError::CommitNewSecretUnused {
        source: failure,
        cleanup,
    }
}

/// Remove the secret this run added (its value reached nobody, so nobody can use it) and
/// say whether that worked ([`SecretCleanup`] renders the sentence for the error message).
pub async fn remove_unused_secret(
    graph: &GraphClient,
    provisioned: &Provisioned,
    progress: &dyn Progress,
) -> SecretCleanup {
    let (Some(new), Some(object_id)) = (&provisioned.new_secret, &provisioned.app_object_id) else {
        return SecretCleanup::NoneAdded;
    };
    progress.step(&format!(
        "Removing the new client secret (keyId {}) again: it could not be written anywhere",
        new.key_id
    ));
    // The keyId Graph returned for this run's addPassword, and nothing else.
    let decision = retire::decide(
        retire::Removal::Unused {
            new_key_id: &new.key_id,
        },
        &[],
        &[],
    );
    let key_id = new.key_id.clone();
    match provision::remove_passwords(graph, object_id, &decision.remove).await {
        Ok(_) => SecretCleanup::Removed { key_id },
        Err(error) => SecretCleanup::NotRemoved {
            key_id,
            error: Box::new(error),
        },
    }
}

/// Whether this run must add a secret, and why (for the summary).
async fn decide_secret(
    http: &reqwest::Client,
    dirs: &[ConfigDir],
    existing: &ExistingRealm,
    opts: &SetupOptions,
    progress: &dyn Progress,
) -> Result<(bool, String), SetupError> {
    if opts.new_secret {
        return Ok((true, "a new secret was asked for".to_string()));
    }
    if dirs.is_empty() {
        return Ok((
            true,
            "the Kubernetes Secret needs the secret's value, which Graph shows only once"
                .to_string(),
        ));
    }
    let (Some(secret), Some(client_id), true) =
        (&existing.secret, &existing.client_id, existing.complete)
    else {
        return Ok((true, missing_secret_reason(dirs.len(), existing)));
    };
    if let Some(app_id) = &opts.provision.app_id {
        if app_id != client_id {
            return Ok((
                true,
                format!("--app-id {app_id} differs from the configured client_id {client_id}"),
            ));
        }
    }
    let Some(tenant_id) = &existing.tenant_id else {
        return Ok((true, "the realm has no tenant_id configured".to_string()));
    };
    if opts.dry_run {
        return Ok((
            false,
            "the configured secret would be checked and kept".to_string(),
        ));
    }
    // A secret added moments ago (a previous run with --no-verify) may still be replicating:
    // give it a short while before calling it rejected and adding yet another one.
    let check = VerifyInput {
        access_token_host: &opts.endpoints.access_token_host,
        graph_host: &opts.endpoints.graph_host,
        tenant_id,
        client_id,
        client_secret: secret,
        required_roles: Some(&[]),
        replication_wait: opts.verify_wait.min(CONFIGURED_SECRET_WAIT),
        retry_interval: opts.verify_retry_interval,
        progress,
        secret_age: None,
        granted_this_run: false,
        principals: &[],
        timeouts: verify::RealmTimeouts::default(),
    };
    match verify::realm_token(http, &check).await {
        Ok(_) => Ok((
            false,
            "the configured client secret works; kept".to_string(),
        )),
        Err(verify::VerifyError::Token(e)) if e.exit_code() == ExitCode::CredentialsRejected => {
            Ok((
                true,
                format!(
                    "the configured client secret is rejected ({})",
                    first_words(&e.to_string())
                ),
            ))
        }
        // Not a verdict on the secret (host unreachable, tenant unknown here, …): stop, and
        // say the request was about the configured realm, not the caller's own sign-in.
        Err(source) => Err(SetupError::ConfiguredSecretUnchecked {
            client_id: client_id.clone(),
            tenant_id: tenant_id.clone(),
            source: Box::new(source),
        }),
    }
}

/// Why the config directories' state calls for a new secret (they lack a usable one).
fn missing_secret_reason(dirs: usize, existing: &ExistingRealm) -> String {
    if existing.with_secret == 0 {
        if dirs == 1 {
            "the config directory had none".to_string()
        } else {
            "the config directories had none".to_string()
        }
    } else if existing.with_secret < dirs {
        "not every config directory held one".to_string()
    } else if !existing.same_secret {
        "the config directories held different ones".to_string()
    } else {
        "elasticsearch.yml has no client_id for the realm, so the secret held cannot be checked"
            .to_string()
    }
}

/// How long `setup` waits for a configured secret that the token endpoint refuses in a way
/// that can mean "not replicated yet", before adding a new one.
const CONFIGURED_SECRET_WAIT: Duration = Duration::from_secs(20);

fn first_words(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Whether the consent outcome leaves the realm usable.
pub fn consent_done(consent: &ConsentOutcome) -> bool {
    matches!(
        consent,
        ConsentOutcome::Granted | ConsentOutcome::AlreadyGranted
    )
}

/// Make sure a realm name is usable before anything else happens.
pub fn check_realm_name(realm: &str) -> Result<(), EsConfigError> {
    crate::esconfig::validate_realm_name(realm)?;
    Ok(())
}

/// The warnings `setup` adds after a run: a secret label that falls back to the default
/// cluster name (`cluster_name_given` is `--cluster-name`; `first_dir` the first config
/// directory, whose `cluster.name` is read), and a new secret beside others this tool made
/// for the same `label`.
pub fn setup_warnings(
    outcome: &SetupOutcome,
    label: &str,
    cluster_name_given: bool,
    first_dir: Option<&std::path::Path>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if !cluster_name_given {
        warnings.extend(unnamed_cluster_warning(first_dir, label));
    }
    if let Some(new) = &outcome.provisioned.new_secret {
        let others = outcome
            .provisioned
            .secrets
            .iter()
            .filter(|s| s.key_id != new.key_id)
            .map(|s| s.display_name.as_deref());
        warnings.extend(retire::extra_secret_warning(others, label));
    }
    warnings
}

/// When the secret's label falls back to the default cluster name: every cluster without
/// `cluster.name` labels its secrets alike, so people cannot tell them apart.
fn unnamed_cluster_warning(first_dir: Option<&std::path::Path>, label: &str) -> Option<String> {
    let Some(first) = first_dir else {
        return Some(format!(
            "--cluster-name is not given: this realm's client secrets are labelled '{label}', like those of every unnamed cluster in the tenant; pass --cluster-name"
        ));
    };
    let named = crate::esconfig::EsYml::load(first)
        .ok()
        .and_then(|yml| yml.get("cluster.name"))
        .is_some();
    (!named).then(|| format!(
        "cluster.name is not set in {}: this realm's client secrets are labelled '{label}', like those of every unnamed cluster in the tenant; set cluster.name (or pass --cluster-name) so `status` can tell the deployments apart",
        first.join("elasticsearch.yml").display()
    ))
}

/// What to tell the user when the realm's permissions still lack admin consent (the caller
/// may not grant it, or `--no-consent` skipped it), with the instructions for an admin;
/// `None` when consent is done or was never needed.
pub fn consent_still_needed(p: &Provisioned, endpoints: &Endpoints) -> Option<String> {
    match &p.consent {
        ConsentOutcome::Forbidden { instructions } => Some(format!(
            "\nAdmin consent is still needed (the signed-in caller may not grant it):\n{instructions}\n"
        )),
        ConsentOutcome::Skipped if !p.missing_permissions.is_empty() => {
            let app_id = p.app_id.as_deref()?;
            Some(format!(
                "\nAdmin consent was not granted (--no-consent); still missing: {}.\n{}\n",
                p.missing_permissions.join(", "),
                provision::admin_consent_instructions(&p.tenant_id, app_id, endpoints)
            ))
        }
        _ => None,
    }
}

/// A `SetupOutcome` around `provisioned`, for the decisions that read one.
#[cfg(test)]
pub(crate) fn test_outcome(provisioned: Provisioned, verify: Option<VerifyReport>) -> SetupOutcome {
    SetupOutcome {
        realm: "microsoft_graph1".to_string(),
        dry_run: false,
        provisioned,
        credential_decision: String::new(),
        config_dirs: Vec::new(),
        files_written: 0,
        verify,
        verify_skipped: None,
        warnings: Vec::new(),
    }
}

/// A `Provisioned` for an existing application with `secrets` (keyId, display name).
#[cfg(test)]
pub(crate) fn test_provisioned(secrets: &[(&str, &str)]) -> Provisioned {
    Provisioned {
        dry_run: false,
        display_name: "elasticsearch-graph-authz".to_string(),
        app_object_id: Some("object-1".to_string()),
        app_id: Some("11111111-2222-3333-4444-555555555555".to_string()),
        sp_id: Some("sp-1".to_string()),
        tenant_id: "66666666-7777-8888-9999-000000000000".to_string(),
        created: false,
        found_by: None,
        changes: Vec::new(),
        permissions: provision::PermissionSet::Default,
        granted_permissions: Vec::new(),
        missing_permissions: Vec::new(),
        consent: ConsentOutcome::AlreadyGranted,
        secrets: secrets
            .iter()
            .map(|(key_id, name)| provision::SecretInfo {
                key_id: key_id.to_string(),
                display_name: Some(name.to_string()),
                end_date_time: None,
            })
            .collect(),
        new_secret: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "elasticsearch/microsoft_graph1";

    fn new_secret(key_id: &str) -> provision::NewSecret {
        provision::NewSecret {
            key_id: key_id.to_string(),
            display_name: Some(provision::secret_display_name(LABEL)),
            end_date_time: None,
            value: SecretString::from("new-value".to_string()),
        }
    }

    #[test]
    fn an_unnamed_cluster_is_warned_about_unless_a_cluster_name_is_given() {
        let outcome = test_outcome(test_provisioned(&[]), None);
        let home = tempfile::tempdir().unwrap();
        let dir = home.path();
        std::fs::write(dir.join("elasticsearch.yml"), "node.name: n1\n").unwrap();
        let warnings = setup_warnings(&outcome, LABEL, false, Some(dir));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("cluster.name is not set in "),
            "{warnings:?}"
        );
        assert!(setup_warnings(&outcome, LABEL, true, Some(dir)).is_empty());
        // No config directory (the Kubernetes output): only the flag can name the cluster.
        let warnings = setup_warnings(&outcome, LABEL, false, None);
        assert!(
            warnings[0].starts_with("--cluster-name is not given"),
            "{warnings:?}"
        );
        std::fs::write(dir.join("elasticsearch.yml"), "cluster.name: prod\n").unwrap();
        assert!(setup_warnings(&outcome, LABEL, false, Some(dir)).is_empty());
    }

    #[test]
    fn a_new_secret_beside_other_tool_made_ones_for_the_label_is_warned_about() {
        let ours = provision::secret_display_name(LABEL);
        let mut provisioned = test_provisioned(&[("new", &ours), ("person", "made by hand")]);
        provisioned.new_secret = Some(new_secret("new"));
        let outcome = test_outcome(provisioned, None);
        // Only the new one is the tool's: nothing left behind.
        assert!(setup_warnings(&outcome, LABEL, true, None).is_empty());
        let mut provisioned =
            test_provisioned(&[("new", &ours), ("old", &ours), ("person", "made by hand")]);
        provisioned.new_secret = Some(new_secret("new"));
        let outcome = test_outcome(provisioned, None);
        let warnings = setup_warnings(&outcome, LABEL, true, None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("already held 1 client secret(s)"),
            "{warnings:?}"
        );
    }

    #[test]
    fn consent_is_still_needed_only_when_forbidden_or_skipped_with_permissions_missing() {
        let endpoints = crate::cloud::Cloud::Global.endpoints();
        let mut p = test_provisioned(&[]);
        assert_eq!(consent_still_needed(&p, &endpoints), None);
        p.consent = ConsentOutcome::Granted;
        assert_eq!(consent_still_needed(&p, &endpoints), None);
        p.consent = ConsentOutcome::Skipped;
        assert_eq!(
            consent_still_needed(&p, &endpoints),
            None,
            "nothing is missing"
        );
        p.missing_permissions = vec!["User.Read.All".to_string()];
        let text = consent_still_needed(&p, &endpoints).unwrap_or_default();
        assert!(text.contains("still missing: User.Read.All."), "{text}");
        assert!(text.contains(p.app_id.as_deref().unwrap_or("?")), "{text}");
        p.consent = ConsentOutcome::Forbidden {
            instructions: "ask an admin to open URL".to_string(),
        };
        let text = consent_still_needed(&p, &endpoints).unwrap_or_default();
        assert!(text.contains("ask an admin to open URL"), "{text}");
    }
}
