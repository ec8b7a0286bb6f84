//! Rules from etcd v3: one key (its value a rule document) or every key under a prefix
//! (each one document, merged per kind).
//!
//! The source reads the key or prefix, then watches from the revision of that read, so no
//! update between the two is missed. When etcd cannot be reached or the watch breaks, the
//! rules in force stay, the status shows the error, and the source retries with growing
//! delays; on reconnecting it watches on from the last revision it saw, so updates made
//! during the outage arrive (if etcd has compacted that revision away, it reads everything
//! again). The source only reads; only its editor ([`EtcdSource::editor`]) writes, when
//! asked to.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Txn, TxnOp, WatchOptions,
};
use parking_lot::Mutex;
use tokio::runtime::Handle;

use crate::edit::{EditError, Held, RuleEditor, Store, rewritable};
use crate::error::{StartError, UpdateError, WatchError};
use crate::format::Format;
use crate::merge::{Change, Document, DocumentSet};
use crate::pipeline::Pipeline;
use crate::task::{Backoff, Gate, Health, RemoteSource, SourceTask, Synced, TaskOptions};

/// What an [`EtcdSource`] follows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Key(String),
    Prefix(String),
}

impl Target {
    fn key(&self) -> &str {
        match self {
            Target::Key(k) | Target::Prefix(k) => k,
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Key(k) => format!("etcd key {k}"),
            Target::Prefix(p) => format!("etcd prefix {p}"),
        }
    }

    fn get_options(&self) -> Option<GetOptions> {
        matches!(self, Target::Prefix(_)).then(|| GetOptions::new().with_prefix())
    }

    fn watch_options(&self, start_revision: i64) -> WatchOptions {
        let options = WatchOptions::new().with_start_revision(start_revision);
        match self {
            Target::Key(_) => options,
            Target::Prefix(_) => options.with_prefix(),
        }
    }
}

/// Configures an [`EtcdSource`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EtcdSourceBuilder {
    endpoints: Vec<String>,
    target: Target,
    format: Format,
    connect: ConnectOptions,
    task: TaskOptions,
}

impl EtcdSourceBuilder {
    /// The values' format (default [`Format::Auto`]: JSON if a value starts with `[` or
    /// `{`, YAML otherwise).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// etcd-client's connection options: user and password, TLS (with etcd-client's TLS
    /// features), timeouts. Replaces the defaults: 5 s to connect, 10 s per request, HTTP/2
    /// keep-alive pings every 10 s (a dead connection is noticed within 15 s).
    pub fn connect_options(mut self, options: ConnectOptions) -> Self {
        self.connect = options;
        self
    }

    /// Retry delays after a failure: from `min`, doubling up to `max` (defaults
    /// [`DEFAULT_RETRY_MIN`](crate::DEFAULT_RETRY_MIN) and
    /// [`DEFAULT_RETRY_MAX`](crate::DEFAULT_RETRY_MAX)).
    pub fn retry(mut self, min: Duration, max: Duration) -> Self {
        self.task.retry(min, max);
        self
    }

