//! `setup` end to end against the fake tenant: a fresh config directory, a second run that
//! changes nothing, `--new-secret`, `--dry-run`, and a caller who may not grant consent.

mod setup_support;

use fake_tenant::Faults;
use msgraph_keystore::keystore::FormatVersion;
use msgraph_keystore::secret::ExposeSecret;
use setup_support::*;

/// Debug text of what a dry run must not change (the request counters do change).
fn directory_state(h: &Harness) -> String {
    let s = h.snapshot();
    format!(
        "{:?}\n{:?}\n{:?}",
        s.applications, s.service_principals, s.app_role_assignments
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_into_an_empty_dir_then_rerun_changes_nothing_then_new_secret_rotates() {
    let h = Harness::start().await;
    let dir = h.dir("config");

    // 1. Empty directory: everything is created.
    let first = h.setup(&[&dir], &[]).await;
    first.assert_ok();
    assert!(
        first.stdout.contains("the realm's credentials work"),
        "{}",
        first.all()
    );

    let ks_path = dir.join("elasticsearch.keystore");
    assert_eq!(mode(&ks_path), 0o660, "keystore mode");
    let ks = read_keystore(&dir, "");
    assert_eq!(ks.version(), FormatVersion::V6, "a new keystore is v6");
    assert!(!ks.has_password());
    let mut names: Vec<&str> = ks.names();
    names.sort();
    assert_eq!(names, vec!["keystore.seed", secret_key(REALM).as_str()]);
    let secret = realm_secret(&dir, "");

    let app = h.the_app();
    assert_eq!(
        yml_value(&dir, REALM, "client_id").as_deref(),
        Some(app.app_id.as_str())
    );
    assert_eq!(
        yml_value(&dir, REALM, "tenant_id"),
        Some(h.tenant.tenant_id())
    );
    assert_eq!(yml_value(&dir, REALM, "order").as_deref(), Some("0"));
    assert_eq!(
        yml_value(&dir, REALM, "access_token_host"),
        Some(h.tenant.access_token_host()),
        "the fake tenant's login host is not the default, so it is written"
    );
    assert_eq!(
        yml_value(&dir, REALM, "graph_host"),
        Some(h.tenant.graph_host())
    );
    assert!(
        yml_value(&dir, REALM, "client_secret").is_none(),
        "the secret never goes to the yml"
    );

    // The yml holds exactly the realm's non-secure settings, nothing else.
    let yml = read_text(&dir.join("elasticsearch.yml"));
    let keys: Vec<&str> = yml
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(':').next())
        .collect();
    let prefix = "xpack.security.authc.realms.microsoft_graph.microsoft_graph1.";
    assert_eq!(
        keys,
        [
            "order",
            "client_id",
            "tenant_id",
            "access_token_host",
            "graph_host"
        ]
        .map(|k| format!("{prefix}{k}")),
        "{yml}"
    );

    h.assert_accepted(&app.app_id, &secret).await;
    let snap = h.snapshot();
    let sp = h.sp_id(&app.app_id);
    let realm_sps: Vec<_> = snap
        .service_principals
        .iter()
        .filter(|s| s.app_id == app.app_id)
        .collect();
    assert_eq!(realm_sps.len(), 1, "one service principal");
    assert_eq!(
        snap.graph_roles_granted_to(&sp),
        vec![
            "Directory.ReadWrite.All",
            "Group.ReadWrite.All",
            "User.Read.All"
        ]
    );
    assert_eq!(
        snap.app_role_assignments
            .iter()
            .filter(|a| a.principal_id == sp)
            .count(),
        3,
        "three role assignments"
    );
    assert_eq!(app.password_credentials.len(), 1, "one secret");

    // 2. Same arguments again: nothing changes, locally or in the tenant.
    let before = dir_state(&dir);
    tick();
    let second = h.setup(&[&dir], &[]).await;
    second.assert_ok();
    assert!(
        second.stdout.contains("Nothing changed"),
        "{}",
        second.all()
    );
    assert_eq!(dir_state(&dir), before, "no file was rewritten");
    let app_again = h.the_app();
    assert_eq!(app_again.app_id, app.app_id);
    assert_eq!(app_again.password_credentials.len(), 1, "still ONE secret");
    assert_eq!(
        h.snapshot()
            .app_role_assignments
            .iter()
            .filter(|a| a.principal_id == sp)
            .count(),
        3
    );

    // 3. --new-secret adds exactly one secret and replaces the keystore value.
    let third = h.setup(&[&dir], &["--new-secret"]).await;
    third.assert_ok();
    let rotated = realm_secret(&dir, "");
    assert_ne!(
        rotated.expose_secret(),
        secret.expose_secret(),
        "the keystore holds the new secret"
    );
    h.assert_accepted(&app.app_id, &rotated).await;
    assert_eq!(h.the_app().password_credentials.len(), 2);
    let ks = read_keystore(&dir, "");
    assert_eq!(ks.version(), FormatVersion::V6);
    assert_eq!(ks.len(), 2, "seed and secret, nothing else");
    assert_eq!(
        entry(&ks, "keystore.seed").map(|s| s.expose_secret().to_string()),
        entry(&read_keystore_before(&before), "keystore.seed")
            .map(|s| s.expose_secret().to_string()),
        "the seed is kept"
    );
}

/// The keystore as it was in a saved `dir_state`.
fn read_keystore_before(
    state: &std::collections::BTreeMap<String, FileState>,
) -> msgraph_keystore::keystore::Keystore {
    let bytes = match state.get("elasticsearch.keystore") {
        Some(f) => f.bytes.clone(),
        None => panic!("no keystore in the saved state"),
    };
    match msgraph_keystore::keystore::Keystore::decrypt(
        &bytes,
        &msgraph_keystore::secret::SecretString::from(String::new()),
    ) {
        Ok(ks) => ks,
        Err(e) => panic!("saved keystore: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_the_changes_and_changes_nothing() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    write(&dir.join("elasticsearch.yml"), "cluster.name: dry\n");

    let tenant_before = directory_state(&h);
    let files_before = dir_state(&dir);
    let run = h
        .setup(&[&dir], &["--dry-run", "--format-version", "4"])
        .await;
    run.assert_ok();
    assert_eq!(
        directory_state(&h),
        tenant_before,
        "the tenant is unchanged"
    );
    assert_eq!(dir_state(&dir), files_before, "no file was written");
    assert!(!dir.join("elasticsearch.keystore").exists());
    assert!(run.stdout.contains("Dry run"), "{}", run.all());
    // The yml diff, as a unified diff.
    assert!(
        run.stdout
            .contains("+xpack.security.authc.realms.microsoft_graph.microsoft_graph1.tenant_id"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("@@"), "{}", run.all());
    // The keystore entry names that would change.
    assert!(
        run.stdout.contains(&format!("add {}", secret_key(REALM))),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("create elasticsearch.keystore"),
        "{}",
        run.all()
    );

    // After a real setup, a dry run of --new-secret names the replacement and still
    // changes nothing.
    h.setup(&[&dir], &["--format-version", "4"])
        .await
        .assert_ok();
    let tenant_before = directory_state(&h);
    let files_before = dir_state(&dir);
    tick();
    let run = h.setup(&[&dir], &["--dry-run", "--new-secret"]).await;
    run.assert_ok();
    assert_eq!(
        directory_state(&h),
        tenant_before,
        "the tenant is unchanged"
    );
    assert_eq!(dir_state(&dir), files_before, "no file was written");
    assert!(
        run.stdout
            .contains(&format!("replace {}", secret_key(REALM))),
        "{}",
        run.all()
    );
    assert_eq!(h.the_app().password_credentials.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_forbidden_writes_the_files_and_prints_the_instructions() {
    let h = Harness::with_faults(Faults {
        caller_can_consent: false,
        ..Faults::default()
    })
    .await;
    let dir = h.dir("config");
    let run = h.setup(&[&dir], &["--format-version", "4"]).await;
    run.assert_code(3);
    let app = h.the_app();
    assert!(
        run.stdout.contains("admin consent"),
        "instructions: {}",
        run.all()
    );
    assert!(
        run.stdout.contains(&format!(
            "/{}/v2.0/adminconsent?client_id={}&scope=",
            h.tenant.tenant_id(),
            app.app_id
        )),
        "the admin-consent URL: {}",
        run.all()
    );
    // Everything local is in place, so consent is the only step left.
    let secret = realm_secret(&dir, "");
    h.assert_accepted(&app.app_id, &secret).await;
    assert_eq!(
        yml_value(&dir, REALM, "client_id").as_deref(),
        Some(app.app_id.as_str())
    );
    let sp = h.sp_id(&app.app_id);
    assert!(h.snapshot().graph_roles_granted_to(&sp).is_empty());

    // The Kubernetes output says so too, on stderr (stdout holds the manifest).
    let k8s = setup_support::run(h.graph_command("setup", &["--output", "k8s-secret"])).await;
    k8s.assert_code(3);
    assert!(k8s.stdout.contains("kind: Secret"), "{}", k8s.all());
    assert!(
        k8s.stderr.contains("adminconsent?client_id="),
        "{}",
        k8s.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_consent_writes_the_files_and_says_what_an_admin_must_grant() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    let run = h
        .setup(&[&dir], &["--format-version", "4", "--no-consent"])
        .await;
    run.assert_ok();
    let app = h.the_app();
    assert!(run.stdout.contains("--no-consent"), "{}", run.all());
    assert!(
        run.stdout
            .contains(&format!("adminconsent?client_id={}", app.app_id)),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("verify: skipped"), "{}", run.all());
    assert!(h
        .snapshot()
        .graph_roles_granted_to(&h.sp_id(&app.app_id))
        .is_empty());
    h.assert_accepted(&app.app_id, &realm_secret(&dir, ""))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_home_picks_the_keystore_format_and_reports_the_plugin() {
    let h = Harness::start().await;
    let home = h.dir("es-home");
    mkdirs(&home.join("lib"));
    write(&home.join("lib/elasticsearch-7.17.9.jar"), "");
    let dir = h.dir("config");
    let es_home = home.display().to_string();
    let out = h.setup(&[&dir], &["--es-home", &es_home]).await;
    out.assert_ok();
    assert_eq!(
        read_keystore(&dir, "").version(),
        FormatVersion::V4,
        "Elasticsearch 7.17 reads format 4"
    );
    assert!(
        out.stdout.contains("not found under"),
        "the plugin is missing\n{}",
        out.all()
    );

    mkdirs(&home.join("plugins/microsoft-graph-authz"));
    let out = h.setup(&[&dir], &["--es-home", &es_home]).await;
    out.assert_ok();
    assert!(
        out.stdout
            .contains("microsoft-graph-authz plugin is installed"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains("no restart is needed"),
        "nothing changed on the second run\n{}",
        out.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_waits_for_a_configured_secret_that_is_still_replicating() {
    let h = Harness::with_faults(Faults {
        secret_replication_failures: 2,
        ..Faults::default()
    })
    .await;
    let dir = h.dir("config");
    h.setup(&[&dir], &["--no-verify"]).await.assert_ok();
    let secret = realm_secret(&dir, "");

    // Straight away again: the token endpoint still refuses the brand-new secret twice.
    let second = h.setup(&[&dir], &[]).await;
    second.assert_ok();
    assert!(second.stdout.contains("works; kept"), "{}", second.all());
    assert_eq!(
        realm_secret(&dir, "").expose_secret(),
        secret.expose_secret(),
        "the replicating secret is kept, not replaced"
    );
    assert_eq!(
        h.the_app().password_credentials.len(),
        1,
        "no second secret"
    );
}
