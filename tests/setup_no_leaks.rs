//! Secrets never show: every realm command run at the highest verbosity (`-vvv`,
//! `RUST_LOG=trace`), on success and on failure, and neither stdout nor stderr holds a client
//! secret, an access token, the admin caller's secret or the keystore password.

mod setup_support;

use base64::Engine as _;
use msgraph_keystore::keystore;
use msgraph_keystore::secret::ExposeSecret;
use setup_support::*;

const PASSWORD: &str = "v4-Passw0rd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_output_at_trace_level() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    copy_fixture("v4_password", &dir);
    let config = dir.display().to_string();
    let pw_file = h.scratch.path().join("password");
    write(&pw_file, &format!("{PASSWORD}\n"));
    let pw = pw_file.display().to_string();
    let manifest = h.scratch.path().join("k8s.yaml").display().to_string();

    let traced = |mut cmd: std::process::Command| {
        cmd.env("RUST_LOG", "trace")
            .env("KEYSTORE_PASSWORD", PASSWORD);
        cmd
    };
    let mut outputs: Vec<(String, Run)> = Vec::new();
    let mut realm_secrets = Vec::new();
    let graph_runs: Vec<(&str, Vec<&str>)> = vec![
        ("setup", vec!["-vvv", "--config", &config]),
        (
            "setup",
            vec!["-vvv", "--config", &config, "--output", "json"],
        ),
        (
            "setup",
            vec!["-vvv", "--config", &config, "--dry-run", "--new-secret"],
        ),
        (
            "status",
            vec!["-vvv", "--config", &config, "--output", "json"],
        ),
        (
            "rotate",
            vec!["-vvv", "--config", &config, "--password-file", &pw],
        ),
        ("status", vec!["-vvv", "--config", &config]),
        (
            "setup",
            vec!["-vvv", "--output", "k8s-secret", "--output-file", &manifest],
        ),
    ];
    for (sub, args) in graph_runs {
        let out = run(traced(h.graph_command(sub, &args))).await;
        out.assert_ok();
        realm_secrets.push(realm_secret(&dir, PASSWORD));
        outputs.push((format!("{sub} {args:?}"), out));
        let out = run(traced(h.command(&["verify", "-vvv", "--config", &config]))).await;
        out.assert_ok();
        outputs.push(("verify".to_string(), out));
    }

    // Failure paths log too: a rejected secret, then missing consent.
    let mut ks = read_keystore(&dir, PASSWORD);
    if let Err(e) = ks.set_string(&secret_key(REALM), "Bad8Q~wrong-secret-value-for-the-test") {
        panic!("{e}");
    }
    if let Err(e) = keystore::save(&dir, &ks) {
        panic!("{e}");
    }
    let out =
        run(traced(h.command(&[
            "verify", "-vvv", "--config", &config, "--wait", "1s",
        ])))
        .await;
    out.assert_code(4);
    outputs.push(("verify with a bad secret".to_string(), out));
    let out = run(traced(h.graph_command(
        "setup",
        &["-vvv", "--config", &config, "--no-verify"],
    )))
    .await;
    out.assert_ok();
    outputs.push(("setup repairing the bad secret".to_string(), out));
    realm_secrets.push(realm_secret(&dir, PASSWORD));
    h.tenant
        .revoke_app_role_assignments(&h.sp_id(&h.the_app().app_id));
    let out = run(traced(h.command(&["verify", "-vvv", "--config", &config]))).await;
    out.assert_code(5);
    outputs.push(("verify without consent".to_string(), out));

    // Everything that must not show: every secret and token the tenant handed out (the
    // realm's secrets, the admin's, the access tokens), the keystore password.
    let mut needles: Vec<(String, String)> = Vec::new();
    for s in h.tenant.issued_secrets() {
        needles.push(("a client secret".into(), s.expose_secret().to_string()));
        needles.push((
            "a base64-encoded client secret".into(),
            base64::engine::general_purpose::STANDARD.encode(s.expose_secret()),
        ));
    }
    for t in h.tenant.issued_tokens() {
        needles.push(("an access token".into(), t.expose_secret().to_string()));
    }
    for s in &realm_secrets {
        needles.push((
            "the keystore's client secret".into(),
            s.expose_secret().to_string(),
        ));
    }
    needles.push((
        "the admin caller's secret".into(),
        h.admin.client_secret.expose_secret().to_string(),
    ));
    needles.push(("the keystore password".into(), PASSWORD.to_string()));
    assert!(
        h.tenant.issued_tokens().len() >= 10,
        "the runs did request tokens"
    );

    for (what_ran, out) in &outputs {
        assert!(
            out.stderr.contains("TRACE") || out.stderr.contains("DEBUG"),
            "{what_ran}: logging was on\n{}",
            out.all()
        );
        for (what, needle) in &needles {
            assert_no_secret(
                &out.all(),
                needle,
                &format!("{what} in the output of {what_ran}"),
            );
        }
    }
    // The manifest itself holds the secret (base64), which is its job.
    let written = read_text(std::path::Path::new(&manifest));
    assert!(written.contains("kind: Secret"));
}
