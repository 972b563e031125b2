//! `rotate`: a new secret in every config dir, verified, then only this tool's previous
//! secrets for the realm removed.

mod setup_support;

use msgraph_keystore::secret::ExposeSecret;
use setup_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_replaces_the_secret_everywhere_and_removes_only_its_own_old_ones() {
    let h = Harness::start().await;
    let a = h.dir("node1");
    let b = h.dir("node2");
    h.setup(&[&a, &b], &["--format-version", "4"])
        .await
        .assert_ok();
    let app = h.the_app();
    let first_key = app.password_credentials[0].key_id.clone();
    let first_secret = realm_secret(&a, "");
    // Someone else's secret on the same application (no tool prefix in its name).
    let foreign = h.tenant.add_secret(&app.app_id, 90);

    let args = [
        "--config",
        &a.display().to_string(),
        "--config",
        &b.display().to_string(),
    ]
    .map(|s| s.to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(h.graph_command("rotate", &refs)).await;
    out.assert_ok();
    assert!(out.stdout.contains("rolling restart"), "{}", out.all());
    assert!(
        out.stdout.contains("Removed 1 previous secret"),
        "{}",
        out.all()
    );

    let new_secret = realm_secret(&a, "");
    assert_ne!(new_secret.expose_secret(), first_secret.expose_secret());
    assert_eq!(
        realm_secret(&b, "").expose_secret(),
        new_secret.expose_secret(),
        "every config dir holds the new secret"
    );
    h.assert_accepted(&app.app_id, &new_secret).await;
    assert!(
        h.token_for(&app.app_id, &first_secret).await.is_err(),
        "the old secret no longer works"
    );
    h.assert_accepted(&app.app_id, &foreign.client_secret).await;
    let names: Vec<Option<String>> = h
        .the_app()
        .password_credentials
        .iter()
        .map(|p| p.display_name.clone())
        .collect();
    let keys: Vec<String> = h
        .the_app()
        .password_credentials
        .iter()
        .map(|p| p.key_id.clone())
        .collect();
    assert_eq!(
        keys.len(),
        2,
        "the new secret and the foreign one: {names:?}"
    );
    assert!(!keys.contains(&first_key), "the tool's old secret is gone");
    assert!(
        names
            .iter()
            .any(|n| n.as_deref().is_some_and(|n| n.starts_with("added by test"))),
        "the foreign secret is kept: {names:?}"
    );

    // --keep-old: a third secret, nothing removed.
    let before = realm_secret(&a, "");
    let mut args = refs.clone();
    args.push("--keep-old");
    let out = run(h.graph_command("rotate", &args)).await;
    out.assert_ok();
    assert!(out.stdout.contains("--keep-old"), "{}", out.all());
    assert_eq!(h.the_app().password_credentials.len(), 3);
    h.assert_accepted(&app.app_id, &before).await;
    let newest = realm_secret(&b, "");
    assert_ne!(newest.expose_secret(), before.expose_secret());
    h.assert_accepted(&app.app_id, &newest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_refuses_a_dir_without_the_realm_and_changes_nothing() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    write(&dir.join("elasticsearch.yml"), "cluster.name: x\n");
    let before = dir_state(&dir);
    let out = run(h.graph_command("rotate", &["--config", &dir.display().to_string()])).await;
    out.assert_code(78);
    assert!(out.stderr.contains("run `setup` first"), "{}", out.all());
    assert_eq!(dir_state(&dir), before);
    assert!(h.realm_apps().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_json_output_names_the_removed_secret() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    h.setup(&[&dir], &["--format-version", "4"])
        .await
        .assert_ok();
    let old_key = h.the_app().password_credentials[0].key_id.clone();
    let out = run(h.graph_command(
        "rotate",
        &["--config", &dir.display().to_string(), "--output", "json"],
    ))
    .await;
    out.assert_ok();
    let record: serde_json::Value = match serde_json::from_str(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("not JSON: {e}\n{}", out.all()),
    };
    assert_eq!(record["removed_secrets"], serde_json::json!([old_key]));
    assert_eq!(record["rotation"]["verify"]["verdict"], "ok");
    assert_no_secret(
        &out.stdout,
        realm_secret(&dir, "").expose_secret(),
        "the new secret in the JSON record",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_whose_secret_is_never_accepted_keeps_the_old_secrets_and_says_what_was_done() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    h.setup(&[&dir], &["--format-version", "4"])
        .await
        .assert_ok();
    let old_key = h.the_app().password_credentials[0].key_id.clone();
    // From now on every new secret is refused far longer than the rotation waits.
    h.tenant.set_faults(fake_tenant::Faults {
        secret_replication_failures: 1000,
        ..Default::default()
    });
    let out = run(h.graph_command(
        "rotate",
        &[
            "--config",
            &dir.display().to_string(),
            "--verify-wait",
            "1s",
        ],
    ))
    .await;
    out.assert_code(4);
    assert!(out.stderr.contains("AADSTS7000215"), "{}", out.all());
    assert!(
        out.stderr
            .contains("the config directories were updated (1 file(s) written)"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("previous client secrets were kept"),
        "{}",
        out.all()
    );
    let keys: Vec<String> = h
        .the_app()
        .password_credentials
        .iter()
        .map(|p| p.key_id.clone())
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&old_key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phase_rotation_keeps_the_old_secret_until_finish() {
    let h = Harness::start().await;
    let a = h.dir("node1");
    h.setup(&[&a], &["--format-version", "4"]).await.assert_ok();
    let app = h.the_app();
    let first_secret = realm_secret(&a, "");
    let foreign = h.tenant.add_secret(&app.app_id, 90);
    let config = a.display().to_string();

    // Phase 1: new secret everywhere, the old one still works for nodes not restarted yet.
    run(h.graph_command("rotate", &["--config", &config, "--keep-old"]))
        .await
        .assert_ok();
    let second_secret = realm_secret(&a, "");
    assert_ne!(second_secret.expose_secret(), first_secret.expose_secret());
    h.assert_accepted(&app.app_id, &first_secret).await;
    h.assert_accepted(&app.app_id, &second_secret).await;

    // Phase 2 (after the rolling restart): only the tool's other secrets for the realm go.
    let out = run(h.graph_command("rotate", &["--config", &config, "--finish"])).await;
    out.assert_ok();
    assert!(
        out.stdout.contains("removed 1 previous secret"),
        "{}",
        out.all()
    );
    assert!(
        h.token_for(&app.app_id, &first_secret).await.is_err(),
        "the first secret is removed"
    );
    h.assert_accepted(&app.app_id, &second_secret).await;
    h.assert_accepted(&app.app_id, &foreign.client_secret).await;
    assert_eq!(
        realm_secret(&a, "").expose_secret(),
        second_secret.expose_secret(),
        "--finish does not touch the keystore"
    );

    // Running it again finds nothing more to remove.
    let again = run(h.graph_command("rotate", &["--config", &config, "--finish"])).await;
    again.assert_ok();
    assert!(
        again.stdout.contains("no previous secret"),
        "{}",
        again.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_refuses_when_the_keystore_secret_does_not_work() {
    let h = Harness::start().await;
    let a = h.dir("node1");
    h.setup(&[&a], &["--format-version", "4"]).await.assert_ok();
    let before = h.the_app().password_credentials.len();
    // Replace the keystore's secret with one the tenant does not know.
    let mut ks = read_keystore(&a, "");
    ks.set_string(
        &secret_key("microsoft_graph1"),
        "abc8Q~not-a-real-secret-value-at-all-000",
    )
    .unwrap();
    msgraph_keystore::keystore::save(&a, &ks).unwrap();
    let out = run(h.graph_command(
        "rotate",
        &["--config", &a.display().to_string(), "--finish"],
    ))
    .await;
    out.assert_code(4);
    assert!(out.stderr.contains("nothing was removed"), "{}", out.all());
    assert_eq!(h.the_app().password_credentials.len(), before);
}
