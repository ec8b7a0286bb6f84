//! What the network sources (etcd, Kubernetes) share: the task that follows the store, on
//! the caller's tokio runtime or on a thread of its own; retry delays; reporting an outage
//! once; telling waiters the first read is done.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot};

use crate::error::{StartError, UpdateError, WatchError};
use crate::pipeline::Pipeline;
use crate::status::SourceStatus;

/// Default first retry delay after a failure.
pub const DEFAULT_RETRY_MIN: Duration = Duration::from_millis(250);
/// Default longest retry delay.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(10);

/// Where a source's task runs and how it retries: the settings both network sources take.
#[derive(Debug, Clone)]
pub(crate) struct TaskOptions {
    pub runtime: Option<Handle>,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions {
            runtime: None,
            retry_min: DEFAULT_RETRY_MIN,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }
}

impl TaskOptions {
    pub(crate) fn retry(&mut self, min: Duration, max: Duration) {
        self.retry_min = min.max(Duration::from_millis(1));
        self.retry_max = max.max(self.retry_min);
    }

    pub(crate) fn backoff(&self) -> Backoff {
        Backoff {
            min: self.retry_min,
            max: self.retry_max,
            next: self.retry_min,
        }
    }
}

/// Exponential retry delays, from `min` doubling to `max`, each shortened by up to a fifth
/// at random so that a fleet does not retry in step.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// The delay before the next attempt.
    pub(crate) fn delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        let random = RandomState::new().hash_one(Instant::now());
        delay.mul_f64(1.0 - (random % 1000) as f64 / 5000.0)
    }

    /// Back to the shortest delay (after a success).
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Whether the source can reach its store: an outage is reported once (again only when its
/// reason changes), and the end of an outage marks the status healthy.
#[derive(Debug, Default)]
pub(crate) struct Health {
    broken: Option<String>,
}

impl Health {
    /// Reports a failure to reach or follow the store; the rules in force stay.
    pub(crate) fn failed(&mut self, pipeline: &Pipeline, what: &str, message: String) {
        if self.broken.as_deref() == Some(message.as_str()) {
            tracing::debug!(source = %pipeline.label(), what, %message, "still failing; retrying");
            return;
        }
        pipeline.report_error(UpdateError::Watch {
            what: what.to_string(),
            message: message.clone(),
        });
        self.broken = Some(message);
    }

    /// The store answers again.
    pub(crate) fn recovered(&mut self, pipeline: &Pipeline) {
        if self.broken.take().is_some() {
            pipeline.report_in_sync();
        }
    }
}

/// Tells waiters that the source has read its store once, and whether that first read
/// was accepted whole.
#[derive(Debug, Default)]
pub(crate) struct Synced {
    state: Mutex<FirstRead>,
    changed: Condvar,
    notify: Notify,
}

#[derive(Debug, Default)]
struct FirstRead {
    done: bool,
    /// The first error of the first read (a rejected document, nothing found).
    error: Option<UpdateError>,
}

impl Synced {
    /// Records an error of the first read (only the first is kept; none after it is done).
    pub(crate) fn first_read_failed(&self, error: &UpdateError) {
        let mut state = self.state.lock();
        if !state.done && state.error.is_none() {
            state.error = Some(error.clone());
        }
    }

    pub(crate) fn set(&self) {
        let mut state = self.state.lock();
        if !state.done {
            state.done = true;
            self.changed.notify_all();
            self.notify.notify_waiters();
        }
    }

    /// Whether it is set.
    #[cfg(feature = "etcd")]
    pub(crate) fn is_set(&self) -> bool {
        self.state.lock().done
    }

    /// Blocks until set or until `timeout` has passed; whether it was set.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        self.wait_outcome(timeout).is_some()
    }

    /// Blocks until set or until `timeout` has passed; the first read's outcome once set.
    fn wait_outcome(&self, timeout: Duration) -> Option<Result<(), UpdateError>> {
        let mut state = self.state.lock();
        if !state.done {
            self.changed
                .wait_while_for(&mut state, |state| !state.done, timeout);
        }
        state.done.then(|| state.error.clone().map_or(Ok(()), Err))
    }

    /// Waits until set.
    pub(crate) async fn wait_async(&self) {
        loop {
            let notified = self.notify.notified();
            if self.state.lock().done {
                return;
            }
            notified.await;
        }
    }
}

/// Lets the task update the rules only while the source is open: once closed, no update
/// starts, and closing waits for one in progress.
#[derive(Debug, Clone)]
pub(crate) struct Gate(Arc<Mutex<bool>>);

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate(Arc::new(Mutex::new(true)))
    }

    /// Runs `f` unless the source is closed.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let open = self.0.lock();
        open.then(f)
    }

    fn close(&self) {
        *self.0.lock() = false;
    }
}

/// A running source that follows a remote store ([`EtcdSource`](crate::EtcdSource),
/// [`KubeSource`](crate::KubeSource) dereference to it): its status, and waiting for its
/// first read. Dropping it stops the source: once `drop` returns, no update is applied.
pub struct RemoteSource {
    what: String,
    pipeline: Pipeline,
    synced: Arc<Synced>,
    _task: SourceTask,
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource")
            .field("what", &self.what)
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

impl RemoteSource {
    pub(crate) fn new(
        what: String,
        pipeline: Pipeline,
        synced: Arc<Synced>,
        task: SourceTask,
    ) -> Self {
        RemoteSource {
            what,
            pipeline,
            synced,
            _task: task,
        }
    }

