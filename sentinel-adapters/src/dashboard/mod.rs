//! # A live dashboard inside the service (feature `dashboard`)
//!
//! Per-second pass, block, completion, error, response time and concurrency of every
//! resource for the last five minutes, the rules in force and the status of their sources,
//! circuit-breaker states, system figures, live; and, when enabled with a token, rule
//! edits that are saved to the rule source. Unlike Sentinel's dashboard it is not a
//! separate server that reaches into instances: each service serves its own, under a path
//! of its axum app ([`router`]) or on a loopback listener of its own ([`serve`]).
//!
//! ```no_run
//! use sentinel_adapters::dashboard::{self, DashboardConfig};
//! use sentinel_core::Sentinel;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let sentinel = Sentinel::new();
//! // Mounted in the app, next to its routes:
//! let app: axum::Router = axum::Router::new()
//!     .nest_service("/ops/sentinel", dashboard::router(&sentinel, DashboardConfig::new("shop"))?);
//! // Or on a listener of its own, on loopback:
//! let server = dashboard::serve(&sentinel, ([127, 0, 0, 1], 8719).into(), DashboardConfig::new("shop")).await?;
//! println!("dashboard: {}", server.url());
//! # Ok(()) }
//! ```
//!
//! ## What it costs
//!
//! Nothing on the admission path: a [`History`] is fed once a second by sentinel-core's
//! per-second aggregation ([`Sentinel::add_second_listener`]), which the metric log and
//! exporters share. It keeps [`DEFAULT_HISTORY_SECONDS`] seconds of the
//! [`DEFAULT_MAX_RESOURCES`] busiest resources (about 3.6 MB at most).
//!
//! ## The API (`api/v1`, JSON, read-only)
//!
//! | path | what |
//! |---|---|
//! | `status` | app, version, uptime, rule counts, rule sources' status, cluster backend, write mode |
//! | `resources` | every resource: last second, a 60 s sparkline, rules attached, breaker states, whether its history is `kept` |
//! | `history?resource=<name>&since=<unix ms>` | one resource's seconds in columns (`seconds`, `pass`, `block`, `complete`, `error`, `avgRtMs`, `concurrency`); 404 when not kept |
//! | `rules[?enums=names]` | the rules in force per kind, sentinel-golang's JSON, and their versions (`versions` per kind, `ETag` for all) |
//! | `system` | CPU usage, load, RSS, inbound traffic's last second, system rules |
//! | `stream` | server-sent events: `event: second`, one frame per second |
//!
//! ## Writes
//!
//! Off unless [`DashboardConfig::write_token`] is set. `PUT api/v1/rules/<kind>` (`flow`,
//! `isolation`, `circuitBreaker`, `hotspot`, `system`; the kinds' names `circuit breaker`
//! and `hot parameter` are read as theirs) with `Authorization: Bearer
//! <token>`, `If-Match: "<version>"` and a JSON list of rules replaces that kind's rules as
//! a whole. The version is the one the new set was built on: `GET api/v1/rules` gives each
//! kind's (`versions`) and all kinds' (`ETag`); `*` replaces whatever is in force. Answers:
//! 405 when writes are off, 401 without the token, 428 without `If-Match`, 409 when the
//! rules in force are not that version any more (someone saved, a hand edit or an etcd put
//! was loaded) or the stored rules hold content not loaded yet, 422 naming each bad rule
//! and field (nothing changes), 200 with what changed and the kind's new version. Through a
//! [`RuleEditor`] ([`DashboardConfig::editor`]) the rules are saved to their source (a file
//! replaced atomically; an etcd transaction on the key's revision) and survive restarts;
//! without one they are loaded into the instance only, and a reload of a rule source or a
//! restart replaces them (the page says so). Every write is logged with the kind, rule ids
//! and remote address (`dashboard write accepted` or `refused`; the address when the app
//! is served with `into_make_service_with_connect_info`, as [`serve`] does), and so is
//! every refused token; the editor logs what it saved where.
//!
//! ## Safety
//!
//! The token is compared in constant time; no cookies (no cross-site request can carry
//! the token); every answer has a strict Content-Security-Policy (the page's own scripts
//! and API only), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`; no CORS
//! headers; bodies are bounded ([`MAX_BODY_BYTES`]); the dashboard makes no outbound
//! request of any kind, and the page loads nothing from elsewhere. [`serve`] listens on
//! loopback unless [`DashboardConfig::allow_remote`] says otherwise, and there answers
//! only requests addressed to loopback. Mounted with [`router`], the read API answers
//! whoever reaches the app: mount it behind the app's authentication or on an internal
//! port.
//!
//! [`Sentinel::add_second_listener`]: sentinel_core::Sentinel::add_second_listener

