//! Opening a keystore for a command: whether a password is needed, the create-if-missing
//! policy of `add`/`add-file`, and the changes each modifying verb makes under the lock.

use std::path::{Path, PathBuf};

use super::dir::require_dir;
use super::error::KeystoreOpsError;
use crate::keystore::{self, FormatVersion, Keystore, KeystoreLock};
use crate::secret::{ExposeSecret, SecretString};

/// An existing keystore, not yet decrypted. For a modifying command it holds the lock.
#[derive(Debug)]
pub struct Sealed {
    dir: PathBuf,
    has_password: bool,
    lock: Option<KeystoreLock>,
}

impl Sealed {
    /// Whether the caller must obtain the keystore password first (as Elasticsearch, a
    /// password-less keystore is opened without asking for one).
    pub fn needs_password(&self) -> bool {
        self.has_password
    }

    /// Decrypt for reading (`list`, `show`): one key derivation, none spent on a save that
    /// will not happen. An unneeded password is ignored.
    pub fn read(self, password: &SecretString) -> Result<Keystore, KeystoreOpsError> {
        let empty = SecretString::from(String::new());
        let password = if self.has_password { password } else { &empty };
        Ok(keystore::load_read_only(&self.dir, password)?)
    }

    /// Decrypt to change settings or the password (`add`, `add-file`, `remove`, `passwd`).
    /// A format-3 keystore is refused: this tool does not rewrite it silently.
    pub fn open_to_change(self, password: &SecretString) -> Result<Edit, KeystoreOpsError> {
        let edit = self.open(password)?;
        if !edit.ks.version().is_writable() {
            return Err(KeystoreOpsError::KeptInOldFormat {
                path: keystore::keystore_path(&edit.dir),
                version: edit.ks.version(),
            });
        }
        Ok(edit)
    }

    /// Decrypt to rewrite in another format (`upgrade`), which may take a format-3 keystore.
    pub fn open_to_upgrade(self, password: &SecretString) -> Result<Edit, KeystoreOpsError> {
        self.open(password)
    }

    fn open(self, password: &SecretString) -> Result<Edit, KeystoreOpsError> {
        let empty = SecretString::from(String::new());
        let password = if self.has_password { password } else { &empty };
        let ks = keystore::load(&self.dir, password)?;
        Ok(Edit {
            dir: self.dir,
            ks,
            _lock: self.lock,
        })
    }
}

fn not_found(dir: &Path) -> KeystoreOpsError {
    keystore::KeystoreError::NotFound {
        path: keystore::keystore_path(dir),
    }
    .into()
}

/// The keystore in `dir` for reading, without the lock; Elasticsearch's "not found" (65)
/// when the directory holds none.
pub fn find(dir: &Path) -> Result<Sealed, KeystoreOpsError> {
    require_dir(dir)?;
    let header = keystore::read_header(dir)?.ok_or_else(|| not_found(dir))?;
    Ok(Sealed {
        dir: dir.to_path_buf(),
        has_password: header.has_password,
        lock: None,
    })
}

/// The keystore in `dir` for reading when there is one (`verify`, `status` look at a dir
/// that may have none yet); the header alone decides, as for [`find`].
pub fn find_if_present(dir: &Path) -> Result<Option<Sealed>, KeystoreOpsError> {
    Ok(keystore::read_header(dir)?.map(|header| Sealed {
        dir: dir.to_path_buf(),
        has_password: header.has_password,
        lock: None,
    }))
}

/// Lock the config directory of a keystore that must already exist. The existence check
/// comes before the lock so a missing keystore (or config directory) gets Elasticsearch's
/// message at once; the header is read again under the lock, where it cannot change.
pub fn lock_existing(dir: &Path) -> Result<Sealed, KeystoreOpsError> {
    require_dir(dir)?;
    if keystore::read_header(dir)?.is_none() {
        return Err(not_found(dir));
    }
    let lock = keystore::lock(dir)?;
    let mut sealed = find(dir)?;
    sealed.lock = Some(lock);
    Ok(sealed)
}

/// What `add`/`add-file` find in a locked config dir.
#[derive(Debug)]
pub enum AddTarget {
    /// A keystore to add to (after its password, if it has one).
    Existing(Sealed),
    /// No keystore: one may be created (Elasticsearch asks first unless `--force`).
    Missing(NewKeystore),
}

/// A keystore `add`/`add-file` may create, with the lock held.
#[derive(Debug)]
pub struct NewKeystore {
    dir: PathBuf,
    lock: KeystoreLock,
}

impl NewKeystore {
    /// Start the new keystore. Unlike Elasticsearch, it is saved once, with its values, at
    /// the end: a failure on the way leaves no half-made keystore behind. One that another
    /// program creates meanwhile is not written over: these values are added to it.
    pub fn create(self) -> Result<Edit, KeystoreOpsError> {
        let mut ks = Keystore::new(FormatVersion::LATEST)?;
        ks.expect_no_file();
        Ok(Edit {
            dir: self.dir,
            ks,
            _lock: Some(self.lock),
        })
    }
}

