//! What `setup` refuses, and the all-or-none write of several config directories. Every
//! refusal must leave every file (and, when found before provisioning, the tenant) as it was.

mod setup_support;

use std::path::Path;

use msgraph_keystore::esconfig::realm_setting_key;
use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use setup_support::*;

/// A v4 (fast) keystore in `dir` holding `entries`, plus a seed.
fn keystore_with(dir: &Path, entries: &[(&str, &str)]) {
    let mut ks = match Keystore::new(FormatVersion::V4) {
        Ok(k) => k,
        Err(e) => panic!("{e}"),
    };
    for (name, value) in entries {
        if let Err(e) = ks.set_string(name, value) {
            panic!("{e}");
        }
    }
    if let Err(e) = keystore::save(dir, &ks) {
        panic!("{e}");
    }
}

/// Run setup expecting a refusal with `code` that changes no file and creates nothing in
/// the tenant; returns stderr.
async fn refused(h: &Harness, dir: &Path, args: &[&str], code: i32) -> String {
    let before = dir_state(dir);
    tick();
    let out = h.setup(&[dir], args).await;
    out.assert_code(code);
    assert!(
        out.stderr.contains(&format!("with exit code {code}")),
        "{}",
        out.all()
    );
    assert_eq!(dir_state(dir), before, "no file changed\n{}", out.all());
    assert!(
        h.realm_apps().is_empty(),
        "refused before anything was created in the tenant\n{}",
        out.all()
    );
    out.stderr.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_defined_twice_is_refused_before_anything_happens() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    write(
        &dir.join("elasticsearch.yml"),
        "cluster.name: a\nxpack.security.enabled: true\ncluster:\n  name: b\n",
    );
    let err = refused(&h, &dir, &[], 78).await;
    assert!(err.contains("cluster.name"), "{err}");
    assert!(err.contains("elasticsearch.yml"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_in_the_yml_is_refused() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    let key = realm_setting_key(REALM, "client_secret");
    write(
        &dir.join("elasticsearch.yml"),
        &format!("cluster.name: a\n{key}: \"plain-text-secret\"\n"),
    );
    let err = refused(&h, &dir, &[], 78).await;
    assert!(err.contains(&key), "{err}");
    assert!(
        !err.contains("plain-text-secret"),
        "the value is not echoed: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_another_realm_uses_is_refused_before_provisioning() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    write(
        &dir.join("elasticsearch.yml"),
        "xpack.security.authc.realms.saml.saml1.order: 2\n",
    );
    let err = refused(&h, &dir, &["--order", "2"], 78).await;
    assert!(err.contains("saml1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_secure_setting_in_the_keystore_is_refused_then_moved_on_request() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    write(&dir.join("elasticsearch.yml"), "cluster.name: a\n");
    let timeout_key = realm_setting_key(REALM, "http_request_timeout");
    keystore_with(&dir, &[(timeout_key.as_str(), "7s")]);

    let err = refused(&h, &dir, &[], 78).await;
    assert!(
        err.contains(&format!(
            "Setting [{timeout_key}] is a non-secure setting and must be stored inside elasticsearch.yml, but was found inside the Elasticsearch keystore"
        )),
        "Elasticsearch's own wording: {err}"
    );
    assert!(err.contains("--move-misplaced-settings"), "{err}");

    let out = h.setup(&[&dir], &["--move-misplaced-settings"]).await;
    out.assert_ok();
    let ks = read_keystore(&dir, "");
    assert!(!ks.contains(&timeout_key), "moved out of the keystore");
    assert_eq!(ks.version(), FormatVersion::V4);
    assert_eq!(
        yml_value(&dir, REALM, "http_request_timeout").as_deref(),
        Some("7s"),
        "moved into elasticsearch.yml with its value"
    );
    assert!(entry(&ks, &secret_key(REALM)).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_left_in_the_keystore_is_moved_and_used_to_find_the_app() {
    let h = Harness::start().await;
    // A first setup creates the app; then someone "moves" client_id into the keystore.
    let first = h.dir("first");
    h.setup(&[&first], &["--format-version", "4"])
        .await
        .assert_ok();
    let app = h.the_app();

    let dir = h.dir("config");
    let client_id_key = realm_setting_key(REALM, "client_id");
    keystore_with(&dir, &[(client_id_key.as_str(), app.app_id.as_str())]);
    let out = h
        .setup(
            &[&dir],
            &["--move-misplaced-settings", "--app-name", "another-name"],
        )
        .await;
    out.assert_ok();
    assert_eq!(
        h.realm_apps().len(),
        1,
        "the client_id found in the keystore names the app: no second app\n{}",
        out.all()
    );
    assert_eq!(yml_value(&dir, REALM, "client_id"), Some(app.app_id));
    assert!(!read_keystore(&dir, "").contains(&client_id_key));
}

/// Three directories; `squat` puts a directory (holding a file) at a temp name in the last,
/// so preparing that file fails. Nothing may change anywhere.
async fn all_or_none_with_squatter(squat: &str) {
    let h = Harness::start().await;
    let dirs = [h.dir("node1"), h.dir("node2"), h.dir("node3")];
    write(&dirs[0].join("elasticsearch.yml"), "cluster.name: multi\n");
    copy_fixture("v4_no_password", &dirs[1]);
    write(&dirs[2].join("elasticsearch.yml"), "node.name: three\n");
    copy_fixture("v4_password", &dirs[2]);
    let squatter = dirs[2].join(squat);
    if let Err(e) = std::fs::create_dir(&squatter) {
        panic!("{e}");
    }
    write(&squatter.join("keep-me"), "not ours");

    let before: Vec<_> = dirs.iter().map(|d| dir_state(d)).collect();
    tick();
    let refs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    let mut all: Vec<String> = Vec::new();
    for d in &refs {
        all.push("--config".into());
        all.push(d.display().to_string());
    }
    all.extend(["--format-version".to_string(), "4".to_string()]);
    let args: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut cmd = h.graph_command("setup", &args);
    cmd.env("KEYSTORE_PASSWORD", "v4-Passw0rd");
    let out = run(cmd).await;
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("ERROR:"), "{}", out.all());
    assert!(
        out.stderr.contains(&dirs[2].display().to_string()),
        "the error names the directory\n{}",
        out.all()
    );
    let after: Vec<_> = dirs.iter().map(|d| dir_state(d)).collect();
    assert_eq!(
        after,
        before,
        "no file changed in any directory\n{}",
        out.all()
    );
    assert_eq!(read_text(&squatter.join("keep-me")), "not ours");
    // The unwritable directory was found before the tenant was touched: no application,
    // and so no client secret nobody can use.
    assert!(
        h.realm_apps().is_empty(),
        "the tenant was changed by a run that wrote nothing\n{}",
        out.all()
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_dirs_all_or_none_when_a_keystore_temp_file_cannot_be_created() {
    all_or_none_with_squatter("elasticsearch.keystore.tmp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_dirs_all_or_none_when_a_yml_temp_file_cannot_be_created() {
    all_or_none_with_squatter("elasticsearch.yml.tmp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_dirs_that_disagree_on_the_client_id_are_refused() {
    let h = Harness::start().await;
    let a = h.dir("a");
    let b = h.dir("b");
    let key = realm_setting_key(REALM, "client_id");
    write(
        &a.join("elasticsearch.yml"),
        &format!("{key}: 11111111-1111-1111-1111-111111111111\n"),
    );
    write(
        &b.join("elasticsearch.yml"),
        &format!("{key}: 22222222-2222-2222-2222-222222222222\n"),
    );
    let before = (dir_state(&a), dir_state(&b));
    let out = h.setup(&[&a, &b], &[]).await;
    out.assert_code(78);
    assert!(out.stderr.contains("disagree"), "{}", out.all());
    assert_eq!((dir_state(&a), dir_state(&b)), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_config_dir_and_a_bad_realm_name_are_usage_errors() {
    let h = Harness::start().await;
    let missing = h.scratch.path().join("does-not-exist");
    let out = h.setup(&[&missing], &[]).await;
    out.assert_code(78);
    assert!(out.stderr.contains("does-not-exist"), "{}", out.all());

    let dir = h.dir("config");
    let out = h.setup(&[&dir], &["--realm", "bad.name"]).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("bad.name"), "{}", out.all());
    assert!(dir_state(&dir).is_empty());

    // The same directory twice (another spelling of it).
    let again = dir.join("..").join("config");
    let out = h.setup(&[&dir, &again], &[]).await;
    out.assert_code(64);
    assert!(out.stderr.contains("more than once"), "{}", out.all());
    assert!(dir_state(&dir).is_empty());

    // No --config and no ES_PATH_CONF.
    let out = run(h.graph_command("setup", &[])).await;
    out.assert_code(64);
    assert!(out.stderr.contains("ES_PATH_CONF"), "{}", out.all());
    assert!(h.realm_apps().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dir_set_up_for_another_tenant_is_not_silently_taken_over() {
    let first = Harness::start().await;
    let dir = first.dir("config");
    first
        .setup(&[&dir], &["--format-version", "4"])
        .await
        .assert_ok();
    let other = Harness::start().await;
    let before = dir_state(&dir);
    let out = other.setup(&[&dir], &[]).await;
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr
            .contains("cannot check the realm's configured client secret"),
        "the error says it is about the realm's configuration\n{}",
        out.all()
    );
    assert!(
        out.stderr.contains(&first.tenant.tenant_id()),
        "{}",
        out.all()
    );
    assert_eq!(dir_state(&dir), before);
    assert!(other.realm_apps().is_empty());
}
