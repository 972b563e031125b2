//! Issue 11, item 2: rotation policy lives in the setup layer. These tests call
//! `setup::rotate` directly against the fake tenant — no binary, no flags — and check each
//! decision the CLI used to make itself: which secret a rotation removes and when, what
//! `--finish` removes and what it refuses, what `--remove-secret-id` refuses, and which
//! typed error (with which exit code) each refusal is.

mod setup_support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgraph_keystore::auth::ClientSecretSource;
use msgraph_keystore::cloud::{Cloud, Endpoints};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::graph::GraphClient;
use msgraph_keystore::keystore;
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::provision::{secret_display_name, NoProgress, ProvisionOptions};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use msgraph_keystore::setup::retire::RetireError;
use msgraph_keystore::setup::rotate::{self, RotateError, RotateRequest};
use msgraph_keystore::setup::{ConfigDir, PasswordFailure};
use setup_support::*;

/// The label `setup` gives the realm's secrets when no cluster is named.
const LABEL: &str = "elasticsearch/microsoft_graph1";

/// The library's view of the fake tenant, as the CLI would build it.
struct Lib {
    graph: GraphClient,
    http: reqwest::Client,
    endpoints: Endpoints,
}

fn connect(h: &Harness) -> Lib {
    let http = build_client(&HttpOptions::default()).expect("http client");
    let mut endpoints = Cloud::Global.endpoints();
    endpoints.access_token_host = h.tenant.access_token_host();
    endpoints.graph_host = h.tenant.graph_host();
    let tokens = ClientSecretSource::new(
        http.clone(),
        &h.tenant.access_token_host(),
        &h.admin.tenant_id,
        &h.admin.client_id,
        h.admin.client_secret.clone(),
    )
    .expect("token source");
    let graph = GraphClient::new(
        http.clone(),
        Arc::new(tokens),
        &h.tenant.graph_host(),
        &endpoints.scope,
        Instant::now() + Duration::from_secs(60),
    )
    .expect("graph client");
    Lib {
        graph,
        http,
        endpoints,
    }
}

impl Lib {
    fn provision(&self) -> ProvisionOptions {
        let mut opts = ProvisionOptions::for_endpoints(&self.endpoints);
        opts.credential_name = secret_display_name(LABEL);
        opts
    }

    fn request(&self, keep_old: bool) -> RotateRequest {
        RotateRequest {
            realm: REALM.to_string(),
            label: LABEL.to_string(),
            provision: self.provision(),
            keep_old,
            verify_wait: Duration::from_secs(10),
            verify_retry_interval: Duration::from_millis(10),
        }
    }
}

fn open(dir: &Path) -> ConfigDir {
    let mut no_password = |_: &Path| -> Result<SecretString, PasswordFailure> {
        panic!("the test keystores have no password")
    };
    ConfigDir::open(dir, REALM, &mut no_password, false).expect("open the config dir")
}

fn key_ids(h: &Harness) -> Vec<String> {
    let mut ids: Vec<String> = h
        .the_app()
        .password_credentials
        .iter()
        .map(|c| c.key_id.clone())
        .collect();
    ids.sort();
    ids
}

