//! The latest moment a foreign change can be caught (issue 8, item 2): a program that does
//! not take our lock replaces `elasticsearch.yml` or the keystore, or appends to the yml,
//! just before `setup`'s commit renames its file over it (the `before_rename` fail point).
//! The commit must see the change, read the file again, make its own edits on top and
//! keep both.
//!
//! Fail points are process-global, so this runs in its own test binary.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fail::FailScenario;
use msgraph_keystore::esconfig::EsYml;
use msgraph_keystore::fsutil::fail_points;
use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::secret::SecretString;
use msgraph_keystore::setup::{client_secret_key, commit_all, ConfigDir, RealmValues};

const REALM: &str = "graph1";
const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";

fn empty() -> SecretString {
    SecretString::from(String::new())
}

#[derive(Debug, Clone, Copy)]
enum Foreign {
    YmlRename,
    YmlAppend,
    KeystoreRename,
}

fn foreign_write(dir: &Path, how: Foreign) {
    match how {
        Foreign::YmlRename => {
            let mut text = fs::read_to_string(dir.join("elasticsearch.yml")).unwrap();
            text.push_str("foreign.by_rename: yes\n");
            fs::write(dir.join("yml.foreign"), text).unwrap();
            fs::rename(dir.join("yml.foreign"), dir.join("elasticsearch.yml")).unwrap();
        }
        Foreign::YmlAppend => {
            fs::OpenOptions::new()
                .append(true)
                .open(dir.join("elasticsearch.yml"))
                .unwrap()
                .write_all(b"foreign.appended: yes\n")
                .unwrap();
        }
        Foreign::KeystoreRename => {
            let bytes = fs::read(keystore::keystore_path(dir)).unwrap();
            let mut ks = Keystore::decrypt_read_only(&bytes, &empty()).unwrap();
            ks.set_string("s3.client.default.access_key", "AKIA")
                .unwrap();
            fs::write(dir.join("ks.foreign"), ks.encrypt().unwrap()).unwrap();
            fs::rename(dir.join("ks.foreign"), keystore::keystore_path(dir)).unwrap();
        }
    }
}

fn foreign_kept(dir: &Path, how: Foreign) -> bool {
    match how {
        Foreign::YmlRename => EsYml::load(dir).unwrap().get("foreign.by_rename").is_some(),
        Foreign::YmlAppend => EsYml::load(dir).unwrap().get("foreign.appended").is_some(),
        Foreign::KeystoreRename => keystore::load_read_only(dir, &empty())
            .unwrap()
            .contains("s3.client.default.access_key"),
    }
}

#[test]
fn a_foreign_change_just_before_the_rename_is_kept_with_this_runs_change() {
    let _scenario = FailScenario::setup();
    // The commit renames the yml first (pass 0), then the keystore (pass 1).
    for (pass, how) in [
        (0, Foreign::YmlRename),
        (0, Foreign::YmlAppend),
        (1, Foreign::KeystoreRename),
    ] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().to_path_buf();
        let mut ks = Keystore::new(FormatVersion::V4).unwrap();
        ks.set_string("bootstrap.password", "kept").unwrap();
        keystore::save(&dir, &ks).unwrap();
        fs::write(dir.join("elasticsearch.yml"), "cluster.name: c\n").unwrap();

        let opened = ConfigDir::open(&dir, REALM, &mut |_: &Path| Ok(empty()), false).unwrap();
        let values = RealmValues {
            client_id: CLIENT_ID.to_owned(),
            tenant_id: "66666666-7777-8888-9999-000000000000".to_owned(),
            order: Some(3),
            access_token_host: None,
            graph_host: None,
        };
        let secret = SecretString::from("the-new-client-secret".to_owned());
        let plan = opened
            .plan(REALM, &values, Some(&secret), FormatVersion::V6)
            .unwrap();

        let hits = Arc::new(AtomicUsize::new(0));
        let seen = hits.clone();
        let target = dir.clone();
        fail::cfg_callback(fail_points::BEFORE_RENAME, move || {
            if seen.fetch_add(1, Ordering::SeqCst) == pass {
                foreign_write(&target, how);
            }
        })
        .unwrap();
        let result = commit_all(std::slice::from_ref(&plan));
        fail::remove(fail_points::BEFORE_RENAME);
        if let Err(f) = &result {
            panic!("{how:?}: the commit failed: {f}");
        }
        assert!(
            hits.load(Ordering::SeqCst) > pass,
            "{how:?}: the fail point was not reached"
        );
        assert!(
            foreign_kept(&dir, how),
            "{how:?}: the foreign change is gone"
        );
        let ks = keystore::load_read_only(&dir, &empty()).unwrap();
        assert!(
            ks.contains(&client_secret_key(REALM)),
            "{how:?}: our secret is gone"
        );
        assert!(ks.contains("bootstrap.password"));
        let yml = EsYml::load(&dir).unwrap();
        assert_eq!(
            yml.realm(REALM).unwrap().client_id.as_deref(),
            Some(CLIENT_ID),
            "{how:?}"
        );
        assert_eq!(yml.get("cluster.name").as_deref(), Some("c"));
        let temps: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(temps.is_empty(), "{how:?}: {temps:?}");
        drop(opened);
    }
}
