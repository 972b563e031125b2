//! The local half of `setup` and `rotate`: one Elasticsearch config directory, its
//! `elasticsearch.yml` and `elasticsearch.keystore`, what the realm's settings look like there,
//! and the all-or-none write of several directories.
//!
//! Nothing here talks to Azure. The flow is: [`ConfigDir::open`] every directory (locking its
//! keystore, reading and checking both files), decide the realm's values, [`ConfigDir::plan`]
//! each directory in memory, then [`commit_all`]: every new file is written and fsynced as a
//! temp file first, and only when all of them exist are they renamed into place.
//!
//! Both files may be changed meanwhile by programs that do not take our lock (Elasticsearch's
//! `elasticsearch-keystore`, Ansible, an editor): [`ConfigDir::open`] remembers what it read,
//! each plan remembers the edits it made, and [`commit_all`] makes those edits again on top
//! of a file that changed instead of writing over it.

use std::path::{Path, PathBuf};

use crate::esconfig::{self, EsYml, RealmYml};
use crate::fsutil::{self, PreparedFile, ReplaceStep, Seen};
use crate::keystore::{self, FormatVersion, Keystore, KeystoreLock};
use crate::secret::{ExposeSecret, SecretString};

use super::error::{CommitError, ConfigDirError, PasswordFailure, MOVE_MISPLACED_REMEDY};

/// Temp name for a new `elasticsearch.yml`, next to it (the keystore's is
/// `elasticsearch.keystore.tmp`, chosen by Elasticsearch).
const YML_TEMP_NAME: &str = "elasticsearch.yml.tmp";
/// The realm settings `setup` decides itself (the others are left to the user).
const MANAGED_SETTINGS: &[&str] = &[
    "order",
    "client_id",
    "tenant_id",
    "access_token_host",
    "graph_host",
];
/// Mode of an `elasticsearch.yml` this tool creates (an existing file keeps its mode):
/// `rw-rw----`, like the keystore, because it names the tenant and the app.
const NEW_YML_MODE: u32 = 0o660;

/// One config directory, opened for an update: locked, both files read and checked.
pub struct ConfigDir {
    pub dir: PathBuf,
    /// Held until this value is dropped, so a concurrent `keystore add` cannot slip a write in
    /// between our read and our rename.
    _lock: KeystoreLock,
    pub yml: EsYml,
    /// The state of `elasticsearch.yml` when `yml` was read.
    yml_seen: Seen,
    /// The keystore, decrypted; `None` when the directory has none yet.
    pub keystore: Option<Keystore>,
}

/// One edit of the realm in `elasticsearch.yml`, kept so it can be made again on a file
/// another program changed meanwhile.
#[derive(Debug, Clone)]
enum YmlEdit {
    Remove(String),
    Set(Vec<(String, String)>),
}

/// Where a protected keystore's password comes from; called once per protected keystore.
pub type PasswordSource<'a> = dyn FnMut(&Path) -> Result<SecretString, PasswordFailure> + 'a;

impl ConfigDir {
    /// Lock and read `dir` for realm `realm`. Refuses what Elasticsearch would refuse at start
    /// (a duplicate or secure setting in the yml) and, unless `move_misplaced` is set, a
    /// non-secure realm setting sitting in the keystore.
    pub fn open(
        dir: &Path,
        realm: &str,
        password: &mut PasswordSource<'_>,
        move_misplaced: bool,
    ) -> Result<ConfigDir, ConfigDirError> {
        check_config_dir(dir)?;
        let lock = keystore::lock(dir)?;
        let (yml, yml_seen) = load_yml(dir)?;
        yml.check_realm(realm)?;
        let keystore = match keystore::read_header(dir)? {
            None => None,
            Some(header) => {
                let pw = if header.has_password {
                    password(dir)?
                } else {
                    SecretString::from(String::new())
                };
                Some(keystore::load(dir, &pw)?)
            }
        };
        let opened = ConfigDir {
            dir: dir.to_path_buf(),
            _lock: lock,
            yml,
            yml_seen,
            keystore,
        };
        let misplaced = opened.misplaced_settings(realm);
        if !misplaced.is_empty() && !move_misplaced {
            return Err(misplaced_error(dir, &misplaced, MOVE_MISPLACED_REMEDY));
        }
        Ok(opened)
    }