/// A directory set up by the real `setup`, and its secret's keyId.
async fn set_up(h: &Harness, name: &str) -> (std::path::PathBuf, String) {
    let dir = h.dir(name);
    h.setup(&[&dir], &["--format-version", "4"])
        .await
        .assert_ok();
    let held = realm_secret(&dir, "");
    let key_id = h
        .the_app()
        .password_credentials
        .iter()
        .find(|c| held.expose_secret().starts_with(&c.hint))
        .map(|c| c.key_id.clone())
        .expect("the held secret is on the application");
    (dir, key_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_removes_exactly_what_it_replaced_and_keep_old_leaves_that_to_finish() {
    let h = Harness::start().await;
    let lib = connect(&h);
    let (a, first) = set_up(&h, "a").await;

    // --keep-old: a new secret everywhere, the old one recorded and kept.
    let rotation = rotate::rotate(
        &lib.graph,
        &lib.http,
        &lib.endpoints,
        vec![open(&a)],
        lib.request(true),
        &NoProgress,
    )
    .await
    .expect("rotate --keep-old");
    assert_eq!(rotation.replaces, std::slice::from_ref(&first));
    assert!(
        rotation.retired.removed.is_empty(),
        "{:?}",
        rotation.retired
    );
    assert_eq!(rotation.outcome.exit_code(), ExitCode::Ok);
    let second = rotation
        .outcome
        .provisioned
        .new_secret
        .as_ref()
        .map(|n| n.key_id.clone())
        .expect("a new secret");
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    assert_eq!(key_ids(&h), both);

    // --finish: the secret in use works, so what it replaced goes, and nothing else.
    let dirs = [open(&a)];
    let finished = rotate::finish(
        &lib.graph,
        &lib.http,
        &lib.endpoints,
        &dirs,
        REALM,
        LABEL,
        &lib.provision(),
    )
    .await
    .expect("rotate --finish");
    drop(dirs);
    assert_eq!(finished.retired.removed, [first]);
    assert_eq!(key_ids(&h), std::slice::from_ref(&second));

    // A plain rotation removes its predecessor once the new secret is verified.
    let rotation = rotate::rotate(
        &lib.graph,
        &lib.http,
        &lib.endpoints,
        vec![open(&a)],
        lib.request(false),
        &NoProgress,
    )
    .await
    .expect("rotate");
    assert_eq!(rotation.retired.removed, [second]);
    assert_eq!(key_ids(&h).len(), 1);
    h.assert_accepted(&finished.client_id, &realm_secret(&a, ""))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn finish_with_a_secret_the_token_endpoint_refuses_removes_nothing() {
    let h = Harness::start().await;
    let lib = connect(&h);
    let (a, first) = set_up(&h, "a").await;
    let mut ks = keystore::load(&a, &SecretString::from(String::new())).expect("load");
    ks.set_string(&secret_key(REALM), "not-a-secret-of-the-app")
        .expect("set");
    keystore::save(&a, &ks).expect("save");

    let dirs = [open(&a)];
    let err = match rotate::finish(
        &lib.graph,
        &lib.http,
        &lib.endpoints,
        &dirs,
        REALM,
        LABEL,
        &lib.provision(),
    )
    .await
    {
        Ok(_) => panic!("--finish accepted a secret the tenant refuses"),
        Err(e) => e,
    };
    assert!(
        matches!(err, RotateError::SecretInUseRejected { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), ExitCode::CredentialsRejected);
    assert!(err.to_string().ends_with("; nothing was removed"), "{err}");
    assert_eq!(key_ids(&h), [first]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_removal_of_a_held_secret_is_refused_and_an_unattributed_one_goes() {
    let h = Harness::start().await;
    let lib = connect(&h);
    // Two deployments with colliding names share the application.
    let (a, held_by_a) = set_up(&h, "a").await;
    let b = h.dir("b");
    h.setup(&[&b], &["--format-version", "4"]).await.assert_ok();
    let held_by_b = key_ids(&h)
        .into_iter()
        .find(|k| *k != held_by_a)
        .expect("b's secret");

    let dirs = [open(&a)];
    let err = match rotate::remove_named(
        &lib.graph,
        &dirs,
        REALM,
        &lib.provision(),
        &[held_by_b.clone(), held_by_a.clone()],
    )
    .await
    {
        Ok(r) => panic!("removed a held secret: {:?}", r.retired),
        Err(e) => e,
    };
    match &err {
        RotateError::Retire(RetireError::Refused { refused }) => {
            let ids: Vec<&str> = refused.iter().map(|r| r.key_id.as_str()).collect();
            assert_eq!(ids, [held_by_a.as_str()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.exit_code(), ExitCode::RemovalRefused);
    assert_eq!(key_ids(&h).len(), 2, "all or nothing: nothing was removed");

    let removed = rotate::remove_named(
        &lib.graph,
        &dirs,
        REALM,
        &lib.provision(),
        std::slice::from_ref(&held_by_b),
    )
    .await
    .expect("remove b's secret from a's side");
    assert_eq!(removed.retired.removed, [held_by_b]);
    assert_eq!(key_ids(&h), [held_by_a]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configured_application_must_still_exist() {
    let h = Harness::start().await;
    let lib = connect(&h);
    let (_a, _) = set_up(&h, "a").await;
    let app_id = h.the_app().app_id;
    let found = rotate::configured_app(&lib.graph, &lib.provision(), REALM, &app_id)
        .await
        .expect("the configured application");
    assert_eq!(found.app_id, app_id);

    let gone = "0f0f0f0f-0000-4000-8000-000000000001";
    let err = match rotate::configured_app(&lib.graph, &lib.provision(), REALM, gone).await {
        Ok(app) => panic!("found {app:?}"),
        Err(e) => e,
    };
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(err.to_string().contains(gone), "{err}");
}
