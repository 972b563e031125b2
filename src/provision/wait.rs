//! Waiting out Entra ID replication: a just-created object answers 404 (or "not a valid
//! reference") from some replicas for seconds to minutes. Two tools: poll a read until it
//! succeeds several times in a row, and retry a write while it fails with a
//! replication error. Both stop at the run's deadline.

use std::future::Future;
use std::time::Instant;

use super::concurrent::join_all;
use super::error::ProvisionError;
use super::progress::Progress;
use crate::graph::{ErrorClass, GraphClient, GraphError};

/// Read until `consistent_reads` reads in a row succeed (a single success may come from the
/// one replica that already has the object). The reads of one round are sent together:
/// each lands on whichever replica the front end picks, just as reads sent one after the
/// other would, so a round of N successes is the same evidence as N in a row — for one
/// round trip instead of N, and without pauses between them. A replication error in a round
/// means another round after a backoff; any other error ends the wait.
pub async fn until_consistent<T, F, Fut>(
    graph: &GraphClient,
    progress: &dyn Progress,
    what: &str,
    mut read: F,
) -> Result<T, ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GraphError>>,
{
    let policy = graph.retry_policy().clone();
    let wanted = policy.consistent_reads.max(1);
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        let round = join_all((0..wanted).map(|_| read())).await;
        let mut value = None;
        let mut last = None;
        for result in round {
            match result {
                Ok(v) => value = Some(v),
                Err(e) if e.class() == ErrorClass::ReplicationTransient => last = Some(e),
                Err(e) => {
                    progress.done_waiting();
                    return Err(e.into());
                }
            }
        }
        let Some(e) = last else {
            progress.done_waiting();
            // `wanted` ≥ 1 reads all succeeded, so there is a value.
            return value.ok_or_else(|| ProvisionError::ReplicationTimeout {
                what: what.to_string(),
                waited: started.elapsed(),
                last: None,
            });
        };
        let pause = policy.backoff(failures);
        failures = failures.saturating_add(1);
        progress.waiting(&format!("waiting for {what} to replicate"));
        if Instant::now() + pause > graph.deadline() {
            progress.done_waiting();
            return Err(ProvisionError::ReplicationTimeout {
                what: what.to_string(),
                waited: started.elapsed(),
                last: Some(Box::new(e)),
            });
        }
        tokio::time::sleep(pause).await;
    }
}

/// Run `op` until it succeeds or fails with anything but a replication error (which is
/// returned as [`ProvisionError::Graph`] for the caller to inspect).
pub async fn while_replicating<T, F, Fut>(
    graph: &GraphClient,
    progress: &dyn Progress,
    what: &str,
    mut op: F,
) -> Result<T, ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GraphError>>,
{
    let policy = graph.retry_policy().clone();
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        match op().await {
            Ok(value) => {
                if failures > 0 {
                    progress.done_waiting();
                }
                return Ok(value);
            }
            Err(e) if e.class() == ErrorClass::ReplicationTransient => {
                let pause = policy.backoff(failures);
                failures = failures.saturating_add(1);
                tracing::debug!("{what}: replication not done yet: {e}");
                progress.waiting(&format!("waiting for replication before {what}"));
                if Instant::now() + pause > graph.deadline() {
                    progress.done_waiting();
                    return Err(ProvisionError::ReplicationTimeout {
                        what: format!("the objects needed to {what}"),
                        waited: started.elapsed(),
                        last: Some(Box::new(e)),
                    });
                }
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                if failures > 0 {
                    progress.done_waiting();
                }
                return Err(ProvisionError::Graph(e));
            }
        }
    }
}
