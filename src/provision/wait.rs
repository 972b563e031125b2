//! Waiting out Entra ID replication: a just-created object answers 404 (or "not a valid
//! reference") from some replicas for seconds to minutes. Two tools: poll a read until it
//! succeeds several times in a row, and retry a write while it fails with a
//! replication error. Both stop at the run's deadline.

use std::future::Future;
use std::time::Instant;

use super::error::ProvisionError;
use super::progress::Progress;
use crate::graph::{ErrorClass, GraphClient, GraphError};

/// Poll `read` until it succeeds `consistent_reads` times in a row (a single success may
/// come from the one replica that already has the object). Replication errors reset the
/// count; other errors end the wait.
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
    let started = Instant::now();
    let mut streak = 0u32;
    let mut failures = 0u32;
    let mut last: Option<GraphError> = None;
    loop {
        let pause = match read().await {
            Ok(value) => {
                streak += 1;
                if streak >= policy.consistent_reads.max(1) {
                    progress.done_waiting();
                    return Ok(value);
                }
                policy.consistent_read_interval
            }
            Err(e) if e.class() == ErrorClass::ReplicationTransient => {
                streak = 0;
                let pause = policy.backoff(failures);
                failures = failures.saturating_add(1);
                last = Some(e);
                pause
            }
            Err(e) => {
                progress.done_waiting();
                return Err(e.into());
            }
        };
        progress.waiting(&format!("waiting for {what} to replicate"));
        if Instant::now() + pause > graph.deadline() {
            progress.done_waiting();
            return Err(ProvisionError::ReplicationTimeout {
                what: what.to_string(),
                waited: started.elapsed(),
                last: last.map(Box::new),
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
