//! Running a variable number of Graph calls at once. `tokio::join!` covers a fixed set;
//! the confirming reads and the grants come in numbers known only at run time.
//!
//! The futures run concurrently on the caller's task (no spawning), so they may borrow
//! the Graph client and the flow's state.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Await every future in `futures` concurrently; the outputs come back in the same order.
/// Each future is polled only when it asks to be, until all have finished.
pub(crate) async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::sync::Notify;

    #[tokio::test]
    async fn outputs_keep_the_input_order() {
        let out = join_all([30u64, 0, 10].map(|ms| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        }))
        .await;
        assert_eq!(out, vec![30, 0, 10]);
    }

    #[tokio::test]
    async fn the_futures_run_at_the_same_time() {
        // The first waits for a signal only the last one sends: one after the other, this
        // would never finish.
        let signal = Notify::new();
        let (waiter, sender) = (&signal, &signal);
        let futures: Vec<Pin<Box<dyn Future<Output = &str> + '_>>> = vec![
            Box::pin(async move {
                waiter.notified().await;
                "waited"
            }),
            Box::pin(async move {
                sender.notify_one();
                "sent"
            }),
        ];
        let out = tokio::time::timeout(Duration::from_secs(10), join_all(futures)).await;
        assert_eq!(out.ok(), Some(vec!["waited", "sent"]));
    }

    #[tokio::test]
    async fn nothing_to_wait_for() {
        let out: Vec<u8> = join_all(Vec::<std::future::Ready<u8>>::new()).await;
        assert!(out.is_empty());
    }
}
