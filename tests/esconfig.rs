//! `elasticsearch.yml` reading and editing for one `microsoft_graph` realm, as the `setup`
//! command uses it: every spelling of a setting, refusals with file and line, byte-exact edits.

mod seed_support;

use std::collections::BTreeMap;
use std::path::Path;

use msgraph_keystore::esconfig::{
    realm_setting_key, unified_diff, EsConfigError, EsYml, RealmYml, ES_YML,
};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use proptest::prelude::*;
use yaml_rust2::{Yaml, YamlLoader};

const CLIENT_ID: &str = "0f6d1c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn key(setting: &str) -> String {
    realm_setting_key("g1", setting)
}

fn parse(text: &str) -> EsYml {
    match EsYml::parse(Path::new("/etc/es/elasticsearch.yml"), text) {
        Ok(yml) => yml,
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

fn set(yml: &mut EsYml, settings: &[(&str, String)]) -> bool {
    match yml.set_realm_settings("g1", settings) {
        Ok(changed) => changed,
        Err(e) => panic!("{e}"),
    }
}

/// The settings Elasticsearch would see, read by a full YAML loader and flattened.
fn flat_settings(text: &str) -> BTreeMap<String, String> {
    fn walk(prefix: &str, node: &Yaml, out: &mut BTreeMap<String, String>) {
        match node {
            Yaml::Hash(map) => {
                for (k, v) in map {
                    let name = match k {
                        Yaml::String(s) | Yaml::Real(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    let full = if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}.{name}")
                    };
                    walk(&full, v, out);
                }
            }
            Yaml::String(s) | Yaml::Real(s) => {
                out.insert(prefix.to_owned(), s.clone());
            }
            Yaml::Integer(i) => {
                out.insert(prefix.to_owned(), i.to_string());
            }
            other => {
                out.insert(prefix.to_owned(), format!("{other:?}"));
            }
        }
    }
    let docs = match YamlLoader::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => panic!("not YAML: {e}\n{text}"),
    };
    let mut out = BTreeMap::new();
    if let Some(doc) = docs.first() {
        walk("", doc, &mut out);
    }
    out
}

const BLOCK_BEGIN: &str =
    "# BEGIN msgraph-keystore: microsoft_graph realm \"g1\" (managed block: edits here may be replaced)\n";

// ---------------------------------------------------------------------------------------------
// Empty and missing files

#[test]
fn missing_file_is_an_empty_document_that_gets_one_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut yml = EsYml::load(dir.path()).unwrap();
    assert_eq!(yml.path(), dir.path().join(ES_YML));
    assert_eq!(yml.text(), "");
    assert_eq!(yml.realm("g1").unwrap(), RealmYml::default());
    assert_eq!(yml.next_realm_order(), 0);

    assert!(set(&mut yml, &ids()));
    let expected = format!(
        "{BLOCK_BEGIN}\
         xpack.security.authc.realms.microsoft_graph.g1.order: 2\n\
         xpack.security.authc.realms.microsoft_graph.g1.client_id: \"{CLIENT_ID}\"\n\
         xpack.security.authc.realms.microsoft_graph.g1.tenant_id: \"{TENANT_ID}\"\n\
         # END msgraph-keystore\n"
    );
    assert_eq!(yml.text(), expected);
    assert!(
        !dir.path().join(ES_YML).exists(),
        "editing never writes the file"
    );
    let realm = yml.realm("g1").unwrap();
    assert_eq!(realm.client_id.as_deref(), Some(CLIENT_ID));
    assert_eq!(realm.tenant_id.as_deref(), Some(TENANT_ID));
    assert_eq!(realm.order, Some(2));
}

#[test]
fn comment_only_file_keeps_its_bytes_and_gets_a_separated_block() {
    let old = "# ======================== Elasticsearch Configuration =========================\n#cluster.name: my-application\n";
    let mut yml = parse(old);
    assert!(set(&mut yml, &ids()));
    assert!(yml.text().starts_with(old), "{}", yml.text());
    assert!(yml.text()[old.len()..].starts_with(&format!("\n{BLOCK_BEGIN}")));
}