    /// The realm's non-secure settings stored in the keystore by mistake.
    pub fn misplaced_settings(&self, realm: &str) -> Vec<String> {
        match &self.keystore {
            None => Vec::new(),
            Some(ks) => esconfig::non_secure_keys_in(&ks.names(), Some(realm)),
        }
    }

    /// What the yml says about the realm.
    pub fn realm_yml(&self, realm: &str) -> Result<RealmYml, esconfig::EsConfigError> {
        self.yml.realm(realm)
    }

    /// The realm's settings as the user configured them: the yml's, completed by non-secure
    /// settings found in the keystore by mistake (which `plan` moves to the yml). A
    /// `client_id` left in the keystore still names the user's application.
    pub fn configured(&self, realm: &str) -> Result<RealmYml, ConfigDirError> {
        let mut found = self.yml.realm(realm)?;
        let Some(ks) = &self.keystore else {
            return Ok(found);
        };
        for key in self.misplaced_settings(realm) {
            let Some(value) = ks.get_string(&key)? else {
                continue;
            };
            let value = value.expose_secret().trim().to_string();
            let setting = key.rsplit('.').next().unwrap_or_default();
            let slot = match setting {
                "client_id" => &mut found.client_id,
                "tenant_id" => &mut found.tenant_id,
                "order" => {
                    if found.order.is_none() {
                        found.order = value.parse().ok();
                    }
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        Ok(found)
    }

    /// The realm's client secret from the keystore, if there is one.
    pub fn client_secret(
        &self,
        realm: &str,
    ) -> Result<Option<SecretString>, keystore::KeystoreError> {
        match &self.keystore {
            None => Ok(None),
            Some(ks) => ks.get_string(&client_secret_key(realm)),
        }
    }

    /// Work out, in memory, the files this directory needs for the realm to hold `values` and
    /// `secret`. Nothing is written.
    pub fn plan(
        &self,
        realm: &str,
        values: &RealmValues,
        secret: Option<&SecretString>,
        new_keystore_version: FormatVersion,
    ) -> Result<DirPlan, ConfigDirError> {
        self.plan_with(realm, values, secret, new_keystore_version, true)
    }

    /// [`ConfigDir::plan`] for a plan that will not be committed (the pre-flight check):
    /// the key pre-derived at load stays with this directory for the real plan.
    pub fn plan_preview(
        &self,
        realm: &str,
        values: &RealmValues,
        secret: Option<&SecretString>,
        new_keystore_version: FormatVersion,
    ) -> Result<DirPlan, ConfigDirError> {
        self.plan_with(realm, values, secret, new_keystore_version, false)
    }

    fn plan_with(
        &self,
        realm: &str,
        values: &RealmValues,
        secret: Option<&SecretString>,
        new_keystore_version: FormatVersion,
        take_save_key: bool,
    ) -> Result<DirPlan, ConfigDirError> {
        let mut yml = self.yml.clone();
        let mut yml_edits = Vec::new();
        let mut notes = Vec::new();
        let mut keystore_changes = Vec::new();

        // Settings found in the keystore by mistake move to the yml (the caller has already
        // refused them unless the user asked for the move).
        let misplaced = self.misplaced_settings(realm);
        // The copy takes over the key pre-derived when the keystore was loaded, so the save
        // costs no second derivation.
        let mut keystore = self.keystore.as_ref().map(|ks| {
            if take_save_key {
                ks.clone_for_update()
            } else {
                ks.clone()
            }
        });
        let mut moved: Vec<(String, String)> = Vec::new();
        if let Some(ks) = keystore.as_mut() {
            for key in &misplaced {
                let setting = key.rsplit('.').next().unwrap_or(key).to_string();
                if let Some(value) = ks.get_string(key)? {
                    moved.push((setting, value.expose_secret().to_string()));
                }
                ks.remove(key);
                keystore_changes.push(format!("remove {key} (moved to elasticsearch.yml)"));
            }
        }

        let configured = self.configured(realm)?;
        let order = match (values.order, configured.order) {
            (Some(explicit), _) => explicit,
            (None, Some(existing)) => existing,
            (None, None) => yml.next_realm_order(),
        };
        let mut settings: Vec<(&str, String)> = vec![
            ("order", order.to_string()),
            ("client_id", values.client_id.clone()),
            ("tenant_id", values.tenant_id.clone()),
        ];
        let current = yml.realm(realm)?;
        for (name, wanted, present) in [
            (
                "access_token_host",
                &values.access_token_host,
                &current.access_token_host,
            ),
            ("graph_host", &values.graph_host, &current.graph_host),
        ] {
            match wanted {
                Some(v) => settings.push((name, v.clone())),
                None if present.is_some() => {
                    // The realm's default is wanted: an explicit other host would contradict it.
                    yml.remove_realm_setting(realm, name)?;
                    yml_edits.push(YmlEdit::Remove(name.to_string()));
                    notes.push(format!("remove {name} (the default is used)"));
                }
                None => {}
            }
        }
        // client_id, tenant_id and order from the keystore already fed `values`/`configured`,
        // and the hosts follow the endpoints this run uses; the rest move verbatim.
        for (setting, value) in &moved {
            let managed = MANAGED_SETTINGS.contains(&setting.as_str());
            if !managed && !settings.iter().any(|(s, _)| s == setting) {
                settings.push((setting.as_str(), value.clone()));
            }
        }
        yml.set_realm_settings(realm, &settings)?;
        yml_edits.push(YmlEdit::Set(
            settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        ));
        let yml_after = (yml.text() != self.yml.text()).then(|| yml.text().to_string());

        let secret_key = client_secret_key(realm);
        if let Some(secret) = secret {
            let ks = match keystore.as_mut() {
                Some(ks) => ks,
                None => {
                    keystore_changes.push(format!(
                        "create elasticsearch.keystore (format {}, with keystore.seed)",
                        new_keystore_version.number()
                    ));
                    let mut new = Keystore::new(new_keystore_version)?;
                    // There was none when the directory was opened: one that appears before
                    // the commit is not written over.
                    new.expect_no_file();
                    keystore.insert(new)
                }
            };
            let same = match ks.get_string(&secret_key)? {
                Some(old) => old.expose_secret() == secret.expose_secret(),
                None => false,
            };
            if !same {
                let verb = if ks.contains(&secret_key) {
                    "replace"
                } else {
                    "add"
                };
                ks.set_string(&secret_key, secret.expose_secret())?;
                keystore_changes.push(format!("{verb} {secret_key}"));
            }
            if ks.ensure_seed() {
                keystore_changes.push("add keystore.seed".to_string());
            }
        }
        let keystore_after = if keystore_changes.is_empty() {
            None
        } else {
            keystore
        };
        Ok(DirPlan {
            dir: self.dir.clone(),
            realm: realm.to_string(),
            yml_seen: self.yml_seen.clone(),
            yml_edits,
            yml_path: self.yml.path().to_path_buf(),
            yml_before: self.yml.text().to_string(),
            yml_after,
            keystore_after,
            keystore_changes,
            notes,
        })
    }
}

/// The refusal for the realm's non-secure settings found in `dir`'s keystore (at least one),
/// in Elasticsearch's own words, followed by `remedy` (see [`ConfigDirError::Misplaced`]).
pub fn misplaced_error(dir: &Path, misplaced: &[String], remedy: &'static str) -> ConfigDirError {
    ConfigDirError::misplaced(dir, misplaced.to_vec(), remedy)
}

/// The realm's non-secure values as they should end up in `elasticsearch.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmValues {
    pub client_id: String,
    pub tenant_id: String,
    /// `--order`; `None` keeps the realm's current order, or takes one past the highest.
    pub order: Option<i64>,
    /// Only when not the realm's default.
    pub access_token_host: Option<String>,
    /// Only when not the realm's default.
    pub graph_host: Option<String>,
}

impl RealmValues {
    /// The realm's settings for a configuration written elsewhere than `elasticsearch.yml`
    /// (the ECK nodeSets snippet): `order`, the IDs, and a host only when not the default.
    pub fn settings(&self, order: i64) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("order", order.to_string()),
            ("client_id", self.client_id.clone()),
            ("tenant_id", self.tenant_id.clone()),
        ];
        if let Some(h) = &self.access_token_host {
            settings.push(("access_token_host", h.clone()));
        }
        if let Some(h) = &self.graph_host {
            settings.push(("graph_host", h.clone()));
        }
        settings
    }
}