    /// Runs the source's task on this tokio runtime instead of on a thread of its own.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.task.runtime = Some(handle);
        self
    }

    /// Starts following the key or prefix and waits, up to `timeout`, for the first read
    /// to be accepted whole; otherwise stops the source and returns why:
    /// [`StartError::TimedOut`] when etcd did not answer in time (with the last connection
    /// error), [`StartError::FirstLoad`] when the key (or every key under the prefix) is
    /// missing or a document was rejected. Blocks the calling thread: on a current-thread
    /// runtime that also runs the source ([`EtcdSourceBuilder::runtime`]), call it from
    /// `spawn_blocking`. Once started, the source behaves as after
    /// [`EtcdSourceBuilder::start`].
    pub fn start_strict(
        self,
        pipeline: Pipeline,
        timeout: Duration,
    ) -> Result<EtcdSource, StartError> {
        let source = self.start(pipeline)?;
        source.remote.first_load(timeout)?;
        Ok(source)
    }

    /// Starts following the key or prefix into `pipeline` and returns at once; the first
    /// read happens in the background ([`RemoteSource::wait_synced`] waits for it). An
    /// unreachable etcd is not an error here: the source keeps trying, and the status
    /// shows why it cannot read. Fails only if no endpoint is given or the source's thread
    /// cannot start; [`EtcdSourceBuilder::start_strict`] waits for the first read.
    pub fn start(self, pipeline: Pipeline) -> Result<EtcdSource, WatchError> {
        let what = self.target.describe();
        if self.endpoints.is_empty() {
            return Err(WatchError {
                what,
                message: "no etcd endpoint given".into(),
            });
        }
        pipeline.attach(&what);
        let gate = Gate::new();
        let synced = Arc::new(Synced::default());
        let in_force = Arc::new(Mutex::new(None));
        let store = match &self.target {
            Target::Key(key) => Some(Arc::new(KeyStore {
                what: what.clone(),
                key: key.clone(),
                endpoints: self.endpoints.clone(),
                connect: self.connect.clone(),
                format: self.format,
                in_force: in_force.clone(),
            })),
            Target::Prefix(_) => None,
        };
        let follower = Follower {
            what: what.clone(),
            endpoints: self.endpoints,
            target: self.target,
            format: self.format,
            connect: self.connect,
            set: DocumentSet::new(pipeline.clone()),
            gate: gate.clone(),
            synced: synced.clone(),
            revision: None,
            in_force,
            health: Health::default(),
            backoff: self.task.backoff(),
        };
        let task = SourceTask::spawn(
            "sentinel-etcd",
            &what,
            self.task.runtime,
            gate,
            follower.run(),
        )?;
        let editor = store.map(|store| RuleEditor::stored(&pipeline, store));
        Ok(EtcdSource {
            remote: RemoteSource::new(what, pipeline, synced, task),
            editor,
        })
    }
}

/// Rules kept in step with an etcd key or prefix.
///
/// No tokio runtime is needed: by default the source runs on a thread of its own (with a
/// single-threaded runtime), so it suits synchronous programs; inside an async program,
/// [`EtcdSourceBuilder::runtime`] puts it on yours. Dropping the source stops it: once
/// `drop` returns, no update is applied. Nothing is written to etcd except by the
/// source's [`EtcdSource::editor`].
///
/// ```no_run
/// use std::time::Duration;
/// use sentinel_core::Sentinel;
/// use sentinel_datasource::{EtcdSource, Flow, Pipeline};
///
/// let sentinel = Sentinel::new();
/// // One key whose value is a list of flow rules ...
/// let flow = EtcdSource::key(["http://127.0.0.1:2379"], "/sentinel/checkout/flow")
///     .start(Pipeline::for_kind::<Flow>(&sentinel))?;
/// // ... or every key under a prefix, each a document, merged per kind.
/// let all = EtcdSource::prefix(["http://127.0.0.1:2379"], "/sentinel/checkout/")
///     .start(Pipeline::builder(&sentinel).all_kinds().build())?;
/// flow.wait_synced(Duration::from_secs(5));
/// println!("{:?}", flow.status());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EtcdSource {
    remote: RemoteSource,
    editor: Option<RuleEditor>,
}

impl std::ops::Deref for EtcdSource {
    type Target = RemoteSource;

    fn deref(&self) -> &RemoteSource {
        &self.remote
    }
}

impl EtcdSource {
    /// An editor of the rules that writes the pipeline's whole document to the key, so
    /// that an edit survives a restart and reaches every instance following the key (see
    /// [`RuleEditor`]); `None` for a source that follows a prefix (which key would an edit
    /// go to?).
    ///
    /// The document (every kind the pipeline loads) is written in the source's format; for
    /// [`Format::Auto`], in the format of the value in etcd, JSON for a new key. It is put
    /// in one transaction on the condition that the key's modification revision is still
    /// the one whose rules are in force (for a key that did not exist, that it still does
    /// not), so that a concurrent change is never overwritten: the edit is refused with
    /// [`EditError::Conflict`] instead, as it is when the key holds rejected content or
    /// the source has not read the key yet. The source's watch then sees the put and finds
    /// its rules in force. Each edit connects to etcd on a thread of its own, with the
    /// source's connection options; etcd unreachable is [`EditError::Write`].
    pub fn editor(&self) -> Option<RuleEditor> {
        self.editor.clone()
    }

