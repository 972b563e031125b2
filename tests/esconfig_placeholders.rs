//! `${VAR}` placeholders in `elasticsearch.yml` read as Elasticsearch reads them, never
//! replaced by a literal; YAML anchors, aliases and merge keys around the realm refused
//! (issue 8, items 5 and 6).
//!
//! Library tests pass the environment as a map; CLI tests set it on the child process only,
//! so no test depends on this process's environment.

mod setup_support;

use std::path::Path;

use msgraph_keystore::esconfig::{realm_setting_key, Environment, EsConfigError, EsYml};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use setup_support::*;

const CLIENT_ID: &str = "0f6d1c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_ID: &str = "11111111-2222-4333-8444-555555555555";
const PATH: &str = "/etc/es/elasticsearch.yml";

fn parse(text: &str, vars: &[(&str, &str)]) -> EsYml {
    match EsYml::parse(Path::new(PATH), text) {
        Ok(yml) => yml.with_env(Environment::from_map(vars.iter().copied())),
        Err(e) => panic!("{e}"),
    }
}

fn ids() -> Vec<(&'static str, String)> {
    vec![
        ("order", "2".to_owned()),
        ("client_id", CLIENT_ID.to_owned()),
        ("tenant_id", TENANT_ID.to_owned()),
    ]
}

const PLACEHOLDERS: &str = "\
xpack.security.authc.realms.microsoft_graph.g1:
  order: 2
  client_id: ${GRAPH_CLIENT_ID}
  tenant_id: \"${GRAPH_TENANT_ID}\"
";

#[track_caller]
fn expect_err<T: std::fmt::Debug>(result: Result<T, EsConfigError>) -> EsConfigError {
    match result {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e,
    }
}

