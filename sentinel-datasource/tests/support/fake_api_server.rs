//! A fake Kubernetes API server on loopback, for the real `kube` client: it serves the
//! namespaced custom resources of any group and plural with the real protocol.
//!
//! * list: `{"kind": "...List", "metadata": {"resourceVersion": "N"}, "items": [...]}`;
//! * watch (`?watch=true&resourceVersion=N`): a stream of newline-delimited JSON events
//!   (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`) after version N;
//! * a watch from a version older than the last compaction: `410 Gone`, as an `ERROR`
//!   event carrying a `Status` (what API servers do) or as the HTTP status;
//! * field (`metadata.name=x`) and label (`k=v,...`) selectors of equalities;
//! * error `Status` bodies during a simulated outage.
//!
//! A test changes objects, sends bookmarks, holds back events, compacts, cuts the open
//! streams, and reads back every request the client made.
// Each user needs a different subset of these functions.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

const API_VERSION: &str = "datasource.sentinel.io/v1alpha1";

/// One request the client made.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub plural: String,
    pub watch: bool,
    pub resource_version: Option<String>,
}

/// One event of the watch history.
struct Entry {
    kind: &'static str,
    plural: String,
    namespace: String,
    version: u64,
    object: Value,
}

#[derive(Default)]
struct State {
    version: u64,
    /// (plural, namespace, name) -> object.
    objects: BTreeMap<(String, String, String), Value>,
    history: Vec<Entry>,
    /// Watches from an older version get 410 Gone.
    oldest: u64,
    gone_as_http_status: bool,
    /// History entries from this index on are not sent yet.
    held_from: Option<usize>,
    /// Open streams end when this changes.
    cuts: u64,
    /// While set, every request is answered with this code and message.
    outage: Option<(u16, String)>,
    requests: Vec<Request>,
    bookmarks_sent: usize,
}

/// The server; stopped when dropped.
pub struct FakeApiServer {
    url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Ticks on every change, waking the open streams.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn change<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.state());
        self.changed.send_modify(|n| *n += 1);
        result
    }
}

impl FakeApiServer {
    /// Starts the server on a free loopback port.
    pub fn start() -> FakeApiServer {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
        });
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .route(
                "/apis/{group}/{version}/namespaces/{namespace}/{plural}",
                get(collection),
            )
            .fallback(other)
            .with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        FakeApiServer {
            url: format!("http://{address}"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The server's URL, for `kube::Config::new`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates or replaces an object of `kind` (`FlowRules`) with this spec and labels.
    pub fn apply(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        labels: &[(&str, &str)],
        spec: Value,
    ) {
        self.shared.change(|s| {
            s.version += 1;
            let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
            let object = json!({
                "apiVersion": API_VERSION,
                "kind": kind,
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": format!("uid-{namespace}-{name}"),
                    "resourceVersion": s.version.to_string(),
                    "labels": labels,
                },
                "spec": spec,
            });
            let key = (plural(kind), namespace.to_string(), name.to_string());
            let event = if s.objects.contains_key(&key) {
                "MODIFIED"
            } else {
                "ADDED"
            };
            s.objects.insert(key, object.clone());
            s.record(event, kind, namespace, object);
        });
    }

    /// Deletes an object.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        self.shared.change(|s| {
            let key = (plural(kind), namespace.to_string(), name.to_string());
            let Some(mut object) = s.objects.remove(&key) else {
                panic!("no {kind} {namespace}/{name} to delete");
            };
            s.version += 1;
            object["metadata"]["resourceVersion"] = json!(s.version.to_string());
            s.record("DELETED", kind, namespace, object);
        });
    }

    /// Other resources change: the store's version moves on without an event for ours.
    pub fn bump(&self, versions: u64) {
        self.shared.change(|s| s.version += versions);
    }

    /// Sends a bookmark with the current version to the watches of `kind`.
    pub fn bookmark(&self, kind: &str, namespace: &str) {
        self.shared.change(|s| {
            let object = json!({
                "apiVersion": API_VERSION,
                "kind": kind,
                "metadata": {"resourceVersion": s.version.to_string()},
            });
            s.record("BOOKMARK", kind, namespace, object);
        });
    }

    /// Holds back the events from now on (the client misses them if it reconnects after a
    /// compaction).
    pub fn hold(&self) {
        self.shared.change(|s| s.held_from = Some(s.history.len()));
    }

    /// Sends the events held back.
    pub fn release(&self) {
        self.shared.change(|s| s.held_from = None);
    }

    /// Forgets the history up to now, and ends the open streams (as a restarted API
    /// server would): watches from an older version get 410 Gone. Events held back are
    /// dropped with the streams that did not send them.
    pub fn compact(&self) {
        self.shared.change(|s| {
            s.oldest = s.version;
            s.held_from = None;
            s.cuts += 1;
        });
    }

    /// Answers 410 Gone as the HTTP status of the watch request, not as an `ERROR` event.
    pub fn gone_as_http_status(&self) {
        self.shared.change(|s| s.gone_as_http_status = true);
    }

    /// Ends every open watch stream.
    pub fn cut(&self) {
        self.shared.change(|s| s.cuts += 1);
    }

    /// Answers every request with an error `Status` of `code` (and cuts the streams), or
    /// ends the outage.
    pub fn outage(&self, error: Option<(u16, &str)>) {
        self.shared.change(|s| {
            s.outage = error.map(|(code, message)| (code, message.to_string()));
            s.cuts += 1;
        });
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.state().requests.clone()
    }

    /// The list requests for `kind`.
    pub fn lists(&self, kind: &str) -> usize {
        let plural = plural(kind);
        self.requests()
            .iter()
            .filter(|r| r.plural == plural && !r.watch)
            .count()
    }

    /// The versions the watch requests for `kind` started from.
    pub fn watches(&self, kind: &str) -> Vec<String> {
        let plural = plural(kind);
        self.requests()
            .into_iter()
            .filter(|r| r.plural == plural && r.watch)
            .map(|r| r.resource_version.unwrap_or_default())
            .collect()
    }

    /// The store's version.
    pub fn version(&self) -> u64 {
        self.shared.state().version
    }

    /// Bookmarks sent on streams so far.
    pub fn bookmarks_sent(&self) -> usize {
        self.shared.state().bookmarks_sent
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl State {
    fn record(&mut self, kind: &'static str, resource_kind: &str, namespace: &str, object: Value) {
        self.history.push(Entry {
            kind,
            plural: plural(resource_kind),
            namespace: namespace.to_string(),
            version: self.version,
            object,
        });
    }
}

fn plural(kind: &str) -> String {
    kind.to_ascii_lowercase()
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    })
}

