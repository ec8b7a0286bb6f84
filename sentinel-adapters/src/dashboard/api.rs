//! The read-only JSON API (`api/v1/...`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentinel_core::circuit_breaker::State as BreakerState;
use sentinel_core::cluster::LeaseState;
use sentinel_datasource::{
    CircuitBreaker, EnumStyle, ExportOptions, Flow, Format, Hotspot, Isolation, RuleKind,
    SourceStatus, System as SystemKind,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Dashboard;
use super::history::Point;
use super::version::Versions;

/// Seconds in a resource's sparkline.
const SPARK_SECONDS: usize = 60;

/// Unix milliseconds of a wall-clock time.
fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An error answer: `{"error": "..."}`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, Json(body)).into_response()
}

/// A query string, refused as a 400 with a JSON error (like every other error) when it
/// does not parse.
pub(super) struct JsonQuery<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for JsonQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(JsonQuery(q)),
            Err(e) => Err(error(StatusCode::BAD_REQUEST, e.body_text())),
        }
    }
}

/// The figures of one second, as every endpoint writes them.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Figures {
    pass: u64,
    block: u64,
    complete: u64,
    error: u64,
    avg_rt_ms: u64,
    concurrency: u64,
}

impl From<Point> for Figures {
    fn from(p: Point) -> Self {
        Figures {
            pass: p.pass.into(),
            block: p.block.into(),
            complete: p.complete.into(),
            error: p.error.into(),
            avg_rt_ms: p.avg_rt_ms.into(),
            concurrency: p.concurrency.into(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleCounts {
    flow: usize,
    isolation: usize,
    circuit_breaker: usize,
    hotspot: usize,
    system: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    label: String,
    what: Option<String>,
    healthy: bool,
    last_success: Option<u64>,
    last_error: Option<SourceError>,
    error_is_current: bool,
    rules: Map<String, Value>,
    updates_applied: u64,
    updates_rejected: u64,
}

#[derive(Serialize)]
struct SourceError {
    at: u64,
    message: String,
}

impl From<SourceStatus> for Source {
    fn from(s: SourceStatus) -> Self {
        Source {
            healthy: s.is_healthy(),
            error_is_current: s.error_is_current(),
            label: s.label,
            what: s.what,
            last_success: s.last_success.map(unix_ms),
            last_error: s.last_error.map(|e| SourceError {
                at: unix_ms(e.at),
                message: e.error.one_line().to_string(),
            }),
            rules: s
                .rules_in_force
                .iter()
                .map(|k| (section_of(k.kind).to_string(), k.rules.into()))
                .collect(),
            updates_applied: s.updates_applied,
            updates_rejected: s.updates_rejected,
        }
    }
}

/// The document section of a kind named by its section or its name (`circuit breaker` →
/// `circuitBreaker`), as sentinel-datasource's kinds spell them; anything else unchanged.
pub(super) fn section_of(kind: &str) -> &str {
    const KINDS: [(&str, &str); 5] = [
        (Flow::NAME, Flow::SECTION),
        (Isolation::NAME, Isolation::SECTION),
        (CircuitBreaker::NAME, CircuitBreaker::SECTION),
        (Hotspot::NAME, Hotspot::SECTION),
        (SystemKind::NAME, SystemKind::SECTION),
    ];
    KINDS
        .iter()
        .find(|(name, section)| *name == kind || *section == kind)
        .map_or(kind, |(_, section)| section)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cluster {
    state: &'static str,
    leases: Vec<Lease>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Lease {
    flow_id: String,
    state: &'static str,
    live_instances: u32,
}

fn lease_state(s: LeaseState) -> &'static str {
    match s {
        LeaseState::NoBackend => "NoBackend",
        LeaseState::Healthy => "Healthy",
        LeaseState::Degraded => "Degraded",
        LeaseState::Connecting => "Connecting",
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Writes {
    enabled: bool,
    persisted: bool,
    target: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    app: String,
    version: Option<String>,
    sentinel_version: &'static str,
    uptime_seconds: u64,
    now: u64,
    rules: RuleCounts,
    sources: Vec<Source>,
    cluster: Option<Cluster>,
    writes: Writes,
    history_seconds: usize,
    max_resources: usize,
}

/// `GET api/v1/status`.
pub(super) async fn status(State(d): State<Arc<Dashboard>>) -> Json<impl Serialize> {
    let s = &d.sentinel;
    let counts = s.rule_counts();
    let clock = s.clock();
    let sources = d.sources.iter().map(|p| p.status().into()).collect();
    Json(Status {
        app: d.app.clone(),
        version: d.version.clone(),
        sentinel_version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: clock.unix_millis().saturating_sub(clock.epoch_unix_ms()) / 1000,
        now: clock.unix_millis(),
        rules: RuleCounts {
            flow: counts.flow,
            isolation: counts.isolation,
            circuit_breaker: counts.circuit_breaker,
            hotspot: counts.hotspot,
            system: counts.system,
        },
        sources,
        cluster: s.cluster_status().map(|c| Cluster {
            state: c.backend.map_or("NoBackend", lease_state),
            leases: c
                .leases
                .into_iter()
                .map(|l| Lease {
                    flow_id: l.flow_id,
                    state: lease_state(l.state),
                    live_instances: l.live_instances,
                })
                .collect(),
        }),
        writes: Writes {
            enabled: d.writes.is_some(),
            persisted: d.writes.as_ref().is_some_and(|w| w.editor.persisted()),
            target: d.writes.as_ref().and_then(|w| w.editor.target()),
        },
        history_seconds: d.history.seconds(),
        max_resources: d.history.max_resources(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceRow {
    name: String,
    #[serde(flatten)]
    last: Figures,
    /// Whether the dashboard keeps this resource's history (the busiest are kept).
    kept: bool,
    spark: Vec<u64>,
    rules: Map<String, Value>,
    breakers: Vec<&'static str>,
}

fn breaker_state(s: BreakerState) -> &'static str {
    match s {
        BreakerState::Closed => "Closed",
        BreakerState::Open => "Open",
        BreakerState::HalfOpen => "HalfOpen",
        _ => "Unknown",
    }
}

#[derive(Serialize)]
struct Resources {
    second: Option<u64>,
    resources: Vec<ResourceRow>,
}

/// `GET api/v1/resources`: every resource with its last complete second, a sparkline of
/// its last minute and the rules that guard it, sorted by name.
pub(super) async fn resources(State(d): State<Arc<Dashboard>>) -> Json<impl Serialize> {
    let overview = d.sentinel.resources();
    let names: Vec<&str> = overview.iter().map(|o| o.stats.resource.as_str()).collect();
    let sparks = d.history.recent_traffic(&names, SPARK_SECONDS);
    let kept = d.history.kept(&names);
    let rows = overview
        .iter()
        .zip(sparks.into_iter().zip(kept))
        .map(|(o, (spark, kept))| {
            let st = &o.stats;
            let rate = |v: f64| v.round() as u64;
            let rules = [
                ("flow", o.flow.len()),
                ("isolation", o.isolation.len()),
                ("circuitBreaker", o.circuit_breakers.len()),
                ("hotspot", o.hotspot.len()),
            ];
            ResourceRow {
                name: st.resource.clone(),
                last: Figures {
                    pass: rate(st.pass_qps),
                    block: rate(st.block_qps),
                    complete: rate(st.complete_qps),
                    error: rate(st.error_qps),
                    // As the metric log and the history write it: at least 1 ms when
                    // anything completed.
                    avg_rt_ms: if st.complete_qps > 0.0 {
                        rate(st.avg_rt_ms).max(1)
                    } else {
                        0
                    },
                    concurrency: st.max_concurrency,
                },
                kept,
                spark,
                rules: rules
                    .into_iter()
                    .map(|(k, n)| (k.to_string(), n.into()))
                    .collect(),
                breakers: o
                    .circuit_breakers
                    .iter()
                    .map(|(_, s)| breaker_state(*s))
                    .collect(),
            }
        })
        .collect();
    Json(Resources {
        second: d.history.last_second(),
        resources: rows,
    })
}

#[derive(Deserialize)]
pub(super) struct HistoryQuery {
    resource: String,
    since: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryColumns {
    resource: String,
    seconds: Vec<u64>,
    pass: Vec<u32>,
    block: Vec<u32>,
    complete: Vec<u32>,
    error: Vec<u32>,
    avg_rt_ms: Vec<u32>,
    concurrency: Vec<u32>,
}

/// `GET api/v1/history?resource=<name>&since=<ms>`: one resource's seconds, in columns.
pub(super) async fn history(
    State(d): State<Arc<Dashboard>>,
    JsonQuery(q): JsonQuery<HistoryQuery>,
) -> Response {
    let Some(c) = d.history.columns(&q.resource, q.since) else {
        return error(
            StatusCode::NOT_FOUND,
            "no history of this resource: it has seen no traffic, or busier resources took its place",
        );
    };
    let col = |f: fn(&Point) -> u32| c.points.iter().map(f).collect();
    Json(HistoryColumns {
        pass: col(|p| p.pass),
        block: col(|p| p.block),
        complete: col(|p| p.complete),
        error: col(|p| p.error),
        avg_rt_ms: col(|p| p.avg_rt_ms),
        concurrency: col(|p| p.concurrency),
        seconds: c.seconds,
        resource: q.resource,
    })
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct RulesQuery {
    enums: Option<String>,
}

/// `GET api/v1/rules[?enums=names]`: the rules in force per kind, as sentinel-golang's
/// JSON (enums as Go's integers unless `enums=names`).
pub(super) async fn rules(
    State(d): State<Arc<Dashboard>>,
    JsonQuery(q): JsonQuery<RulesQuery>,
) -> Response {
    let enums = match q.enums.as_deref() {
        None | Some("integers") => EnumStyle::Integers,
        Some("names") => EnumStyle::Names,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("enums={other}: one of integers, names"),
            );
        }
    };
    let exported = d
        .all_kinds
        .export_with(Format::Json, ExportOptions::default().enums(enums))
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()));
    match exported.and_then(|kinds| Ok((kinds, Versions::now(&d)?))) {
        Ok((kinds, versions)) => {
            let body = serde_json::json!({ "kinds": kinds, "versions": versions.kinds });
            let mut r = Json(body).into_response();
            if let Ok(etag) = HeaderValue::from_str(&versions.etag()) {
                r.headers_mut().insert(header::ETAG, etag);
            }
            r
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct System {
    second: Option<u64>,
    cpu_usage: Option<f64>,
    load1: Option<f64>,
    rss_bytes: Option<u64>,
    inbound: Figures,
    rules: Value,
}

/// `GET api/v1/system`: what system rules check, inbound traffic's last second, and the
/// system rules in force.
pub(super) async fn system(State(d): State<Arc<Dashboard>>) -> Json<impl Serialize> {
    let reading = d.sentinel.system_reading();
    let second = d.history.last_second();
    let inbound = second
        .and_then(|s| d.history.second(s))
        .map(|(inbound, _)| inbound.into())
        .unwrap_or_default();
    let rules = d
        .all_kinds
        .export_with(
            Format::Json,
            ExportOptions::default().enums(EnumStyle::Integers),
        )
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|mut doc| doc.get_mut(SystemKind::SECTION).map(Value::take))
        .unwrap_or(Value::Array(Vec::new()));
    Json(System {
        second,
        cpu_usage: reading.cpu_usage,
        load1: reading.load1,
        rss_bytes: reading.rss_bytes,
        inbound,
        rules,
    })
}