    /// Starts configuring a source that follows one key; its value is a rule document.
    pub fn key<E: Into<String>>(
        endpoints: impl IntoIterator<Item = E>,
        key: impl Into<String>,
    ) -> EtcdSourceBuilder {
        Self::builder(endpoints, Target::Key(key.into()))
    }

    /// Starts configuring a source that follows every key under `prefix`; each value is a
    /// rule document, and the rules of all of them are merged per kind (see
    /// [`DocumentSet`]).
    pub fn prefix<E: Into<String>>(
        endpoints: impl IntoIterator<Item = E>,
        prefix: impl Into<String>,
    ) -> EtcdSourceBuilder {
        Self::builder(endpoints, Target::Prefix(prefix.into()))
    }

    fn builder<E: Into<String>>(
        endpoints: impl IntoIterator<Item = E>,
        target: Target,
    ) -> EtcdSourceBuilder {
        EtcdSourceBuilder {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            target,
            format: Format::Auto,
            connect: ConnectOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(10))
                .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5)),
            task: TaskOptions::default(),
        }
    }
}

/// Why a session with etcd ended.
enum Ended {
    /// The watch's start revision was compacted: read everything again, at once.
    Compacted,
    /// Connection or watch failure: retry after a delay.
    Failed(String),
}

impl From<etcd_client::Error> for Ended {
    fn from(e: etcd_client::Error) -> Self {
        Ended::Failed(e.to_string())
    }
}

/// The source's task.
struct Follower {
    what: String,
    endpoints: Vec<String>,
    target: Target,
    format: Format,
    connect: ConnectOptions,
    set: DocumentSet,
    gate: Gate,
    synced: Arc<Synced>,
    /// The last revision applied; `None` until the first read, and after a compaction.
    revision: Option<i64>,
    /// The modification revision of the key whose value is in force (0: the key did not
    /// exist), for an editor; `None` until the first read. Held while an update is
    /// applied, so that it always matches the rules in force.
    in_force: Arc<Mutex<Option<i64>>>,
    health: Health,
    backoff: Backoff,
}

impl Follower {
    async fn run(mut self) {
        loop {
            match self.session().await {
                Ended::Compacted => {
                    tracing::info!(source = %self.what, "watch revision compacted; reading everything again");
                    self.revision = None;
                }
                Ended::Failed(message) => {
                    let pipeline = self.set.pipeline().clone();
                    self.health.failed(&pipeline, &self.what, message);
                    tokio::time::sleep(self.backoff.delay()).await;
                }
            }
        }
    }

