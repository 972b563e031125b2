//! Every fault knob of the fake tenant, and runs killed at every point: provisioning must
//! end in exactly one application, one service principal, three grants and one secret.

mod provision_common;

use std::time::{Duration, Instant};

use fake_tenant::Faults;
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::provision::{provision, AddSecret, NoProgress, Provisioned};
use provision_common::*;

/// Provision with a secret under `faults`, check convergence, then re-run cleanly and check
/// nothing changes.
async fn converges_under(faults: Faults) -> Provisioned {
    let tenant = tenant(faults).await;
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::IfNone;
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision under faults");
    let state = assert_converged(&tenant.snapshot());
    assert_eq!(state.passwords, 1, "exactly one secret");
    assert!(p.new_secret.is_some());
    let again = provision(&graph, &opts, &NoProgress)
        .await
        .expect("re-run under faults");
    assert_eq!(again.changes, vec![], "a re-run changes nothing");
    assert_eq!(assert_converged(&tenant.snapshot()).passwords, 1);
    p
}

#[tokio::test]
async fn latency() {
    converges_under(Faults {
        latency: Duration::from_millis(15),
        ..quick_faults()
    })
    .await;
}

#[tokio::test]
async fn throttling_with_retry_after_seconds_is_honoured() {
    let started = Instant::now();
    converges_under(Faults {
        throttle_every: Some(4),
        throttle_burst: 2,
        retry_after_secs: 0.15,
        ..Faults::default()
    })
    .await;
    // Bursts at several sequential stages of the flow, each waiting 150 ms (concurrent
    // requests may share a wait): at least three such waits, far above what the 5–40 ms
    // backoff alone would add.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn throttling_with_retry_after_http_date_is_honoured() {
    let started = Instant::now();
    converges_under(Faults {
        throttle_every: Some(12),
        retry_after_secs: 0.5,
        retry_after_http_date: true,
        ..Faults::default()
    })
    .await;
    // The date (now + 0.5 s) is rounded up to a whole second, so honouring it means waiting
    // at least 0.5 s (up to 1.5 s); ignoring it would back off for only 5–40 ms. Concurrent
    // requests may wait out the same date together, so one full wait is all that is certain.
    assert!(
        started.elapsed() >= Duration::from_millis(480),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn throttling_without_retry_after_backs_off() {
    converges_under(Faults {
        throttle_every: Some(3),
        retry_after_secs: 0.0,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn service_unavailable() {
    converges_under(Faults {
        unavailable_every: Some(4),
        ..quick_faults()
    })
    .await;
}

#[tokio::test]
async fn dropped_connections_before_processing() {
    converges_under(Faults {
        drop_connection_every: Some(4),
        ..quick_faults()
    })
    .await;
}

#[tokio::test]
async fn dropped_connections_after_processing_leave_no_duplicates_or_orphan_secrets() {
    // Every 3rd request is applied but unanswered: creates, tag PATCHes, grants and the
    // secret each hit it at some offset across these runs.
    for every in 2..=5 {
        converges_under(Faults {
            drop_connection_every: Some(every),
            drop_after_processing: true,
            ..quick_faults()
        })
        .await;
    }
}

#[tokio::test]
async fn replication_delays_on_new_objects() {
    converges_under(Faults {
        replication_reads: 4,
        ..quick_faults()
    })
    .await;
}

#[tokio::test]
async fn not_a_valid_reference_update_on_new_grants() {
    converges_under(Faults {
        replication_reads: 1,
        not_valid_reference: 3,
        ..quick_faults()
    })
    .await;
}

#[tokio::test]
async fn pagination_with_one_item_per_page() {
    let tenant = tenant(Faults {
        page_size: 1,
        ..quick_faults()
    })
    .await;
    // Other applications to page past, one of them tagged for another app name.
    tenant.seed_application("someone-else", &["msgraph-keystore:other"]);
    tenant.seed_application("another", &[]);
    let graph = admin_graph(&tenant);
    let mut opts = options(&tenant);
    opts.add_secret = AddSecret::IfNone;
    provision(&graph, &opts, &NoProgress)
        .await
        .expect("first run");
    let again = provision(&graph, &opts, &NoProgress)
        .await
        .expect("second run");
    // Three grants listed one per page, all seen: nothing to grant again.
    assert_eq!(again.changes, vec![]);
    assert_eq!(again.granted_permissions.len(), 3);
    assert_converged(&tenant.snapshot());
}

#[tokio::test]
async fn everything_at_once() {
    converges_under(Faults {
        latency: Duration::from_millis(2),
        throttle_every: Some(7),
        throttle_burst: 2,
        unavailable_every: Some(11),
        drop_connection_every: Some(13),
        drop_after_processing: true,
        replication_reads: 3,
        not_valid_reference: 2,
        ..quick_faults()
    })
    .await;
}

#[tokio::test]
async fn throttling_past_the_deadline_is_a_tempfail_naming_the_timeout() {
    let tenant = tenant(Faults {
        throttle_every: Some(1),
        retry_after_secs: 0.2,
        ..Faults::default()
    })
    .await;
    let graph = graph_with_deadline(&tenant, Duration::from_millis(700));
    let started = Instant::now();
    let err = provision(&graph, &options(&tenant), &NoProgress)
        .await
        .expect_err("always throttled");
    // The 0.7 s deadline ends it after about 0.9 s; without one it would never end. The bound
    // is over 10 times what the run needs, so a loaded CI machine does not fail it.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(err.exit_code(), ExitCode::TempFail);
    let msg = err.to_string();
    assert!(
        msg.contains("--timeout") && msg.contains("TooManyRequests"),
        "{msg}"
    );
}

#[tokio::test]
async fn replication_past_the_deadline_says_to_run_again_and_resumes() {
    // 60 failed reads outlast a 300 ms deadline at 5–40 ms per retry, not a 60 s one.
    let tenant = tenant(Faults {
        replication_reads: 60,
        ..quick_faults()
    })
    .await;
    let graph = graph_with_deadline(&tenant, Duration::from_millis(300));
    let err = provision(&graph, &options(&tenant), &NoProgress)
        .await
        .expect_err("never replicates");
    assert_eq!(err.exit_code(), ExitCode::TempFail);
    assert!(
        err.to_string().contains("run the same command again"),
        "{err}"
    );
    // The next run resumes with the application already made.
    let graph = admin_graph(&tenant);
    let p = provision(&graph, &options(&tenant), &NoProgress)
        .await
        .expect("resumed");
    assert!(!p.created);
    assert_converged(&tenant.snapshot());
}

/// Kill a run after its Nth Graph request, for every N a clean run makes, then re-run: the
/// tenant always converges to one app, one service principal, three grants, one secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_at_any_point_converges_when_run_again() {
    killed_at_every_request(Faults::default()).await;
}

/// The same while new objects are still replicating when the run dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_while_objects_replicate_converges_when_run_again() {
    killed_at_every_request(Faults {
        replication_reads: 2,
        not_valid_reference: 1,
        ..Faults::default()
    })
    .await;
}

async fn killed_at_every_request(faults: Faults) {
    // How many requests does a clean run make?
    let clean = tenant(faults.clone()).await;
    let mut opts = options(&clean);
    opts.add_secret = AddSecret::IfNone;
    provision(&admin_graph(&clean), &opts, &NoProgress)
        .await
        .expect("clean run");
    let total = clean.snapshot().request_count;
    assert!(total > 5, "{total}");

    let (mut resumed_from_nothing, mut resumed_half_done) = (0, 0);
    for kill_after in 1..=total {
        let tenant = tenant(Faults {
            // Slow enough that the kill lands between two requests.
            latency: Duration::from_millis(8),
            ..faults.clone()
        })
        .await;
        let graph = admin_graph(&tenant);
        let mut opts = options(&tenant);
        opts.add_secret = AddSecret::IfNone;
        let run = tokio::spawn(async move {
            let _ = provision(&graph, &opts, &NoProgress).await;
        });
        let base = tenant.snapshot().request_count;
        let give_up = Instant::now() + Duration::from_secs(10);
        while tenant.snapshot().request_count < base + kill_after && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        run.abort();
        let _ = run.await;

        tenant.set_faults(faults.clone());
        let graph = admin_graph(&tenant);
        let mut opts = options(&tenant);
        opts.add_secret = AddSecret::IfNone;
        let p = provision(&graph, &opts, &NoProgress)
            .await
            .unwrap_or_else(|e| panic!("re-run after a kill at request {kill_after}: {e}"));
        let state = assert_converged(&tenant.snapshot());
        assert_eq!(state.passwords, 1, "killed at request {kill_after}");
        assert!(p.secrets.len() == 1, "killed at request {kill_after}");
        if p.created {
            resumed_from_nothing += 1;
        } else if !p.changes.is_empty() {
            resumed_half_done += 1;
        }
    }
    // The kills landed both before the application existed and after it was partly set up.
    assert!(
        resumed_from_nothing > 0 && resumed_half_done > 0,
        "{resumed_from_nothing} {resumed_half_done}"
    );
}
