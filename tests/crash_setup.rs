//! Crash safety of `setup`'s multi-directory commit (`setup::commit_all`): the keystore and
//! `elasticsearch.yml` of three config directories, six files, written all or none.
//!
//! - A failure (error or panic) at any fail point while the temp files are prepared leaves
//!   every directory exactly as it was, with no temp file, and says nothing was changed.
//! - A failure of the k-th rename leaves the first k files new and the others old (each file
//!   whole), and the error names the files already replaced.
//! - A real SIGKILL anywhere leaves every keystore loadable and every file old or new; the
//!   next run finishes the job and removes the stale temp files.
//!
//! Fail points are process-global: every test holds `fail::FailScenario` (a global mutex).

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use fail::FailScenario;
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::fsutil::fail_points;
use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use msgraph_keystore::setup::{client_secret_key, commit_all, ConfigDir, DirPlan, RealmValues};

const REALM: &str = "graph1";
const PASSWORD: &str = "setup-crash-Passw0rd";
const NEW_SECRET: &str = "the-new-client-secret~value";
const DIRS: usize = 3;
const YML: &str = "elasticsearch.yml";
const OLD_YML: &str = "cluster.name: crash-test\nnode.name: node-1\n";

fn pw() -> SecretString {
    SecretString::from(PASSWORD.to_owned())
}

/// Three config directories, each with a password-protected v4 keystore and a yml.
fn config_dirs(root: &Path) -> Vec<PathBuf> {
    (0..DIRS)
        .map(|i| {
            let dir = root.join(format!("node{i}"));
            fs::create_dir(&dir).unwrap();
            let mut ks = Keystore::new(FormatVersion::V4).unwrap();
            ks.set_password(pw());
            ks.set_string("bootstrap.password", "old-bootstrap")
                .unwrap();
            keystore::save(&dir, &ks).unwrap();
            fs::write(dir.join(YML), OLD_YML).unwrap();
            dir
        })
        .collect()
}

/// Lock and plan every directory for the realm with [`NEW_SECRET`]. From [`config_dirs`] each
/// directory gets a new keystore and a new yml: six files, in the order of [`targets`].
fn plan(dirs: &[PathBuf]) -> (Vec<ConfigDir>, Vec<DirPlan>) {
    let values = RealmValues {
        client_id: "11111111-2222-3333-4444-555555555555".to_owned(),
        tenant_id: "66666666-7777-8888-9999-000000000000".to_owned(),
        order: Some(3),
        access_token_host: None,
        graph_host: None,
    };
    let secret = SecretString::from(NEW_SECRET.to_owned());
    let opened: Vec<ConfigDir> = dirs
        .iter()
        .map(|d| ConfigDir::open(d, REALM, &mut |_: &Path| Ok(pw()), false).unwrap())
        .collect();
    let plans: Vec<DirPlan> = opened
        .iter()
        .map(|c| {
            c.plan(REALM, &values, Some(&secret), FormatVersion::V6)
                .unwrap()
        })
        .collect();
    (opened, plans)
}

/// The files `commit_all` replaces, in its order: each directory's yml, then its keystore
/// (the only file holding the secret comes last).
fn targets(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|d| [d.join(YML), keystore::keystore_path(d)])
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Old,
    New,
}

/// Which state the keystore of `dir` is in; a keystore that does not load, or holds anything
/// but the two states, fails the test.
fn keystore_state(dir: &Path) -> Found {
    let ks = keystore::load_read_only(dir, &pw())
        .unwrap_or_else(|e| panic!("{}: the keystore does not load: {e}", dir.display()));
    let bootstrap = ks.get_string("bootstrap.password").unwrap().unwrap();
    assert_eq!(bootstrap.expose_secret(), "old-bootstrap");
    match ks.get_string(&client_secret_key(REALM)).unwrap() {
        None => {
            assert_eq!(ks.len(), 2, "{}: {ks:?}", dir.display());
            Found::Old
        }
        Some(s) if s.expose_secret() == NEW_SECRET => {
            assert_eq!(ks.len(), 3, "{}: {ks:?}", dir.display());
            Found::New
        }
        Some(_) => panic!("{}: a secret that is neither old nor new", dir.display()),
    }
}

fn yml_state(dir: &Path, new_yml: &str) -> Found {
    let text = fs::read_to_string(dir.join(YML)).unwrap();
    if text == OLD_YML {
        Found::Old
    } else if text == new_yml {
        Found::New
    } else {
        panic!(
            "{}: elasticsearch.yml is neither old nor new:\n{text}",
            dir.display()
        )
    }
}

/// The state of the six files, in `commit_all`'s order.
fn states(dirs: &[PathBuf], new_yml: &str) -> Vec<Found> {
    dirs.iter()
        .flat_map(|d| [yml_state(d, new_yml), keystore_state(d)])
        .collect()
}