#[test]
fn load_reads_an_existing_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ES_YML), "a: [1\nb: 2\n").unwrap();
    let err = EsYml::load(dir.path()).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::DataError);
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().join(ES_YML).display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("line 2"), "{msg}");

    std::fs::write(dir.path().join(ES_YML), b"a: 1\nb: \xff\n").unwrap();
    let err = EsYml::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Finding settings in every spelling

const NESTED: &str = "\
# Cluster
cluster.name: prod   # the name

xpack:
  security:
    authc:
      realms:
        saml:
          kibana-realm:
            order: 2
            authorization_realms: g1
        microsoft_graph:
          g1:
            order: 3
            # sovereign clouds only:
            # graph_host: https://graph.microsoft.us/v1.0
            tenant_id: 'old-tenant'

path.logs: /var/log/elasticsearch
";

#[test]
fn get_finds_settings_in_flat_nested_and_mixed_form() {
    let yml = parse(NESTED);
    assert_eq!(yml.get("cluster.name").as_deref(), Some("prod"));
    assert_eq!(yml.get(&key("order")).as_deref(), Some("3"));
    assert_eq!(yml.get(&key("tenant_id")).as_deref(), Some("old-tenant"));
    assert_eq!(yml.get(&key("client_id")), None);
    assert_eq!(yml.get("xpack.security"), None, "a mapping is not a value");

    let mixed = parse(
        "xpack.security.authc.realms:\n  microsoft_graph.g1.client_id: \"abc\"\n  saml.s1: {order: 0}\nempty:\nnull_value: ~\n",
    );
    assert_eq!(mixed.get(&key("client_id")).as_deref(), Some("abc"));
    assert_eq!(
        mixed
            .get("xpack.security.authc.realms.saml.s1.order")
            .as_deref(),
        Some("0")
    );
    assert_eq!(mixed.get("empty"), None);
    assert_eq!(mixed.get("null_value"), None);
}

#[test]
fn realm_orders_cover_every_realm_type_and_form() {
    let yml = parse(
        "xpack.security.authc.realms.file.file1.order: 0\n\
         xpack.security.authc.realms:\n  \
           saml:\n    \
             saml1:\n      \
               order: 1\n  \
           jwt.jwt1: {order: 5, client_authentication.type: none}\n\
         xpack.security.authc.realms.native.native1:\n  order: \"3\"\n\
         xpack.security.authc.realms.pki.pki1.enabled: false\n",
    );
    assert_eq!(
        yml.realm_orders(),
        vec![
            ("file".to_owned(), "file1".to_owned(), 0),
            ("saml".to_owned(), "saml1".to_owned(), 1),
            ("jwt".to_owned(), "jwt1".to_owned(), 5),
            ("native".to_owned(), "native1".to_owned(), 3),
        ]
    );
    assert_eq!(yml.next_realm_order(), 6);
}

// ---------------------------------------------------------------------------------------------
// Editing

#[test]
fn nested_realm_mapping_gets_in_place_update_and_inserted_keys() {
    let mut yml = parse(NESTED);
    let settings = vec![
        ("order", "3".to_owned()),
        ("client_id", CLIENT_ID.to_owned()),
        ("tenant_id", TENANT_ID.to_owned()),
    ];
    assert!(set(&mut yml, &settings));
    let expected = NESTED.replace(
        "            tenant_id: 'old-tenant'\n",
        &format!("            tenant_id: '{TENANT_ID}'\n            client_id: \"{CLIENT_ID}\"\n"),
    );
    assert_eq!(yml.text(), expected);
    assert!(!yml.text().contains("BEGIN msgraph-keystore"));

    // The same values again: nothing changes, byte for byte, also from a fresh parse.
    let after_first = yml.text().to_owned();
    assert!(!set(&mut yml, &settings));
    assert_eq!(yml.text(), after_first);
    let mut reparsed = parse(&after_first);
    assert!(!set(&mut reparsed, &settings));
    assert_eq!(reparsed.text(), after_first);
}

