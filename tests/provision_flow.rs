//! The provisioning flow against the in-process fake tenant: the happy path, idempotent
//! re-runs, resolution order, refusals, consent and policy outcomes, dry runs, deprovision.

mod provision_common;

use fake_tenant::Faults;
use msgraph_keystore::auth::{client_credentials_token, jwt};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::provision::{
    deprovision, find_app, provision, AddSecret, ChangeKind, ConsentMode, ConsentOutcome, FoundBy,
    NoProgress, PermissionSet, ProvisionError,
};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use provision_common::*;

#[tokio::test]
async fn happy_path_creates_a_configured_app_with_a_working_secret() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::IfNone;
    let progress = Recorder::default();

    let p = provision(&graph, &opts, &progress)
        .await
        .expect("provision");

    let snap = tenant.snapshot();
    let state = assert_converged(&snap);
    assert_eq!(state.passwords, 1);
    assert!(state.notes.unwrap_or_default().contains("msgraph-keystore"));
    assert!(p.created);
    assert!(!p.dry_run);
    assert_eq!(p.found_by, None);
    assert_eq!(p.app_id, state.app_id);
    assert_eq!(p.tenant_id, tenant.tenant_id());
    assert_eq!(p.consent, ConsentOutcome::Granted);
    assert_eq!(p.missing_permissions, Vec::<String>::new());
    let mut granted = p.granted_permissions.clone();
    granted.sort();
    assert_eq!(granted, default_roles());
    let kinds: Vec<ChangeKind> = p.changes.iter().map(|c| c.kind).collect();
    for k in [
        ChangeKind::CreateApplication,
        ChangeKind::TagApplication,
        ChangeKind::SetRequiredResourceAccess,
        ChangeKind::GrantPermission,
        ChangeKind::AddSecret,
    ] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
    assert_eq!(p.secrets.len(), 1);
    assert!(!progress.lines().is_empty());

    // The secret Graph handed back signs in as the new app, with the three roles.
    let secret = p.new_secret.as_ref().expect("a new secret");
    assert_eq!(p.secrets[0].key_id, secret.key_id);
    let token = client_credentials_token(
        &http(),
        &tenant.access_token_host(),
        &p.tenant_id,
        p.app_id.as_deref().unwrap_or_default(),
        &secret.value,
        "https://graph.microsoft.com/.default",
    )
    .await
    .expect("the new secret works");
    let mut roles = jwt::roles(token.token.expose_secret()).expect("roles claim");
    roles.sort();
    assert_eq!(roles, default_roles());
}

#[tokio::test]
async fn a_second_run_changes_nothing_and_a_new_secret_only_when_asked() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::IfNone;
    let first = provision(&graph, &opts, &NoProgress)
        .await
        .expect("first run");

    let second = provision(&graph, &opts, &NoProgress)
        .await
        .expect("second run");
    assert!(!second.created);
    assert_eq!(second.found_by, Some(FoundBy::MarkerTag));
    assert_eq!(second.changes, vec![]);
    assert_eq!(second.consent, ConsentOutcome::AlreadyGranted);
    assert!(second.new_secret.is_none());
    assert_eq!(second.app_id, first.app_id);
    assert_eq!(second.sp_id, first.sp_id);
    let state = assert_converged(&tenant.snapshot());
    assert_eq!(state.passwords, 1);

    opts.add_secret = AddSecret::Always;
    let third = provision(&graph, &opts, &NoProgress)
        .await
        .expect("third run");
    assert!(third.new_secret.is_some());
    assert_eq!(third.changes.len(), 1, "{:?}", third.changes);
    assert_eq!(third.secrets.len(), 2);
    let state = assert_converged(&tenant.snapshot());
    assert_eq!(state.passwords, 2);
}

#[tokio::test]
async fn an_untagged_app_found_by_name_is_adopted_not_duplicated() {
    let tenant = tenant(Faults::default()).await;
    let seeded = tenant.seed_application(APP_NAME, &["keep-me"]);
    let graph = admin_graph(&tenant);
    let p = provision(&graph, &options(&tenant), &NoProgress)
        .await
        .expect("provision");
    assert!(!p.created);
    assert_eq!(p.found_by, Some(FoundBy::DisplayName));
    assert_eq!(p.app_id.as_deref(), Some(seeded.app_id.as_str()));
    assert_eq!(p.sp_id.as_deref(), Some(seeded.sp_id.as_str()));
    let state = assert_converged(&tenant.snapshot());
    assert!(
        state.tags.contains(&"keep-me".to_string()),
        "{:?}",
        state.tags
    );
    assert_eq!(state.passwords, 0, "AddSecret::Never adds none");
}

#[tokio::test]
async fn the_marker_tag_wins_over_a_display_name_collision() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let first = provision(&graph, &options(&tenant), &NoProgress)
        .await
        .expect("first run");
    // Somebody else creates an application with the same name.
    tenant.seed_application(APP_NAME, &[]);
    let again = provision(&graph, &options(&tenant), &NoProgress)
        .await
        .expect("tag resolves it");
    assert_eq!(again.found_by, Some(FoundBy::MarkerTag));
    assert_eq!(again.app_id, first.app_id);
}

