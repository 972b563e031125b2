//! `setup` into config directories that already hold things: Elasticsearch-written
//! keystores (v4 and v6, with and without a password) and an `elasticsearch.yml` with
//! comments and other realms. What is not the realm's must survive byte for byte.

mod setup_support;

use std::path::Path;

use msgraph_keystore::keystore::{FormatVersion, Keystore};
use msgraph_keystore::secret::ExposeSecret;
use setup_support::*;

/// The entries of a fixture keystore (name → bytes), read with the library.
fn entries_of(ks: &Keystore) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<&str> = ks.names();
    names.sort();
    names
        .into_iter()
        .map(|n| (n.to_string(), ks.get_bytes(n).unwrap_or_default().to_vec()))
        .collect()
}

/// How the password reaches the binary.
enum PasswordVia {
    None,
    File,
    Env,
}

/// Set up the realm in a copy of fixture `case` and check that the version, the password
/// and every other entry were kept.
async fn setup_keeps_existing_keystore(case: &str, password: &str, via: PasswordVia) {
    let h = Harness::start().await;
    let dir = h.dir("config");
    copy_fixture(case, &dir);
    let before = entries_of(&read_keystore(&dir, password));
    let version_before = read_keystore(&dir, password).version();

    let pw_file = h.scratch.path().join("keystore-password");
    write(&pw_file, &format!("{password}\n"));
    let mut args: Vec<String> = vec!["setup".into(), "--config".into(), dir.display().to_string()];
    let mut env: Option<(&str, &str)> = None;
    match via {
        PasswordVia::None => {}
        PasswordVia::File => {
            args.push("--password-file".into());
            args.push(pw_file.display().to_string());
        }
        PasswordVia::Env => env = Some(("KEYSTORE_PASSWORD", password)),
    }
    args.extend(h.graph_flags());
    let mut cmd = h.command(&args);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let out = run(cmd).await;
    out.assert_ok();

    let ks = read_keystore(&dir, password);
    assert_eq!(
        ks.version(),
        version_before,
        "{case}: the format version is kept"
    );
    assert_eq!(
        ks.has_password(),
        !password.is_empty(),
        "{case}: password kept"
    );
    if !password.is_empty() {
        let wrong = msgraph_keystore::keystore::load_read_only(
            &dir,
            &msgraph_keystore::secret::SecretString::from("not-the-password".to_string()),
        );
        assert!(wrong.is_err(), "{case}: still protected by its password");
    }
    let after = entries_of(&ks);
    for (name, bytes) in &before {
        assert!(
            after.iter().any(|(n, b)| n == name && b == bytes),
            "{case}: entry {name} was lost or changed"
        );
    }
    assert_eq!(after.len(), before.len() + 1, "{case}: one entry added");
    let secret = realm_secret(&dir, password);
    h.assert_accepted(&h.the_app().app_id, &secret).await;
    assert_eq!(mode(&dir.join("elasticsearch.keystore")), 0o660);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_keystore_with_password_from_a_file_keeps_version_password_and_entries() {
    setup_keeps_existing_keystore("v4_password", "v4-Passw0rd", PasswordVia::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_keystore_without_password_keeps_version_and_entries() {
    setup_keeps_existing_keystore("v4_no_password", "", PasswordVia::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v6_keystore_with_password_from_the_environment_keeps_version_password_and_entries() {
    setup_keeps_existing_keystore("v6_password_strings", "keystorepassword", PasswordVia::Env)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v6_keystore_without_password_keeps_binary_and_empty_entries() {
    setup_keeps_existing_keystore("v6_file_entry_and_empty_value", "", PasswordVia::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_keystore_password_changes_nothing() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    copy_fixture("v4_password", &dir);
    let before = dir_state(&dir);
    let mut cmd = h.graph_command("setup", &["--config", &dir.display().to_string()]);
    cmd.env("KEYSTORE_PASSWORD", "wrong-password");
    let out = run(cmd).await;
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("ERROR:") && out.stderr.contains("elasticsearch.keystore"),
        "{}",
        out.all()
    );
    assert_eq!(dir_state(&dir), before);
    assert!(
        h.realm_apps().is_empty(),
        "nothing was created in the tenant"
    );
}

/// Written as Elasticsearch packages ship it, plus a SAML realm (order 2) nested and a file
/// realm flat; the last line has no newline.
const YML_WITH_REALMS: &str = r#"# ======================== Elasticsearch Configuration =========================
#
# NOTE: Elasticsearch comes with reasonable defaults for most settings.

cluster.name: prod-logs   # the cluster
node.name: ${HOSTNAME}


# ---------------------------------- Security -----------------------------------
xpack.security.enabled: true
xpack.security.authc.realms:
  saml:
    saml1:
      order: 2
      idp.metadata.path: saml/idp-metadata.xml   # from the IdP
      idp.entity_id: "https://sts.windows.net/tenant/"
      sp.entity_id: "https://kibana.example.com/"
      attributes.principal: "nameid"
      authorization_realms: [ "microsoft_graph1" ]
  file.file1.order: 0

# trailing comment, no newline after it"#;

/// Every line of `before` is in `after`, unchanged and in the same order.
#[track_caller]
fn assert_lines_kept(before: &str, after: &str) {
    let mut rest = after.lines();
    for line in before.lines() {
        assert!(
            rest.any(|l| l == line),
            "line `{line}` was changed or moved:\n{after}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_yml_keeps_every_byte_outside_the_realm_and_orders_after_the_highest() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    let yml = dir.join("elasticsearch.yml");
    write(&yml, YML_WITH_REALMS);
    h.setup(&[&dir], &["--format-version", "4"])
        .await
        .assert_ok();

    let after = read_text(&yml);
    // The only change is an appended block (after the newline the last line lacked).
    let original = format!("{YML_WITH_REALMS}\n");
    assert!(
        after.starts_with(&original),
        "the original text must be a prefix of the new one:\n{after}"
    );
    let added = &after[original.len()..];
    for line in added.lines() {
        let t = line.trim();
        assert!(
            t.is_empty()
                || t.starts_with('#')
                || t.starts_with("xpack.security.authc.realms.microsoft_graph.microsoft_graph1."),
            "unexpected line added: `{line}`"
        );
    }
    assert_eq!(
        yml_value(&dir, REALM, "order").as_deref(),
        Some("3"),
        "one past the saml realm's order 2"
    );
    assert_eq!(
        yml_value(&dir, REALM, "client_id"),
        Some(h.the_app().app_id)
    );
    assert_eq!(mode(&yml), 0o644, "an existing yml keeps its mode");

    // An explicit --order wins, and only the order line changes.
    let run = h.setup(&[&dir], &["--order", "10"]).await;
    run.assert_ok();
    let reordered = read_text(&yml);
    assert_eq!(yml_value(&dir, REALM, "order").as_deref(), Some("10"));
    let changed: Vec<(&str, &str)> = after
        .lines()
        .zip(reordered.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "only the order line changes: {changed:?}");
    assert!(
        changed[0].1.contains("microsoft_graph1.order: 10"),
        "{changed:?}"
    );
    assert_eq!(after.lines().count(), reordered.lines().count());
    assert_eq!(
        h.the_app().password_credentials.len(),
        1,
        "a working secret is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realm_partly_configured_in_nested_form_is_completed_in_place() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    let yml = dir.join("elasticsearch.yml");
    let before = r#"# realms
xpack:
  security:
    authc:
      realms:
        native.native1.order: 0
        microsoft_graph:
          microsoft_graph1:
            order: 1          # keep me first after native
            http_request_timeout: 10s

path.logs: /var/log/elasticsearch
"#;
    write(&yml, before);
    h.setup(&[&dir], &["--format-version", "4"])
        .await
        .assert_ok();
    let after = read_text(&yml);
    assert_lines_kept(before, &after);
    assert_eq!(
        yml_value(&dir, REALM, "order").as_deref(),
        Some("1"),
        "an existing order is kept"
    );
    assert_eq!(
        yml_value(&dir, REALM, "http_request_timeout").as_deref(),
        Some("10s")
    );
    assert_eq!(
        yml_value(&dir, REALM, "client_id"),
        Some(h.the_app().app_id)
    );
    assert_eq!(
        yml_value(&dir, REALM, "tenant_id"),
        Some(h.tenant.tenant_id())
    );
    // Elasticsearch would refuse a key defined twice: the tool must not create one.
    let yml_doc = match msgraph_keystore::esconfig::EsYml::load(&dir) {
        Ok(y) => y,
        Err(e) => panic!("{e}"),
    };
    assert!(yml_doc.duplicate_keys().is_empty(), "{after}");
}

/// The realm's secret from `dir` is the one in `other`: both directories were written with
/// the same secret.
fn same_secret(dir: &Path, other: &Path) -> bool {
    realm_secret(dir, "").expose_secret() == realm_secret(other, "").expose_secret()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_config_dirs_get_the_same_secret_and_a_second_run_changes_nothing() {
    let h = Harness::start().await;
    let a = h.dir("node1");
    let b = h.dir("node2");
    copy_fixture("v4_no_password", &b);
    h.setup(&[&a, &b], &["--format-version", "4"])
        .await
        .assert_ok();
    assert!(same_secret(&a, &b));
    assert_eq!(read_keystore(&a, "").version(), FormatVersion::V4);
    assert_eq!(h.the_app().password_credentials.len(), 1);
    let state = (dir_state(&a), dir_state(&b));
    tick();
    let again = h.setup(&[&a, &b], &[]).await;
    again.assert_ok();
    assert!(again.stdout.contains("Nothing changed"), "{}", again.all());
    assert_eq!((dir_state(&a), dir_state(&b)), state);
}
