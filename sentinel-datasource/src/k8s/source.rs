//! Rules from Kubernetes custom resources, followed with kube-runtime's watcher.
//!
//! For each rule kind of its pipeline, the source watches that kind's custom resources in
//! one namespace (all of them, one by name, or those a label selector picks) and loads the
//! union of their rules. The watcher lists, then watches from the list's resource version;
//! it resumes a cut stream from the last version seen (bookmarks keep that version fresh),
//! and lists again when the API server answers `410 Gone`. When the API server cannot be
//! reached, the rules in force stay, the status shows why, and the source retries with
//! growing delays, then lists again: changes made meanwhile, deletions included, are
//! applied. The source only reads: it never creates, changes or deletes anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Client, Config};
use serde_json::{Value, json};
use tokio::runtime::Handle;

use super::crd::api_resource;
use crate::error::{StartError, UpdateError, WatchError};
use crate::merge::{Change, Document, DocumentSet};
use crate::pipeline::Pipeline;
use crate::task::{Gate, Health, RemoteSource, SourceTask, Synced, TaskOptions};

/// How the source gets its client.
#[derive(Clone)]
enum Connection {
    /// From the environment: kubeconfig, or the pod's service account.
    Infer,
    /// From this configuration.
    Config(Box<Config>),
    /// This client.
    Client(Client),
}

/// Configures a [`KubeSource`].
#[derive(Clone)]
#[must_use]
pub struct KubeSourceBuilder {
    namespace: String,
    name: Option<String>,
    labels: Option<String>,
    connection: Connection,
    task: TaskOptions,
}

impl std::fmt::Debug for KubeSourceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSourceBuilder")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl KubeSourceBuilder {
    /// Follows only the objects with this name (one per kind).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Follows only the objects this label selector picks (`app=checkout,tier!=canary`).
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.labels = Some(selector.into());
        self
    }

    /// Connects with this configuration (default: inferred from the environment, as
    /// `kubectl` does: `KUBECONFIG`, `~/.kube/config`, or the pod's service account). The
    /// client's own retries are turned off: the source retries with its delays and shows
    /// each outage in its status.
    pub fn config(mut self, config: Config) -> Self {
        self.connection = Connection::Config(Box::new(config));
        self
    }

    /// Uses this client. A client belongs to the runtime it was made on: give that
    /// runtime with [`KubeSourceBuilder::runtime`] too. A client made with kube's default
    /// retries retries 503 answers for minutes before the source sees the outage; prefer
    /// [`KubeSourceBuilder::config`].
    pub fn client(mut self, client: Client) -> Self {
        self.connection = Connection::Client(client);
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

    /// Starts following the custom resources and waits, up to `timeout`, for the first
    /// list of every kind to be accepted whole; otherwise stops the source and returns
    /// why: [`StartError::TimedOut`] when the API server did not answer in time (with the
    /// last error: unreachable, CRD not installed, forbidden), [`StartError::FirstLoad`]
    /// when an object was rejected or no object of any kind was found. Blocks the calling
    /// thread: on a current-thread runtime that also runs the source
    /// ([`KubeSourceBuilder::runtime`]), call it from `spawn_blocking`. Once started, the
    /// source behaves as after
    /// [`KubeSourceBuilder::start`].
    pub fn start_strict(
        self,
        pipeline: Pipeline,
        timeout: Duration,
    ) -> Result<KubeSource, StartError> {
        let source = self.start(pipeline)?;
        source.0.first_load(timeout)?;
        Ok(source)
    }

    /// Starts following the custom resources of the pipeline's kinds and returns at once;
    /// the first list happens in the background ([`RemoteSource::wait_synced`] waits for
    /// it). An unreachable API server is not an error here: the source keeps trying and
    /// the status shows why it cannot list; no object of any kind in the first lists is
    /// reported there as [`UpdateError::Missing`]. Fails only if the source's thread cannot
    /// start; [`KubeSourceBuilder::start_strict`] waits for the first list.
    pub fn start(self, pipeline: Pipeline) -> Result<KubeSource, WatchError> {
        let mut what = format!("custom resources in namespace {}", self.namespace);
        if let Some(name) = &self.name {
            what.push_str(&format!(" named {name}"));
        }
        if let Some(labels) = &self.labels {
            what.push_str(&format!(" labelled {labels}"));
        }
        pipeline.attach(&what);
        let mut config = watcher::Config::default();
        if let Some(name) = &self.name {
            config = config.fields(&format!("metadata.name={name}"));
        }
        if let Some(labels) = &self.labels {
            config = config.labels(labels);
        }
        let kinds: Vec<ApiResource> = pipeline
            .dyn_kinds()
            .iter()
            .map(|k| api_resource(k.crd_kind()))
            .collect();
        let gate = Gate::new();
        let synced = Arc::new(Synced::default());
        let task = Watch {
            namespace: self.namespace,
            config,
            connection: self.connection,
            options: self.task.clone(),
            pipeline: pipeline.clone(),
            gate: gate.clone(),
            synced: synced.clone(),
            unsynced: Arc::new(AtomicUsize::new(kinds.len())),
            found: Arc::new(AtomicUsize::new(0)),
            what: what.clone(),
        };
        let task = SourceTask::spawn(
            "sentinel-k8s",
            &what,
            self.task.runtime,
            gate,
            task.run(kinds),
        )?;
        Ok(KubeSource(RemoteSource::new(what, pipeline, synced, task)))
    }
}

