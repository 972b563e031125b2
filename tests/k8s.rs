//! ECK output: the Secret manifest and the Elasticsearch resource snippet are valid YAML with
//! the keys ECK and Elasticsearch read.

use base64::Engine as _;
use msgraph_keystore::esconfig::realm_setting_key;
use msgraph_keystore::k8s::{default_secret_name, eck_config_snippet, secret_manifest, EckOutput};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use yaml_rust2::{Yaml, YamlLoader};

const CLIENT_ID: &str = "0f6d1c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// Shaped like an Entra client secret: `~`, `.`, `_` and `-` are common in them.
const SECRET: &str = "Xy8Q~a.b_c-d\"quote'\\back: #hash";

fn load_one(text: &str) -> Yaml {
    let docs = match YamlLoader::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => panic!("not YAML: {e}\n{text}"),
    };
    assert_eq!(docs.len(), 1, "{text}");
    docs.into_iter().next().unwrap_or(Yaml::BadValue)
}

fn settings() -> Vec<(&'static str, String)> {
    vec![
        ("order", "2".to_owned()),
        ("client_id", CLIENT_ID.to_owned()),
        ("tenant_id", TENANT_ID.to_owned()),
        ("graph_host", "https://graph.microsoft.us/v1.0".to_owned()),
    ]
}

#[test]
fn secret_manifest_is_a_kubernetes_secret_keyed_by_the_full_setting_name() {
    let setting = realm_setting_key("microsoft_graph1", "client_secret");
    let secret = SecretString::from(SECRET);
    let manifest = secret_manifest(Some("elastic-system"), "graph-secret", &setting, &secret);
    let doc = load_one(manifest.expose_secret());

    assert_eq!(doc["apiVersion"].as_str(), Some("v1"));
    assert_eq!(doc["kind"].as_str(), Some("Secret"));
    assert_eq!(doc["type"].as_str(), Some("Opaque"));
    assert_eq!(doc["metadata"]["name"].as_str(), Some("graph-secret"));
    assert_eq!(
        doc["metadata"]["namespace"].as_str(),
        Some("elastic-system")
    );
    let data = match doc["data"].as_hash() {
        Some(data) => data,
        None => panic!("no data mapping"),
    };
    assert_eq!(data.len(), 1, "exactly one key: the setting");
    let encoded = doc["data"][setting.as_str()].as_str().unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_default();
    assert_eq!(
        decoded,
        SECRET.as_bytes(),
        "byte-exact, no trailing newline"
    );
    assert!(
        !manifest.expose_secret().contains(SECRET),
        "the secret only appears encoded"
    );
    assert!(
        !format!("{manifest:?}").contains(encoded),
        "Debug never shows the manifest"
    );
}

#[test]
fn namespace_is_optional() {
    let secret = SecretString::from("s");
    let manifest = secret_manifest(None, "n", "a.b", &secret);
    let doc = load_one(manifest.expose_secret());
    assert!(doc["metadata"]["namespace"].is_badvalue());
    assert_eq!(doc["metadata"]["name"].as_str(), Some("n"));
}

#[test]
fn config_snippet_wires_the_secret_and_the_realm_settings() {
    let snippet = eck_config_snippet("microsoft_graph1", &settings(), "graph-secret");
    let doc = load_one(&snippet);
    let spec = &doc["spec"];
    assert_eq!(
        spec["secureSettings"][0]["secretName"].as_str(),
        Some("graph-secret")
    );
    let config = &spec["nodeSets"][0]["config"];
    let get = |setting: &str| {
        let key = realm_setting_key("microsoft_graph1", setting);
        match &config[key.as_str()] {
            Yaml::String(s) => Some(s.clone()),
            Yaml::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    };
    assert_eq!(get("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(get("tenant_id").as_deref(), Some(TENANT_ID));
    assert_eq!(get("order").as_deref(), Some("2"));
    assert_eq!(
        get("graph_host").as_deref(),
        Some("https://graph.microsoft.us/v1.0")
    );
    assert_eq!(
        get("client_secret"),
        None,
        "the secret never goes in config"
    );
    assert!(
        snippet.contains("microsoft-graph-authz"),
        "says the plugin is needed"
    );
}

#[test]
fn build_validates_and_produces_both_parts_without_leaking() {
    let secret = SecretString::from(SECRET);
    let name = default_secret_name("microsoft_graph1");
    let out = match EckOutput::build(
        Some("elastic"),
        &name,
        "microsoft_graph1",
        &settings(),
        &secret,
    ) {
        Ok(out) => out,
        Err(e) => panic!("{e}"),
    };
    let doc = load_one(out.secret_manifest.expose_secret());
    let setting = realm_setting_key("microsoft_graph1", "client_secret");
    assert!(doc["data"][setting.as_str()].as_str().is_some());
    assert_eq!(doc["metadata"]["name"].as_str(), Some(name.as_str()));
    assert!(!out.config_snippet.contains(SECRET));
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET);
    assert!(!out.config_snippet.contains(&encoded));

    assert!(EckOutput::build(Some("Bad NS"), &name, "g", &[], &secret).is_err());
    assert!(EckOutput::build(None, "UPPER", "g", &[], &secret).is_err());
}
