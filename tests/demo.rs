//! `demo`: the README's first command runs setup, verify and keystore list against the
//! built-in simulated tenant, with no network and no Azure account.

mod setup_support;

use msgraph_keystore::secret::ExposeSecret;
use setup_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_sets_up_a_config_dir_and_keeps_it() {
    // No tenant is needed: the harness only provides a scratch dir and a clean environment.
    let h = Harness::start().await;
    let dir = h.scratch.path().join("demo-config");
    let out = run(h.command(&["demo", "--config", &dir.display().to_string()])).await;
    out.assert_ok();

    let ks = read_keystore(&dir, "");
    assert!(ks.contains("keystore.seed"));
    let secret = realm_secret(&dir, "");
    assert!(!secret.expose_secret().is_empty());
    assert!(yml_value(&dir, REALM, "client_id").is_some());
    assert!(yml_value(&dir, REALM, "tenant_id").is_some());
    assert!(
        out.stdout.contains("the realm's credentials work"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains(&secret_key(REALM)),
        "keystore list\n{}",
        out.all()
    );
    assert!(
        out.stdout.contains("Against a real tenant"),
        "{}",
        out.all()
    );
    assert_no_secret(
        &out.all(),
        secret.expose_secret(),
        "the demo's client secret",
    );

    // Its tenant is gone now: a second demo into the same directory is refused, untouched.
    let before = dir_state(&dir);
    let again = run(h.command(&["demo", "--config", &dir.display().to_string()])).await;
    again.assert_code(64);
    assert!(again.stderr.contains("fresh directory"), "{}", again.all());
    assert_eq!(dir_state(&dir), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_without_config_creates_and_names_a_new_directory() {
    let h = Harness::start().await;
    let tmp = h.dir("tmp");
    let mut cmd = h.command(&["demo"]);
    cmd.env("TMPDIR", &tmp);
    let out = run(cmd).await;
    out.assert_ok();
    let made: Vec<_> = match std::fs::read_dir(&tmp) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(made.len(), 1, "one new directory: {made:?}");
    let dir = &made[0];
    assert!(
        out.stdout.contains(&dir.display().to_string()),
        "the directory is named in the output\n{}",
        out.all()
    );
    realm_secret(dir, "");
}