/// The keystore setting that holds the realm's client secret.
pub fn client_secret_key(realm: &str) -> String {
    esconfig::realm_setting_key(realm, "client_secret")
}

/// What one directory needs, computed in memory.
pub struct DirPlan {
    pub dir: PathBuf,
    realm: String,
    /// The yml this plan was made from, and the edits made to it.
    yml_seen: Seen,
    yml_edits: Vec<YmlEdit>,
    pub yml_path: PathBuf,
    pub yml_before: String,
    /// The new yml text, when it changes.
    pub yml_after: Option<String>,
    /// The new keystore, when it changes.
    pub keystore_after: Option<Keystore>,
    /// Keystore entry names added/replaced/removed, for the summary and `--dry-run`.
    pub keystore_changes: Vec<String>,
    /// Other things worth telling the user.
    pub notes: Vec<String>,
}

impl DirPlan {
    pub fn changes_anything(&self) -> bool {
        self.yml_after.is_some() || self.keystore_after.is_some()
    }

    /// The yml diff (empty when unchanged), for `--dry-run`.
    pub fn yml_diff(&self) -> String {
        match &self.yml_after {
            None => String::new(),
            Some(after) => esconfig::unified_diff(
                &self.yml_path.display().to_string(),
                &self.yml_before,
                after,
            ),
        }
    }
}

