//! `setup` and `rotate`: provision the realm's application and write every config directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::realm_args::{self, AppArgs, Connection, RealmDirsArgs};
use super::terminal::Terminal;
use super::{GlobalOpts, Verbosity};
use crate::auth::AuthArgs;
use crate::exit::{CliError, ExitCode};
use crate::graph::{parse_duration, EndpointArgs};
use crate::k8s;
use crate::keystore::FormatVersion;
use crate::provision::{self, NoProgress, Progress, StderrProgress};
use crate::secret::ExposeSecret;
use crate::setup::{self, eck, rotate, ConfigDir, PasswordFailure, SetupOptions, SetupOutcome};

/// How `setup` reports, or where it puts the secret for Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SetupOutput {
    /// Human-readable summary and next steps.
    Text,
    /// The run's record as JSON (no secret).
    Json,
    /// Write no keystore: emit an ECK secureSettings Secret manifest and the nodeSets config snippet.
    K8sSecret,
}

/// Provision the realm and write its settings: the secret to elasticsearch.keystore, the IDs to elasticsearch.yml.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  msgraph-keystore setup --config /etc/elasticsearch --realm microsoft_graph1\n  msgraph-keystore setup --config node1/config --config node2/config --dry-run\n  msgraph-keystore setup --output k8s-secret --namespace elastic --output-file graph-secret.yaml"
)]
pub struct SetupArgs {
    #[command(flatten)]
    pub dirs: RealmDirsArgs,
    #[command(flatten)]
    pub app: AppArgs,
    /// The realm's order [default: its current order, else one past the highest configured].
    #[arg(long, value_name = "N")]
    pub order: Option<i64>,
    /// Add a new client secret even when the configured one works.
    #[arg(long)]
    pub new_secret: bool,
    /// Format version of a keystore this run creates (an existing keystore keeps its own).
    #[arg(long, value_name = "4|5|6", conflicts_with = "target_es_version")]
    pub format_version: Option<FormatVersion>,
    /// Elasticsearch version of the cluster, to pick the format of a keystore this run creates (e.g. 7.17, 8.12, 9.1).
    #[arg(long, value_name = "X.Y")]
    pub target_es_version: Option<String>,
    /// Move the realm's non-secure settings found in the keystore into elasticsearch.yml.
    #[arg(long)]
    pub move_misplaced_settings: bool,
    /// Show what would change (Graph and files) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not verify the credentials at the end.
    #[arg(long)]
    pub no_verify: bool,
    /// How long verification keeps retrying while a brand-new secret replicates.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub verify_wait: Duration,
    /// Elasticsearch home, to check that the microsoft-graph-authz plugin is installed and to detect the version.
    #[arg(long, value_name = "DIR", env = "ES_HOME")]
    pub es_home: Option<PathBuf>,
    /// Output: text, json, or k8s-secret (for ECK; writes no keystore).
    #[arg(long, value_enum, default_value_t = SetupOutput::Text)]
    pub output: SetupOutput,
    /// Namespace of the Kubernetes Secret (with --output k8s-secret).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Name of the Kubernetes Secret [default: derived from the realm name].
    #[arg(long, value_name = "NAME")]
    pub secret_name: Option<String>,
    /// Write the Kubernetes Secret manifest to FILE (created 0600, never overwritten) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

/// Replace the realm's client secret everywhere: new secret, every config dir, verify, remove the old ones.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  msgraph-keystore rotate --config /etc/elasticsearch --realm microsoft_graph1\n\nThe realm reads its secret at node start: do a rolling restart afterwards."
)]
pub struct RotateArgs {
    #[command(flatten)]
    pub dirs: RealmDirsArgs,
    #[command(flatten)]
    pub app: AppArgs,
    /// Keep the previous client secrets instead of removing them after the new one is verified (running nodes use the old secret until they restart).
    #[arg(long, conflicts_with = "finish")]
    pub keep_old: bool,
    /// Second half of a two-phase rotation (`rotate --keep-old`, rolling restart, `rotate --finish`): add no secret; check that the secret in the keystore works, then remove the secret(s) it replaced (recorded in its display name), nothing else.
    #[arg(long)]
    pub finish: bool,
    /// Add no secret; remove the client secret whose keyId (the portal's "Secret ID") is KEYID (repeatable): for secrets made by this tool that `status` lists and no deployment uses any more. A secret a given config dir holds, or one this tool did not make, is refused (exit 8) and nothing is removed.
    #[arg(long = "remove-secret-id", value_name = "KEYID", conflicts_with_all = ["keep_old", "finish"])]
    pub remove_secret_id: Vec<String>,
    /// How long verification keeps retrying while the new secret replicates.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub verify_wait: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = realm_args::OutputFormat::Text)]
    pub output: realm_args::OutputFormat,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

pub async fn run_setup(args: SetupArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    setup::check_realm_name(&args.dirs.realm)?;
    let k8s = args.output == SetupOutput::K8sSecret;
    if !k8s
        && (args.namespace.is_some() || args.secret_name.is_some() || args.output_file.is_some())
    {
        return Err(CliError::usage(
            "--namespace, --secret-name and --output-file only apply with --output k8s-secret",
        ));
    }
    if k8s && !args.dirs.config.is_empty() {
        return Err(CliError::usage(
            "--config does not apply with --output k8s-secret: it writes no keystore and no elasticsearch.yml (ECK's operator fills the keystore from the Secret)",
        ));
    }
    if k8s {
        check_k8s_output(&args)?;
    }
    let dir_paths = if k8s { Vec::new() } else { args.dirs.dirs()? };
    let new_keystore_version = new_keystore_version(&args)?;
    let (conn, label, dirs) = connect_and_open(
        &args.dirs,
        &dir_paths,
        &args.app,
        &args.auth,
        &args.endpoints,
        args.move_misplaced_settings,
        global,
    )?;
    let opts = SetupOptions {
        realm: args.dirs.realm.clone(),
        provision: args.app.provision_options(&conn.endpoints, &label),
        new_secret: args.new_secret,
        order: args.order,
        new_keystore_version,
        endpoints: conn.endpoints.clone(),
        dry_run: args.dry_run,
        verify: !args.no_verify,
        verify_wait: args.verify_wait,
        verify_retry_interval: Duration::from_secs(3),
    };
    let progress = progress_for(global);
    let (mut outcome, new_secret) =
        setup::run_setup(&conn.graph, &conn.http, &dirs, &opts, progress.as_ref()).await?;
    drop(dirs);
    let warnings = setup::setup_warnings(
        &outcome,
        &label,
        args.app.cluster_name.is_some(),
        dir_paths.first().map(PathBuf::as_path),
    );
    outcome.warnings.extend(warnings);
    if global.verbosity() > Verbosity::Silent {
        for warning in &outcome.warnings {
            eprintln!("WARNING: {warning}");
        }
    }

    match args.output {
        SetupOutput::Json => realm_args::print_json(&outcome)?,
        SetupOutput::Text => {
            print_setup_summary(&outcome, &conn, Some(args.es_home.as_deref()), global)
        }
        SetupOutput::K8sSecret => {
            let request = eck::EckRequest {
                realm: &args.dirs.realm,
                namespace: args.namespace.as_deref(),
                secret_name: args.secret_name.as_deref(),
                order: args.order,
                output_file: args.output_file.as_deref(),
                endpoints: &conn.endpoints,
            };
            let eck = eck::deliver(
                &conn.graph,
                &outcome,
                new_secret,
                &request,
                progress.as_ref(),
            )
            .await;
            let eck = match eck {
                Ok(eck) => eck,
                Err(failed) => {
                    print_assumed_order(failed.assumed_order, &outcome.realm, global);
                    return Err(failed.into());
                }
            };
            print_k8s(&eck, &outcome.realm, global);
            // stdout holds the manifest or the snippet: the consent advice goes to stderr.
            if global.verbosity() > Verbosity::Silent {
                if let Some(consent) =
                    setup::consent_still_needed(&outcome.provisioned, &conn.endpoints)
                {
                    eprint!("{consent}");
                }
            }
        }
    }
    Ok(outcome.exit_code())
}

/// The format of a keystore `setup` creates: `--format-version` (checked here, as a flag),
/// else what `setup::es_home` decides from `--target-es-version` / `--es-home`.
fn new_keystore_version(args: &SetupArgs) -> Result<FormatVersion, CliError> {
    if let Some(v) = args.format_version {
        if !v.is_writable() {
            return Err(CliError::usage("--format-version must be 4, 5 or 6"));
        }
        return Ok(v);
    }
    Ok(setup::es_home::new_keystore_format(
        args.target_es_version.as_deref(),
        args.es_home.as_deref(),
    )?)
}

/// What `setup` and `rotate` both start with: the Graph connection, the label of the secrets
/// this tool makes for the realm (`<cluster>/<realm>`), and every config directory opened
/// (locked, read, checked), asking for a keystore password at most once.
fn connect_and_open(
    dirs_args: &RealmDirsArgs,
    dir_paths: &[PathBuf],
    app: &AppArgs,
    auth: &AuthArgs,
    endpoints: &EndpointArgs,
    move_misplaced: bool,
    global: &GlobalOpts,
) -> Result<(Connection, String, Vec<ConfigDir>), CliError> {
    let conn = realm_args::connect(auth, endpoints, global.verbosity() > Verbosity::Silent)?;
    let realm = &dirs_args.realm;
    let label = app.secret_label(dir_paths.first().map(PathBuf::as_path), realm);
    let mut term = Terminal::stdio(global.verbosity());
    let mut ask = realm_args::password_source(&mut term, dirs_args.password_file.clone());
    // The prompt's own failure passes through the setup layer with its exit code.
    let mut source = |dir: &Path| ask(dir).map_err(|e| PasswordFailure::new(e.code, e));
    let dirs = dir_paths
        .iter()
        .map(|p| ConfigDir::open(p, realm, &mut source, move_misplaced))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((conn, label, dirs))
}

fn progress_for(global: &GlobalOpts) -> Box<dyn Progress> {
    if global.verbosity() == Verbosity::Silent {
        Box::new(NoProgress)
    } else {
        Box::new(StderrProgress::new())
    }
}

/// What can be checked about the Kubernetes output before anything is created in the
/// tenant: the names Kubernetes will accept, and an `--output-file` that does not exist yet
/// in a directory that does.
fn check_k8s_output(args: &SetupArgs) -> Result<(), CliError> {
    if let Some(namespace) = &args.namespace {
        k8s::validate_namespace(namespace)?;
    }
    if let Some(name) = &args.secret_name {
        k8s::validate_secret_name(name)?;
    }
    let Some(path) = &args.output_file else {
        return Ok(());
    };
    super::secret_output::check_new("--output-file", path)
}

/// There is no `elasticsearch.yml` to read the other realms' orders from, and Elasticsearch
/// refuses two realms with the same order: say which one was assumed.
fn print_assumed_order(order: Option<i64>, realm: &str, global: &GlobalOpts) {
    if let (Some(order), true) = (order, global.verbosity() > Verbosity::Silent) {
        eprintln!("Assumed order {order} for realm {realm}: pass --order with a number no other realm of the cluster uses.");
    }
}

/// Print the Kubernetes output: the manifest on stdout (for `| kubectl apply -f -`) and the
/// snippet on stderr, or, when the manifest went to a file, the snippet on stdout.
fn print_k8s(eck: &eck::Eck, realm: &str, global: &GlobalOpts) {
    let talk = global.verbosity() > Verbosity::Silent;
    let delivered = match eck {
        eck::Eck::DryRun => {
            println!("Dry run: a Kubernetes Secret would be emitted for realm {realm}");
            return;
        }
        eck::Eck::Delivered(delivered) => delivered,
    };
    print_assumed_order(delivered.assumed_order, realm, global);
    match &delivered.written_to {
        Some(path) => {
            if talk {
                eprintln!("Wrote the Kubernetes Secret manifest to {} (mode 0600). Apply it with: kubectl apply -f {}", path.display(), path.display());
            }
            println!("{}", delivered.output.config_snippet);
        }
        None => {
            print!("{}", delivered.output.secret_manifest.expose_secret());
            eprintln!("{}", delivered.output.config_snippet);
        }
    }
}

/// Print what a `setup` or `rotate` run did. `next_steps_for` is `Some(es_home)` for `setup`,
/// whose manual next steps follow; `rotate` prints its own reminder instead.
fn print_setup_summary(
    outcome: &SetupOutcome,
    conn: &Connection,
    next_steps_for: Option<Option<&Path>>,
    global: &GlobalOpts,
) {
    if global.verbosity() == Verbosity::Silent {
        return;
    }
    let p = &outcome.provisioned;
    let mut out = String::new();
    let heading = if outcome.dry_run {
        "Dry run (nothing was changed)"
    } else {
        "Done"
    };
    out.push_str(&format!(
        "{heading}: realm {} ({})\n",
        outcome.realm, p.display_name
    ));
    out.push_str(&format!(
        "  client_id: {}\n  tenant_id: {}\n",
        p.app_id.as_deref().unwrap_or("<new application>"),
        p.tenant_id
    ));
    out.push_str(&format!("  secret: {}\n", outcome.credential_decision));
    for change in &p.changes {
        out.push_str(&format!("  tenant: {}\n", change.detail));
    }
    for dir in &outcome.config_dirs {
        if !dir.yml_changed && dir.keystore_changes.is_empty() {
            out.push_str(&format!("  {}: already up to date\n", dir.config_dir));
            continue;
        }
        if dir.yml_changed {
            out.push_str(&format!(
                "  {}: elasticsearch.yml {}\n",
                dir.config_dir,
                if outcome.dry_run {
                    "would change"
                } else {
                    "updated"
                }
            ));
        }
        for change in &dir.keystore_changes {
            out.push_str(&format!("  {}: keystore: {change}\n", dir.config_dir));
        }
        for note in &dir.notes {
            out.push_str(&format!("  {}: {note}\n", dir.config_dir));
        }
        if let Some(diff) = dir.yml_diff.as_deref().filter(|d| !d.is_empty()) {
            out.push_str(diff);
            if !diff.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    if !outcome.dry_run && outcome.changed_nothing() {
        out.push_str(
            "Nothing changed: the tenant and every config directory were already set up.\n",
        );
    }
    if let Some(consent) = setup::consent_still_needed(p, &conn.endpoints) {
        out.push_str(&consent);
    }
    if let Some(report) = &outcome.verify {
        out.push_str(&super::verify_cmd::render_report(report));
        if !report.missing_roles().is_empty() {
            if let Some(app_id) = &p.app_id {
                out.push_str(&provision::admin_consent_instructions(
                    &p.tenant_id,
                    app_id,
                    &conn.endpoints,
                ));
                out.push('\n');
            }
        }
    } else if let Some(why) = &outcome.verify_skipped {
        out.push_str(&format!("  verify: skipped ({why})\n"));
    }
    if let Some(es_home) = next_steps_for {
        if !outcome.dry_run {
            out.push_str(&next_steps(
                &outcome.realm,
                es_home,
                outcome.files_written > 0,
            ));
        }
    }
    print!("{out}");
}

/// The steps that remain manual after `setup`. The restart is only asked for when files
/// were written: the realm reads its settings and secret at node start.
pub fn next_steps(realm: &str, es_home: Option<&Path>, files_written: bool) -> String {
    let plugin = match es_home {
        Some(home) if setup::es_home::realm_plugin_installed(home) => {
            format!("  1. The microsoft-graph-authz plugin is installed in {} (install it on every other node too).\n", home.display())
        }
        Some(home) => format!(
            "  1. Install the plugin on every node: {}/bin/elasticsearch-plugin install microsoft-graph-authz (not found under {}/plugins)\n",
            home.display(),
            home.display()
        ),
        None => "  1. Install the plugin on every node: bin/elasticsearch-plugin install microsoft-graph-authz\n".to_string(),
    };
    let restart = if files_written {
        "  5. Copy the keystore and yml changes to every node, then do a rolling restart: the realm reads its secret at node start.\n"
    } else {
        "  5. No file changed, so no restart is needed for this run.\n"
    };
    format!(
        "\nNext steps:\n{plugin}  2. Reference the realm from your SAML/JWT/OIDC realm: authorization_realms: [\"{realm}\"]\n  3. Map groups to roles (role mappings on the group object IDs).\n  4. The realm needs a Platinum or Enterprise licence (or a trial).\n{restart}"
    )
}

pub async fn run_rotate(args: RotateArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    setup::check_realm_name(&args.dirs.realm)?;
    let dir_paths = args.dirs.dirs()?;
    let (conn, label, dirs) = connect_and_open(
        &args.dirs,
        &dir_paths,
        &args.app,
        &args.auth,
        &args.endpoints,
        false,
        global,
    )?;
    let realm = &args.dirs.realm;
    rotate::check_configured(&dirs, realm)?;
    let provision = args.app.provision_options(&conn.endpoints, &label);
    if !args.remove_secret_id.is_empty() {
        let removed = rotate::remove_named(
            &conn.graph,
            &dirs,
            realm,
            &provision,
            &args.remove_secret_id,
        )
        .await?;
        render_named_removal(&args, &removed, global)?;
        return Ok(ExitCode::Ok);
    }
    if args.finish {
        let removed = rotate::finish(
            &conn.graph,
            &conn.http,
            &conn.endpoints,
            &dirs,
            realm,
            &label,
            &provision,
        )
        .await?;
        render_finish(&args, &removed, &dir_paths, global)?;
        return Ok(ExitCode::Ok);
    }
    let progress = progress_for(global);
    let request = rotate::RotateRequest {
        realm: realm.clone(),
        label,
        provision,
        keep_old: args.keep_old,
        verify_wait: args.verify_wait,
        verify_retry_interval: Duration::from_secs(3),
    };
    let rotation = rotate::rotate(
        &conn.graph,
        &conn.http,
        &conn.endpoints,
        dirs,
        request,
        progress.as_ref(),
    )
    .await?;
    let rotate::Rotation {
        outcome,
        replaces,
        retired,
    } = &rotation;
    let code = outcome.exit_code();
    match args.output {
        realm_args::OutputFormat::Json => realm_args::print_json(&serde_json::json!({
            "rotation": outcome,
            "replaces": replaces,
            "removed_secrets": retired.removed,
            "kept_secrets": retired.kept,
            "unattributed_secrets": retired.unattributed,
        }))?,
        realm_args::OutputFormat::Text if global.verbosity() > Verbosity::Silent => {
            print_setup_summary(outcome, &conn, None, global);
            if retired.removed.is_empty() {
                println!(
                    "No previous secret was removed{}.",
                    if args.keep_old { " (--keep-old)" } else { "" }
                );
                if args.keep_old && !replaces.is_empty() {
                    println!(
                        "After the rolling restart, `rotate --finish` removes {} (recorded in the new secret's name).",
                        replaces.join(", ")
                    );
                }
            } else {
                println!(
                    "Removed {} previous secret(s), the one(s) the config directories held: {}",
                    retired.removed.len(),
                    retired.removed.join(", ")
                );
            }
            print!("{}", render_retired_notes(retired, &dir_paths));
            println!("Remember: the realm reads its client secret only at node start; copy the keystore to every node and do a rolling restart now.");
            if !retired.removed.is_empty() {
                println!("Nodes not restarted yet still use the removed secret: they fail to get a Graph token once their current one expires (within about an hour). Use --keep-old to remove the old secret only after the restart.");
            }
        }
        realm_args::OutputFormat::Text => {}
    }
    Ok(code)
}

/// The secrets a removing step kept, and the tool-made ones nothing here attributes, as text.
fn render_retired_notes(retired: &setup::retire::Retired, dirs: &[PathBuf]) -> String {
    let mut out = String::new();
    for k in &retired.kept {
        out.push_str(&format!(
            "Kept client secret {}: {}
",
            k.key_id, k.reason
        ));
    }
    if !retired.unattributed.is_empty() {
        let config: String = dirs
            .iter()
            .map(|d| format!(" --config {}", d.display()))
            .collect();
        out.push_str(&format!(
            "Left in place: {} other secret(s) this tool made for the same label, which nothing here shows to be this deployment's (another cluster with the same cluster.name and realm may hold them): {}
  Once no deployment uses one, remove it with: msgraph-keystore rotate --remove-secret-id KEYID{config}
",
            retired.unattributed.len(),
            retired.unattributed.join(", ")
        ));
    }
    out
}

/// What `rotate --finish` did.
fn render_finish(
    args: &RotateArgs,
    removed: &rotate::Removed,
    dirs: &[PathBuf],
    global: &GlobalOpts,
) -> Result<(), CliError> {
    let retired = &removed.retired;
    match args.output {
        realm_args::OutputFormat::Json => realm_args::print_json(&serde_json::json!({
            "client_id": removed.client_id,
            "removed_secrets": retired.removed,
            "kept_secrets": retired.kept,
            "unattributed_secrets": retired.unattributed,
        }))?,
        realm_args::OutputFormat::Text if global.verbosity() > Verbosity::Silent => {
            if retired.removed.is_empty() {
                println!("The secret in the keystore works; no previous secret it replaced was left to remove.");
            } else {
                println!(
                    "The secret in the keystore works; removed {} previous secret(s) it replaced: {}",
                    retired.removed.len(),
                    retired.removed.join(", ")
                );
            }
            print!("{}", render_retired_notes(retired, dirs));
        }
        realm_args::OutputFormat::Text => {}
    }
    Ok(())
}

/// What `rotate --remove-secret-id` did.
fn render_named_removal(
    args: &RotateArgs,
    removed: &rotate::Removed,
    global: &GlobalOpts,
) -> Result<(), CliError> {
    let retired = &removed.retired;
    match args.output {
        realm_args::OutputFormat::Json => realm_args::print_json(&serde_json::json!({
            "client_id": removed.client_id,
            "removed_secrets": retired.removed,
        }))?,
        realm_args::OutputFormat::Text if global.verbosity() > Verbosity::Silent => println!(
            "Removed {} client secret(s): {}",
            retired.removed.len(),
            retired.removed.join(", ")
        ),
        realm_args::OutputFormat::Text => {}
    }
    Ok(())
}