fn status_response(code: u16, reason: &str, message: &str) -> Response {
    let code_status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code_status,
        [(header::CONTENT_TYPE, "application/json")],
        status(code, reason, message).to_string(),
    )
        .into_response()
}

/// The equalities of a selector (`a=b,c==d`).
fn equalities(selector: Option<&String>) -> Vec<(String, String)> {
    selector
        .map(|s| {
            s.split(',')
                .filter_map(|term| term.split_once('='))
                .map(|(k, v)| {
                    (
                        k.trim().to_string(),
                        v.trim_start_matches('=').trim().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Which objects a request picks: namespace, plural, field and label selectors.
struct Filter {
    plural: String,
    namespace: String,
    fields: Vec<(String, String)>,
    labels: Vec<(String, String)>,
}

impl Filter {
    fn matches(&self, plural: &str, namespace: &str, object: &Value) -> bool {
        plural == self.plural
            && namespace == self.namespace
            && self.fields.iter().all(|(k, v)| {
                k == "metadata.name" && object["metadata"]["name"].as_str() == Some(v.as_str())
            })
            && self
                .labels
                .iter()
                .all(|(k, v)| object["metadata"]["labels"][k].as_str() == Some(v.as_str()))
    }
}

async fn collection(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((_group, _version, namespace, plural)): Path<(String, String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
) -> Response {
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    let filter = Filter {
        plural: plural.clone(),
        namespace,
        fields: equalities(query.get("fieldSelector")),
        labels: equalities(query.get("labelSelector")),
    };
    let mut state = shared.state();
    state.requests.push(Request {
        method: "GET".into(),
        path: uri.path().to_string(),
        plural,
        watch: watching,
        resource_version: query.get("resourceVersion").cloned(),
    });
    if let Some((code, message)) = state.outage.clone() {
        return status_response(code, "ServiceUnavailable", &message);
    }
    if !watching {
        let items: Vec<Value> = state
            .objects
            .iter()
            .filter(|((p, ns, _), o)| filter.matches(p, ns, o))
            .map(|(_, o)| o.clone())
            .collect();
        let list = json!({
            "apiVersion": API_VERSION, "kind": "List",
            "metadata": {"resourceVersion": state.version.to_string()},
            "items": items,
        });
        return (
            [(header::CONTENT_TYPE, "application/json")],
            list.to_string(),
        )
            .into_response();
    }
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(state.version);
    if from < state.oldest {
        let message = format!("too old resource version: {from} ({})", state.oldest);
        if state.gone_as_http_status {
            return status_response(410, "Expired", &message);
        }
        let event = json!({"type": "ERROR", "object": status(410, "Expired", &message)});
        return (
            [(header::CONTENT_TYPE, "application/json")],
            format!("{event}\n"),
        )
            .into_response();
    }
    let start = state
        .history
        .iter()
        .position(|e| e.version > from)
        .unwrap_or(state.history.len());
    let cuts = state.cuts;
    drop(state);
    let stream = futures_util::stream::unfold(
        (shared, start, filter, cuts),
        |(shared, mut next, filter, cuts)| async move {
            let mut changed = shared.changed.subscribe();
            loop {
                {
                    let mut state = shared.state();
                    if state.cuts != cuts {
                        return None;
                    }
                    let limit = state
                        .held_from
                        .unwrap_or(state.history.len())
                        .min(state.history.len());
                    while next < limit {
                        let entry = &state.history[next];
                        next += 1;
                        if filter.matches(&entry.plural, &entry.namespace, &entry.object)
                            || (entry.kind == "BOOKMARK" && entry.plural == filter.plural)
                        {
                            let line = format!(
                                "{}\n",
                                json!({"type": entry.kind, "object": entry.object})
                            );
                            if entry.kind == "BOOKMARK" {
                                state.bookmarks_sent += 1;
                            }
                            return Some((
                                Ok::<Bytes, Infallible>(Bytes::from(line)),
                                (shared.clone(), next, filter, cuts),
                            ));
                        }
                    }
                }
                if changed.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// Anything else: recorded, and not found.
async fn other(AxumState(shared): AxumState<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    shared.state().requests.push(Request {
        method: method.to_string(),
        path: uri.path().to_string(),
        plural: String::new(),
        watch: false,
        resource_version: None,
    });
    status_response(404, "NotFound", &format!("{method} {uri}: not served here"))
}