/// What [`commit_all`] writes for one file: the prepared replacement and what it came from,
/// so the change can be made again on a file another program changed meanwhile.
struct Pending<'a> {
    plan: &'a DirPlan,
    /// `None` for the yml; for the keystore, the copy that was re-applied last (the plan's
    /// own until then).
    keystore: Option<Option<Keystore>>,
    target: PathBuf,
    /// Taken by the commit; put back by [`Pending::reapply`].
    file: Option<PreparedFile>,
}

impl Pending<'_> {
    fn target(&self) -> &Path {
        &self.target
    }

    /// Read the target again and prepare this run's change made on top of it.
    fn reapply(&mut self) -> Result<(), ConfigDirError> {
        tracing::info!(
            "{} was changed by another program; making this run's change again on top of it",
            self.target().display()
        );
        // The old temp file goes first: the new one takes the same name, and possibly the
        // same inode number, so the old one's drop could otherwise remove the new one.
        self.file = None;
        match &mut self.keystore {
            None => self.file = Some(prepare_yml(self.plan, &reapply_yml(self.plan)?)?),
            Some(again) => {
                let current = again
                    .as_ref()
                    .or(self.plan.keystore_after.as_ref())
                    .ok_or(ConfigDirError::Internal("no keystore to re-apply"))?;
                let fresh = keystore::file::reapply(&self.plan.dir, current)?;
                self.file = Some(keystore::prepare_save(&self.plan.dir, &fresh)?);
                *again = Some(fresh);
            }
        }
        Ok(())
    }
}

/// The plan's yml edits made again on the file as it is now.
fn reapply_yml(plan: &DirPlan) -> Result<(String, Seen), ConfigDirError> {
    let (mut yml, seen) = load_yml(&plan.dir)?;
    yml.check_realm(&plan.realm)?;
    for edit in &plan.yml_edits {
        match edit {
            YmlEdit::Remove(name) => {
                yml.remove_realm_setting(&plan.realm, name)?;
            }
            YmlEdit::Set(settings) => {
                let settings: Vec<(&str, String)> = settings
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                yml.set_realm_settings(&plan.realm, &settings)?;
            }
        }
    }
    Ok((yml.text().to_string(), seen))
}

/// The new yml `text` ready to replace the file in state `seen`.
fn prepare_yml(
    plan: &DirPlan,
    (text, seen): &(String, Seen),
) -> Result<PreparedFile, ConfigDirError> {
    let mode = existing_mode(&plan.yml_path).unwrap_or(NEW_YML_MODE);
    fsutil::prepare_replace(&plan.yml_path, YML_TEMP_NAME, text.as_bytes(), mode)
        .map(|f| f.expecting(Some(seen.clone())))
        .map_err(|e| ConfigDirError::write(&plan.yml_path, e))
}

