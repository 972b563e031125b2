//! The realm commands' decisions at the library layer (`realm_check`): which config dirs,
//! the realm's client secret as the realm reads it, its timeouts, how a failure reads when
//! its inputs came from elasticsearch.yml, and which principals end the run with exit 6.

use std::error::Error as _;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use msgraph_keystore::auth::{AuthError, OAuthFailure};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::provision::PermissionSet;
use msgraph_keystore::realm_check::{self, RealmCheckError};
use msgraph_keystore::secret::ExposeSecret;
use msgraph_keystore::setup::verify::{PrincipalReport, Verdict, VerifyError, VerifyReport};

const REALM: &str = "microsoft_graph1";
const PREFIX: &str = "xpack.security.authc.realms.microsoft_graph.microsoft_graph1";

#[test]
fn config_dirs_come_from_the_flags_else_es_path_conf_and_each_dir_once() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    std::fs::create_dir(&a).unwrap();
    let b = tmp.path().join("b");
    std::fs::create_dir(&b).unwrap();
    assert_eq!(
        realm_check::config_dirs(&[a.clone(), b.clone()], Some("/env".into())).unwrap(),
        vec![a.clone(), b.clone()]
    );
    // The same directory in another spelling is the same directory.
    let again = tmp.path().join("b/../a");
    let err = realm_check::config_dirs(&[a.clone(), again.clone()], None).unwrap_err();
    assert!(
        matches!(err, RealmCheckError::RepeatedConfigDir { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(
        err.to_string().contains(&again.display().to_string()),
        "{err}"
    );

    assert_eq!(
        realm_check::config_dirs(&[], Some(OsString::from("/env"))).unwrap(),
        vec![PathBuf::from("/env")]
    );
    for env in [None, Some(OsString::new())] {
        let err = realm_check::config_dirs(&[], env.clone()).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Usage);
        assert_eq!(
            err.to_string(),
            "no Elasticsearch config directory given: pass --config DIR or set ES_PATH_CONF"
        );
        assert!(realm_check::config_dir(None, env).is_err());
    }
    assert_eq!(
        realm_check::config_dir(Some(Path::new("/flag")), Some("/env".into())).unwrap(),
        PathBuf::from("/flag")
    );
}

fn keystore_with(entries: &[(&str, &str)]) -> Keystore {
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    for (name, value) in entries {
        ks.set_string(name, value).unwrap();
    }
    ks
}

#[test]
fn the_realm_secret_is_read_as_the_realm_reads_it() {
    let dir = Path::new("/etc/es");
    let path = keystore::keystore_path(dir);

    let err = realm_check::realm_client_secret(dir, REALM, None).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not exist; run `setup` to create it with the realm's client secret",
            path.display()
        )
    );

    let key = format!("{PREFIX}.client_secret");
    let ks = keystore_with(&[(&key, "s3cret")]);
    let secret = realm_check::realm_client_secret(dir, REALM, Some(&ks)).unwrap();
    assert_eq!(secret.expose_secret(), "s3cret");

    // Another realm's secret is not this realm's.
    let err = realm_check::realm_client_secret(dir, "other", Some(&ks)).unwrap_err();
    assert!(
        matches!(err, RealmCheckError::NoClientSecret { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), ExitCode::Config);

    // With the realm's client_id in the keystore Elasticsearch would not start: refused,
    // even though the secret is there.
    let ks = keystore_with(&[(&key, "s3cret"), (&format!("{PREFIX}.client_id"), "id")]);
    let err = realm_check::realm_client_secret(dir, REALM, Some(&ks)).unwrap_err();
    assert!(
        matches!(err, RealmCheckError::MisplacedSettings(_)),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), ExitCode::Config);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: Setting [{PREFIX}.client_id] is a non-secure setting",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("--move-misplaced-settings"), "{text}");
}

fn tenant_not_found() -> VerifyError {
    VerifyError::Token(AuthError::TenantNotFound(Box::new(OAuthFailure {
        endpoint: "https://login.example/t/oauth2/v2.0/token".into(),
        status: 400,
        error: "invalid_request".into(),
        aadsts: Some(90002),
        description: Some("Tenant 't' not found.".into()),
        trace_id: None,
        correlation_id: None,
    })))
}

#[test]
fn a_tenant_from_elasticsearch_yml_that_does_not_exist_names_the_realm_settings() {
    let yml = Path::new("/etc/es/elasticsearch.yml");
    let err = realm_check::from_realm_config(tenant_not_found(), REALM, yml);
    assert!(
        matches!(err, RealmCheckError::TenantNotFound { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), ExitCode::Config);
    let text = err.to_string();
    assert!(text.starts_with("tenant not found: "), "{text}");
    assert!(
        text.contains(&format!(
            "check [{PREFIX}.tenant_id] in /etc/es/elasticsearch.yml"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("[{PREFIX}.access_token_host]")),
        "{text}"
    );
    assert!(err.source().is_some(), "the verification error is kept");

    // Any other failure is the verification error itself, with its own code.
    let other = VerifyError::Token(AuthError::CredentialsRejected(Box::new(OAuthFailure {
        endpoint: "e".into(),
        status: 401,
        error: "invalid_client".into(),
        aadsts: Some(7000215),
        description: None,
        trace_id: None,
        correlation_id: None,
    })));
    let code = other.exit_code();
    let err = realm_check::from_realm_config(other, REALM, yml);
    assert!(matches!(err, RealmCheckError::Verify(_)), "{err:?}");
    assert_eq!(err.exit_code(), code);
}

fn principal(name: &str, found: bool, refused: Option<&str>) -> PrincipalReport {
    PrincipalReport {
        principal: name.into(),
        found,
        id: None,
        display_name: None,
        mail: None,
        user_principal_name: None,
        groups: vec![],
        group_pages: 0,
        realm_requests: vec![],
        refused: refused.map(str::to_owned),
    }
}

fn report(verdict: Verdict, principals: Vec<PrincipalReport>) -> VerifyReport {
    VerifyReport {
        verdict,
        token_attempts: 1,
        permission_set: PermissionSet::Default,
        permission_source: "token",
        roles: vec![],
        calls: vec![],
        principals,
    }
}

#[test]
fn only_principals_graph_does_not_know_end_the_run_with_exit_6() {
    let r = report(
        Verdict::PrincipalNotFound,
        vec![
            principal("ada@contoso.com", true, None),
            principal("nameid-123", false, None),
            principal("bob@contoso.com", false, Some("403")),
            principal("eve", false, None),
        ],
    );
    let err = realm_check::unknown_principals(&r, REALM).expect("exit 6");
    assert_eq!(err.exit_code(), ExitCode::PrincipalNotFound);
    assert!(
        err.to_string().starts_with(&format!(
            "Microsoft Graph does not know [nameid-123], [eve]: the realm [{REALM}]'s lookup of such a user fails"
        )),
        "{err}"
    );
    assert!(realm_check::unknown_principals(
        &report(Verdict::Ok, vec![principal("ada", true, None)]),
        REALM
    )
    .is_none());
    assert!(
        realm_check::unknown_principals(&report(Verdict::PermissionsMissing, vec![]), REALM)
            .is_none()
    );
}
