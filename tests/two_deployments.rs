//! Issue 8, item 1: two deployments in one tenant whose names collide (no `cluster.name`,
//! the default realm and app name, so both resolve to the same application and label their
//! secrets alike). Every command that removes client secrets, run for one of them, must
//! leave the other's secret accepted by the token endpoint — and still remove what is
//! provably its own.

mod setup_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fail::FailScenario;
use fake_tenant::PasswordSnapshot;
use msgraph_keystore::auth::ClientSecretSource;
use msgraph_keystore::cloud::Cloud;
use msgraph_keystore::exit::{CliError, ExitCode};
use msgraph_keystore::fsutil::fail_points;
use msgraph_keystore::graph::GraphClient;
use msgraph_keystore::keystore::FormatVersion;
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::provision::{secret_display_name, NoProgress, ProvisionOptions};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use msgraph_keystore::setup::{
    run_setup, ConfigDir, PasswordFailure, SecretCleanup, SetupError, SetupOptions,
};
use setup_support::*;

/// The code `rotate --remove-secret-id` exits with when it refuses a keyId.
const REMOVAL_REFUSED: i32 = 8;

/// Two config dirs (`a`, `b`), both set up with every name left at its default.
async fn two_deployments(h: &Harness) -> (PathBuf, PathBuf) {
    let a = h.dir("cluster-a");
    let b = h.dir("cluster-b");
    h.setup(&[&a], &["--format-version", "4"]).await.assert_ok();
    h.setup(&[&b], &["--format-version", "4"]).await.assert_ok();
    let app = h.the_app();
    assert_eq!(
        app.password_credentials.len(),
        2,
        "both deployments share the application, one secret each: {app:#?}"
    );
    assert_ne!(
        realm_secret(&a, "").expose_secret(),
        realm_secret(&b, "").expose_secret()
    );
    (a, b)
}

fn config_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--config".to_string(), dir.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn rotate(h: &Harness, dir: &Path, extra: &[&str]) -> Run {
    let args = config_args(dir, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(h.graph_command("rotate", &refs)).await
}

/// The credential of the application whose hint is the start of `secret`.
fn credential_of(h: &Harness, secret: &SecretString) -> PasswordSnapshot {
    let matches: Vec<PasswordSnapshot> = h
        .the_app()
        .password_credentials
        .into_iter()
        .filter(|c| secret.expose_secret().starts_with(&c.hint))
        .collect();
    assert_eq!(matches.len(), 1, "{matches:#?}");
    matches.into_iter().next().unwrap_or_else(|| unreachable!())
}

