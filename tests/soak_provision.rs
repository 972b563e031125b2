//! Soak: hundreds of provisioning runs against the fake tenant, each under a random mix of
//! faults (latency, throttling bursts with `Retry-After` as seconds or an HTTP date, 503s,
//! dropped connections before or after the server acted, replication delays, "Not a valid
//! reference update", secrets that take a while to reach the token endpoint, one-item
//! pages), some of them killed mid-way and run again. After every run the tenant must hold
//! exactly one application and one service principal for the name, the three Graph role
//! grants, a secret the token endpoint accepts, and at most one stale secret (none after a
//! rotation).
//!
//! Three kinds of run, chosen at random:
//! * `provision`: the library flow with `--secret-file` semantics (a secret only if none).
//! * `setup`: provisioning plus `elasticsearch.yml` and `elasticsearch.keystore` in a temp
//!   config directory; the secret checked is the one in the keystore.
//! * `rotate`: a setup, then a forced new secret and removal of the tool's older ones.
//!
//! Seeded like every randomized test (`tests/seed_support`): CI's fixed seed unless
//! `MSGRAPH_KEYSTORE_TEST_SEED=S` says otherwise; the seed is printed at the start and in
//! every failure. CI size is 60 runs; `MSGRAPH_KEYSTORE_LONG_TESTS=1` makes it 2,000 and
//! `SOAK_RUNS=N` any other number. `SOAK_ONLY=I` runs only run I of the sequence,
//! `SOAK_PARALLEL=P` (default 6) runs P at once, `SOAK_VERBOSE=1` prints every run's plan and
//! timing (with `--nocapture`). The plans are the same for a seed whatever the count: run I
//! of a 60-run soak is run I of a 2,000-run one. Results of long runs are in
//! `docs/reliability.md`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;

mod seed_support;

use fake_tenant::{decode_token_claims, FakeTenant, FakeTenantConfig, Faults, TenantSnapshot};
use msgraph_keystore::auth::{client_credentials_token, ClientSecretSource};
use msgraph_keystore::cloud::{Cloud, Endpoints};
use msgraph_keystore::exit::{CliError, ExitCode, UserFacing};
use msgraph_keystore::graph::{GraphClient, RetryPolicy};
use msgraph_keystore::keystore::{self, FormatVersion};
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::provision::{
    is_tool_secret_for, provision, remove_passwords, secret_display_name, AddSecret, NoProgress,
    ProvisionOptions,
};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use msgraph_keystore::setup::{
    client_secret_key, run_setup, ConfigDir, PasswordFailure, SetupOptions,
};

/// Runs in CI and in a long run (`MSGRAPH_KEYSTORE_LONG_TESTS`).
const CI_RUNS: usize = 60;
const LONG_RUNS: usize = 2000;
const DEFAULT_PARALLEL: usize = 6;
/// Each run, kill and resume included, must finish within this (the Graph deadline of each
/// attempt is shorter, so a stuck retry loop shows as that attempt's error first). The
/// slowest of 2,000 runs took 10 s on 2 shared cores (docs/reliability.md): both limits
/// stay at 10 times that or more, so a loaded CI machine does not fail a correct run.
const RUN_BUDGET: Duration = Duration::from_secs(150);
const GRAPH_DEADLINE: Duration = Duration::from_secs(100);
const APP_NAME: &str = "soak-realm";
const REALM: &str = "microsoft_graph1";
const LABEL: &str = "soak/microsoft_graph1";
const REALM_SCOPE: &str = "https://graph.microsoft.com/.default";
const ROLES: [&str; 3] = [
    "Directory.ReadWrite.All",
    "Group.ReadWrite.All",
    "User.Read.All",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Provision,
    Setup,
    Rotate,
}

/// How a run's first attempt is interrupted.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// Aborted once the tenant has received this many more Graph requests.
    AfterRequests(u64),
    /// Aborted after this long.
    After(Duration),
}