/// Lock `dir` for `add`/`add-file` and say whether its keystore exists.
pub fn lock_for_add(dir: &Path) -> Result<AddTarget, KeystoreOpsError> {
    require_dir(dir)?;
    let lock = keystore::lock(dir)?;
    if keystore::read_header(dir)?.is_some() {
        let mut sealed = find(dir)?;
        sealed.lock = Some(lock);
        return Ok(AddTarget::Existing(sealed));
    }
    Ok(AddTarget::Missing(NewKeystore {
        dir: dir.to_path_buf(),
        lock,
    }))
}

/// `create`: a locked config dir where a new keystore will be written.
#[derive(Debug)]
pub struct CreateTarget {
    dir: PathBuf,
    _lock: KeystoreLock,
}

/// Lock `dir` for `create`.
pub fn lock_for_create(dir: &Path) -> Result<CreateTarget, KeystoreOpsError> {
    require_dir(dir)?;
    Ok(CreateTarget {
        dir: dir.to_path_buf(),
        _lock: keystore::lock(dir)?,
    })
}

impl CreateTarget {
    /// Whether something (a keystore, a symlink, anything) is at the keystore's path, so
    /// creating replaces it (Elasticsearch asks first).
    pub fn replaces_existing(&self) -> bool {
        keystore::keystore_path(&self.dir)
            .symlink_metadata()
            .is_ok()
    }

    /// Write a new, empty keystore in `version`; an empty password means none. Returns the
    /// keystore's path.
    pub fn create(
        self,
        version: FormatVersion,
        password: SecretString,
    ) -> Result<PathBuf, KeystoreOpsError> {
        let mut ks = Keystore::new(version)?;
        if !password.expose_secret().is_empty() {
            ks.set_password(password);
        }
        keystore::save(&self.dir, &ks)?;
        Ok(keystore::keystore_path(&self.dir))
    }
}

/// What setting a value did to the keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Replaced,
}

/// What `upgrade` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// The file was rewritten (new format version, or a seed added).
    Rewritten,
    /// Already in the target format with a seed: not rewritten, so a read-only config
    /// directory stays fine (as Elasticsearch).
    Unchanged,
}

/// A decrypted keystore being changed, with the lock held until it is saved or dropped.
/// Nothing reaches the disk before [`Edit::save`] (or the verbs that save).
#[derive(Debug)]
pub struct Edit {
    dir: PathBuf,
    ks: Keystore,
    _lock: Option<KeystoreLock>,
}

impl Edit {
    /// The keystore as it stands.
    pub fn keystore(&self) -> &Keystore {
        &self.ks
    }

    /// Whether setting `name` would replace a value (Elasticsearch asks first unless forced).
    pub fn contains(&self, name: &str) -> bool {
        self.ks.contains(name)
    }

    /// Set a string setting.
    pub fn set_string(
        &mut self,
        name: &str,
        value: &SecretString,
    ) -> Result<Change, KeystoreOpsError> {
        let change = self.change_for(name);
        self.ks.set_string(name, value.expose_secret())?;
        Ok(change)
    }

    /// Set a file setting to exactly these bytes.
    pub fn set_bytes(&mut self, name: &str, value: &[u8]) -> Result<Change, KeystoreOpsError> {
        let change = self.change_for(name);
        self.ks.set_bytes(name, value)?;
        Ok(change)
    }

    fn change_for(&self, name: &str) -> Change {
        if self.ks.contains(name) {
            Change::Replaced
        } else {
            Change::Added
        }
    }

    /// Remove every setting in `names`; a missing one is an error and then nothing is saved.
    /// Removing the seed saves the file without one (the node adds one at start), as
    /// Elasticsearch does, rather than with a new one.
    pub fn remove<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), KeystoreOpsError> {
        for name in names {
            if !self.ks.remove(name) {
                return Err(KeystoreOpsError::MissingSetting {
                    name: name.to_owned(),
                });
            }
            if name == keystore::SEED_SETTING {
                self.ks.omit_seed_on_save();
            }
        }
        Ok(())
    }

    /// Rewrite in `target` format (adding a seed if there is none); an up-to-date keystore
    /// is not rewritten.
    pub fn upgrade(mut self, target: FormatVersion) -> Result<Upgrade, KeystoreOpsError> {
        let changed_version = self.ks.version() != target;
        self.ks.set_version(target)?;
        let added_seed = self.ks.ensure_seed();
        if !(changed_version || added_seed) {
            return Ok(Upgrade::Unchanged);
        }
        self.save()?;
        Ok(Upgrade::Rewritten)
    }

    /// Set a new password (empty: none) and save.
    pub fn change_password(mut self, password: SecretString) -> Result<(), KeystoreOpsError> {
        self.ks.set_password(password);
        self.save()
    }

    /// Write the keystore (crash-safe replacement) and release the lock.
    pub fn save(self) -> Result<(), KeystoreOpsError> {
        keystore::save(&self.dir, &self.ks)?;
        Ok(())
    }
}
