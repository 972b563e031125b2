//! `setup --output k8s-secret` at the library layer (`setup::eck`), against the in-process
//! fake tenant: a manifest that cannot be written takes the new secret off the application
//! again (its value was shown once and reached nobody), and one that is written holds a
//! secret the tenant accepts.

mod provision_common;

use fake_tenant::Faults;
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::provision::{provision, AddSecret, NoProgress, Provisioned};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use msgraph_keystore::setup::eck::{deliver, Eck, EckError, EckRequest};
use msgraph_keystore::setup::{SecretCleanup, SetupOutcome};
use provision_common::*;

const REALM: &str = "microsoft_graph1";

fn outcome(provisioned: Provisioned) -> SetupOutcome {
    SetupOutcome {
        realm: REALM.to_string(),
        dry_run: false,
        provisioned,
        credential_decision: String::new(),
        config_dirs: Vec::new(),
        files_written: 0,
        verify: None,
        verify_skipped: None,
        warnings: Vec::new(),
    }
}

fn new_secret(record: &Provisioned) -> Option<SecretString> {
    record
        .new_secret
        .as_ref()
        .map(|s| SecretString::from(s.value.expose_secret().to_string()))
}

#[tokio::test]
async fn an_undelivered_manifest_takes_its_secret_off_the_application() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let endpoints = endpoints(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::Always;
    let record = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision");
    assert_eq!(app_state(&tenant.snapshot()).passwords, 1);

    let dir = tempfile::tempdir().unwrap();
    let unwritable = dir.path().join("no/such/dir/secret.yaml");
    let request = EckRequest {
        realm: REALM,
        namespace: None,
        secret_name: None,
        order: None,
        output_file: Some(&unwritable),
        endpoints: &endpoints,
    };
    let secret = new_secret(&record);
    let value = secret.as_ref().unwrap().expose_secret().to_string();
    let err = match deliver(&graph, &outcome(record), secret, &request, &NoProgress).await {
        Err(e) => e,
        Ok(_) => panic!("the directory does not exist"),
    };
    assert!(matches!(err.source, EckError::OutputFile(_)), "{err}");
    assert!(
        matches!(err.cleanup, SecretCleanup::Removed { .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::IoError, "{err}");
    assert!(
        err.to_string()
            .ends_with("was removed from the application again"),
        "{err}"
    );
    assert!(!err.to_string().contains(&value));
    assert_eq!(
        app_state(&tenant.snapshot()).passwords,
        0,
        "no secret nobody holds is left on the application"
    );
}

#[tokio::test]
async fn a_delivered_manifest_holds_the_new_secret_and_it_stays() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let endpoints = endpoints(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::Always;
    let record = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.yaml");
    let request = EckRequest {
        realm: REALM,
        namespace: Some("elastic"),
        secret_name: None,
        order: None,
        output_file: Some(&path),
        endpoints: &endpoints,
    };
    let secret = new_secret(&record);
    let delivered = match deliver(&graph, &outcome(record), secret, &request, &NoProgress).await {
        Ok(Eck::Delivered(d)) => d,
        Ok(Eck::DryRun) => panic!("not a dry run"),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(delivered.written_to.as_deref(), Some(path.as_path()));
    assert_eq!(delivered.assumed_order, Some(0));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        delivered.output.secret_manifest.expose_secret()
    );
    assert_eq!(app_state(&tenant.snapshot()).passwords, 1);
}