#[test]
fn realm_values_resolve_from_the_environment_and_from_other_settings() {
    let yml = parse(
        &format!(
            "my.tenant: {TENANT_ID}\n{}",
            PLACEHOLDERS.replace("GRAPH_TENANT_ID", "my.tenant")
        ),
        &[("GRAPH_CLIENT_ID", CLIENT_ID)],
    );
    let realm = match yml.realm("g1") {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(realm.client_id.as_deref(), Some(CLIENT_ID));
    assert_eq!(realm.tenant_id.as_deref(), Some(TENANT_ID));
    assert_eq!(realm.order, Some(2));
    // `get` is the text as written; `get_resolved` what Elasticsearch reads.
    let key = realm_setting_key("g1", "client_id");
    assert_eq!(yml.get(&key).as_deref(), Some("${GRAPH_CLIENT_ID}"));
    assert_eq!(
        yml.get_resolved(&key).ok().flatten().as_deref(),
        Some(CLIENT_ID)
    );
}

#[test]
fn defaults_nesting_and_an_empty_value_follow_elasticsearch() {
    let text = "\
pick: a
id_a: 0f6d1c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6
xpack.security.authc.realms.microsoft_graph.g1:
  order: ${REALM_ORDER:7}
  client_id: ${id_${pick}}
  graph_host: ${EMPTY}
";
    let yml = parse(text, &[("EMPTY", "")]);
    let realm = match yml.realm("g1") {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(realm.order, Some(7), "the default of an unset name");
    assert_eq!(
        realm.client_id.as_deref(),
        Some(CLIENT_ID),
        "nested names (settings)"
    );
    assert_eq!(
        realm.graph_host, None,
        "a value resolving to \"\" is no setting"
    );
}

#[test]
fn an_unset_variable_is_an_error_naming_it() {
    let yml = parse(PLACEHOLDERS, &[("GRAPH_TENANT_ID", TENANT_ID)]);
    let e = expect_err(yml.realm("g1"));
    let msg = e.to_string();
    assert!(
        msg.contains(PATH)
            && msg.contains("GRAPH_CLIENT_ID")
            && msg.contains("(line 3)")
            && msg.contains(&realm_setting_key("g1", "client_id")),
        "{msg}"
    );
    assert_eq!(e.exit_code(), ExitCode::Config);
    // Editing refuses the same way and changes nothing.
    let mut yml = yml;
    let e = expect_err(yml.set_realm_settings("g1", &ids()));
    assert!(e.to_string().contains("GRAPH_CLIENT_ID"), "{e}");
    assert_eq!(yml.text(), PLACEHOLDERS);
}

#[test]
fn a_placeholder_giving_the_wanted_value_is_left_as_written() {
    let mut yml = parse(
        PLACEHOLDERS,
        &[
            ("GRAPH_CLIENT_ID", CLIENT_ID),
            ("GRAPH_TENANT_ID", TENANT_ID),
        ],
    );
    match yml.set_realm_settings("g1", &ids()) {
        Ok(changed) => assert!(!changed, "nothing to change"),
        Err(e) => panic!("{e}"),
    }
    assert_eq!(yml.text(), PLACEHOLDERS, "byte-for-byte identical");
}

#[test]
fn a_placeholder_giving_another_value_is_never_replaced_by_a_literal() {
    let mut yml = parse(
        PLACEHOLDERS,
        &[
            ("GRAPH_CLIENT_ID", OTHER_ID),
            ("GRAPH_TENANT_ID", TENANT_ID),
        ],
    );
    let e = expect_err(yml.set_realm_settings("g1", &ids()));
    let msg = e.to_string();
    assert!(
        msg.contains(PATH)
            && msg.contains(&realm_setting_key("g1", "client_id"))
            && msg.contains("${GRAPH_CLIENT_ID}")
            && msg.contains("set GRAPH_CLIENT_ID to the new value"),
        "{msg}"
    );
    assert!(
        matches!(e, EsConfigError::PlaceholderWouldChange { line: 3, .. }),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert_eq!(yml.text(), PLACEHOLDERS);

    // A placeholder that gives nothing is not filled in by a literal either.
    let mut yml = parse(
        PLACEHOLDERS,
        &[("GRAPH_CLIENT_ID", ""), ("GRAPH_TENANT_ID", TENANT_ID)],
    );
    let e = expect_err(yml.set_realm_settings("g1", &ids()));
    assert!(e.to_string().contains("gives no value"), "{e}");
    assert_eq!(yml.text(), PLACEHOLDERS);
}

#[test]
fn removing_a_placeholder_setting_is_refused() {
    let text = format!("{PLACEHOLDERS}  graph_host: ${{GRAPH_HOST}}\n");
    let mut yml = parse(
        &text,
        &[
            ("GRAPH_CLIENT_ID", CLIENT_ID),
            ("GRAPH_TENANT_ID", TENANT_ID),
            ("GRAPH_HOST", "https://graph.microsoft.us"),
        ],
    );
    let e = expect_err(yml.remove_realm_setting("g1", "graph_host"));
    assert!(e.to_string().contains("GRAPH_HOST"), "{e}");
    assert_eq!(yml.text(), text);
}

#[test]
fn a_new_value_holding_a_placeholder_is_refused() {
    let mut yml = parse("", &[]);
    let mut settings = ids();
    settings[1].1 = "${NOT_A_GUID}".to_owned();
    let e = expect_err(yml.set_realm_settings("g1", &settings));
    assert!(matches!(e, EsConfigError::InvalidValue { .. }), "{e:?}");
    assert_eq!(yml.text(), "");
}

#[test]
fn a_value_that_depends_on_the_elasticsearch_version_is_refused() {
    // Before 8.2 the environment fills `${VAR:default}`; since 8.2 only a plain `${VAR}`
    // reads the environment, so the default wins.
    let text = PLACEHOLDERS.replace(
        "${GRAPH_CLIENT_ID}",
        &format!("${{GRAPH_CLIENT_ID:{CLIENT_ID}}}"),
    );
    let yml = parse(
        &text,
        &[
            ("GRAPH_CLIENT_ID", OTHER_ID),
            ("GRAPH_TENANT_ID", TENANT_ID),
        ],
    );
    let e = expect_err(yml.realm("g1"));
    assert!(
        matches!(
            e,
            EsConfigError::PlaceholderVersionDependent { line: 3, .. }
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::Config);
    // With the variable unset both read the default.
    let yml = parse(&text, &[("GRAPH_TENANT_ID", TENANT_ID)]);
    match yml.realm("g1") {
        Ok(realm) => assert_eq!(realm.client_id.as_deref(), Some(CLIENT_ID)),
        Err(e) => panic!("{e}"),
    }
    // A nested name from the environment: since 8.2 the text pass stops at the first `}`.
    let nested = PLACEHOLDERS.replace("${GRAPH_CLIENT_ID}", "${ID_${WHICH}}");
    let yml = parse(
        &nested,
        &[
            ("WHICH", "A"),
            ("ID_A", CLIENT_ID),
            ("GRAPH_TENANT_ID", TENANT_ID),
        ],
    );
    let e = expect_err(yml.realm("g1"));
    assert!(
        matches!(e, EsConfigError::PlaceholderVersionDependent { .. }),
        "{e:?}"
    );
    // Since 8.2 the value is pasted into the YAML text: ` #` starts a comment there.
    let yml = parse(
        PLACEHOLDERS,
        &[
            ("GRAPH_CLIENT_ID", "abc #def"),
            ("GRAPH_TENANT_ID", TENANT_ID),
        ],
    );
    let e = expect_err(yml.realm("g1"));
    assert!(
        matches!(e, EsConfigError::PlaceholderVersionDependent { .. }),
        "{e:?}"
    );
}

#[test]
fn keystore_values_are_never_substituted_by_the_yml_reader() {
    // Only the yml is read here; a placeholder elsewhere in the file that does not resolve
    // is not this realm's concern.
    let text = format!("node.name: ${{HOSTNAME_UNSET}}\n{PLACEHOLDERS}");
    let yml = parse(
        &text,
        &[
            ("GRAPH_CLIENT_ID", CLIENT_ID),
            ("GRAPH_TENANT_ID", TENANT_ID),
        ],
    );
    assert!(yml.realm("g1").is_ok());
}

// ---- item 6: anchors, aliases and merge keys ------------------------------------------------

/// The reproduction: a realm mapping merging `order: 2` from an anchor.
const MERGE: &str = "\
defaults: &defaults
  order: 2
xpack.security.authc.realms.microsoft_graph.g1:
  <<: *defaults
  client_id: \"0f6d1c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6\"
";

#[test]
fn a_merge_key_in_the_realm_is_refused_with_one_line() {
    let mut yml = parse(MERGE, &[]);
    let settings = vec![
        ("order", "0".to_owned()),
        ("client_id", CLIENT_ID.to_owned()),
        ("tenant_id", TENANT_ID.to_owned()),
    ];
    let e = expect_err(yml.set_realm_settings("g1", &settings));
    let msg = e.to_string();
    assert!(
        msg.contains(PATH) && msg.contains("line 4") && msg.contains("merge key"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert_eq!(yml.text(), MERGE, "nothing changed");
    assert!(yml.realm("g1").is_err(), "reading refuses too");
}

#[test]
fn aliases_and_anchors_in_or_around_the_realm_are_refused() {
    let cases = [
        // An alias as a realm value.
        "id: &id \"0f6d1c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6\"\nxpack.security.authc.realms.microsoft_graph.g1.client_id: *id\n",
        // An anchor on a realm value (an alias elsewhere would change with it).
        "xpack.security.authc.realms.microsoft_graph.g1.order: &o 2\nother.order: *o\n",
        // An anchored ancestor mapping.
        "xpack.security.authc.realms: &realms\n  microsoft_graph.g1.order: 2\n",
        // An aliased ancestor.
        "base: &b\n  microsoft_graph.g1.order: 2\nxpack.security.authc.realms: *b\n",
        // A merge key at the top level could bring in any setting.
        "base: &b\n  x: 1\n<<: *b\n",
        // A merge key in an ancestor mapping.
        "base: &b\n  x: 1\nxpack.security:\n  <<: *b\n  authc.realms.microsoft_graph.g1.order: 2\n",
    ];
    for text in cases {
        let mut yml = parse(text, &[]);
        let e = expect_err(yml.set_realm_settings("g1", &ids()));
        assert!(
            matches!(e, EsConfigError::YamlReference { .. }),
            "{text}\n{e:?}"
        );
        assert_eq!(yml.text(), text);
        let mut yml = parse(text, &[]);
        assert!(yml.remove_realm_setting("g1", "order").is_err(), "{text}");
    }
}

#[test]
fn anchors_elsewhere_in_the_file_are_fine() {
    let text = "common: &c\n  level: info\nlogger: *c\nmerged:\n  <<: *c\n";
    let mut yml = parse(text, &[]);
    match yml.set_realm_settings("g1", &ids()) {
        Ok(changed) => assert!(changed),
        Err(e) => panic!("{e}"),
    }
    assert!(yml.text().starts_with(text));
}

// ---- the commands -------------------------------------------------------------------------

fn realm_key(setting: &str) -> String {
    realm_setting_key(REALM, setting)
}

/// Rewrite the realm's client_id and tenant_id lines in `dir`'s yml as placeholders.
fn use_placeholders(dir: &Path) -> (String, String, String) {
    let path = dir.join("elasticsearch.yml");
    let text = read_text(&path);
    let client_id = yml_value(dir, REALM, "client_id").unwrap_or_default();
    let tenant_id = yml_value(dir, REALM, "tenant_id").unwrap_or_default();
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with(&realm_key("client_id")) {
            out.push_str(&format!(
                "{}: ${{GRAPH_CLIENT_ID}}\n",
                realm_key("client_id")
            ));
        } else if line.starts_with(&realm_key("tenant_id")) {
            out.push_str(&format!(
                "{}: \"${{GRAPH_TENANT_ID}}\"\n",
                realm_key("tenant_id")
            ));
        } else if line.starts_with(&realm_key("order")) {
            out.push_str(&format!("{}: ${{REALM_ORDER}}\n", realm_key("order")));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    write(&path, &out);
    (out, client_id, tenant_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_setup_and_rotate_read_placeholders_from_their_environment() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    h.setup(
        &[&dir],
        &["--format-version", "4", "--no-verify", "--order", "3"],
    )
    .await
    .assert_ok();
    let (text, client_id, tenant_id) = use_placeholders(&dir);
    assert!(text.contains("${GRAPH_CLIENT_ID}"), "{text}");
    let env = [
        ("GRAPH_CLIENT_ID", client_id.as_str()),
        ("GRAPH_TENANT_ID", tenant_id.as_str()),
        ("REALM_ORDER", "3"),
    ];

    // verify: the reproduction (exit 64 "not a tenant ID" before).
    let mut cmd = h.command(&["verify", "--config", &dir.display().to_string()]);
    cmd.envs(env);
    let ok = run(cmd).await;
    ok.assert_ok();
    assert!(
        ok.stdout.contains("the realm's credentials work"),
        "{}",
        ok.all()
    );

    // Unset, it names the variable and says how to fix it.
    let unset = h.verify(&dir, &[]).await;
    unset.assert_code(78);
    assert!(
        unset.stderr.contains("GRAPH_CLIENT_ID") && unset.stderr.contains("elasticsearch.yml"),
        "{}",
        unset.all()
    );

    // setup again with the same values: the placeholders stay, byte for byte.
    let apps_before = h.realm_apps();
    let args: Vec<String> = vec![
        "--config".into(),
        dir.display().to_string(),
        "--no-verify".into(),
    ];
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = h.graph_command("setup", &refs);
    cmd.envs(env);
    run(cmd).await.assert_ok();
    assert_eq!(read_text(&dir.join("elasticsearch.yml")), text);

    // rotate: a new secret in the keystore, the yml untouched.
    let mut cmd = h.graph_command("rotate", &refs[..2]);
    cmd.envs(env);
    run(cmd).await.assert_ok();
    assert_eq!(read_text(&dir.join("elasticsearch.yml")), text);
    assert_eq!(h.realm_apps().len(), apps_before.len());

    // setup asked for another order than ${REALM_ORDER} gives: refused before the tenant is
    // touched, naming the file, the setting and the variable.
    let secrets_before: usize = h.the_app().password_credentials.len();
    let mut with_order = args.clone();
    with_order.extend(["--order".to_owned(), "5".to_owned()]);
    let refs: Vec<&str> = with_order.iter().map(String::as_str).collect();
    let mut cmd = h.graph_command("setup", &refs);
    cmd.envs(env);
    let refused = run(cmd).await;
    refused.assert_code(78);
    assert!(
        refused.stderr.contains("REALM_ORDER")
            && refused.stderr.contains(&realm_key("order"))
            && refused.stderr.contains("elasticsearch.yml"),
        "{}",
        refused.all()
    );
    assert_eq!(read_text(&dir.join("elasticsearch.yml")), text);
    assert_eq!(h.the_app().password_credentials.len(), secrets_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_a_merge_key_in_the_realm_and_changes_nothing() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    let text = format!(
        "defaults: &defaults\n  order: 2\nxpack.security.authc.realms.microsoft_graph.{REALM}:\n  <<: *defaults\n"
    );
    write(&dir.join("elasticsearch.yml"), &text);
    let before = h.snapshot();
    let refused = h
        .setup(&[&dir], &["--format-version", "4", "--no-verify"])
        .await;
    refused.assert_code(78);
    assert!(
        refused.stderr.contains("merge key") && refused.stderr.contains("line 4"),
        "{}",
        refused.all()
    );
    assert_eq!(read_text(&dir.join("elasticsearch.yml")), text);
    assert!(!dir.join("elasticsearch.keystore").exists());
    assert_eq!(h.snapshot().applications.len(), before.applications.len());
}