/// Read `elasticsearch.yml` and the state of the file it came from. `EsYml::load` reads the
/// file itself, so the state is taken right after and must hold the same bytes; a write in
/// between makes both be read again.
fn load_yml(dir: &Path) -> Result<(EsYml, Seen), ConfigDirError> {
    for _ in 0..=keystore::file::MAX_REAPPLY {
        let yml = EsYml::load(dir)?;
        let seen = Seen::now(yml.path()).map_err(|source| ConfigDirError::YmlUnreadable {
            path: yml.path().to_path_buf(),
            source,
        })?;
        let bytes = match seen {
            Seen::Absent => None,
            Seen::File(_) => Some(yml.text().as_bytes()),
        };
        if seen.holds(bytes) {
            return Ok((yml, seen));
        }
    }
    Err(ConfigDirError::YmlKeptChanging {
        path: dir.join(esconfig::ES_YML),
    })
}

/// Write every plan, all or none: each new file is first written and fsynced as a temp file
/// next to its target; only when every temp file exists is anything renamed. A failure while
/// preparing leaves every directory untouched (the temp files are removed). Returns the
/// number of files replaced.
///
/// Each directory's yml is replaced before its keystore: the keystore is the only file that
/// holds the client secret, so a failure after the yml leaves a secret no file holds, which
/// the caller removes from the tenant again, instead of one a re-run would not find.
///
/// A file another program changed since it was read is read again and this run's edits are
/// made on top of it (before anything is renamed when the change is seen then, else just
/// before that file's rename); after [`keystore::file::MAX_REAPPLY`] attempts, or when the
/// edits no longer apply, the commit stops with a message naming the file.
pub fn commit_all(plans: &[DirPlan]) -> Result<usize, CommitError> {
    let untouched = |source: ConfigDirError| CommitError::NothingChanged {
        source: Box::new(source),
    };
    // Encrypting a keystore costs a key derivation (210,000 PBKDF2 iterations for format 6)
    // unless one was pre-derived at load: with many directories, prepare them on every core.
    let mut keystores = prepare_keystores(plans).into_iter();
    let mut pending: Vec<Pending> = Vec::new();
    for plan in plans {
        let keystore = keystores.next().flatten();
        if let Some(text) = &plan.yml_after {
            let file =
                prepare_yml(plan, &(text.clone(), plan.yml_seen.clone())).map_err(untouched)?;
            pending.push(Pending {
                plan,
                keystore: None,
                target: file.target().to_path_buf(),
                file: Some(file),
            });
        }
        if let Some(result) = keystore {
            let file = result.map_err(|e| untouched(e.into()))?;
            pending.push(Pending {
                plan,
                keystore: Some(None),
                target: file.target().to_path_buf(),
                file: Some(file),
            });
        }
    }
    // Before anything is renamed, a change by another program is taken in while nothing
    // has changed yet.
    for p in &mut pending {
        let unchanged = match &p.file {
            Some(file) => file
                .unchanged()
                .map_err(|e| untouched(ConfigDirError::write(&p.target, e)))?,
            None => true,
        };
        if !unchanged {
            p.reapply().map_err(untouched)?;
        }
    }
    // From here a failure can only be a rename (or the fsync after it); files not yet
    // renamed are dropped with the iterator, which removes their temp files.
    let mut replaced: Vec<PathBuf> = Vec::new();
    let mut sync_failure: Option<ConfigDirError> = None;
    let failed = |source: ConfigDirError, replaced: Vec<PathBuf>| {
        let source = Box::new(source);
        if replaced.is_empty() {
            CommitError::NothingChanged { source }
        } else {
            CommitError::PartlyReplaced { source, replaced }
        }
    };
    for mut p in pending {
        let target = p.target().to_path_buf();
        let mut attempts = 0;
        loop {
            let Some(file) = p.file.take() else {
                let error = ConfigDirError::Internal("a prepared file went missing");
                return Err(failed(error, replaced));
            };
            match file.commit() {
                Ok(()) => {
                    replaced.push(target);
                    break;
                }
                Err(e) if fsutil::failed_step(&e) == Some(ReplaceStep::SyncDirectory) => {
                    // Renamed, but the directory entry may not survive a crash: finish the
                    // others and report it.
                    sync_failure.get_or_insert_with(|| ConfigDirError::write(&target, e));
                    replaced.push(target);
                    break;
                }
                Err(e)
                    if fsutil::changed_since_read(&e) && attempts < keystore::file::MAX_REAPPLY =>
                {
                    attempts += 1;
                    if let Err(error) = p.reapply() {
                        return Err(failed(error, replaced));
                    }
                }
                Err(e) => return Err(failed(ConfigDirError::write(&target, e), replaced)),
            }
        }
    }
    match sync_failure {
        None => Ok(replaced.len()),
        // Every file was renamed, so the message must not read as if nothing changed.
        Some(source) => Err(CommitError::NotDurable {
            source: Box::new(source),
            replaced,
        }),
    }
}