mod api;
mod config;
mod history;
mod page;
mod server;
mod stream;
mod version;
mod write;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, put};
use sentinel_core::Sentinel;
use sentinel_datasource::{Pipeline, RuleEditor};
use tokio::sync::watch;

pub use config::{DashboardConfig, DashboardError, MIN_TOKEN_BYTES};
pub use history::{Columns, DEFAULT_HISTORY_SECONDS, DEFAULT_MAX_RESOURCES, History, Point};
pub use server::{DashboardServer, SHUTDOWN_GRACE, serve};
pub use write::MAX_BODY_BYTES;

/// What the handlers share.
struct Dashboard {
    sentinel: Sentinel,
    history: Arc<History>,
    app: String,
    version: Option<String>,
    sources: Vec<Pipeline>,
    writes: Option<write::Writes>,
    /// Every kind, for exports only (nothing is applied through it).
    all_kinds: Pipeline,
    /// Set when the dashboard's own server shuts down: live streams end.
    closed: watch::Sender<bool>,
}

/// The dashboard of `sentinel` as an axum router, to mount under any path of the app
/// with `Router::nest_service("/ops/sentinel", ...)`, which routes the mount point with and
/// without a trailing slash (axum's `nest` routes only `/ops/sentinel`, and
/// `/ops/sentinel/` is then a 404); the page is at the mount point. It starts recording
/// the instance's per-second figures.
///
/// The read API answers whoever reaches the app: mount it behind the app's own
/// authentication, or on an internal port, or use [`serve`] on loopback.
///
/// # Errors
///
/// [`DashboardError::WeakToken`] when a write token shorter than [`MIN_TOKEN_BYTES`] is
/// configured, [`DashboardError::TokenCharacters`] when it has a space or a character
/// beyond visible ASCII.
pub fn router(sentinel: &Sentinel, config: DashboardConfig) -> Result<Router, DashboardError> {
    Ok(routes(build(sentinel, config)?))
}

fn build(sentinel: &Sentinel, config: DashboardConfig) -> Result<Arc<Dashboard>, DashboardError> {
    let writes = match config.token {
        Some(token) if token.len() < MIN_TOKEN_BYTES => {
            return Err(DashboardError::WeakToken { len: token.len() });
        }
        Some(token) if !token.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(DashboardError::TokenCharacters);
        }
        Some(token) => Some(write::Writes {
            token: token.into_bytes().into_boxed_slice(),
            serial: tokio::sync::Mutex::new(()),
            editor: config.editor.clone().unwrap_or_else(|| {
                RuleEditor::in_memory(&Pipeline::builder(sentinel).all_kinds().build())
            }),
        }),
        None => None,
    };
    let mut sources = config.sources;
    if sources.is_empty()
        && let Some(editor) = &config.editor
    {
        sources.push(editor.pipeline().clone());
    }
    let history = Arc::new(History::new(config.history_seconds, config.max_resources));
    sentinel.add_second_listener(history.clone());
    Ok(Arc::new(Dashboard {
        sentinel: sentinel.clone(),
        history,
        app: config.app,
        version: config.version,
        sources,
        writes,
        all_kinds: Pipeline::builder(sentinel).all_kinds().build(),
        closed: watch::Sender::new(false),
    }))
}

fn routes(dashboard: Arc<Dashboard>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/assets/{name}", get(page::asset))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/resources", get(api::resources))
        .route("/api/v1/history", get(api::history))
        .route("/api/v1/rules", get(api::rules))
        .route("/api/v1/rules/{kind}", put(write::put_rules))
        .route("/api/v1/system", get(api::system))
        .route("/api/v1/stream", get(stream::stream))
        .layer(axum::middleware::map_response(page::security_headers))
        .with_state(dashboard)
}

#[cfg(test)]
mod tests;