#[test]
fn flat_keys_are_updated_in_place_keeping_comment_and_spelling() {
    let old = "\
node.name: node-1
xpack.security.authc.realms.saml.s1.order: 0
xpack.security.authc.realms.microsoft_graph.g1.order: 1
xpack.security.authc.realms.microsoft_graph.g1.client_id: stale-id   # set by hand
http.port: 9200
";
    let mut yml = parse(old);
    assert!(set(&mut yml, &ids()));
    let new = yml.text().to_owned();
    let expected_head = old
        .replace(
            "microsoft_graph.g1.order: 1\n",
            "microsoft_graph.g1.order: 2\n",
        )
        .replace(
            "client_id: stale-id   # set by hand",
            &format!("client_id: {CLIENT_ID}   # set by hand"),
        );
    assert!(new.starts_with(&expected_head), "{new}");
    assert_eq!(
        &new[expected_head.len()..],
        format!(
            "\n{BLOCK_BEGIN}xpack.security.authc.realms.microsoft_graph.g1.tenant_id: \"{TENANT_ID}\"\n# END msgraph-keystore\n"
        )
    );

    // A new setting on a later run goes into the same block, before its END line.
    let more = vec![("graph_host", "https://graph.microsoft.us/v1.0".to_owned())];
    assert!(set(&mut yml, &more));
    assert!(yml.text().ends_with(&format!(
        "tenant_id: \"{TENANT_ID}\"\nxpack.security.authc.realms.microsoft_graph.g1.graph_host: \"https://graph.microsoft.us/v1.0\"\n# END msgraph-keystore\n"
    )));
    assert_eq!(yml.text().matches("# BEGIN msgraph-keystore").count(), 1);
}