/// Rules kept in step with the custom resources of a namespace.
///
/// The CRD of each kind the pipeline loads must be installed: a kind whose resources
/// cannot be listed (404) shows in the status, is retried, and keeps
/// [`wait_synced`](RemoteSource::wait_synced) waiting.
///
/// No tokio runtime is needed: by default the source runs on a thread of its own (with a
/// single-threaded runtime); inside an async program, [`KubeSourceBuilder::runtime`] puts
/// it on yours. Dropping the source stops it: once `drop` returns, no update is applied,
/// and nothing in the cluster is ever changed.
///
/// ```no_run
/// use std::time::Duration;
/// use sentinel_core::Sentinel;
/// use sentinel_datasource::{KubeSource, Pipeline};
///
/// let sentinel = Sentinel::new();
/// // Every kind: FlowRules, IsolationRules, CircuitBreakerRules, HotspotRules, SystemRules.
/// let source = KubeSource::namespace("checkout")
///     .labels("app=checkout")
///     .start(Pipeline::builder(&sentinel).all_kinds().build())?;
/// source.wait_synced(Duration::from_secs(10));
/// println!("{:?}", source.status());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct KubeSource(RemoteSource);

impl std::ops::Deref for KubeSource {
    type Target = RemoteSource;

    fn deref(&self) -> &RemoteSource {
        &self.0
    }
}

impl KubeSource {
    /// Starts configuring a source that follows the custom resources of `namespace`.
    pub fn namespace(namespace: impl Into<String>) -> KubeSourceBuilder {
        KubeSourceBuilder {
            namespace: namespace.into(),
            name: None,
            labels: None,
            connection: Connection::Infer,
            task: TaskOptions::default(),
        }
    }
}

/// The source's task: a client, then one watch per kind.
struct Watch {
    namespace: String,
    config: watcher::Config,
    connection: Connection,
    options: TaskOptions,
    pipeline: Pipeline,
    gate: Gate,
    synced: Arc<Synced>,
    /// Kinds not listed yet.
    unsynced: Arc<AtomicUsize>,
    /// Objects the first list of every kind found.
    found: Arc<AtomicUsize>,
    /// What the source follows.
    what: String,
}

impl Watch {
    async fn run(self, kinds: Vec<ApiResource>) {
        let client = self.client(&self.what).await;
        let watches = kinds.into_iter().map(|kind| {
            KindWatch {
                what: format!("{} in namespace {}", kind.kind, self.namespace),
                api: Api::namespaced_with(client.clone(), &self.namespace, &kind),
                namespace: self.namespace.clone(),
                kind,
                set: DocumentSet::new(self.pipeline.clone()),
                health: Health::default(),
                listed: false,
            }
            .run(&self)
        });
        join_all(watches).await;
    }

    /// The client, once it can be made (retried: a kubeconfig may appear).
    async fn client(&self, what: &str) -> Client {
        let mut backoff = self.options.backoff();
        let mut health = Health::default();
        loop {
            let config = match &self.connection {
                Connection::Client(client) => return client.clone(),
                Connection::Config(config) => Ok(config.as_ref().clone()),
                Connection::Infer => Config::infer().await.map_err(|e| e.to_string()),
            };
            let made = config.and_then(|mut config| {
                // The source retries (and reports) failures itself: the client's own
                // retries of 503s would hide an outage for minutes.
                config.default_retry = false;
                Client::try_from(config).map_err(|e| e.to_string())
            });
            match made {
                Ok(client) => return client,
                Err(e) => {
                    let message = format!("cannot make a Kubernetes client: {e}");
                    self.gate
                        .run(|| health.failed(&self.pipeline, what, message));
                    tokio::time::sleep(backoff.delay()).await;
                }
            }
        }
    }
}