    /// What the source follows (`etcd key /sentinel/flow`, `custom resources in namespace
    /// shop`).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The pipeline the source feeds.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The pipeline's status: rules in force, last success, last error (a rejected
    /// document, an unreachable store).
    pub fn status(&self) -> SourceStatus {
        self.pipeline.status()
    }

    /// Blocks until the source has read its store once (every kind listed, for
    /// Kubernetes), or until `timeout` has passed; whether it has. Not for async code:
    /// use [`RemoteSource::synced`] there.
    pub fn wait_synced(&self, timeout: Duration) -> bool {
        self.synced.wait(timeout)
    }

    /// Waits until the source has read its store once.
    pub async fn synced(&self) {
        self.synced.wait_async().await
    }

    /// What a strict start asks: the first read done within `timeout` and accepted whole.
    pub(crate) fn first_load(&self, timeout: Duration) -> Result<(), StartError> {
        match self.synced.wait_outcome(timeout) {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(StartError::FirstLoad {
                what: self.what.clone(),
                error,
            }),
            None => Err(StartError::TimedOut {
                what: self.what.clone(),
                timeout,
                last_error: self.status().last_error.map(|e| e.error),
            }),
        }
    }
}

/// A source's task: stopped, and its updates with it, when this is dropped.
pub(crate) struct SourceTask {
    gate: Gate,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SourceTask {
    /// Runs `task` on `runtime`, or on a new thread `name` with a single-threaded runtime
    /// of its own.
    pub(crate) fn spawn<F>(
        name: &str,
        what: &str,
        runtime: Option<Handle>,
        gate: Gate,
        task: F,
    ) -> Result<SourceTask, WatchError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let until_stopped = async move {
            tokio::select! {
                () = task => {}
                _ = stopped => {}
            }
        };
        let mut source = SourceTask {
            gate,
            stop: Some(stop),
            thread: None,
            task: None,
        };
        let error = |e: std::io::Error| WatchError {
            what: what.to_string(),
            message: format!("cannot start the source's runtime: {e}"),
        };
        match runtime {
            Some(handle) => source.task = Some(handle.spawn(until_stopped)),
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(error)?;
                let thread = std::thread::Builder::new()
                    .name(name.to_string())
                    .spawn(move || {
                        rt.block_on(until_stopped);
                        // Ends the client's background tasks (connections) with the runtime.
                        rt.shutdown_timeout(Duration::from_secs(1));
                    })
                    .map_err(error)?;
                source.thread = Some(thread);
            }
        }
        Ok(source)
    }
}

impl Drop for SourceTask {
    fn drop(&mut self) {
        // Waits for an update in progress; none starts after this.
        self.gate.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_and_reset() {
        let mut options = TaskOptions::default();
        options.retry(Duration::from_millis(100), Duration::from_millis(350));
        let mut backoff = options.backoff();
        let delays: Vec<Duration> = (0..4).map(|_| backoff.delay()).collect();
        for (delay, full) in delays.iter().zip([100, 200, 350, 350]) {
            let full = Duration::from_millis(full);
            assert!(*delay <= full && *delay >= full.mul_f64(0.8), "{delays:?}");
        }
        backoff.reset();
        assert!(backoff.delay() <= Duration::from_millis(100));
    }

    #[test]
    fn an_outage_is_reported_once_and_its_end_marks_the_status_healthy() {
        let sentinel = sentinel_core::Sentinel::new();
        let pipeline = Pipeline::for_kind::<crate::Flow>(&sentinel);
        let mut health = Health::default();
        health.failed(&pipeline, "etcd", "connection refused".into());
        health.failed(&pipeline, "etcd", "connection refused".into());
        assert_eq!(pipeline.status().updates_rejected, 1);
        health.failed(&pipeline, "etcd", "timed out".into());
        assert_eq!(pipeline.status().updates_rejected, 2);
        assert!(!pipeline.status().is_healthy());
        health.recovered(&pipeline);
        assert!(pipeline.status().is_healthy());
        assert_eq!(pipeline.status().updates_applied, 0);
    }

    #[test]
    fn dropping_a_task_on_its_own_thread_stops_it() {
        let gate = Gate::new();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let task = SourceTask::spawn("t", "test", None, gate.clone(), async move {
            let _tx = tx; // dropped when the task ends
            std::future::pending::<()>().await;
        })
        .unwrap();
        drop(task);
        assert_eq!(gate.run(|| ()), None);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn synced_wakes_blocking_and_async_waiters() {
        let synced = Arc::new(Synced::default());
        assert!(!synced.wait(Duration::from_millis(1)));
        let waiter = {
            let synced = synced.clone();
            std::thread::spawn(move || synced.wait(Duration::from_secs(30)))
        };
        synced.set();
        assert!(waiter.join().unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(synced.wait_async());
    }
}