    /// Connects, reads unless resuming, and follows the watch until it ends.
    async fn session(&mut self) -> Ended {
        let mut client = match Client::connect(&self.endpoints, Some(self.connect.clone())).await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let revision = match self.revision {
            Some(r) => r,
            None => match self.read_all(&mut client).await {
                Ok(r) => r,
                Err(e) => return e,
            },
        };
        let key = self.target.key().to_string();
        let mut watch = match client
            .watch(key, Some(self.target.watch_options(revision + 1)))
            .await
        {
            Ok(w) => w,
            Err(e) => return e.into(),
        };
        loop {
            let response = match watch.message().await {
                Ok(Some(r)) => r,
                Ok(None) => return Ended::Failed("the watch stream was closed".into()),
                Err(e) => return e.into(),
            };
            if response.compact_revision() > 0 {
                return Ended::Compacted;
            }
            if response.canceled() {
                return Ended::Failed(format!(
                    "the watch was cancelled: {}",
                    response.cancel_reason()
                ));
            }
            self.connected();
            let mut in_force = self.in_force.lock();
            let mut changes = Vec::new();
            // The key's revision after these events (0 once deleted).
            let mut last = None;
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                self.revision = self.revision.max(Some(kv.mod_revision()));
                // Already in force: the source's editor put it (and loaded its rules);
                // loading it now would undo a later edit until its own event came.
                if kv.mod_revision() <= in_force.unwrap_or(0) {
                    continue;
                }
                let name = String::from_utf8_lossy(kv.key()).into_owned();
                changes.push(match event.event_type() {
                    EventType::Put => {
                        last = Some(kv.mod_revision());
                        Change::Put {
                            name,
                            document: Document::bytes(kv.value(), self.format),
                        }
                    }
                    EventType::Delete => {
                        last = Some(0);
                        Change::Remove { name }
                    }
                });
            }
            if !changes.is_empty() {
                let set = &mut self.set;
                if self
                    .gate
                    .run(|| set.apply(changes))
                    .is_some_and(|o| o.is_ok())
                {
                    *in_force = last.or(*in_force);
                }
            }
        }
    }

    /// Reads the key or prefix whole and makes it the rules in force; the revision read.
    async fn read_all(&mut self, client: &mut Client) -> Result<i64, Ended> {
        let key = self.target.key().to_string();
        let response = client.get(key, self.target.get_options()).await?;
        let revision = response.header().map_or(0, |h| h.revision());
        let documents: Vec<(String, Document)> = response
            .kvs()
            .iter()
            .map(|kv| {
                let name = String::from_utf8_lossy(kv.key()).into_owned();
                (name, Document::bytes(kv.value(), self.format))
            })
            .collect();
        let first = !self.synced.is_set();
        let key_revision = response.kvs().first().map_or(0, |kv| kv.mod_revision());
        let mut in_force = self.in_force.lock();
        let set = &mut self.set;
        let what = &self.what;
        let errors = self.gate.run(|| {
            let mut errors = Vec::new();
            if documents.is_empty() && first {
                let missing = UpdateError::Missing { what: what.clone() };
                set.pipeline().report_error(missing.clone());
                errors.push(missing);
            }
            errors.extend(set.replace_all(documents).errors);
            errors
        });
        // A key missing at the first read: nothing is in force from it, an editor may
        // create it.
        if errors
            .as_ref()
            .is_some_and(|e| e.is_empty() || (first && key_revision == 0))
        {
            *in_force = Some(key_revision);
        }
        drop(in_force);
        if let Some(error) = errors.iter().flatten().next().filter(|_| first) {
            self.synced.first_read_failed(error);
        }
        self.revision = Some(revision);
        self.connected();
        self.synced.set();
        Ok(revision)
    }

    /// etcd answered: the outage, if any, is over.
    fn connected(&mut self) {
        self.backoff.reset();
        let pipeline = self.set.pipeline().clone();
        self.gate.run(|| self.health.recovered(&pipeline));
    }
}

/// An etcd key as the store of an editor.
struct KeyStore {
    what: String,
    key: String,
    endpoints: Vec<String>,
    connect: ConnectOptions,
    format: Format,
    in_force: Arc<Mutex<Option<i64>>>,
}

impl KeyStore {
    /// Runs `request` with a new client, on a thread and runtime of its own (so that it
    /// may be called from anywhere, async code included).
    fn request<T: Send>(
        &self,
        request: impl AsyncFnOnce(Client) -> Result<T, etcd_client::Error> + Send,
    ) -> Result<T, EditError> {
        let run = || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = Client::connect(&self.endpoints, Some(self.connect.clone())).await?;
                request(client).await
            })
            .map_err(|e| e.to_string())
        };
        std::thread::scope(|scope| scope.spawn(run).join())
            .unwrap_or_else(|_| Err("the request's thread panicked".into()))
            .map_err(|message| EditError::Write {
                what: self.what.clone(),
                message,
            })
    }

    fn conflict(&self, detail: impl Into<String>) -> EditError {
        EditError::Conflict {
            what: self.what.clone(),
            detail: detail.into(),
        }
    }
}

impl Store for KeyStore {
    fn what(&self) -> &str {
        &self.what
    }

    fn target(&self) -> String {
        self.what.clone()
    }

    fn hold(&self) -> Box<dyn Held + '_> {
        Box::new(HeldKey {
            store: self,
            in_force: self.in_force.lock(),
        })
    }
}

/// An etcd key with the source's updates held off.
struct HeldKey<'a> {
    store: &'a KeyStore,
    in_force: parking_lot::MutexGuard<'a, Option<i64>>,
}

