//! `--auth` selection with an injected environment: the `auto` order, explicit modes, and
//! the one-line errors when a piece is missing.

mod auth_support;

use std::path::{Path, PathBuf};

use auth_support::*;
use msgraph_keystore::auth::{
    select_with_env, AuthArgs, AuthError, AuthMode, MapEnv, TokenSource, AZURE_CLI_CLIENT_ID,
};
use msgraph_keystore::cloud::{Cloud, Endpoints};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::secret::ExposeSecret;

const SECRET: &str = "env-secret-VALUE~123";

fn global() -> Endpoints {
    Cloud::Global.endpoints()
}

fn local(base: &str) -> Endpoints {
    Endpoints {
        access_token_host: base.to_string(),
        ..Cloud::Global.endpoints()
    }
}

fn args(mode: AuthMode) -> AuthArgs {
    AuthArgs {
        auth: mode,
        ..AuthArgs::default()
    }
}

fn pick(a: &AuthArgs, env: &MapEnv) -> Result<Box<dyn TokenSource>, AuthError> {
    select_with_env(a, &global(), http(), env)
}

fn describe(a: &AuthArgs, env: &MapEnv) -> String {
    match pick(a, env) {
        Ok(s) => s.describe(),
        Err(e) => panic!("selection failed: {e}"),
    }
}

