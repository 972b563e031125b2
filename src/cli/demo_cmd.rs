//! `demo`: the whole job against the built-in simulated tenant, with no Azure account and no
//! network. Starts the fake tenant in-process, runs `setup` into a fresh config directory
//! (kept, and named, so the result can be inspected), verifies, lists the keystore, and says
//! what to run against a real tenant.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{GlobalOpts, Verbosity};
use crate::auth::ClientSecretSource;
use crate::cloud::Endpoints;
use crate::exit::{CliError, ExitCode};
use crate::graph::GraphClient;
use crate::keystore::{self, FormatVersion};
use crate::net::{build_client, HttpOptions};
use crate::provision::{NoProgress, Progress, ProvisionOptions, StderrProgress};
use crate::secret::SecretString;
use crate::setup::{self, ConfigDir, SetupOptions};
use fake_tenant::{FakeTenant, FakeTenantConfig};

/// Run setup, verify and keystore list against a built-in simulated tenant (no Azure account, no network).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  msgraph-keystore demo\n  msgraph-keystore demo --config /tmp/es-config"
)]
pub struct DemoArgs {
    /// Config directory to set up [default: a new directory under the system temp dir, kept afterwards].
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Realm name.
    #[arg(long, default_value = super::realm_args::DEFAULT_REALM)]
    pub realm: String,
}

pub async fn run(args: DemoArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    setup::check_realm_name(&args.realm)?;
    let say = global.verbosity() > Verbosity::Silent;
    let dir = match &args.config {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| {
                CliError::new(
                    ExitCode::IoError,
                    format!("cannot create {}: {e}", d.display()),
                )
            })?;
            d.clone()
        }
        None => tempfile::Builder::new()
            .prefix("msgraph-keystore-demo-")
            .tempdir()
            .map_err(|e| {
                CliError::new(
                    ExitCode::IoError,
                    format!("cannot create a temporary config directory: {e}"),
                )
            })?
            .keep(),
    };

    refuse_configured_dir(&dir, &args.realm)?;
    let tenant = FakeTenant::start(FakeTenantConfig::default())
        .await
        .map_err(|e| {
            CliError::new(
                ExitCode::IoError,
                format!("cannot start the simulated tenant on 127.0.0.1: {e}"),
            )
        })?;
    if say {
        println!(
            "Started the simulated Entra ID tenant {} at {}",
            tenant.tenant_id(),
            tenant.access_token_host()
        );
        println!("Setting up realm {} in {}", args.realm, dir.display());
    }

    let endpoints = Endpoints {
        access_token_host: tenant.access_token_host(),
        graph_host: tenant.graph_host(),
        ..crate::cloud::Cloud::Global.endpoints()
    };
    let http = build_client(&HttpOptions::default())?;
    let admin = tenant.admin();
    let source = ClientSecretSource::new(
        http.clone(),
        &endpoints.access_token_host,
        &admin.tenant_id,
        &admin.client_id,
        admin.client_secret,
    )?;
    let graph = GraphClient::new(
        http.clone(),
        Arc::new(source),
        &endpoints.graph_host,
        &endpoints.scope,
        Instant::now() + Duration::from_secs(60),
    )?;

    let mut no_password = |_: &std::path::Path| Ok(SecretString::from(String::new()));
    let opened = ConfigDir::open(&dir, &args.realm, &mut no_password, false)?;
    let opts = SetupOptions {
        realm: args.realm.clone(),
        provision: ProvisionOptions {
            credential_name: crate::provision::secret_display_name(&format!("demo/{}", args.realm)),
            ..ProvisionOptions::for_endpoints(&endpoints)
        },
        new_secret: false,
        order: None,
        new_keystore_version: FormatVersion::LATEST,
        endpoints: endpoints.clone(),
        dry_run: false,
        verify: true,
        verify_wait: Duration::from_secs(30),
        verify_retry_interval: Duration::from_millis(200),
    };
    let progress: Box<dyn Progress> = if say {
        Box::new(StderrProgress::new())
    } else {
        Box::new(NoProgress)
    };
    let (outcome, _) = setup::run_setup(
        &graph,
        &http,
        std::slice::from_ref(&opened),
        &opts,
        progress.as_ref(),
    )
    .await?;
    drop(opened);
    tenant.shutdown().await;

    let code = outcome.exit_code();
    if say {
        let p = &outcome.provisioned;
        println!();
        println!(
            "Provisioned application '{}' (client ID {}) in tenant {}",
            p.display_name,
            p.app_id.as_deref().unwrap_or("?"),
            p.tenant_id
        );
        if let Some(report) = &outcome.verify {
            print!("{}", super::verify_cmd::render_report(report));
        }
        println!();
        println!(
            "$ msgraph-keystore keystore list --config {}",
            dir.display()
        );
        let ks = keystore::load_read_only(&dir, &SecretString::from(String::new()))?;
        for name in ks.names() {
            println!("{name}");
        }
        println!();
        println!("$ cat {}", dir.join(crate::esconfig::ES_YML).display());
        let yml = std::fs::read_to_string(dir.join(crate::esconfig::ES_YML)).unwrap_or_default();
        print!("{yml}");
        println!();
        println!(
            "The config directory {} is kept for you to inspect.",
            dir.display()
        );
        println!("(In this demo access_token_host/graph_host point at the simulated tenant; against Azure they are the defaults and are not written.)");
        println!();
        println!("Against a real tenant (see docs/setup.md):");
        println!("  az login            # or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET_FILE");
        println!(
            "  msgraph-keystore setup --config /etc/elasticsearch --realm {}",
            args.realm
        );
        println!(
            "  msgraph-keystore verify --config /etc/elasticsearch --realm {}",
            args.realm
        );
    }
    Ok(code)
}

/// The demo's tenant exists only while it runs, so a directory set up by an earlier demo (or
/// for a real tenant) names an application and tenant this one has never heard of.
fn refuse_configured_dir(dir: &std::path::Path, realm: &str) -> Result<(), CliError> {
    let keystore = keystore::keystore_path(dir);
    let yml = crate::esconfig::EsYml::load(dir)?;
    let configured = yml.realm(realm)?.client_id.is_some();
    if keystore.exists() || configured {
        return Err(CliError::new(
            ExitCode::Usage,
            format!(
                "{} already holds {}; the demo needs a fresh directory: pass a new --config, or leave it out to get a new temporary one",
                dir.display(),
                if configured {
                    format!("realm {realm}")
                } else {
                    "an elasticsearch.keystore".to_string()
                }
            ),
        ));
    }
    Ok(())
}
