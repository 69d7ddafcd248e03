//! Stopping without dropping work: on SIGTERM or Ctrl-C the host stops taking new requests and
//! queue messages, lets the invocations already running finish within `--drain-timeout`, and
//! only then tells the workers to terminate. Microsoft's Node worker exits as soon as it gets
//! `WorkerTerminate`, so terminating first would turn every in-flight request into a 503.

use std::time::Duration;

use tokio::sync::watch;

/// Default for `--drain-timeout`: as long as Kubernetes' default `terminationGracePeriodSeconds`.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Tells the parts of the host that take new work (the HTTP listener, queue and timer
/// listeners) that the host is stopping. Cheap to clone; every clone sees the same signal.
#[derive(Debug, Clone)]
pub struct StopSignal {
    receiver: watch::Receiver<bool>,
}

/// The sending half, held by whoever decides to stop (the host).
#[derive(Debug)]
pub struct StopTrigger {
    sender: watch::Sender<bool>,
}

/// A new stop signal and the trigger that raises it.
pub fn stop_signal() -> (StopTrigger, StopSignal) {
    let (sender, receiver) = watch::channel(false);
    (StopTrigger { sender }, StopSignal { receiver })
}

impl StopTrigger {
    /// Raises the signal; every [`StopSignal::stopped`] completes.
    pub fn stop(&self) {
        self.sender.send_replace(true);
    }
}

impl StopSignal {
    /// Completes once the host is stopping (at once if it already is). A trigger that was
    /// dropped without stopping counts as a stop: nobody could raise it any more.
    pub async fn stopped(&self) {
        let mut receiver = self.receiver.clone();
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }

    /// Whether the host is stopping.
    pub fn is_stopping(&self) -> bool {
        *self.receiver.borrow()
    }
}

/// Waits for `work` to finish for at most `timeout`; says whether it did.
pub async fn within<F: std::future::Future>(timeout: Duration, work: F) -> bool {
    tokio::time::timeout(timeout, work).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopped_completes_for_every_clone_after_stop() {
        let (trigger, signal) = stop_signal();
        let other = signal.clone();
        assert!(!signal.is_stopping());
        let waiting = tokio::spawn(async move { other.stopped().await });
        trigger.stop();
        waiting.await.unwrap();
        assert!(signal.is_stopping());
        // Already stopped: completes at once.
        signal.stopped().await;
    }

    #[tokio::test]
    async fn a_dropped_trigger_releases_the_waiters() {
        let (trigger, signal) = stop_signal();
        drop(trigger);
        signal.stopped().await;
    }
}
