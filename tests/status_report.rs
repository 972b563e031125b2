//! `status`: the application, its permissions, every secret's expiry with warnings, whether
//! config dirs match, and `--fail-under` for monitoring.

mod setup_support;

use setup_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_warns_about_expiry_fails_under_a_limit_and_compares_config_dirs() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    // The secret in use expires in 10 days.
    h.setup(
        &[&dir],
        &["--format-version", "4", "--secret-lifetime", "10"],
    )
    .await
    .assert_ok();
    let app = h.the_app();
    // Someone else's long-lived secret on the same application.
    h.tenant.add_secret(&app.app_id, 300);
    let config = dir.display().to_string();

    let out = run(h.graph_command("status", &["--config", &config])).await;
    out.assert_ok();
    assert!(
        out.stdout.contains(&format!("client ID {}", app.app_id)),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("User.Read.All"), "{}", out.all());
    assert!(!out.stdout.contains("NOT GRANTED"), "{}", out.all());
    let warnings: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("WARNING"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "only the 10-day secret warns\n{}",
        out.all()
    );
    assert!(warnings[0].contains("expires in"), "{}", out.all());
    let in_use: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("[in use]"))
        .collect();
    assert_eq!(in_use.len(), 1, "{}", out.all());
    assert!(
        in_use[0].contains("msgraph-keystore "),
        "the tool's secret is the one in use\n{}",
        out.all()
    );
    assert!(
        out.stdout
            .contains(&format!("Config {config}: matches the application")),
        "{}",
        out.all()
    );

    // Monitoring: the secret in use has fewer than 30 days left.
    let out = run(h.graph_command("status", &["--config", &config, "--fail-under", "30"])).await;
    out.assert_code(1);
    assert!(out.stderr.contains("--fail-under 30"), "{}", out.all());
    run(h.graph_command("status", &["--config", &config, "--fail-under", "5"]))
        .await
        .assert_ok();
    // Without a config dir the longest-lived secret counts.
    run(h.graph_command("status", &["--fail-under", "30"]))
        .await
        .assert_ok();

    // JSON for scripts.
    let out = run(h.graph_command("status", &["--config", &config, "--output", "json"])).await;
    out.assert_ok();
    let report: serde_json::Value = match serde_json::from_str(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("status --output json is not JSON: {e}\n{}", out.all()),
    };
    assert_eq!(report["client_id"], app.app_id.as_str());
    assert_eq!(report["tenant_id"], h.tenant.tenant_id().as_str());
    let secrets = report["secrets"].as_array().cloned().unwrap_or_default();
    assert_eq!(secrets.len(), 2);
    let soon: Vec<_> = secrets.iter().filter(|s| s["days_left"] == 10).collect();
    assert_eq!(soon.len(), 1, "{secrets:?}");
    assert_eq!(soon[0]["in_use"], true);
    assert!(soon[0]["warning"].is_string());
    assert_eq!(report["config"][0]["problems"], serde_json::json!([]));
    assert_eq!(report["permissions"].as_array().map(Vec::len), Some(3));

    // A config dir for another application does not match.
    let other = h.dir("other");
    write(
        &other.join("elasticsearch.yml"),
        &format!(
            "{}: \"{}\"\n{}: \"{}\"\n",
            msgraph_keystore::esconfig::realm_setting_key(REALM, "client_id"),
            "11111111-2222-3333-4444-555555555555",
            msgraph_keystore::esconfig::realm_setting_key(REALM, "tenant_id"),
            h.tenant.tenant_id()
        ),
    );
    let out = run(h.graph_command(
        "status",
        &[
            "--config",
            &other.display().to_string(),
            "--app-id",
            &app.app_id,
        ],
    ))
    .await;
    out.assert_code(78);
    assert!(
        out.stdout.contains("is not the application's"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains("the keystore holds no client_secret"),
        "{}",
        out.all()
    );

    // Consent withdrawn: the permissions show as not granted.
    h.tenant.revoke_app_role_assignments(&h.sp_id(&app.app_id));
    let out = run(h.graph_command("status", &["--config", &config])).await;
    assert!(out.stdout.contains("NOT GRANTED"), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_an_application_says_to_run_setup() {
    let h = Harness::start().await;
    let out = run(h.graph_command("status", &[])).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("run `setup`"), "{}", out.all());
}