/// The watch of one kind.
struct KindWatch {
    what: String,
    api: Api<DynamicObject>,
    namespace: String,
    kind: ApiResource,
    set: DocumentSet,
    health: Health,
    /// Listed at least once.
    listed: bool,
}

impl KindWatch {
    /// Follows the kind until the source stops. After an error the watcher is made anew,
    /// so the kind is listed again: what changed while the watch was down is applied, and
    /// the status turns healthy at that list.
    async fn run(mut self, shared: &Watch) {
        let mut backoff = shared.options.backoff();
        loop {
            let mut events = watcher(self.api.clone(), shared.config.clone()).boxed();
            let mut listing: Vec<(String, Document)> = Vec::new();
            while let Some(event) = events.next().await {
                let changes = match event {
                    Ok(Event::Init) => {
                        listing.clear();
                        continue;
                    }
                    Ok(Event::InitApply(object)) => {
                        listing.push(self.document(&object));
                        continue;
                    }
                    Ok(Event::InitDone) => {
                        let listed = std::mem::take(&mut listing);
                        self.listed(shared, listed);
                        backoff.reset();
                        continue;
                    }
                    Ok(Event::Apply(object)) => {
                        let (name, document) = self.document(&object);
                        Change::Put { name, document }
                    }
                    Ok(Event::Delete(object)) => Change::Remove {
                        name: self.document(&object).0,
                    },
                    Err(e) if is_gone(&e) => {
                        tracing::info!(source = %self.what, "resource version too old (410 Gone); listing again");
                        // Not a failure, but a server answering 410 to every watch must
                        // not be listed in a tight loop.
                        tokio::time::sleep(backoff.delay()).await;
                        break;
                    }
                    Err(e) => {
                        let message = e.to_string();
                        let (health, pipeline) = (&mut self.health, shared.pipeline.clone());
                        shared
                            .gate
                            .run(|| health.failed(&pipeline, &self.what, message));
                        tokio::time::sleep(backoff.delay()).await;
                        break;
                    }
                };
                let set = &mut self.set;
                shared.gate.run(|| set.apply([changes]));
            }
        }
    }

    /// A complete list: it replaces what the kind had. The first list of the last kind
    /// completes the first read: an error of any kind's first list, or no object of any
    /// kind (reported as [`UpdateError::Missing`]), makes it fail.
    fn listed(&mut self, shared: &Watch, documents: Vec<(String, Document)>) {
        let first = !self.listed;
        let count = documents.len();
        let (set, health) = (&mut self.set, &mut self.health);
        let errors = shared.gate.run(|| {
            let outcome = set.replace_all(documents);
            health.recovered(&shared.pipeline);
            outcome.errors
        });
        if !first {
            return;
        }
        self.listed = true;
        if let Some(error) = errors.iter().flatten().next() {
            shared.synced.first_read_failed(error);
        }
        shared.found.fetch_add(count, Ordering::AcqRel);
        if shared.unsynced.fetch_sub(1, Ordering::AcqRel) == 1 {
            if shared.found.load(Ordering::Acquire) == 0 {
                let missing = UpdateError::Missing {
                    what: format!("every object of {}", shared.what),
                };
                shared.synced.first_read_failed(&missing);
                shared.gate.run(|| shared.pipeline.report_error(missing));
            }
            shared.synced.set();
        }
    }

    /// An object's name (`FlowRules default/checkout`) and its rules as a document.
    fn document(&self, object: &DynamicObject) -> (String, Document) {
        let namespace = object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or(&self.namespace);
        let name = object.metadata.name.as_deref().unwrap_or_default();
        let tree = json!({
            "apiVersion": self.kind.api_version,
            "kind": self.kind.kind,
            "spec": object.data.get("spec").cloned().unwrap_or(Value::Null),
        });
        (
            format!("{} {namespace}/{name}", self.kind.kind),
            Document::tree(tree),
        )
    }
}

/// Whether the API server answered `410 Gone` (the version the watch asked for is too
/// old): in a watch event, or as the HTTP status of the watch request.
fn is_gone(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::WatchStartFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}