#[test]
fn mixed_form_and_flow_mapping_edit_in_place_and_stay_valid() {
    let old = "\
xpack.security.authc.realms:
  saml.s1: {order: 0, idp.entity_id: \"https://sts.windows.net/x/\"}
  microsoft_graph.g1: {order: 1, client_id: old}
";
    let mut yml = parse(old);
    assert!(set(&mut yml, &ids()));
    let text = yml.text().to_owned();
    assert!(
        text.starts_with(&format!(
            "xpack.security.authc.realms:\n  saml.s1: {{order: 0, idp.entity_id: \"https://sts.windows.net/x/\"}}\n  microsoft_graph.g1: {{order: 2, client_id: {CLIENT_ID}}}\n"
        )),
        "{text}"
    );
    let flat = flat_settings(&text);
    assert_eq!(flat[&key("order")], "2");
    assert_eq!(flat[&key("client_id")], CLIENT_ID);
    assert_eq!(flat[&key("tenant_id")], TENANT_ID);
    assert_eq!(
        flat["xpack.security.authc.realms.saml.s1.idp.entity_id"],
        "https://sts.windows.net/x/"
    );
}

#[test]
fn quote_styles_are_kept_and_unsafe_plain_values_get_quoted() {
    let old = "\
xpack.security.authc.realms.microsoft_graph.g1.client_id: 'a'
xpack.security.authc.realms.microsoft_graph.g1.tenant_id: \"b\"
xpack.security.authc.realms.microsoft_graph.g1.graph_host: c
xpack.security.authc.realms.microsoft_graph.g1.access_token_host: d
";
    let mut yml = parse(old);
    let settings = vec![
        ("client_id", "it's".to_owned()),
        ("tenant_id", "say \"x\"".to_owned()),
        ("graph_host", "https://graph.microsoft.com/v1.0".to_owned()),
        ("access_token_host", "yes".to_owned()),
    ];
    assert!(set(&mut yml, &settings));
    assert_eq!(
        yml.text(),
        "\
xpack.security.authc.realms.microsoft_graph.g1.client_id: 'it''s'
xpack.security.authc.realms.microsoft_graph.g1.tenant_id: \"say \\\"x\\\"\"
xpack.security.authc.realms.microsoft_graph.g1.graph_host: https://graph.microsoft.com/v1.0
xpack.security.authc.realms.microsoft_graph.g1.access_token_host: \"yes\"
"
    );
    for (setting, value) in &settings {
        assert_eq!(yml.get(&key(setting)).as_deref(), Some(value.as_str()));
    }
    // Same values, other quoting in the file: unchanged.
    let mut requoted = parse(&yml.text().replace("\"yes\"", "'yes'"));
    let before = requoted.text().to_owned();
    assert!(!set(&mut requoted, &settings));
    assert_eq!(requoted.text(), before);
}

#[test]
fn bytes_outside_the_managed_keys_never_change() {
    let old = "\
# ---------------------------------- Cluster -----------------------------------
cluster.name: \"prod\"   # keep me

# ------------------------------------ Node ------------------------------------
node.roles: [ master, data ]
node.attr: {rack: r1, zone: \"z 1\"}

xpack.security.authc.realms.saml.kibana-realm.order: 0
xpack.security.authc.realms.saml.kibana-realm.authorization_realms: g1
discovery.seed_hosts:
  - host1
  - \"host2:9300\"
script.painless: |
  literal text
  # not a comment
xpack.security.authc.realms.microsoft_graph.g1.client_id:    \"old\"    # from the portal
";
    let mut yml = parse(old);
    assert!(set(&mut yml, &ids()));
    let new = yml.text();
    // Every original line is there, unchanged, except the one whose value was replaced.
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    for (i, line) in old_lines.iter().enumerate() {
        if line.contains("client_id") {
            assert_eq!(
                new_lines[i],
                format!(
                    "xpack.security.authc.realms.microsoft_graph.g1.client_id:    \"{CLIENT_ID}\"    # from the portal"
                )
            );
        } else {
            assert_eq!(&new_lines[i], line);
        }
    }
    let before = flat_settings(old);
    let after = flat_settings(new);
    for (k, v) in &before {
        if k != &key("client_id") {
            assert_eq!(after.get(k), Some(v), "{k}");
        }
    }
    assert_eq!(after.len(), before.len() + 2, "order and tenant_id added");
}

#[test]
fn crlf_files_stay_crlf() {
    let old =
        "cluster.name: prod\r\nxpack.security.authc.realms.microsoft_graph.g1:\r\n  order: 1\r\n";
    let mut yml = parse(old);
    assert!(set(&mut yml, &ids()));
    let text = yml.text();
    assert_eq!(
        text,
        format!(
            "cluster.name: prod\r\nxpack.security.authc.realms.microsoft_graph.g1:\r\n  order: 2\r\n  client_id: \"{CLIENT_ID}\"\r\n  tenant_id: \"{TENANT_ID}\"\r\n"
        )
    );
    let mut flat = parse("a: 1\r\n");
    assert!(set(&mut flat, &ids()));
    assert_eq!(
        flat.text().matches('\n').count(),
        flat.text().matches("\r\n").count()
    );
    assert!(flat.text().ends_with("# END msgraph-keystore\r\n"));
}

#[test]
fn missing_final_newline_is_handled() {
    // In place: the file still ends without a newline.
    let mut yml = parse("xpack.security.authc.realms.microsoft_graph.g1.order: 1");
    assert!(set(&mut yml, &[("order", "4".to_owned())]));
    assert_eq!(
        yml.text(),
        "xpack.security.authc.realms.microsoft_graph.g1.order: 4"
    );
    // Appending: the last line is ended first.
    let mut yml = parse("node.name: n1");
    assert!(set(&mut yml, &ids()));
    assert!(yml
        .text()
        .starts_with(&format!("node.name: n1\n\n{BLOCK_BEGIN}")));
    // Inserting into a nested mapping that ends the file.
    let mut yml = parse("xpack.security.authc.realms.microsoft_graph.g1:\n  order: 1");
    assert!(set(&mut yml, &ids()));
    assert_eq!(
        yml.text(),
        format!(
            "xpack.security.authc.realms.microsoft_graph.g1:\n  order: 2\n  client_id: \"{CLIENT_ID}\"\n  tenant_id: \"{TENANT_ID}\"\n"
        )
    );
}

#[test]
fn byte_order_mark_is_kept() {
    let mut yml = parse("\u{feff}node.name: n1\n");
    assert!(set(&mut yml, &ids()));
    assert!(yml.text().starts_with("\u{feff}node.name: n1\n"));
    assert_eq!(yml.realm("g1").unwrap().order, Some(2));
}

#[test]
fn removing_settings_cleans_up_after_itself() {
    let mut yml = parse("node.name: n1\n");
    let with_host = vec![
        ("order", "2".to_owned()),
        ("graph_host", "https://graph.microsoft.us/v1.0".to_owned()),
    ];
    assert!(set(&mut yml, &with_host));
    assert!(yml.remove_realm_setting("g1", "graph_host").unwrap());
    assert_eq!(yml.get(&key("graph_host")), None);
    assert!(!yml.remove_realm_setting("g1", "graph_host").unwrap());
    assert!(yml.remove_realm_setting("g1", "order").unwrap());
    assert_eq!(yml.text(), "node.name: n1\n", "the emptied block goes too");

    let mut nested = parse(
        "a: 1\nxpack.security.authc.realms.microsoft_graph:\n  g1:\n    graph_host: x  # c\n  g2:\n    order: 9\nb: 2\n",
    );
    assert!(nested.remove_realm_setting("g1", "graph_host").unwrap());
    assert_eq!(
        nested.text(),
        "a: 1\nxpack.security.authc.realms.microsoft_graph:\n  g2:\n    order: 9\nb: 2\n"
    );

    let mut flow =
        parse("xpack.security.authc.realms.microsoft_graph.g1: {order: 1, graph_host: x}\n");
    let err = flow.remove_realm_setting("g1", "graph_host").unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn unified_diff_shows_the_edit() {
    let old = "node.name: n1\nxpack.security.authc.realms.microsoft_graph.g1.order: 1\n";
    let mut yml = parse(old);
    assert!(set(&mut yml, &ids()));
    let diff = unified_diff("/etc/es/elasticsearch.yml", old, yml.text());
    assert!(diff.starts_with("--- /etc/es/elasticsearch.yml\n+++ /etc/es/elasticsearch.yml\n@@ "));
    assert!(diff.contains("-xpack.security.authc.realms.microsoft_graph.g1.order: 1\n"));
    assert!(diff.contains("+xpack.security.authc.realms.microsoft_graph.g1.order: 2\n"));
    assert!(diff.contains(&format!("+{BLOCK_BEGIN}")));
    assert_eq!(unified_diff("f", yml.text(), yml.text()), "");
}

// ---------------------------------------------------------------------------------------------
// Refusals: precise message, right exit code, nothing changed

fn refused(text: &str, settings: &[(&str, String)]) -> EsConfigError {
    let mut yml = parse(text);
    let err = match yml.set_realm_settings("g1", settings) {
        Ok(changed) => panic!("accepted (changed: {changed}):\n{}", yml.text()),
        Err(e) => e,
    };
    assert_eq!(yml.text(), text, "a refused edit changes nothing");
    err
}

#[test]
fn duplicate_key_in_flat_and_nested_form_is_refused_with_both_lines() {
    let text = "\
node.name: n1
xpack.security.authc.realms.microsoft_graph.g1.order: 1
xpack:
  security.authc.realms.microsoft_graph.g1:
    order: 2
";
    let err = refused(text, &ids());
    assert_eq!(err.exit_code(), ExitCode::Config);
    let msg = err.to_string();
    assert!(msg.contains("/etc/es/elasticsearch.yml"), "{msg}");
    assert!(
        msg.contains("[xpack.security.authc.realms.microsoft_graph.g1.order]"),
        "{msg}"
    );
    assert!(msg.contains("lines 2 and 5"), "{msg}");
    assert!(matches!(err, EsConfigError::DuplicateKey { ref lines, .. } if lines == &[2, 5]));

    // Any duplicate makes Elasticsearch refuse the file, so check_realm reports it too.
    let yml = parse("a: 1\nb: 2\na: 3\n");
    let err = yml.check_realm("g1").unwrap_err();
    assert!(err.to_string().contains("[a]") && err.to_string().contains("lines 1 and 3"));
}

#[test]
fn client_secret_in_the_yml_is_refused() {
    let text = "\
xpack.security.authc.realms.microsoft_graph.g1:
  order: 1
  client_secret: hunter2-super-secret
";
    let err = refused(text, &ids());
    assert_eq!(err.exit_code(), ExitCode::Config);
    let msg = err.to_string();
    assert!(msg.contains("secure setting"), "{msg}");
    assert!(msg.contains("keystore"), "{msg}");
    assert!(msg.contains("remove line 3"), "{msg}");
    assert!(!msg.contains("hunter2"), "the value is never shown: {msg}");
    assert!(!format!("{:?}", parse(text)).contains("hunter2"));
}

#[test]
fn unparseable_yml_is_refused_with_its_line() {
    let err = EsYml::parse(Path::new("/c/elasticsearch.yml"), "a: 1\nb: [x\nc: 2\n").unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::DataError);
    let msg = err.to_string();
    assert!(
        msg.contains("/c/elasticsearch.yml") && msg.contains("line 3"),
        "{msg}"
    );

    for not_settings in ["- a\n- b\n", "just text\n", "a: 1\n---\nb: 2\n"] {
        let err = EsYml::parse(Path::new("x.yml"), not_settings).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::DataError, "{not_settings}");
    }
}

#[test]
fn order_used_by_another_realm_is_refused() {
    let err = refused("xpack.security.authc.realms.saml.s1:\n  order: 2\n", &ids());
    assert_eq!(err.exit_code(), ExitCode::Config);
    let msg = err.to_string();
    assert!(
        msg.contains("order 2") && msg.contains("saml.s1") && msg.contains("line 2"),
        "{msg}"
    );
    // The realm's own order is not a conflict.
    let mut yml = parse("xpack.security.authc.realms.microsoft_graph.g1.order: 2\n");
    assert!(set(&mut yml, &ids()));
}

#[test]
fn values_that_cannot_be_rewritten_safely_are_refused() {
    let multi_line =
        "xpack.security.authc.realms.microsoft_graph.g1.client_id: >\n  folded\n  text\n";
    let err = refused(multi_line, &ids());
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(err.to_string().contains("line 1"), "{err}");

    let list = "xpack.security.authc.realms.microsoft_graph.g1.client_id: [a, b]\n";
    assert!(refused(list, &ids()).to_string().contains("list"));
    let empty = "xpack.security.authc.realms.microsoft_graph.g1.client_id:\n";
    assert!(refused(empty, &ids()).to_string().contains("no value"));
    let empty_realm = "xpack.security.authc.realms.microsoft_graph.g1:\nother: 1\n";
    let err = refused(empty_realm, &ids());
    assert!(
        err.to_string()
            .contains("[xpack.security.authc.realms.microsoft_graph.g1]"),
        "{err}"
    );
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn an_edit_that_would_change_another_setting_is_caught_before_it_is_kept() {
    // A block scalar whose last line looks like a comment: inserting after the last "content"
    // line would cut it out of the value. The read-back check notices and refuses.
    let tricky = "\
xpack.security.authc.realms.microsoft_graph.g1:
  order: 2
  graph_host: |
    https://graph.microsoft.us/v1.0
    # part of the value
";
    let err = refused(tricky, &ids());
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(
        matches!(err, EsConfigError::EditNotVerified { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("graph_host"), "{err}");
}

#[test]
fn bad_input_values_and_names_are_refused() {
    let text = "a: 1\n";
    let err = refused(text, &[("order", "two".to_owned())]);
    assert_eq!(err.exit_code(), ExitCode::DataError);
    let err = refused(text, &[("client_id", "a\nb: c".to_owned())]);
    assert_eq!(err.exit_code(), ExitCode::DataError);
    let err = refused(text, &[("client_secret", "s".to_owned())]);
    assert_eq!(err.exit_code(), ExitCode::Software);

    let mut yml = parse(text);
    let err = yml.set_realm_settings("bad.name", &ids()).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::DataError);
    assert!(err.to_string().contains("bad.name"));
}

#[test]
fn unclosed_managed_block_is_refused() {
    let text = format!("{BLOCK_BEGIN}xpack.security.authc.realms.microsoft_graph.g1.order: 2\n");
    let err = refused(&text, &ids());
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(err.to_string().contains("line 1"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Property: whatever else the file holds, the edit sets exactly our values

/// One unrelated setting: `k{i}.<rest>`, written flat, nested, or in a flow mapping.
#[derive(Debug, Clone)]
struct Other {
    rest: Vec<String>,
    value: String,
    form: u8,
    comment: Option<String>,
}

fn other_strategy() -> impl Strategy<Value = Other> {
    (
        prop::collection::vec("[a-z][a-z0-9_]{0,6}", 1..4),
        prop_oneof![
            "[A-Za-z0-9]{1,12}",
            "[a-z ]{1,10}",
            Just("true".to_owned()),
            Just("https://example.com:9200".to_owned()),
            Just("it's".to_owned()),
        ],
        0u8..3,
        prop::option::of("[ -~]{0,20}"),
    )
        .prop_map(|(rest, value, form, comment)| Other {
            rest,
            value,
            form,
            comment,
        })
}

fn render_other(i: usize, other: &Other) -> String {
    let value = format!(
        "\"{}\"",
        other.value.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let comment = other
        .comment
        .as_ref()
        .map(|c| format!("# {c}\n"))
        .unwrap_or_default();
    let rest = other.rest.join(".");
    match other.form {
        0 => format!("{comment}k{i}.{rest}: {value}\n"),
        1 => format!("{comment}k{i}:\n  {rest}: {value}   # trailing\n"),
        _ => format!("{comment}k{i}: {{{rest}: {value}}}\n\n"),
    }
}

fn realm_strategy() -> impl Strategy<Value = Option<(u8, String)>> {
    prop::option::of((0u8..3, "[A-Za-z0-9][A-Za-z0-9-]{0,19}"))
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[ -~]{1,30}".prop_filter("not blank", |s| !s.trim().is_empty()),
        Just("https://login.microsoftonline.us".to_owned()),
    ]
}

proptest! {
    #![proptest_config(seed_support::proptest_config("esconfig", 96))]

    #[test]
    fn edit_sets_our_values_and_keeps_all_others(
        others in prop::collection::vec(other_strategy(), 0..8),
        existing in realm_strategy(),
        client_id in value_strategy(),
        tenant_id in value_strategy(),
        order in 0i64..100,
    ) {
        let mut text: String = others
            .iter()
            .enumerate()
            .map(|(i, o)| render_other(i, o))
            .collect();
        match &existing {
            Some((0, old)) => text.push_str(&format!("{}: {old}\n", key("client_id"))),
            Some((1, old)) => text.push_str(&format!(
                "xpack.security.authc.realms.microsoft_graph.g1:\n  client_id: '{old}'\n  order: 0\n"
            )),
            Some((_, old)) => text.push_str(&format!(
                "xpack.security.authc.realms.microsoft_graph.g1: {{client_id: \"{old}\"}}\n"
            )),
            None => {}
        }
        let before = flat_settings(&text);
        let mut yml = parse(&text);
        let settings = vec![
            ("order", order.to_string()),
            ("client_id", client_id.clone()),
            ("tenant_id", tenant_id.clone()),
        ];
        prop_assert!(yml.set_realm_settings("g1", &settings).is_ok(), "{}", text);
        let after = flat_settings(yml.text());
        prop_assert_eq!(&after[&key("order")], &order.to_string());
        prop_assert_eq!(&after[&key("client_id")], &client_id);
        prop_assert_eq!(&after[&key("tenant_id")], &tenant_id);
        for (k, v) in &before {
            if !k.starts_with("xpack.security.authc.realms.microsoft_graph.g1.") {
                prop_assert_eq!(after.get(k), Some(v));
            }
        }
        prop_assert_eq!(after.len(), before.len() + 3 - before.keys().filter(|k| k.starts_with("xpack.security.authc.realms.microsoft_graph.g1.")).count());
        // Idempotent.
        let first = yml.text().to_owned();
        prop_assert_eq!(yml.set_realm_settings("g1", &settings).ok(), Some(false));
        prop_assert_eq!(yml.text(), first.as_str());
    }
}
