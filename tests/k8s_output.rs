//! `setup --output k8s-secret`: no keystore, a Kubernetes Secret for ECK whose key is the
//! full setting name and whose value the tenant accepts, and the nodeSet config snippet.

mod setup_support;

use base64::Engine as _;
use msgraph_keystore::esconfig::realm_setting_key;
use msgraph_keystore::secret::SecretString;
use setup_support::*;
use yaml_rust2::{Yaml, YamlLoader};

fn one_doc(text: &str) -> Yaml {
    match YamlLoader::load_from_str(text) {
        Ok(mut docs) if docs.len() == 1 => docs.remove(0),
        Ok(docs) => panic!("expected one YAML document, got {}", docs.len()),
        Err(e) => panic!("not YAML: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_secret_manifest_is_0600_yaml_with_a_working_secret_and_is_never_overwritten() {
    let h = Harness::start().await;
    let manifest = h.scratch.path().join("graph-secret.yaml");
    let file = manifest.display().to_string();
    let out = run(h.graph_command(
        "setup",
        &[
            "--output",
            "k8s-secret",
            "--namespace",
            "elastic",
            "--output-file",
            &file,
        ],
    ))
    .await;
    out.assert_ok();
    assert_eq!(mode(&manifest), 0o600);

    let doc = one_doc(&read_text(&manifest));
    assert_eq!(doc["kind"].as_str(), Some("Secret"));
    assert_eq!(doc["apiVersion"].as_str(), Some("v1"));
    assert_eq!(doc["metadata"]["namespace"].as_str(), Some("elastic"));
    assert_eq!(
        doc["metadata"]["name"].as_str(),
        Some("microsoft-graph1-client-secret")
    );
    let key = realm_setting_key(REALM, "client_secret");
    let value = match (
        doc["data"][key.as_str()].as_str(),
        doc["stringData"][key.as_str()].as_str(),
    ) {
        (Some(b64), _) => match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(bytes) => String::from_utf8(bytes).unwrap_or_default(),
            Err(e) => panic!("data value is not base64: {e}"),
        },
        (None, Some(text)) => text.to_string(),
        (None, None) => panic!("no key {key} in the Secret"),
    };
    let app = h.the_app();
    h.assert_accepted(&app.app_id, &SecretString::from(value.clone()))
        .await;
    assert_eq!(app.password_credentials.len(), 1);

    // The config snippet on stdout: the realm's non-secure settings, and no secret.
    let snippet = one_doc(&out.stdout);
    let config = &snippet["spec"]["nodeSets"][0]["config"];
    assert_eq!(
        config[realm_setting_key(REALM, "client_id").as_str()].as_str(),
        Some(app.app_id.as_str()),
        "{}",
        out.stdout
    );
    assert_eq!(
        config[realm_setting_key(REALM, "tenant_id").as_str()].as_str(),
        Some(h.tenant.tenant_id().as_str())
    );
    assert!(
        config[realm_setting_key(REALM, "order").as_str()]
            .as_i64()
            .is_some(),
        "{}",
        out.stdout
    );
    assert_eq!(
        snippet["spec"]["secureSettings"][0]["secretName"].as_str(),
        Some("microsoft-graph1-client-secret")
    );
    assert_no_secret(&out.all(), &value, "the client secret on stdout/stderr");

    // An existing file is refused before anything happens, and left as it was.
    let before = std::fs::read(&manifest).unwrap_or_default();
    let again =
        run(h.graph_command("setup", &["--output", "k8s-secret", "--output-file", &file])).await;
    again.assert_code(64);
    assert!(again.stderr.contains(&file), "{}", again.all());
    assert_eq!(std::fs::read(&manifest).unwrap_or_default(), before);
    assert_eq!(
        h.the_app().password_credentials.len(),
        1,
        "no secret was added for a manifest that could not be written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_manifest_on_stdout_and_bad_names_are_refused_up_front() {
    let h = Harness::start().await;
    let bad = run(h.graph_command(
        "setup",
        &["--output", "k8s-secret", "--namespace", "Not_A_Namespace"],
    ))
    .await;
    bad.assert_code(64);
    assert!(bad.stderr.contains("Not_A_Namespace"), "{}", bad.all());
    assert!(h.realm_apps().is_empty(), "refused before provisioning");

    let out = run(h.graph_command(
        "setup",
        &[
            "--output",
            "k8s-secret",
            "--secret-name",
            "graph-realm",
            "--realm",
            "graph2",
            "--order",
            "4",
        ],
    ))
    .await;
    out.assert_ok();
    let doc = one_doc(&out.stdout);
    assert_eq!(doc["metadata"]["name"].as_str(), Some("graph-realm"));
    assert!(
        doc["metadata"]["namespace"].is_badvalue(),
        "no namespace given"
    );
    let key = realm_setting_key("graph2", "client_secret");
    assert!(
        doc["data"][key.as_str()].as_str().is_some(),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains(&format!("{}: 4", realm_setting_key("graph2", "order"))),
        "the snippet goes to stderr when stdout carries the manifest\n{}",
        out.stderr
    );
    // --namespace without k8s output is a usage error, and so is --config with it.
    let dir = h.dir("config");
    let out = run(h.graph_command(
        "setup",
        &[
            "--output",
            "k8s-secret",
            "--config",
            &dir.display().to_string(),
        ],
    ))
    .await;
    out.assert_code(64);
    let out = h.setup(&[&dir], &["--namespace", "elastic"]).await;
    out.assert_code(64);
    assert!(dir_state(&dir).is_empty());
}