/// Everything random about one run, drawn up front from the seeded generator so a failing
/// run can be replayed (`MSGRAPH_KEYSTORE_TEST_SEED`, `SOAK_ONLY`).
#[derive(Debug, Clone)]
struct Plan {
    index: usize,
    kind: Kind,
    faults: Faults,
    kill: Option<Kill>,
    /// Other applications to page past: (display name, tags).
    others: Vec<(String, Vec<String>)>,
}

impl Plan {
    fn random(index: usize, rng: &mut StdRng) -> Plan {
        let kind = match rng.gen_range(0..10) {
            0..=4 => Kind::Provision,
            5..=7 => Kind::Setup,
            _ => Kind::Rotate,
        };
        let mut f = Faults {
            retry_after_secs: rng.gen_range(0.005..0.03),
            ..Faults::default()
        };
        if rng.gen_bool(0.5) {
            f.latency = Duration::from_millis(rng.gen_range(1..=5));
        }
        if rng.gen_bool(0.35) {
            f.throttle_every = Some(rng.gen_range(3..=12));
            f.throttle_burst = rng.gen_range(1..=3);
        }
        if rng.gen_bool(0.25) {
            f.unavailable_every = Some(rng.gen_range(4..=13));
        }
        if rng.gen_bool(0.3) {
            f.drop_connection_every = Some(rng.gen_range(3..=10));
            f.drop_after_processing = rng.gen_bool(0.5);
        }
        if kind == Kind::Provision && rng.gen_bool(0.25) {
            // No Retry-After: the client's own backoff. Only for library runs, whose Graph
            // client gets millisecond pacing; setup's final verify paces itself like the
            // realm (1 s and up), which would make a run take seconds per throttle.
            f.retry_after_secs = 0.0;
        }
        if rng.gen_bool(0.03) {
            // HTTP dates have whole-second resolution: each throttle costs about a second,
            // so only rarely, and only with sparse throttling.
            f.retry_after_http_date = true;
            f.retry_after_secs = 0.01;
            f.throttle_every = Some(rng.gen_range(10..=16));
            f.throttle_burst = 1;
            f.unavailable_every = None;
        }
        f.replication_reads = rng.gen_range(0..=4);
        f.not_valid_reference = rng.gen_range(0..=3);
        f.secret_replication_failures = rng.gen_range(0..=2);
        if rng.gen_bool(0.4) {
            f.page_size = rng.gen_range(1..=3);
        }
        let kill = if rng.gen_bool(0.4) {
            Some(if rng.gen_bool(0.6) {
                Kill::AfterRequests(rng.gen_range(1..=30))
            } else {
                Kill::After(Duration::from_millis(rng.gen_range(1..=80)))
            })
        } else {
            None
        };
        let mut others = Vec::new();
        if rng.gen_bool(0.3) {
            others.push((format!("{APP_NAME}-old"), vec![]));
            others.push((
                "another-realm".to_string(),
                vec!["msgraph-keystore:another-realm".to_string()],
            ));
            if rng.gen_bool(0.5) {
                others.push((APP_NAME.to_uppercase(), vec![]));
            }
        }
        Plan {
            index,
            kind,
            faults: f,
            kill,
            others,
        }
    }
}

/// What a run saw, for the summary.
#[derive(Debug, Default)]
struct RunStats {
    elapsed: Duration,
    requests: u64,
    killed: bool,
    kill_landed_after_completion: bool,
    /// A kill landed between a retried addPassword and the removal of the orphan its lost
    /// first answer left (two stale secrets).
    orphan_kept_by_kill: bool,
}

/// One run's tenant and clients.
struct Env {
    tenant: FakeTenant,
    http: reqwest::Client,
    endpoints: Endpoints,
    scratch: tempfile::TempDir,
}