fn temp_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|d| fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect()
}

/// `n` files new, then the rest old.
fn first_new(n: usize) -> Vec<Found> {
    (0..DIRS * 2)
        .map(|i| if i < n { Found::New } else { Found::Old })
        .collect()
}

/// A fresh open/plan/commit finishes whatever an interrupted run left: all new, no temp.
fn assert_rerun_finishes(dirs: &[PathBuf], new_yml: &str) {
    let (_locks, plans) = plan(dirs);
    commit_all(&plans).unwrap_or_else(|f| panic!("the rerun failed: {f}"));
    assert_eq!(states(dirs, new_yml), first_new(DIRS * 2));
    assert!(temp_files(dirs).is_empty(), "{:?}", temp_files(dirs));
}

/// `k` passes through the point, then the action.
fn on_hit(k: usize, action: &str) -> String {
    if k == 0 {
        action.to_owned()
    } else {
        format!("{k}*off->{action}")
    }
}

#[test]
fn a_failure_while_preparing_changes_no_directory() {
    let _scenario = FailScenario::setup();
    let root = tempfile::tempdir().unwrap();
    let dirs = config_dirs(root.path());
    let (_locks, plans) = plan(&dirs);
    assert!(plans
        .iter()
        .all(|p| p.keystore_after.is_some() && p.yml_after.is_some()));
    let new_yml = plans[0].yml_after.clone().unwrap();
    let before: Vec<Vec<u8>> = targets(&dirs)
        .iter()
        .map(|t| fs::read(t).unwrap())
        .collect();
    let preparing = [
        fail_points::TEMP_CREATED,
        fail_points::TEMP_WRITTEN,
        fail_points::TEMP_MODE_SET,
        fail_points::TEMP_SYNCED,
    ];
    for point in preparing {
        for k in 0..DIRS * 2 {
            for action in ["return", "panic"] {
                let what = format!("{action} at hit {k} of {point}");
                fail::cfg(point, &on_hit(k, action)).unwrap();
                let outcome = catch_unwind(AssertUnwindSafe(|| commit_all(&plans)));
                fail::remove(point);
                match outcome {
                    Ok(Err(failure)) => {
                        assert_eq!(action, "return", "{what}");
                        assert!(
                            failure.replaced().is_empty(),
                            "{what}: {:?}",
                            failure.replaced()
                        );
                        assert_eq!(failure.exit_code(), ExitCode::IoError, "{what}");
                        let message = failure.to_string();
                        assert!(
                            message.ends_with("nothing was changed in any config directory"),
                            "{what}: {message}"
                        );
                    }
                    Err(_) => assert_eq!(action, "panic", "{what}"),
                    Ok(Ok(n)) => panic!("{what}: committed {n} files"),
                }
                let after: Vec<Vec<u8>> = targets(&dirs)
                    .iter()
                    .map(|t| fs::read(t).unwrap())
                    .collect();
                assert!(after == before, "{what}: a file changed");
                assert!(
                    temp_files(&dirs).is_empty(),
                    "{what}: {:?}",
                    temp_files(&dirs)
                );
            }
        }
    }
    assert_eq!(states(&dirs, &new_yml), first_new(0));
    commit_all(&plans).unwrap();
    assert_eq!(states(&dirs, &new_yml), first_new(DIRS * 2));
}

#[test]
fn a_failed_rename_leaves_whole_files_and_names_those_already_replaced() {
    let _scenario = FailScenario::setup();
    for k in 0..DIRS * 2 {
        let root = tempfile::tempdir().unwrap();
        let dirs = config_dirs(root.path());
        let (locks, plans) = plan(&dirs);
        let new_yml = plans[0].yml_after.clone().unwrap();
        fail::cfg(fail_points::BEFORE_RENAME, &on_hit(k, "return")).unwrap();
        let failure = commit_all(&plans).unwrap_err();
        fail::remove(fail_points::BEFORE_RENAME);
        drop(locks);

        let all = targets(&dirs);
        assert_eq!(failure.replaced(), &all[..k], "rename {k}");
        assert_eq!(states(&dirs, &new_yml), first_new(k), "rename {k}");
        assert!(
            temp_files(&dirs).is_empty(),
            "rename {k}: {:?}",
            temp_files(&dirs)
        );
        let message = failure.to_string();
        assert!(
            message.contains(&format!("cannot write {}", all[k].display())),
            "{message}"
        );
        if k == 0 {
            assert!(
                message.ends_with("nothing was changed in any config directory"),
                "{message}"
            );
        } else {
            for done in &all[..k] {
                assert!(message.contains(&done.display().to_string()), "{message}");
            }
            assert!(message.contains("already replaced:"), "{message}");
            for pending in &all[k + 1..] {
                assert!(
                    !message.contains(&pending.display().to_string()),
                    "{message}"
                );
            }
        }
        assert_rerun_finishes(&dirs, &new_yml);
    }
}