/// A directory with an executable `az` in it, for PATH.
fn az_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let az = dir.path().join("az");
    std::fs::write(&az, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn path_of(dir: &Path) -> String {
    format!("/nonexistent-dir:{}", dir.display())
}

/// Everything at once: each step below removes the winner and checks the next one wins.
#[test]
fn auto_picks_in_the_documented_order() {
    let az = az_dir();
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("token");
    let fed_file = tmp.path().join("federated");
    std::fs::write(&fed_file, "fed").unwrap();
    let full = MapEnv::new()
        .set("AZURE_TENANT_ID", TENANT)
        .set("AZURE_CLIENT_ID", CLIENT)
        .set("AZURE_CLIENT_SECRET", SECRET)
        .set("AZURE_FEDERATED_TOKEN_FILE", fed_file.to_str().unwrap())
        .set("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token")
        .set("IDENTITY_HEADER", "hdr-value")
        .set("PATH", &path_of(az.path()))
        .terminal(true);

    let with_file = AuthArgs {
        access_token_file: Some(token_file.clone()),
        ..AuthArgs::default()
    };
    assert!(describe(&with_file, &full).starts_with("access token from file"));

    let auto = args(AuthMode::Auto);
    let d = describe(&auto, &full);
    assert!(d.starts_with("client secret of app"), "{d}");
    assert!(!d.contains(SECRET));

    let env = full.clone().set("AZURE_CLIENT_SECRET", "");
    let d = describe(&auto, &env);
    assert!(d.starts_with("workload identity"), "{d}");

    let env = env.set("AZURE_FEDERATED_TOKEN_FILE", "");
    let d = describe(&auto, &env);
    assert!(
        d.contains("managed identity") && d.contains("IDENTITY_ENDPOINT"),
        "{d}"
    );
    assert!(!d.contains("hdr-value"));

    let env = env.set("IDENTITY_ENDPOINT", "");
    let d = describe(&auto, &env);
    assert!(d.starts_with("Azure CLI sign-in"), "{d}");

    let env = env.set("PATH", "/nonexistent-dir");
    let d = describe(&auto, &env);
    assert!(d.starts_with("device code sign-in"), "{d}");

    let env = env.terminal(false);
    let err = pick(&auto, &env).err().unwrap();
    assert!(matches!(err, AuthError::NoCredentials), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(err.to_string().contains("AZURE_CLIENT_SECRET"), "{err}");
}

#[test]
fn auto_uses_imds_only_when_opted_in() {
    let env = MapEnv::new().set("PATH", "/nonexistent-dir");
    assert!(
        pick(&args(AuthMode::Auto), &env).is_err(),
        "no IMDS probing in auto"
    );
    let env = env.set("MSGRAPH_KEYSTORE_IMDS_ENDPOINT", "http://127.0.0.1:9");
    let d = describe(&args(AuthMode::Auto), &env);
    assert!(d.contains("instance metadata service"), "{d}");
    let d = describe(
        &args(AuthMode::ManagedIdentity),
        &MapEnv::new().set("AZURE_CLIENT_ID", CLIENT),
    );
    assert!(d.contains("169.254.169.254") && d.contains(CLIENT), "{d}");
}

#[test]
fn missing_pieces_name_the_variable_to_set() {
    let cases: Vec<(AuthArgs, MapEnv, &str)> = vec![
        (
            args(AuthMode::Auto),
            MapEnv::new()
                .set("AZURE_CLIENT_SECRET", SECRET)
                .set("AZURE_CLIENT_ID", CLIENT),
            "AZURE_TENANT_ID",
        ),
        (
            args(AuthMode::Auto),
            MapEnv::new()
                .set("AZURE_CLIENT_SECRET", SECRET)
                .set("AZURE_TENANT_ID", TENANT),
            "AZURE_CLIENT_ID",
        ),
        (
            args(AuthMode::ClientSecret),
            MapEnv::new()
                .set("AZURE_TENANT_ID", TENANT)
                .set("AZURE_CLIENT_ID", CLIENT),
            "AZURE_CLIENT_SECRET",
        ),
        (
            args(AuthMode::WorkloadIdentity),
            MapEnv::new()
                .set("AZURE_TENANT_ID", TENANT)
                .set("AZURE_CLIENT_ID", CLIENT),
            "AZURE_FEDERATED_TOKEN_FILE",
        ),
        (args(AuthMode::Token), MapEnv::new(), "--access-token-file"),
        (
            args(AuthMode::ManagedIdentity),
            MapEnv::new().set("IDENTITY_ENDPOINT", "http://localhost:1/msi"),
            "IDENTITY_HEADER",
        ),
        (
            AuthArgs {
                auth: AuthMode::ClientSecret,
                access_token_file: Some(PathBuf::from("/t")),
                ..AuthArgs::default()
            },
            MapEnv::new(),
            "--access-token-file",
        ),
        (
            args(AuthMode::ClientSecret),
            MapEnv::new()
                .set("AZURE_TENANT_ID", TENANT)
                .set("AZURE_CLIENT_ID", CLIENT)
                .set("AZURE_CLIENT_SECRET", SECRET)
                .set("AZURE_CLIENT_SECRET_FILE", "/s"),
            "AZURE_CLIENT_SECRET_FILE",
        ),
    ];
    for (a, env, needle) in cases {
        let err = pick(&a, &env).err().unwrap();
        let msg = err.to_string();
        assert_eq!(err.exit_code(), ExitCode::Usage, "{msg}");
        assert!(msg.contains(needle), "{needle}: {msg}");
        assert!(!msg.contains(SECRET), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
    let err = pick(
        &args(AuthMode::AzureCli),
        &MapEnv::new().set("PATH", "/nonexistent-dir"),
    )
    .err()
    .unwrap();
    assert!(matches!(err, AuthError::AzureCliNotFound), "{err}");
}

#[test]
fn args_win_over_the_environment() {
    let a = AuthArgs {
        auth: AuthMode::DeviceCode,
        tenant_id: Some("contoso.onmicrosoft.com".into()),
        client_id: Some(CLIENT.into()),
        access_token_file: None,
    };
    let env = MapEnv::new()
        .set("AZURE_TENANT_ID", TENANT)
        .set("AZURE_CLIENT_ID", "other");
    let d = describe(&a, &env);
    assert!(
        d.contains("contoso.onmicrosoft.com") && d.contains(CLIENT),
        "{d}"
    );
    // Device code defaults: any organization, the Azure CLI's public client.
    let d = describe(&args(AuthMode::DeviceCode), &MapEnv::new());
    assert!(
        d.contains("organizations") && d.contains(AZURE_CLI_CLIENT_ID),
        "{d}"
    );
}

#[tokio::test]
async fn client_secret_file_is_read_with_one_trailing_newline_stripped() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("secret");
    std::fs::write(&file, format!("{SECRET} \n")).unwrap();
    let server = MockServer::start(vec![token_reply("from-file", 3599)]).await;
    let env = MapEnv::new()
        .set("AZURE_TENANT_ID", TENANT)
        .set("AZURE_CLIENT_ID", CLIENT)
        .set("AZURE_CLIENT_SECRET_FILE", file.to_str().unwrap());
    let source =
        select_with_env(&args(AuthMode::Auto), &local(&server.base), http(), &env).unwrap();
    assert_eq!(
        source.token(SCOPE).await.unwrap().token.expose_secret(),
        "from-file"
    );
    assert_eq!(
        server.requests()[0].form()["client_secret"],
        format!("{SECRET} ")
    );

    let env = env.set(
        "AZURE_CLIENT_SECRET_FILE",
        tmp.path().join("missing").to_str().unwrap(),
    );
    let err = select_with_env(&args(AuthMode::Auto), &local(&server.base), http(), &env)
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), ExitCode::IoError);
    assert!(
        err.to_string().contains("AZURE_CLIENT_SECRET_FILE"),
        "{err}"
    );
}

#[tokio::test]
async fn azure_authority_host_is_used_unless_a_host_was_given() {
    let tmp = tempfile::tempdir().unwrap();
    let fed = tmp.path().join("federated");
    std::fs::write(&fed, "fed-token").unwrap();
    let from_env = MockServer::start(vec![token_reply("via-authority-host", 3599)]).await;
    let from_flag = MockServer::start(vec![token_reply("via-flag", 3599)]).await;
    let env = MapEnv::new()
        .set("AZURE_TENANT_ID", TENANT)
        .set("AZURE_CLIENT_ID", CLIENT)
        .set("AZURE_FEDERATED_TOKEN_FILE", fed.to_str().unwrap())
        .set("AZURE_AUTHORITY_HOST", &format!("{}/", from_env.base));

    // Cloud preset host: AZURE_AUTHORITY_HOST applies.
    let source = select_with_env(&args(AuthMode::Auto), &global(), http(), &env).unwrap();
    assert_eq!(
        source.token(SCOPE).await.unwrap().token.expose_secret(),
        "via-authority-host"
    );
    assert_eq!(from_env.requests().len(), 1);

    // An explicit --access-token-host wins.
    let source =
        select_with_env(&args(AuthMode::Auto), &local(&from_flag.base), http(), &env).unwrap();
    assert_eq!(
        source.token(SCOPE).await.unwrap().token.expose_secret(),
        "via-flag"
    );
    assert_eq!(from_env.requests().len(), 1);

    let env = env.set("AZURE_AUTHORITY_HOST", "http://login.example.com");
    let err = select_with_env(&args(AuthMode::Auto), &global(), http(), &env)
        .err()
        .unwrap();
    assert!(err.to_string().contains("AZURE_AUTHORITY_HOST"), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Usage);
}

#[test]
fn non_loopback_http_login_host_is_refused() {
    let env = MapEnv::new()
        .set("AZURE_TENANT_ID", TENANT)
        .set("AZURE_CLIENT_ID", CLIENT)
        .set("AZURE_CLIENT_SECRET", SECRET);
    let err = select_with_env(
        &args(AuthMode::Auto),
        &local("http://login.example.com"),
        http(),
        &env,
    )
    .err()
    .unwrap();
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(err.to_string().contains("--access-token-host"), "{err}");
    let err = select_with_env(
        &args(AuthMode::DeviceCode),
        &local("http://192.168.1.1"),
        http(),
        &env,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("https"), "{err}");
}

#[test]
fn map_env_debug_hides_values() {
    let env = MapEnv::new().set("AZURE_CLIENT_SECRET", SECRET);
    let shown = format!("{env:?}");
    assert!(
        shown.contains("AZURE_CLIENT_SECRET") && !shown.contains(SECRET),
        "{shown}"
    );
}