/// The other deployment still works: its secret is accepted and `verify` passes.
async fn assert_still_works(h: &Harness, dir: &Path, secret: &SecretString, after: &str) {
    let app = h.the_app();
    if let Err(e) = h.token_for(&app.app_id, secret).await {
        panic!("after {after}: the other deployment's secret is refused: {e}");
    }
    let out = h.verify(dir, &[]).await;
    assert_eq!(out.code, 0, "after {after}: verify fails\n{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_rotate_of_one_deployment_removes_only_the_secret_it_held() {
    let h = Harness::start().await;
    let (a, b) = two_deployments(&h).await;
    let secret_a = realm_secret(&a, "");
    let old_b = realm_secret(&b, "");
    let old_b_key = credential_of(&h, &old_b).key_id;

    let out = rotate(&h, &b, &[]).await;
    out.assert_ok();
    assert!(out.stdout.contains(&old_b_key), "{}", out.all());
    assert_still_works(&h, &a, &secret_a, "rotate --config b").await;
    let new_b = realm_secret(&b, "");
    h.assert_accepted(&h.the_app().app_id, &new_b).await;
    assert!(
        h.token_for(&h.the_app().app_id, &old_b).await.is_err(),
        "b's previous secret is removed"
    );
    assert_eq!(h.the_app().password_credentials.len(), 2);

    // And the other way round.
    let out = rotate(&h, &a, &[]).await;
    out.assert_ok();
    let app = h.the_app();
    h.assert_accepted(&app.app_id, &new_b).await;
    assert!(h.token_for(&app.app_id, &secret_a).await.is_err());
    assert_eq!(app.password_credentials.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phase_rotation_of_one_deployment_removes_exactly_the_secret_it_replaced() {
    let h = Harness::start().await;
    let (a, b) = two_deployments(&h).await;
    let secret_a = realm_secret(&a, "");
    let first_b = realm_secret(&b, "");
    let first_b_key = credential_of(&h, &first_b).key_id;

    // --finish right after setup: the secret in use records nothing it replaces.
    let out = rotate(&h, &b, &["--finish"]).await;
    out.assert_ok();
    assert_still_works(&h, &a, &secret_a, "rotate --finish before any rotation").await;
    assert_eq!(h.the_app().password_credentials.len(), 2);

    // Two phase-one rotations in a row (a restart that did not happen), then one --finish.
    rotate(&h, &b, &["--keep-old"]).await.assert_ok();
    let second_b = realm_secret(&b, "");
    let second = credential_of(&h, &second_b);
    assert!(
        second
            .display_name
            .as_deref()
            .is_some_and(|n| n.contains(&format!("replaces:{first_b_key}"))),
        "the new secret records which keyId it replaces: {second:?}"
    );
    rotate(&h, &b, &["--keep-old"]).await.assert_ok();
    let third_b = realm_secret(&b, "");
    assert_still_works(&h, &a, &secret_a, "rotate --keep-old").await;
    assert_eq!(h.the_app().password_credentials.len(), 4);

    let out = rotate(&h, &b, &["--finish"]).await;
    out.assert_ok();
    assert!(out.stdout.contains(&first_b_key), "{}", out.all());
    assert!(out.stdout.contains(&second.key_id), "{}", out.all());
    assert_still_works(&h, &a, &secret_a, "rotate --finish").await;
    let app = h.the_app();
    h.assert_accepted(&app.app_id, &third_b).await;
    for (what, gone) in [("first", &first_b), ("second", &second_b)] {
        assert!(
            h.token_for(&app.app_id, gone).await.is_err(),
            "b's {what} secret is removed"
        );
    }
    assert_eq!(app.password_credentials.len(), 2);

    // a's secret is tool-made for the same label and not b's: --finish lists it, keeps it.
    let out = rotate(&h, &b, &["--finish"]).await;
    out.assert_ok();
    let key_a = credential_of(&h, &secret_a).key_id;
    assert!(out.stdout.contains(&key_a), "{}", out.all());
    assert!(out.stdout.contains("--remove-secret-id"), "{}", out.all());
    assert_still_works(&h, &a, &secret_a, "a second rotate --finish").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_removal_refuses_a_secret_the_config_dirs_hold_and_removes_a_named_leftover() {
    let h = Harness::start().await;
    let (a, b) = two_deployments(&h).await;
    let secret_a = realm_secret(&a, "");
    let key_a = credential_of(&h, &secret_a).key_id;
    let old_b = realm_secret(&b, "");
    let old_b_key = credential_of(&h, &old_b).key_id;

    // status lists every tool-made secret: label, keyId, age, in use.
    let out = run(h.graph_command(
        "status",
        &["--config", &b.display().to_string(), "--output", "json"],
    ))
    .await;
    out.assert_ok();
    let report: serde_json::Value = match serde_json::from_str(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("not JSON: {e}\n{}", out.all()),
    };
    let tool = report["tool_secrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(tool.len(), 2, "{report:#}");
    for s in &tool {
        assert_eq!(s["label"], "elasticsearch/microsoft_graph1", "{s}");
        assert_eq!(s["age_days"], 0, "{s}");
        let in_use = s["key_id"] == old_b_key.as_str();
        assert_eq!(s["in_use"], in_use, "{s}");
    }
    let out = run(h.graph_command("status", &["--config", &b.display().to_string()])).await;
    out.assert_ok();
    let line_a = out
        .stdout
        .lines()
        .find(|l| l.contains(&key_a) && l.contains("elasticsearch/microsoft_graph1"))
        .unwrap_or_else(|| panic!("status does not list a's secret\n{}", out.all()));
    assert!(!line_a.contains("in use"), "{line_a}");

    // The secret a config dir holds is refused, whoever asks; nothing is removed.
    let before = h.the_app().password_credentials.len();
    let out = rotate(&h, &a, &["--remove-secret-id", &key_a]).await;
    out.assert_code(REMOVAL_REFUSED);
    assert!(out.stderr.contains(&key_a), "{}", out.all());
    assert!(out.stderr.contains("holds"), "{}", out.all());
    assert_still_works(
        &h,
        &a,
        &secret_a,
        "rotate --remove-secret-id <a's keyId> --config a",
    )
    .await;
    // One refused keyId among several: nothing is removed.
    rotate(&h, &b, &["--keep-old"]).await.assert_ok();
    let new_b = realm_secret(&b, "");
    let new_b_key = credential_of(&h, &new_b).key_id;
    let out = rotate(
        &h,
        &b,
        &[
            "--remove-secret-id",
            &old_b_key,
            "--remove-secret-id",
            &new_b_key,
        ],
    )
    .await;
    out.assert_code(REMOVAL_REFUSED);
    assert_eq!(h.the_app().password_credentials.len(), before + 1);
    // A keyId the application does not have, and a secret a person made: refused.
    let out = rotate(
        &h,
        &b,
        &["--remove-secret-id", "00000000-0000-0000-0000-000000000001"],
    )
    .await;
    out.assert_code(REMOVAL_REFUSED);
    let foreign = h.tenant.add_secret(&h.the_app().app_id, 30);
    let foreign_key = credential_of(&h, &foreign.client_secret).key_id;
    let out = rotate(&h, &b, &["--remove-secret-id", &foreign_key]).await;
    out.assert_code(REMOVAL_REFUSED);
    assert!(
        out.stderr.contains("not made by msgraph-keystore"),
        "{}",
        out.all()
    );

    // A leftover named explicitly goes; nothing else does.
    let out = rotate(&h, &b, &["--remove-secret-id", &old_b_key]).await;
    out.assert_ok();
    let app = h.the_app();
    assert!(h.token_for(&app.app_id, &old_b).await.is_err());
    h.assert_accepted(&app.app_id, &new_b).await;
    h.assert_accepted(&app.app_id, &foreign.client_secret).await;
    assert_still_works(
        &h,
        &a,
        &secret_a,
        "rotate --remove-secret-id <b's old keyId>",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_says_what_it_did_and_warns_about_unnamed_clusters_and_extra_secrets() {
    let h = Harness::start().await;
    let a = h.dir("cluster-a");
    let out = h.setup(&[&a], &["--format-version", "4"]).await;
    out.assert_ok();
    let key = h.the_app().password_credentials[0].key_id.clone();
    assert!(
        out.stdout.contains(&format!(
            "secret: added a new client secret (keyId {key}): the config directory had none"
        )),
        "{}",
        out.all()
    );
    assert!(!out.stdout.contains("do not all hold"), "{}", out.all());
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("WARNING:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.all());
    assert!(warnings[0].contains("cluster.name"), "{}", out.all());

    // A second deployment with the same names (or an image build): one more secret for the
    // same label, and a warning with the pattern that avoids it.
    let b = h.dir("cluster-b");
    let out = h.setup(&[&b], &["--format-version", "4"]).await;
    out.assert_ok();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("WARNING:"))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", out.all());
    let extra = warnings
        .iter()
        .find(|l| l.contains("--secret-file"))
        .unwrap_or_else(|| panic!("no warning about the extra secret\n{}", out.all()));
    assert!(extra.contains("keystore add"), "{extra}");
    assert!(extra.contains("elasticsearch/microsoft_graph1"), "{extra}");

    // Named clusters: no warning at all, and the run that keeps the secret adds none.
    let c = h.dir("cluster-c");
    write(&c.join("elasticsearch.yml"), "cluster.name: prod-eu\n");
    let out = h.setup(&[&c], &["--format-version", "4"]).await;
    out.assert_ok();
    assert!(!out.stderr.contains("WARNING:"), "{}", out.all());
    let out = h.setup(&[&c], &["--format-version", "4"]).await;
    out.assert_ok();
    assert!(
        out.stdout
            .contains("secret: the configured client secret works; kept"),
        "{}",
        out.all()
    );
}

/// `setup`'s clean-up after a failed write removes the secret this run added and nothing
/// else: run in-process, with the first rename of the commit failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_clean_up_after_a_failed_write_removes_only_its_own_new_secret() {
    let h = Harness::start().await;
    let a = h.dir("cluster-a");
    h.setup(&[&a], &["--format-version", "4"]).await.assert_ok();
    let secret_a = realm_secret(&a, "");
    let b = h.dir("cluster-b");
    let before = dir_state(&b);

    let http = match build_client(&HttpOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("http client: {e}"),
    };
    let mut endpoints = Cloud::Global.endpoints();
    endpoints.access_token_host = h.tenant.access_token_host();
    endpoints.graph_host = h.tenant.graph_host();
    let admin = h.tenant.admin();
    let tokens = match ClientSecretSource::new(
        http.clone(),
        &h.tenant.access_token_host(),
        &admin.tenant_id,
        &admin.client_id,
        admin.client_secret,
    ) {
        Ok(t) => t,
        Err(e) => panic!("token source: {e}"),
    };
    let graph = match GraphClient::new(
        http.clone(),
        Arc::new(tokens),
        &h.tenant.graph_host(),
        &endpoints.scope,
        Instant::now() + Duration::from_secs(60),
    ) {
        Ok(g) => g,
        Err(e) => panic!("graph client: {e}"),
    };
    let mut provision = ProvisionOptions::for_endpoints(&endpoints);
    provision.credential_name = secret_display_name("elasticsearch/microsoft_graph1");
    let opts = SetupOptions {
        realm: REALM.to_string(),
        provision,
        new_secret: false,
        order: None,
        new_keystore_version: FormatVersion::V4,
        endpoints: endpoints.clone(),
        dry_run: false,
        verify: true,
        verify_wait: Duration::from_secs(10),
        verify_retry_interval: Duration::from_millis(10),
    };
    let mut no_password = |_: &Path| -> Result<SecretString, PasswordFailure> {
        Err(PasswordFailure::new(
            ExitCode::Usage,
            CliError::new(ExitCode::Usage, "no keystore password"),
        ))
    };
    let opened = match ConfigDir::open(&b, REALM, &mut no_password, false) {
        Ok(d) => d,
        Err(e) => panic!("open {}: {e}", b.display()),
    };

    let scenario = FailScenario::setup();
    if let Err(e) = fail::cfg(fail_points::BEFORE_RENAME, "return") {
        panic!("fail point: {e}");
    }
    let result = run_setup(
        &graph,
        &http,
        std::slice::from_ref(&opened),
        &opts,
        &NoProgress,
    )
    .await;
    fail::remove(fail_points::BEFORE_RENAME);
    scenario.teardown();
    drop(opened);

    let err = match result {
        Ok(_) => panic!("the commit was meant to fail"),
        Err(e) => e,
    };
    assert!(
        matches!(
            &err,
            SetupError::CommitNewSecretUnused {
                cleanup: SecretCleanup::Removed { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(dir_state(&b), before, "b is unchanged");
    assert_eq!(
        h.the_app().password_credentials.len(),
        1,
        "only a's secret is left"
    );
    assert_still_works(&h, &a, &secret_a, "setup's clean-up in b").await;
}