impl Env {
    async fn start(plan: &Plan, http: reqwest::Client) -> Result<Env, String> {
        let tenant = FakeTenant::start(FakeTenantConfig {
            faults: plan.faults.clone(),
            tenant_id: None,
        })
        .await
        .map_err(|e| format!("start the fake tenant: {e}"))?;
        for (name, tags) in &plan.others {
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            tenant.seed_application(name, &tags);
        }
        let mut endpoints = Cloud::Global.endpoints();
        endpoints.access_token_host = tenant.access_token_host();
        endpoints.graph_host = tenant.graph_host();
        let scratch = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        Ok(Env {
            tenant,
            http,
            endpoints,
            scratch,
        })
    }

    /// A Graph client signed in as the admin, with millisecond retry pacing.
    fn graph(&self) -> Result<GraphClient, String> {
        let admin = self.tenant.admin();
        let tokens = ClientSecretSource::new(
            self.http.clone(),
            &self.tenant.access_token_host(),
            &admin.tenant_id,
            &admin.client_id,
            admin.client_secret,
        )
        .map_err(|e| e.to_string())?;
        GraphClient::new(
            self.http.clone(),
            Arc::new(tokens),
            &self.tenant.graph_host(),
            &self.endpoints.scope,
            Instant::now() + GRAPH_DEADLINE,
        )
        .map(|g| {
            g.with_retry_policy(RetryPolicy {
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(40),
                consistent_reads: 3,
                consistent_read_interval: Duration::from_millis(2),
            })
        })
        .map_err(|e| e.to_string())
    }

    fn provision_options(&self, add_secret: AddSecret) -> ProvisionOptions {
        let mut opts = ProvisionOptions::for_endpoints(&self.endpoints).with_app_name(APP_NAME);
        opts.add_secret = add_secret;
        opts.credential_name = secret_display_name(LABEL);
        opts
    }

    fn config_dir(&self) -> std::path::PathBuf {
        self.scratch.path().join("es-config")
    }

    /// The faults a resumed run sees: none, except the page size (not a fault, a shape).
    fn calm_down(&self, plan: &Plan) {
        self.tenant.set_faults(Faults {
            page_size: plan.faults.page_size,
            ..Faults::default()
        });
    }
}

/// One `provision` run; returns the new secret, if any.
async fn provision_once(env: &Env, add: AddSecret) -> Result<Option<SecretString>, String> {
    let graph = env.graph()?;
    let p = provision(&graph, &env.provision_options(add), &NoProgress)
        .await
        .map_err(|e| format!("provision: {e} (exit {})", e.exit_code().code()))?;
    Ok(p.new_secret.map(|s| s.value))
}

/// One `setup` run into the config directory (keystore without a password). Returns the
/// keyId of the secret it added, if it added one.
async fn setup_once(env: &Env, new_secret: bool) -> Result<Option<String>, String> {
    let dir = env.config_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("config dir: {e}"))?;
    let mut no_password = |_: &Path| -> Result<SecretString, PasswordFailure> {
        Err(PasswordFailure::new(
            ExitCode::Usage,
            CliError::new(ExitCode::Usage, "the soak keystore has no password"),
        ))
    };
    let opened = ConfigDir::open(&dir, REALM, &mut no_password, false)
        .map_err(|e| format!("open config dir: {e}"))?;
    let opts = SetupOptions {
        realm: REALM.to_string(),
        provision: env.provision_options(AddSecret::Never),
        new_secret,
        order: None,
        // Format 5 derives its key with 10,000 PBKDF2 rounds instead of v6's 210,000: the
        // same files and code paths, at a cost that lets hundreds of runs fit in CI (the
        // key derivation has its own tests and benchmarks).
        new_keystore_version: FormatVersion::V5,
        endpoints: env.endpoints.clone(),
        dry_run: false,
        // As `setup` does by default: wait until the new secret works. Without this, a
        // re-run inside the secret's replication window sees it refused and replaces it.
        verify: true,
        verify_wait: Duration::from_secs(10),
        verify_retry_interval: Duration::from_millis(10),
    };
    let graph = env.graph()?;
    run_setup(
        &graph,
        &env.http,
        std::slice::from_ref(&opened),
        &opts,
        &NoProgress,
    )
    .await
    .map(|(outcome, _)| outcome.provisioned.new_secret.map(|n| n.key_id))
    .map_err(|e| format!("setup: {e} (exit {})", e.exit_code().code()))
}