#[tokio::test]
async fn an_ambiguous_display_name_is_refused_listing_the_app_ids() {
    let tenant = tenant(Faults::default()).await;
    let a = tenant.seed_application(APP_NAME, &[]);
    let b = tenant.seed_application(APP_NAME, &[]);
    let before = tenant.snapshot();
    let graph = admin_graph(&tenant);
    let err = provision(&graph, &options(&tenant), &NoProgress)
        .await
        .expect_err("ambiguous");
    assert!(matches!(err, ProvisionError::Ambiguous { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&a.app_id) && msg.contains(&b.app_id), "{msg}");
    assert!(msg.contains("--app-id"), "{msg}");
    assert_eq!(err.exit_code(), ExitCode::Config);
    let after = tenant.snapshot();
    assert_eq!(before.applications.len(), after.applications.len());
    assert_eq!(
        before.app_role_assignments.len(),
        after.app_role_assignments.len()
    );
}

#[tokio::test]
async fn app_id_and_configured_client_id_pick_the_app() {
    let tenant = tenant(Faults::default()).await;
    let a = tenant.seed_application(APP_NAME, &[]);
    let b = tenant.seed_application(APP_NAME, &[]);
    let graph = admin_graph(&tenant);

    let mut opts = options(&tenant);
    opts.app_id = Some(b.app_id.clone());
    opts.configured_client_id = Some(a.app_id.clone());
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("by --app-id");
    assert_eq!(p.found_by, Some(FoundBy::AppId));
    assert_eq!(p.app_id.as_deref(), Some(b.app_id.as_str()));

    let mut opts = options(&tenant);
    opts.configured_client_id = Some(a.app_id.clone());
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("by configured client_id");
    assert_eq!(p.found_by, Some(FoundBy::ConfiguredClientId));
    assert_eq!(p.app_id.as_deref(), Some(a.app_id.as_str()));
    assert_eq!(tenant.snapshot().applications_named(APP_NAME).len(), 2);
}

#[tokio::test]
async fn an_unknown_app_id_is_an_error_and_creates_nothing() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.app_id = Some("0b7e4a52-7a3f-4c59-9d8e-7d1c6f6c1111".to_string());
    let err = provision(&graph, &opts, &NoProgress)
        .await
        .expect_err("unknown app id");
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(err.to_string().contains("--app-id"), "{err}");

    let mut opts = options(&tenant);
    opts.configured_client_id = Some("0b7e4a52-7a3f-4c59-9d8e-7d1c6f6c1111".to_string());
    opts.configured_client_id_source = Some("client_id in /etc/es/elasticsearch.yml".into());
    let err = provision(&graph, &opts, &NoProgress)
        .await
        .expect_err("unknown configured id");
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(
        err.to_string().contains("/etc/es/elasticsearch.yml"),
        "{err}"
    );
    assert_eq!(app_state(&tenant.snapshot()).apps, 0);
}

#[tokio::test]
async fn wrong_caller_credentials_say_invalid_client() {
    let tenant = tenant(Faults::default()).await;
    let admin = tenant.admin();
    let tokens = token_source(
        &tenant,
        &admin.client_id,
        SecretString::from("not-the-secret"),
    );
    let graph = msgraph_keystore::graph::GraphClient::new(
        http(),
        tokens,
        &tenant.graph_host(),
        "https://graph.microsoft.com/.default",
        std::time::Instant::now() + std::time::Duration::from_secs(20),
    )
    .expect("client")
    .with_retry_policy(fast_policy());
    let err = provision(&graph, &options(&tenant), &NoProgress)
        .await
        .expect_err("bad credentials");
    let msg = err.to_string();
    assert!(msg.contains("invalid_client"), "{msg}");
    assert!(!msg.contains("not-the-secret"), "{msg}");
    assert_eq!(err.exit_code(), ExitCode::CredentialsRejected);
}

#[tokio::test]
async fn consent_forbidden_does_everything_else_and_explains() {
    let tenant = tenant(Faults {
        caller_can_consent: false,
        ..Faults::default()
    })
    .await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::IfNone;
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("not an error: an outcome");
    let ConsentOutcome::Forbidden { instructions } = &p.consent else {
        panic!("expected Forbidden, got {:?}", p.consent);
    };
    let app_id = p.app_id.clone().unwrap_or_default();
    assert!(
        instructions.contains(&format!(
            "{}/{}/v2.0/adminconsent?client_id={app_id}&scope=",
            tenant.access_token_host(),
            tenant.tenant_id()
        )),
        "{instructions}"
    );
    assert!(
        instructions.contains("Grant admin consent"),
        "{instructions}"
    );
    let mut missing = p.missing_permissions.clone();
    missing.sort();
    assert_eq!(missing, default_roles());
    assert!(p.new_secret.is_some(), "the secret is still added");
    let state = app_state(&tenant.snapshot());
    assert_eq!((state.apps, state.sps, state.passwords), (1, 1, 1));
    assert!(state.roles.is_empty());
    assert!(state
        .required_resource_access
        .to_string()
        .contains("df021288"));

    // Once an administrator consents, a re-run reports it granted.
    tenant.set_faults(Faults::default());
    let again = provision(&graph, &opts, &NoProgress).await.expect("re-run");
    assert_eq!(again.consent, ConsentOutcome::Granted);
    assert_converged(&tenant.snapshot());
}

