//! `verify`: the realm's own token request and Graph calls, from what a config directory
//! holds, with an exit code per kind of failure.

mod setup_support;

use std::path::{Path, PathBuf};

use fake_tenant::Faults;
use msgraph_keystore::esconfig::realm_setting_key;
use msgraph_keystore::keystore;
use setup_support::*;

/// Copy the two files of config dir `from` into a new dir `name`.
fn copy_config(h: &Harness, from: &Path, name: &str) -> PathBuf {
    let to = h.dir(name);
    for file in ["elasticsearch.yml", "elasticsearch.keystore"] {
        if let Err(e) = std::fs::copy(from.join(file), to.join(file)) {
            panic!("copy {file}: {e}");
        }
    }
    to
}

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_success_bad_secret_bad_config_unreachable_and_missing_consent() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    h.setup(&[&dir], &["--format-version", "4", "--no-verify"])
        .await
        .assert_ok();
    let app = h.the_app();

    // Works right after setup.
    let ok = h.verify(&dir, &[]).await;
    ok.assert_ok();
    for line in [
        "permission Directory.ReadWrite.All granted",
        "permission Group.ReadWrite.All granted",
        "permission User.Read.All granted",
        "permission set default (from the roles in the realm's token)",
        "permission probe (not the realm's lookup) GET /users?$top=1&$select=id ok",
        "transitiveMemberOf/graph.group?$select=id&$top=999 ok",
        "the realm's credentials work",
    ] {
        assert!(ok.stdout.contains(line), "missing `{line}`\n{}", ok.all());
    }
    let json = h.verify(&dir, &["--output", "json"]).await;
    json.assert_ok();
    let report: serde_json::Value = match serde_json::from_str(&json.stdout) {
        Ok(v) => v,
        Err(e) => panic!("verify --output json is not JSON: {e}\n{}", json.all()),
    };
    assert_eq!(report["verdict"], "ok");
    assert_eq!(report["roles"].as_array().map(Vec::len), Some(3));

    // ES_PATH_CONF stands in for --config.
    let mut cmd = h.command(&["verify"]);
    cmd.env("ES_PATH_CONF", &dir);
    run(cmd).await.assert_ok();

    // A secret the tenant does not know: credentials rejected.
    let bad = copy_config(&h, &dir, "bad-secret");
    let mut ks = read_keystore(&bad, "");
    if let Err(e) = ks.set_string(&secret_key(REALM), "Xyz8Q~not-the-secret-at-all-0123456789") {
        panic!("{e}");
    }
    if let Err(e) = keystore::save(&bad, &ks) {
        panic!("{e}");
    }
    let out = h.verify(&bad, &["--wait", "1s"]).await;
    out.assert_code(4);
    assert!(out.stderr.contains("AADSTS7000215"), "{}", out.all());

    // No client_id in the yml: a local configuration problem, found before any request.
    let no_id = copy_config(&h, &dir, "no-client-id");
    let yml = read_text(&no_id.join("elasticsearch.yml"));
    let client_id_key = realm_setting_key(REALM, "client_id");
    let without: String = yml
        .lines()
        .filter(|l| !l.contains(&client_id_key))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&no_id.join("elasticsearch.yml"), &without);
    let out = h.verify(&no_id, &[]).await;
    out.assert_code(78);
    assert!(out.stderr.contains(&client_id_key), "{}", out.all());

    // A config dir that does not exist is named as such.
    let missing = h.scratch.path().join("no-such-dir");
    let out = h.verify(&missing, &[]).await;
    out.assert_code(78);
    assert!(
        out.stderr.contains("no-such-dir") && out.stderr.contains("config directory"),
        "{}",
        out.all()
    );

    // No keystore at all.
    let no_ks = h.dir("no-keystore");
    if let Err(e) = std::fs::copy(
        dir.join("elasticsearch.yml"),
        no_ks.join("elasticsearch.yml"),
    ) {
        panic!("{e}");
    }
    let out = h.verify(&no_ks, &[]).await;
    out.assert_code(78);
    assert!(
        out.stderr.contains("elasticsearch.keystore"),
        "{}",
        out.all()
    );

    // The login host does not answer: unreachable.
    let down = copy_config(&h, &dir, "unreachable");
    let yml = read_text(&down.join("elasticsearch.yml"));
    let closed = format!("http://127.0.0.1:{}", closed_port());
    write(
        &down.join("elasticsearch.yml"),
        &yml.replace(&h.tenant.access_token_host(), &closed),
    );
    let out = h.verify(&down, &[]).await;
    out.assert_code(69);
    assert!(
        out.stderr.contains(&closed),
        "names the host\n{}",
        out.all()
    );
    assert!(
        !out.stderr.contains("credentials do not work"),
        "an unreachable host says nothing about the credentials\n{}",
        out.all()
    );

    // A non-secure realm setting in the keystore: Elasticsearch would not start.
    let misplaced = copy_config(&h, &dir, "misplaced");
    let mut ks = read_keystore(&misplaced, "");
    let tenant_key = realm_setting_key(REALM, "tenant_id");
    if let Err(e) = ks.set_string(&tenant_key, &h.tenant.tenant_id()) {
        panic!("{e}");
    }
    if let Err(e) = keystore::save(&misplaced, &ks) {
        panic!("{e}");
    }
    let out = h.verify(&misplaced, &[]).await;
    out.assert_code(78);
    assert!(
        out.stderr
            .contains(&format!("Setting [{tenant_key}] is a non-secure setting")),
        "{}",
        out.all()
    );

    // Consent withdrawn: the token carries no roles and Graph refuses the calls.
    h.tenant.revoke_app_role_assignments(&h.sp_id(&app.app_id));
    let out = h.verify(&dir, &[]).await;
    out.assert_code(5);
    for role in [
        "Directory.ReadWrite.All",
        "Group.ReadWrite.All",
        "User.Read.All",
    ] {
        assert!(
            out.stdout.contains(&format!("permission {role} MISSING")),
            "{role}\n{}",
            out.all()
        );
    }
    assert!(
        out.stdout.contains(&format!(
            "{}/{}/v2.0/adminconsent?client_id={}&scope=",
            h.tenant.access_token_host(),
            h.tenant.tenant_id(),
            app.app_id
        )),
        "the admin-consent URL\n{}",
        out.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_waits_while_a_new_secret_replicates() {
    let h = Harness::with_faults(Faults {
        secret_replication_failures: 2,
        ..Faults::default()
    })
    .await;
    let dir = h.dir("config");
    h.setup(&[&dir], &["--format-version", "4", "--no-verify"])
        .await
        .assert_ok();
    let out = h.verify(&dir, &[]).await;
    out.assert_ok();
    assert!(
        out.stdout.contains("after 3 attempts"),
        "two refusals, then a token\n{}",
        out.all()
    );
    assert!(
        out.stderr.contains("refuses the secret (AADSTS7000215)"),
        "the wait is explained while it happens\n{}",
        out.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_a_password_protected_keystore() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    copy_fixture("v4_password", &dir);
    let mut cmd = h.graph_command(
        "setup",
        &["--config", &dir.display().to_string(), "--no-verify"],
    );
    cmd.env("KEYSTORE_PASSWORD", "v4-Passw0rd");
    run(cmd).await.assert_ok();

    let pw = h.scratch.path().join("pw");
    write(&pw, "v4-Passw0rd\n");
    h.verify(&dir, &["--password-file", &pw.display().to_string()])
        .await
        .assert_ok();
    write(&pw, "wrong\n");
    let out = h
        .verify(&dir, &["--password-file", &pw.display().to_string()])
        .await;
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("elasticsearch.keystore"),
        "{}",
        out.all()
    );
    // The secret itself is fine: the library reads it with the right password.
    h.assert_accepted(&h.the_app().app_id, &realm_secret(&dir, "v4-Passw0rd"))
        .await;
}