#[test]
fn a_failed_directory_sync_after_renaming_still_reports_every_replaced_file() {
    let _scenario = FailScenario::setup();
    let root = tempfile::tempdir().unwrap();
    let dirs = config_dirs(root.path());
    let (locks, plans) = plan(&dirs);
    let new_yml = plans[0].yml_after.clone().unwrap();
    fail::cfg(fail_points::RENAMED, &on_hit(1, "return")).unwrap();
    let failure = commit_all(&plans).unwrap_err();
    fail::remove(fail_points::RENAMED);
    drop(locks);
    // The renames all happened; only durability is in doubt, and the error says so.
    assert_eq!(failure.replaced(), targets(&dirs));
    assert_eq!(states(&dirs, &new_yml), first_new(DIRS * 2));
    let message = failure.to_string();
    assert!(message.contains("every file was replaced"), "{message}");
    for t in targets(&dirs) {
        assert!(message.contains(&t.display().to_string()), "{message}");
    }
    assert!(temp_files(&dirs).is_empty());
}

const CHILD_POINT: &str = "CRASH_SETUP_CHILD_POINT";
const CHILD_HIT: &str = "CRASH_SETUP_CHILD_HIT";
const CHILD_ROOT: &str = "CRASH_SETUP_CHILD_ROOT";

/// In the child: plan the three directories and die by SIGKILL at the `hit`-th pass through
/// `point` during the commit.
fn crash_at(point: &str, hit: usize, root: &Path) -> ! {
    let _scenario = FailScenario::setup();
    let dirs: Vec<PathBuf> = (0..DIRS).map(|i| root.join(format!("node{i}"))).collect();
    let (_locks, plans) = plan(&dirs);
    let passes = AtomicUsize::new(0);
    fail::cfg_callback(point, move || {
        if passes.fetch_add(1, Ordering::SeqCst) == hit {
            // SAFETY: kill and getpid have no preconditions; SIGKILL ends the process here.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    })
    .unwrap();
    let result = commit_all(&plans).map_err(|f| f.to_string());
    panic!("the child survived hit {hit} of {point}: {result:?}");
}

#[test]
fn a_crash_anywhere_in_a_multi_directory_commit_leaves_whole_files_and_a_rerun_finishes() {
    if let (Ok(point), Ok(hit), Ok(root)) = (
        std::env::var(CHILD_POINT),
        std::env::var(CHILD_HIT),
        std::env::var(CHILD_ROOT),
    ) {
        crash_at(&point, hit.parse().unwrap(), Path::new(&root));
    }
    let _scenario = FailScenario::setup();
    let exe = std::env::current_exe().unwrap();
    let mut cases: Vec<(&str, usize)> = Vec::new();
    // Every file's prepare steps at the first and the last file, and every rename.
    for point in [
        fail_points::TEMP_CREATED,
        fail_points::TEMP_WRITTEN,
        fail_points::TEMP_SYNCED,
    ] {
        cases.push((point, 0));
        cases.push((point, DIRS * 2 - 1));
    }
    for k in 0..DIRS * 2 {
        cases.push((fail_points::BEFORE_RENAME, k));
        cases.push((fail_points::RENAMED, k));
    }
    for (point, hit) in cases {
        let what = format!("SIGKILL at hit {hit} of {point}");
        let root = tempfile::tempdir().unwrap();
        let dirs = config_dirs(root.path());
        let new_yml = {
            let (_locks, plans) = plan(&dirs);
            plans[0].yml_after.clone().unwrap()
        };
        let status = Command::new(&exe)
            .args([
                "--exact",
                "a_crash_anywhere_in_a_multi_directory_commit_leaves_whole_files_and_a_rerun_finishes",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_POINT, point)
            .env(CHILD_HIT, hit.to_string())
            .env(CHILD_ROOT, root.path())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{what}: child {status}"
        );

        let renamed = match point {
            p if p == fail_points::BEFORE_RENAME => hit,
            p if p == fail_points::RENAMED => hit + 1,
            _ => 0,
        };
        assert_eq!(states(&dirs, &new_yml), first_new(renamed), "{what}");
        if point == fail_points::BEFORE_RENAME || point == fail_points::RENAMED {
            // Every file not yet renamed was fully prepared: its temp file is left behind.
            assert_eq!(temp_files(&dirs).len(), DIRS * 2 - renamed, "{what}");
        }
        assert_rerun_finishes(&dirs, &new_yml);
    }
}
