//! The dashboard on a listener of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sentinel_core::Sentinel;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Dashboard, DashboardConfig, DashboardError, build, routes};

/// How long [`DashboardServer::shutdown`] waits for requests in progress.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running dashboard server ([`serve`]). [`DashboardServer::shutdown`] stops it and
/// waits for requests in progress (up to [`SHUTDOWN_GRACE`]); dropping it stops it at
/// once, live streams and open connections included.
#[derive(Debug)]
pub struct DashboardServer {
    addr: SocketAddr,
    closed: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl DashboardServer {
    /// The address it listens on (the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops accepting, ends live streams, and waits for requests in progress for up to
    /// [`SHUTDOWN_GRACE`]; connections still open then (a client that never finishes its
    /// request) are closed.
    ///
    /// # Errors
    ///
    /// What the server met while accepting connections.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.closed.send_replace(true);
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(done) => done.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

impl Drop for DashboardServer {
    fn drop(&mut self) {
        self.closed.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn addr_is_remote(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

/// The `Host` values a browser sends for a loopback listener on `port`.
fn loopback_hosts(port: u16) -> Vec<String> {
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|h| format!("{h}:{port}"))
        .collect()
}

/// Refuses requests whose `Host` is not the loopback listener's (421): a web page whose
/// name an attacker points at 127.0.0.1 (DNS rebinding) must not read the dashboard.
async fn only_hosts(
    hosts: Arc<Vec<String>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .map(|h| h.to_str().unwrap_or("").to_ascii_lowercase());
    match host {
        Some(h) if !hosts.contains(&h) => super::api::error(
            axum::http::StatusCode::MISDIRECTED_REQUEST,
            format!("this dashboard answers only to {}", hosts.join(", ")),
        ),
        _ => next.run(request).await,
    }
}

/// Serves the dashboard of `sentinel` at `addr` on the current tokio runtime, on loopback
/// unless [`DashboardConfig::allow_remote`]; port 0 lets the system choose (see
/// [`DashboardServer::local_addr`]). Sentinel's own dashboard port is 8719. On loopback
/// it answers only requests addressed to loopback (`Host: 127.0.0.1:<port>`,
/// `localhost:<port>` or `[::1]:<port>`; others get 421), so that no web page can reach it
/// through a name that resolves to 127.0.0.1.
///
/// # Errors
///
/// [`DashboardError::NotLoopback`] for an address beyond loopback without `allow_remote`,
/// [`DashboardError::WeakToken`] as for [`router`](super::router), and
/// [`DashboardError::Bind`] when the address cannot be listened on.
pub async fn serve(
    sentinel: &Sentinel,
    addr: SocketAddr,
    config: DashboardConfig,
) -> Result<DashboardServer, DashboardError> {
    if !addr.ip().is_loopback() && !config.allow_remote {
        return Err(DashboardError::NotLoopback { addr });
    }
    let dashboard: Arc<Dashboard> = build(sentinel, config)?;
    let closed = dashboard.closed.clone();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DashboardError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| DashboardError::Bind { addr, source })?;
    let mut app = routes(dashboard);
    if !addr_is_remote(&local) {
        let hosts = Arc::new(loopback_hosts(local.port()));
        app = app.layer(axum::middleware::from_fn(move |request, next| {
            only_hosts(hosts.clone(), request, next)
        }));
    }
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut stop = closed.subscribe();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // Ends when told to, or when the handle is gone.
                let _ = stop.wait_for(|c| *c).await;
            })
            .await
    });
    tracing::info!(addr = %local, "dashboard listening");
    Ok(DashboardServer {
        addr: local,
        closed,
        task: Some(task),
    })
}