/// Check, changing nothing, that every file `plan` would replace can be replaced: the
/// directory is writable, the temp name is free (a stale temp file is removed, as the real
/// write would), and the file's owner would not change. Meant to run before anything is
/// created in the tenant, so an unwritable directory does not cost a client secret.
pub fn probe_writable(plan: &DirPlan) -> Result<(), ConfigDirError> {
    let mut targets: Vec<(PathBuf, &str)> = Vec::new();
    if plan.keystore_after.is_some() {
        targets.push((
            keystore::keystore_path(&plan.dir),
            keystore::file::TEMP_FILENAME,
        ));
    }
    if plan.yml_after.is_some() {
        targets.push((plan.yml_path.clone(), YML_TEMP_NAME));
    }
    for (target, temp_name) in targets {
        // An empty temp file, removed again when the prepared file is dropped.
        let probe = fsutil::prepare_replace(&target, temp_name, b"", 0o600)
            .map_err(|e| ConfigDirError::write(&target, e))?;
        drop(probe);
    }
    Ok(())
}

/// `keystore::prepare_save` for every plan that changes its keystore, on up to one thread per
/// core, results in plan order. Every temp file is written before anything is renamed, so
/// this changes the speed of a commit, not its all-or-none guarantee.
fn prepare_keystores(
    plans: &[DirPlan],
) -> Vec<Option<Result<PreparedFile, keystore::KeystoreError>>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    let results: Vec<Mutex<Option<Result<PreparedFile, keystore::KeystoreError>>>> =
        plans.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = |_: usize| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(plan) = plans.get(i) else { break };
        if let Some(ks) = &plan.keystore_after {
            let prepared = keystore::prepare_save(&plan.dir, ks);
            let mut slot = results[i].lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(prepared);
        }
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(plans.iter().filter(|p| p.keystore_after.is_some()).count());
    if threads <= 1 {
        work(0);
    } else {
        std::thread::scope(|scope| {
            for t in 1..threads {
                scope.spawn(move || work(t));
            }
            work(0);
        });
    }
    results
        .into_iter()
        .map(|slot| match slot.into_inner() {
            Ok(result) => result,
            Err(poisoned) => poisoned.into_inner(),
        })
        .collect()
}

fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// Refuse a `--config` that is not an existing directory, before reading anything from it
/// (a missing `elasticsearch.yml` alone reads as an empty file).
pub fn check_config_dir(dir: &Path) -> Result<(), ConfigDirError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(ConfigDirError::NotADirectory {
            dir: dir.to_path_buf(),
        }),
        Err(source) => Err(ConfigDirError::DirUnreadable {
            dir: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;

    use super::*;
    use crate::exit::{ExitCode, UserFacing};

    #[test]
    fn a_config_dir_that_is_missing_or_a_file_is_a_config_error_naming_the_flag() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let e = check_config_dir(&file).unwrap_err();
        assert!(matches!(e, ConfigDirError::NotADirectory { .. }), "{e:?}");
        assert_eq!(e.exit_code(), ExitCode::Config);
        assert!(e
            .to_string()
            .ends_with("is not a directory; pass an Elasticsearch config directory with --config"));
        let e = check_config_dir(&root.path().join("missing")).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Config);
        let source = e.source().and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(source.map(io::Error::kind), Some(io::ErrorKind::NotFound));
        assert!(check_config_dir(root.path()).is_ok());
    }
}