#[tokio::test]
async fn no_consent_skips_granting() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.consent = ConsentMode::Skip;
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision");
    assert_eq!(p.consent, ConsentOutcome::Skipped);
    assert_eq!(p.missing_permissions.len(), 3);
    assert!(app_state(&tenant.snapshot()).roles.is_empty());
}

#[tokio::test]
async fn secret_lifetime_policy_rejection_names_the_flag_and_limit() {
    let tenant = tenant(Faults {
        max_secret_lifetime_days: Some(90),
        ..Faults::default()
    })
    .await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::Always;
    let err = provision(&graph, &opts, &NoProgress)
        .await
        .expect_err("policy");
    assert!(
        matches!(err, ProvisionError::SecretPolicy { days: 180, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("--secret-lifetime"), "{msg}");
    assert!(
        msg.contains("CredentialInvalidLifetimeAsPerAppPolicy"),
        "{msg}"
    );
    assert!(msg.contains("request-id"), "{msg}");
    assert_eq!(err.exit_code(), ExitCode::Config);
    // Everything before the secret is in place; a shorter lifetime then succeeds.
    assert_converged(&tenant.snapshot());
    opts.secret_lifetime_days = 90;
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("90 days");
    assert!(p.new_secret.is_some());
}

#[tokio::test]
async fn least_privilege_requests_two_read_permissions() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.permissions = PermissionSet::LeastPrivilege;
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision");
    let mut granted = p.granted_permissions.clone();
    granted.sort();
    assert_eq!(granted, vec!["GroupMember.Read.All", "User.Read.All"]);
    let state = app_state(&tenant.snapshot());
    assert_eq!(state.roles, vec!["GroupMember.Read.All", "User.Read.All"]);
}

#[tokio::test]
async fn dry_run_reads_only_and_reports_the_plan() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.dry_run = true;
    opts.add_secret = AddSecret::IfNone;

    let before = format!("{:?}", tenant.snapshot().applications);
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("dry run");
    assert!(p.dry_run && p.created);
    assert_eq!(p.app_id, None);
    assert_eq!(p.consent, ConsentOutcome::Planned);
    assert_eq!(p.tenant_id, tenant.tenant_id());
    let kinds: Vec<ChangeKind> = p.changes.iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&ChangeKind::CreateApplication));
    assert!(kinds.contains(&ChangeKind::AddSecret));
    let snap = tenant.snapshot();
    assert_eq!(before, format!("{:?}", snap.applications));
    assert_eq!(app_state(&snap).apps, 0);

    // Half-provisioned (no consent yet): the dry run plans just the grants.
    let mut real = options(&tenant);
    real.consent = ConsentMode::Skip;
    provision(&graph, &real, &NoProgress)
        .await
        .expect("real run");
    let before = tenant.snapshot();
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("dry run");
    assert!(!p.created);
    let kinds: Vec<ChangeKind> = p.changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            ChangeKind::GrantPermission,
            ChangeKind::GrantPermission,
            ChangeKind::GrantPermission,
            ChangeKind::AddSecret
        ]
    );
    let after = tenant.snapshot();
    assert_eq!(
        format!("{:?}", before.applications),
        format!("{:?}", after.applications)
    );
    assert_eq!(
        format!("{:?}", before.app_role_assignments),
        format!("{:?}", after.app_role_assignments)
    );
    assert_eq!(
        format!("{:?}", before.service_principals),
        format!("{:?}", after.service_principals)
    );
}

#[tokio::test]
async fn deprovision_deletes_the_app_and_its_service_principal() {
    let tenant = tenant(Faults::default()).await;
    let graph = admin_graph(&tenant);
    let opts = options(&tenant);
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision");
    let found = find_app(&graph, &opts)
        .await
        .expect("lookup")
        .expect("found");

    let planned = deprovision(&graph, &found, true, &NoProgress)
        .await
        .expect("dry run");
    assert!(planned.dry_run);
    assert_eq!(app_state(&tenant.snapshot()).apps, 1);

    let done = deprovision(&graph, &found, false, &NoProgress)
        .await
        .expect("deprovision");
    assert_eq!(
        done.app_id.as_str(),
        p.app_id.as_deref().unwrap_or_default()
    );
    assert_eq!(done.sp_id, p.sp_id);
    let snap = tenant.snapshot();
    assert_eq!(app_state(&snap).apps, 0);
    assert!(snap.service_principal_of(&done.app_id).is_none());
    assert!(find_app(&graph, &opts).await.expect("lookup").is_none());
    // Deleting what is already gone is not an error.
    deprovision(&graph, &found, false, &NoProgress)
        .await
        .expect("idempotent");
}