impl Held for HeldKey<'_> {
    fn check(&mut self, pipeline: &Pipeline) -> Result<Format, EditError> {
        let store = self.store;
        let Some(in_force) = *self.in_force else {
            return Err(store.conflict("the source has not read the key yet"));
        };
        let key = store.key.clone();
        let current = store.request(async |mut client| {
            let response = client.get(key, None).await?;
            Ok(response
                .kvs()
                .first()
                .map(|kv| (kv.mod_revision(), kv.value().to_vec())))
        })?;
        let revision = current.as_ref().map_or(0, |(revision, _)| *revision);
        if revision != in_force {
            return Err(store.conflict(format!(
                "the key is at revision {revision}, its rules in force are of revision \
                 {in_force} (changed and not loaded yet, or rejected)"
            )));
        }
        let Some((_, value)) = current else {
            return Ok(match store.format {
                Format::Auto => Format::Json,
                format => format,
            });
        };
        rewritable(pipeline, &value, store.format).map_err(|message| EditError::Write {
            what: store.what.clone(),
            message,
        })?;
        Ok(store.format.resolve(&value))
    }

    fn write(&mut self, document: &str) -> Result<(), EditError> {
        let store = self.store;
        let key = store.key.clone();
        let condition = match self.in_force.unwrap_or(0) {
            0 => Compare::version(key.clone(), CompareOp::Equal, 0),
            revision => Compare::mod_revision(key.clone(), CompareOp::Equal, revision),
        };
        let txn = Txn::new()
            .when([condition])
            .and_then([TxnOp::put(key, document, None)]);
        let (succeeded, revision) = store.request(async |mut client| {
            let response = client.txn(txn).await?;
            let revision = response.header().map_or(0, |h| h.revision());
            Ok((response.succeeded(), revision))
        })?;
        if !succeeded {
            return Err(store.conflict("the key changed while the edit was written"));
        }
        *self.in_force = Some(revision);
        Ok(())
    }
}

/// A real etcd for the tests (started by PID, killed when dropped).
#[cfg(test)]
#[allow(unreachable_pub)]
#[path = "../tests/support/etcd_server.rs"]
mod etcd_server;

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_server::{EtcdServer, etcd_available};

    /// The key's value, as raw text.
    fn value(store: &KeyStore) -> Option<Vec<u8>> {
        let key = store.key.clone();
        store
            .request(async |mut client| {
                let response = client.get(key, None).await?;
                Ok(response.kvs().first().map(|kv| kv.value().to_vec()))
            })
            .unwrap()
    }

    #[test]
    fn the_put_is_conditional_on_the_revision_in_force() {
        if !etcd_available() {
            eprintln!("skipped: no `etcd` binary on the PATH (Debian: etcd-server)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let etcd = EtcdServer::start(dir.path());
        let store = KeyStore {
            what: "etcd key /k".into(),
            key: "/k".into(),
            endpoints: vec![etcd.endpoint()],
            connect: ConnectOptions::new(),
            format: Format::Json,
            in_force: Arc::new(Mutex::new(Some(0))),
        };
        // A new key: put only while it does not exist.
        store.hold().write("[]").unwrap();
        let created = store.in_force.lock().expect("the put's revision");
        assert!(created > 0);
        assert_eq!(value(&store).as_deref(), Some(&b"[]"[..]));

        // Another client's put since: the revision in force is stale, nothing is written.
        store
            .request(async |mut client| client.put("/k", "[1]", None).await.map(drop))
            .unwrap();
        let error = store.hold().write("[2]").unwrap_err();
        assert!(matches!(error, EditError::Conflict { .. }), "{error:?}");
        assert_eq!(value(&store).as_deref(), Some(&b"[1]"[..]));
        assert_eq!(*store.in_force.lock(), Some(created));
        // The condition of a new key fails on a key that exists.
        *store.in_force.lock() = Some(0);
        let error = store.hold().write("[3]").unwrap_err();
        assert!(matches!(error, EditError::Conflict { .. }), "{error:?}");
        assert_eq!(value(&store).as_deref(), Some(&b"[1]"[..]));
    }
}
