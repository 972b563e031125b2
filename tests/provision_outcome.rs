//! The `provision`/`deprovision` commands' decisions at the library layer
//! (`provision::outcome`), against the in-process fake tenant: a secret whose file cannot be
//! written is taken off the application again, and `deprovision` treats an application that
//! is already gone as done while every other lookup failure stays an error.

mod provision_common;

use fake_tenant::Faults;
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::provision::outcome::{find_app_to_delete, store_secret, SecretCleanup};
use msgraph_keystore::provision::{find_app, provision, AddSecret, NoProgress, ProvisionError};
use msgraph_keystore::secret::ExposeSecret;
use provision_common::*;

#[tokio::test]
async fn a_secret_that_cannot_be_stored_is_removed_from_the_application_again() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::Always;
    let record = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision");
    let secret = record.new_secret.as_ref().expect("a new secret");
    assert_eq!(app_state(&tenant.snapshot()).passwords, 1);

    let dir = tempfile::tempdir().unwrap();
    let unwritable = dir.path().join("no/such/dir/secret");
    let err = store_secret(&graph, &record, secret, &unwritable)
        .await
        .expect_err("the directory does not exist");
    assert!(matches!(err.cleanup, SecretCleanup::Removed), "{err}");
    assert_eq!(err.exit_code(), ExitCode::IoError);
    assert!(
        err.to_string()
            .ends_with("; it was removed from the application again"),
        "{err}"
    );
    assert!(!err.to_string().contains(secret.value.expose_secret()));
    assert_eq!(
        app_state(&tenant.snapshot()).passwords,
        0,
        "no secret nobody holds is left on the application"
    );

    // Written: the file holds exactly the value, mode 0600, and the secret stays.
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::Always;
    let record = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision");
    let secret = record.new_secret.as_ref().expect("a new secret");
    let path = dir.path().join("secret");
    store_secret(&graph, &record, secret, &path)
        .await
        .expect("stored");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        secret.value.expose_secret()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(app_state(&tenant.snapshot()).passwords, 1);
}

#[tokio::test]
async fn deprovision_of_an_unknown_app_id_is_done_but_other_failures_are_errors() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.app_id = Some("0b7e4a52-7a3f-4c59-9d8e-7d1c6f6c1111".to_string());
    // find_app refuses an unknown --app-id; deleting it has already reached its goal.
    assert!(matches!(
        find_app(&graph, &opts).await,
        Err(ProvisionError::AppNotFound { .. })
    ));
    assert!(find_app_to_delete(&graph, &opts)
        .await
        .expect("not an error")
        .is_none());

    // A display name two applications share is still refused: nothing is guessed.
    tenant.seed_application(APP_NAME, &[]);
    tenant.seed_application(APP_NAME, &[]);
    let err = find_app_to_delete(&graph, &options(&tenant))
        .await
        .expect_err("ambiguous");
    assert!(!matches!(err, ProvisionError::AppNotFound { .. }), "{err}");
}