/// The realm's secret in the config directory's keystore.
fn keystore_secret(env: &Env) -> Result<SecretString, String> {
    let ks = keystore::load(&env.config_dir(), &SecretString::from(String::new()))
        .map_err(|e| format!("read the keystore: {e}"))?;
    ks.get_string(&client_secret_key(REALM))
        .map_err(|e| format!("keystore value: {e}"))?
        .ok_or_else(|| "the keystore holds no client secret for the realm".to_string())
}

/// How an attempt that may be killed ended.
enum Attempt<T> {
    /// It ran to completion (no kill planned, or it finished before the kill landed).
    Finished(T),
    /// It was aborted part-way.
    Killed,
}

/// Run `attempt` to completion, or (with `kill`) abort it part-way like a killed process.
async fn maybe_killed<T, F>(env: &Env, kill: Option<Kill>, attempt: F) -> Result<Attempt<T>, String>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let Some(kill) = kill else {
        return attempt.await.map(Attempt::Finished);
    };
    let task = tokio::spawn(attempt);
    let base = env.tenant.request_count();
    let stop_at = match kill {
        Kill::After(d) => Instant::now() + d,
        Kill::AfterRequests(_) => Instant::now() + RUN_BUDGET,
    };
    loop {
        if task.is_finished() {
            // It finished (or failed under its faults) before the kill: its result counts.
            return match task.await {
                Ok(result) => result.map(Attempt::Finished),
                Err(e) => Err(format!("attempt panicked: {e}")),
            };
        }
        let reached = match kill {
            Kill::AfterRequests(n) => env.tenant.request_count() >= base + n,
            Kill::After(_) => false,
        };
        if reached || Instant::now() >= stop_at {
            task.abort();
            let _ = task.await;
            return Ok(Attempt::Killed);
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

/// Execute one plan and check the invariants.
async fn run_plan(plan: &Plan, http: reqwest::Client) -> Result<RunStats, String> {
    let started = Instant::now();
    let env = Arc::new(Env::start(plan, http).await?);
    let mut stats = RunStats::default();

    // The secret the realm would use at the end, and secrets that must no longer work.
    let (secret, retired, killed) = match plan.kind {
        Kind::Provision => {
            let first = {
                let env = env.clone();
                async move { provision_once(&env, AddSecret::IfNone).await }
            };
            let (secret, killed) = match maybe_killed(&env, plan.kill, first).await? {
                Attempt::Finished(secret) => (secret, false),
                Attempt::Killed => {
                    // The killed run's secret (if it got that far) never reached a file: the
                    // user runs again with --new-secret.
                    env.calm_down(plan);
                    (provision_once(&env, AddSecret::Always).await?, true)
                }
            };
            let secret = secret.ok_or("provision handed out no new secret")?;
            (secret, Vec::new(), killed)
        }
        Kind::Setup => {
            let first = {
                let env = env.clone();
                async move { setup_once(&env, false).await }
            };
            let killed = matches!(maybe_killed(&env, plan.kill, first).await?, Attempt::Killed);
            if killed {
                env.calm_down(plan);
            }
            // A second setup converges after a kill, and keeps the working secret otherwise.
            let added = setup_once(&env, false).await?;
            if !killed && added.is_some() {
                return Err("a setup re-run replaced a working secret".to_string());
            }
            (keystore_secret(&env)?, Vec::new(), killed)
        }
        Kind::Rotate => {
            setup_once(&env, false).await?;
            let old = keystore_secret(&env)?;
            let rotation = {
                let env = env.clone();
                async move { setup_once(&env, true).await }
            };
            let (new_key, killed) = match maybe_killed(&env, plan.kill, rotation).await? {
                Attempt::Finished(key) => (key, false),
                Attempt::Killed => {
                    env.calm_down(plan);
                    (setup_once(&env, true).await?, true)
                }
            };
            let new_key = new_key.ok_or("the rotation added no secret")?;
            retire_other_tool_secrets(&env, &new_key).await?;
            (keystore_secret(&env)?, vec![old], killed)
        }
    };
    stats.killed = killed;
    stats.kill_landed_after_completion = plan.kill.is_some() && !killed;

    let snap = env.tenant.snapshot();
    let app_id = check_directory(&snap)?;
    let passwords = snap.applications_named(APP_NAME)[0]
        .password_credentials
        .len();
    // addPassword requests the tenant carried out but whose answer it dropped: each made a
    // secret whose value nobody ever saw.
    let lost_adds = env
        .tenant
        .lost_answers()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.ends_with("/addPassword"))
        .count();
    let max_passwords = match (plan.kind, killed) {
        // A rotation ends with exactly the new secret.
        (Kind::Rotate, _) => 1,
        // Uninterrupted runs leave no stale secret, even when the answer to addPassword was
        // lost (the orphan is found and removed).
        (_, false) => 1,
        // A killed run may leave the secret it added but never handed on: one stale. A
        // known limit (docs/reliability.md): if an addPassword answer was lost and the
        // kill lands after the retry succeeded but before the orphan was removed, that
        // orphan stays too.
        (_, true) => 2 + lost_adds,
    };
    if passwords > 2 {
        stats.orphan_kept_by_kill = true;
    }
    if passwords == 0 || passwords > max_passwords {
        let listed: Vec<String> = snap.applications_named(APP_NAME)[0]
            .password_credentials
            .iter()
            .map(|c| {
                format!(
                    "{} '{}' from {}",
                    c.key_id,
                    c.display_name.as_deref().unwrap_or_default(),
                    c.start_date_time.format("%H:%M:%S%.3f")
                )
            })
            .collect();
        return Err(format!(
            "{passwords} client secrets on the application (expected 1..={max_passwords}): {}",
            listed.join("; ")
        ));
    }
    check_secret_works(&env, &app_id, &secret).await?;
    for old in &retired {
        check_secret_refused(&env, &app_id, old).await?;
    }
    stats.requests = env.tenant.request_count();
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// What `rotate` does once the new secret is in place: remove the tool's other secrets
/// for this label (never anyone else's).
async fn retire_other_tool_secrets(env: &Env, keep_key_id: &str) -> Result<(), String> {
    let graph = env.graph()?;
    let object_id = env
        .tenant
        .snapshot()
        .applications_named(APP_NAME)
        .first()
        .map(|a| a.id.clone())
        .ok_or("no application to rotate")?;
    let app = graph
        .get_application(&object_id)
        .await
        .map_err(|e| format!("read the application: {e}"))?;
    let old: Vec<String> = app
        .password_credentials
        .iter()
        .filter(|c| is_tool_secret_for(c, LABEL) && c.key_id != keep_key_id)
        .map(|c| c.key_id.clone())
        .collect();
    remove_passwords(&graph, &object_id, &old)
        .await
        .map_err(|e| format!("remove old secrets: {e}"))?;
    Ok(())
}

/// Exactly one application and one service principal named `APP_NAME`, with the marker tag
/// and exactly the three Graph role grants. Returns its client id.
fn check_directory(snap: &TenantSnapshot) -> Result<String, String> {
    let apps = snap.applications_named(APP_NAME);
    if apps.len() != 1 {
        return Err(format!("{} applications named {APP_NAME}", apps.len()));
    }
    let app = apps[0];
    let sps: Vec<_> = snap
        .service_principals
        .iter()
        .filter(|s| s.app_id.eq_ignore_ascii_case(&app.app_id))
        .collect();
    if sps.len() != 1 {
        return Err(format!(
            "{} service principals for the application",
            sps.len()
        ));
    }
    let tag = format!("msgraph-keystore:{APP_NAME}");
    if !app.tags.contains(&tag) {
        return Err(format!("marker tag missing: {:?}", app.tags));
    }
    let grants = snap
        .app_role_assignments
        .iter()
        .filter(|a| a.principal_id == sps[0].id)
        .count();
    let roles = snap.graph_roles_granted_to(&sps[0].id);
    if grants != 3 || roles != ROLES {
        return Err(format!("{grants} grants, roles {roles:?}"));
    }
    Ok(app.app_id.clone())
}

/// The token endpoint issues the realm a token with `secret`, carrying the three roles. A
/// new secret may be refused a few times while it "replicates" (the fault knob).
async fn check_secret_works(env: &Env, app_id: &str, secret: &SecretString) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..6 {
        match client_credentials_token(
            &env.http,
            &env.tenant.access_token_host(),
            &env.tenant.tenant_id(),
            app_id,
            secret,
            REALM_SCOPE,
        )
        .await
        {
            Ok(token) => {
                let claims = decode_token_claims(token.token.expose_secret())
                    .ok_or("the token is not JWT-shaped")?;
                let mut roles = claims.roles.clone();
                roles.sort();
                if roles != ROLES {
                    return Err(format!("the realm's token carries roles {roles:?}"));
                }
                return Ok(());
            }
            Err(e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    Err(format!("the realm's secret is refused: {last}"))
}

/// A retired secret must be refused as bad credentials.
async fn check_secret_refused(
    env: &Env,
    app_id: &str,
    secret: &SecretString,
) -> Result<(), String> {
    match client_credentials_token(
        &env.http,
        &env.tenant.access_token_host(),
        &env.tenant.tenant_id(),
        app_id,
        secret,
        REALM_SCOPE,
    )
    .await
    {
        Ok(_) => Err("a retired secret still gets tokens".to_string()),
        Err(e) if e.exit_code() == ExitCode::CredentialsRejected => Ok(()),
        Err(e) => Err(format!("retired secret: unexpected error {e}")),
    }
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

struct Failure {
    plan: Plan,
    error: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {} ({:?}, kill {:?}): {}\n    faults: {:?}",
            self.plan.index, self.plan.kind, self.plan.kill, self.error, self.plan.faults
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_provisioning_under_random_faults() {
    let runs: usize =
        env_number("SOAK_RUNS").unwrap_or_else(|| seed_support::size(CI_RUNS, LONG_RUNS));
    let parallel: usize = env_number("SOAK_PARALLEL")
        .unwrap_or(DEFAULT_PARALLEL)
        .max(1);
    let seed = seed_support::seed("soak");
    let seed_var = seed_support::SEED_VAR;
    let only: Option<usize> = env_number("SOAK_ONLY");
    eprintln!("soak: {runs} runs, {parallel} at a time");

    let mut rng = StdRng::seed_from_u64(seed);
    let plans: Vec<Plan> = (0..runs)
        .map(|i| Plan::random(i, &mut rng))
        .filter(|p| only.is_none_or(|o| o == p.index))
        .collect();
    let http = build_client(&HttpOptions {
        request_timeout: Duration::from_secs(10),
        ..HttpOptions::default()
    })
    .expect("http client");

    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for plan in plans {
        let permits = permits.clone();
        let http = http.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = match tokio::time::timeout(RUN_BUDGET, run_plan(&plan, http)).await {
                Ok(r) => r,
                Err(_) => Err(format!("did not finish within {RUN_BUDGET:?}")),
            };
            (plan, result)
        });
    }

    let mut failures: Vec<Failure> = Vec::new();
    let mut done: Vec<(Plan, RunStats)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((plan, Ok(stats))) => done.push((plan, stats)),
            Ok((plan, Err(error))) => failures.push(Failure { plan, error }),
            Err(e) => panic!("soak run panicked: {e} ({seed_var}={seed})"),
        }
    }
    let total = started.elapsed();
    summarize(&done, total);

    if !failures.is_empty() {
        failures.sort_by_key(|f| f.plan.index);
        let shown: Vec<String> = failures.iter().take(25).map(|f| f.to_string()).collect();
        panic!(
            "{} of {} soak runs failed (replay with {seed_var}={seed} SOAK_ONLY=<run>):\n{}",
            failures.len(),
            failures.len() + done.len(),
            shown.join("\n")
        );
    }
    if only.is_none() {
        assert_eq!(done.len(), runs, "{seed_var}={seed}");
    }
}

/// Print what the soak covered and how long runs took (visible with `--nocapture`).
fn summarize(done: &[(Plan, RunStats)], total: Duration) {
    if done.is_empty() {
        return;
    }
    let count = |f: &dyn Fn(&Plan) -> bool| done.iter().filter(|(p, _)| f(p)).count();
    let mut times: Vec<Duration> = done.iter().map(|(_, s)| s.elapsed).collect();
    times.sort();
    let pct = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    let requests: u64 = done.iter().map(|(_, s)| s.requests).sum();
    eprintln!(
        "soak: {} runs in {:.1?} ({} provision, {} setup, {} rotate); {} killed and resumed, {} finished before their kill, {} kills kept a lost answer's orphan; \
         faults: {} throttled ({} with HTTP-date Retry-After), {} with 503s, {} dropping connections ({} after processing), \
         {} with replication delays, {} with one-to-three-item pages; {} Graph requests; run time p50 {:.0?}, p95 {:.0?}, max {:.0?}",
        done.len(),
        total,
        count(&|p| p.kind == Kind::Provision),
        count(&|p| p.kind == Kind::Setup),
        count(&|p| p.kind == Kind::Rotate),
        done.iter().filter(|(_, s)| s.killed).count(),
        done.iter().filter(|(_, s)| s.kill_landed_after_completion).count(),
        done.iter().filter(|(_, s)| s.orphan_kept_by_kill).count(),
        count(&|p| p.faults.throttle_every.is_some()),
        count(&|p| p.faults.retry_after_http_date),
        count(&|p| p.faults.unavailable_every.is_some()),
        count(&|p| p.faults.drop_connection_every.is_some()),
        count(&|p| p.faults.drop_connection_every.is_some() && p.faults.drop_after_processing),
        count(&|p| p.faults.replication_reads > 0 || p.faults.not_valid_reference > 0),
        count(&|p| p.faults.page_size <= 3),
        requests,
        pct(0.5),
        pct(0.95),
        pct(1.0),
    );
    for kind in [Kind::Provision, Kind::Setup, Kind::Rotate] {
        let mut t: Vec<Duration> = done
            .iter()
            .filter(|(p, _)| p.kind == kind)
            .map(|(_, s)| s.elapsed)
            .collect();
        if t.is_empty() {
            continue;
        }
        t.sort();
        let sum: Duration = t.iter().sum();
        eprintln!(
            "soak: {kind:?}: {} runs, mean {:.0?}, p50 {:.0?}, max {:.0?}",
            t.len(),
            sum / t.len() as u32,
            t[t.len() / 2],
            t[t.len() - 1]
        );
    }
    if std::env::var_os("SOAK_VERBOSE").is_some() {
        for (p, s) in done {
            eprintln!(
                "soak: run {} {:?} kill {:?} -> killed {} in {:.0?}, {} requests; {:?}",
                p.index, p.kind, p.kill, s.killed, s.elapsed, s.requests, p.faults
            );
        }
    }
    let slow: Vec<String> = done
        .iter()
        .filter(|(_, s)| s.elapsed > Duration::from_secs(4))
        .map(|(p, s)| format!("run {} {:?} {:.1?}", p.index, p.kind, s.elapsed))
        .collect();
    if !slow.is_empty() {
        eprintln!("soak: runs over 4 s: {}", slow.join(", "));
    }
}
