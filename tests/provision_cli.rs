//! `msgraph-keystore provision` / `deprovision` as a user runs them: the real binary pointed
//! at an in-process fake tenant, admin credentials in the `AZURE_*` variables. Checks the
//! JSON record, the 0600 secret file, the exit codes, and that no secret ever reaches
//! stdout or stderr, even at `-vvv` with `RUST_LOG=trace`.

mod provision_common;

use std::os::unix::fs::PermissionsExt;

use std::process::Output;

use assert_cmd::Command;
use fake_tenant::{FakeTenant, Faults};
use msgraph_keystore::auth::client_credentials_token;
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use provision_common::*;
use serde_json::Value;

/// The binary with a clean environment: admin credentials for `tenant`, endpoints at it.
fn cli(tenant: &FakeTenant, args: &[&str]) -> Command {
    let admin = tenant.admin();
    let mut cmd = Command::cargo_bin("msgraph-keystore").expect("binary");
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", &admin.tenant_id)
        .env("AZURE_CLIENT_ID", &admin.client_id)
        .env("AZURE_CLIENT_SECRET", admin.client_secret.expose_secret())
        .args(args)
        .args([
            "--auth",
            "client-secret",
            "--access-token-host",
            &tenant.access_token_host(),
            "--graph-host",
            &tenant.graph_host(),
            "--timeout",
            "60s",
        ])
        .write_stdin("");
    cmd
}

/// Run a command off the async runtime (the fake tenant keeps serving meanwhile).
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run the binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&out.stdout)))
}

/// Neither output stream holds `secret`.
fn assert_not_leaked(out: &Output, secret: &str) {
    assert!(!secret.is_empty());
    assert!(!text(&out.stdout).contains(secret), "secret on stdout");
    assert!(!text(&out.stderr).contains(secret), "secret on stderr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_json_secret_file_and_no_leaks_at_trace_level() {
    let tenant = tenant(Faults::default()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let secret_path = dir.path().join("client-secret");
    let path_arg = secret_path.to_string_lossy().into_owned();

    let mut cmd = cli(
        &tenant,
        &[
            "-vvv",
            "provision",
            "--app-name",
            APP_NAME,
            "--secret-file",
            &path_arg,
            "--output",
            "json",
        ],
    );
    cmd.env("RUST_LOG", "trace");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));

    let record = json(&out);
    let app_id = record["app_id"].as_str().expect("app_id").to_string();
    assert_eq!(record["tenant_id"], tenant.tenant_id());
    assert_eq!(record["created"], true);
    assert_eq!(record["consent"]["outcome"], "granted");
    assert_eq!(record["secret_file"], path_arg);
    let key_id = record["new_secret"]["key_id"].as_str().expect("key_id");
    assert!(record["new_secret"].get("value").is_none());
    assert_eq!(record["secrets"][0]["key_id"], key_id);
    assert_converged(&tenant.snapshot());
    // The debug log names every request with its ids.
    assert!(
        text(&out.stderr).contains("request_id"),
        "{}",
        text(&out.stderr)
    );

    let meta = std::fs::metadata(&secret_path).expect("secret file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let secret = std::fs::read_to_string(&secret_path).expect("read secret");
    assert_not_leaked(&out, &secret);
    assert_not_leaked(&out, tenant.admin().client_secret.expose_secret());
    // Nor any access token (JWTs start with the base64 of `{"`).
    assert!(!text(&out.stderr).contains("eyJ"), "a token in the log");
    assert!(
        !text(&out.stderr).contains("Bearer "),
        "an Authorization header in the log"
    );

    // The file holds exactly the secret: it signs in as the new application.
    client_credentials_token(
        &http(),
        &tenant.access_token_host(),
        &tenant.tenant_id(),
        &app_id,
        &SecretString::from(secret.as_str()),
        "https://graph.microsoft.com/.default",
    )
    .await
    .expect("the written secret works");

    // A second run changes nothing and adds no secret (the app has one).
    let second_path = dir.path().join("second");
    let out = run(cli(
        &tenant,
        &[
            "provision",
            "--app-name",
            APP_NAME,
            "--secret-file",
            &second_path.to_string_lossy(),
            "--output",
            "json",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let record = json(&out);
    assert_eq!(record["changes"], serde_json::json!([]));
    assert_eq!(record["new_secret"], Value::Null);
    assert_eq!(record["found_by"], "marker_tag");
    assert!(!second_path.exists());
    assert!(
        text(&out.stderr).contains("--new-secret"),
        "{}",
        text(&out.stderr)
    );

    // --new-secret adds one.
    let out = run(cli(
        &tenant,
        &[
            "provision",
            "--app-name",
            APP_NAME,
            "--secret-file",
            &second_path.to_string_lossy(),
            "--new-secret",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let second = std::fs::read_to_string(&second_path).expect("second secret");
    assert_ne!(second, secret);
    assert_not_leaked(&out, &second);
    let summary = text(&out.stdout);
    assert!(
        summary.contains(&format!("Client ID:          {app_id}")),
        "{summary}"
    );
    assert_eq!(assert_converged(&tenant.snapshot()).passwords, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_happen_before_any_request() {
    let tenant = tenant(Faults::default()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let existing = dir.path().join("taken");
    std::fs::write(&existing, b"keep me").expect("write");

    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "provision".into(),
                "--secret-file".into(),
                existing.to_string_lossy().into_owned(),
            ],
            "never overwritten",
        ),
        (
            vec!["provision".into(), "--new-secret".into()],
            "--secret-file",
        ),
        (
            vec!["provision".into(), "--app-id".into(), "not-a-guid".into()],
            "--app-id",
        ),
        (
            vec!["provision".into(), "--secret-lifetime".into(), "0".into()],
            "secret-lifetime",
        ),
        (
            vec!["provision".into(), "--timeout".into(), "soon".into()],
            "timeout",
        ),
        (vec!["deprovision".into()], "--yes"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(cli(&tenant, &args)).await;
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // A realm name Elasticsearch would refuse is bad input data, as in the keystore commands.
    let out = run(cli(&tenant, &["provision", "--realm", "bad realm"])).await;
    assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bad realm"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");
    assert_eq!(
        tenant.snapshot().request_count,
        0,
        "no Graph request was made"
    );

    let mut cmd = Command::cargo_bin("msgraph-keystore").expect("binary");
    cmd.env_clear().args([
        "provision",
        "--auth",
        "client-secret",
        "--graph-host",
        "http://graph.example.com/v1.0",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(64));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("ERROR: ") && stderr.contains("--graph-host"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_forbidden_exits_3_with_instructions() {
    let tenant = tenant(Faults {
        caller_can_consent: false,
        ..Faults::default()
    })
    .await;
    let out = run(cli(&tenant, &["provision", "--app-name", APP_NAME])).await;
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let app_id = app_state(&tenant.snapshot()).app_id.unwrap_or_default();
    assert!(
        stderr.contains(&format!(
            "/{}/v2.0/adminconsent?client_id={app_id}&scope=",
            tenant.tenant_id()
        )),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("NOT granted"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_admin_secret_exits_4_naming_invalid_client() {
    let tenant = tenant(Faults::default()).await;
    let mut cmd = cli(&tenant, &["provision"]);
    cmd.env("AZURE_CLIENT_SECRET", "definitely-wrong-secret");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(4), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(!stderr.contains("definitely-wrong-secret"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing() {
    let tenant = tenant(Faults::default()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let secret_path = dir.path().join("s");
    let out = run(cli(
        &tenant,
        &[
            "provision",
            "--app-name",
            APP_NAME,
            "--dry-run",
            "--secret-file",
            &secret_path.to_string_lossy(),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Dry run: nothing was changed."), "{stdout}");
    assert!(stdout.contains("create the application"), "{stdout}");
    assert!(!secret_path.exists());
    assert_eq!(app_state(&tenant.snapshot()).apps, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_dir_client_id_picks_the_app_and_deprovision_deletes_it() {
    let tenant = tenant(Faults::default()).await;
    let seeded = tenant.seed_application("some-other-name", &[]);
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("elasticsearch.yml"),
        format!(
            "xpack.security.authc.realms.microsoft_graph.graph1:\n  order: 2\n  client_id: {}\n",
            seeded.app_id
        ),
    )
    .expect("yml");
    let config = dir.path().to_string_lossy().into_owned();
    let out = run(cli(
        &tenant,
        &[
            "provision",
            "--config",
            &config,
            "--realm",
            "graph1",
            "--output",
            "json",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let record = json(&out);
    assert_eq!(record["found_by"], "configured_client_id");
    assert_eq!(record["app_id"], seeded.app_id.as_str());

    let out = run(cli(
        &tenant,
        &[
            "deprovision",
            "--config",
            &config,
            "--realm",
            "graph1",
            "--yes",
            "--output",
            "json",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let record = json(&out);
    assert_eq!(record["found"], true);
    assert_eq!(record["application"]["app_id"], seeded.app_id.as_str());
    let snap = tenant.snapshot();
    assert!(snap.applications.iter().all(|a| a.app_id != seeded.app_id));
    assert!(snap.service_principal_of(&seeded.app_id).is_none());

    // Again: nothing left to delete, still success.
    let out = run(cli(
        &tenant,
        &["deprovision", "--app-id", &seeded.app_id, "--yes"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("nothing to delete"),
        "{}",
        text(&out.stderr)
    );
}
