//! The dashboard on a listener of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sentinel_core::Sentinel;
use tokio::sync::{oneshot, watch};

use super::{Dashboard, DashboardConfig, DashboardError, build, routes};

/// How long [`DashboardServer::shutdown`] waits for requests in progress.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running dashboard server ([`serve`]), on a thread and runtime of its own.
/// [`DashboardServer::shutdown`] stops it and waits for requests in progress (up to
/// [`SHUTDOWN_GRACE`]); dropping it stops it at once. Either way, once stopped, no
/// connection of it stays open: its runtime, and every connection task with it, is gone.
#[derive(Debug)]
pub struct DashboardServer {
    addr: SocketAddr,
    closed: watch::Sender<bool>,
    /// Ends the server's runtime at once.
    kill: Option<oneshot::Sender<()>>,
    /// Told when the server's runtime has ended, with what the server met.
    done: Option<oneshot::Receiver<std::io::Result<()>>>,
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
    /// request) are closed, their requests never handled.
    ///
    /// # Errors
    ///
    /// What the server met while accepting connections.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.closed.send_replace(true);
        let Some(mut done) = self.done.take() else {
            return Ok(());
        };
        if let Ok(outcome) = tokio::time::timeout(SHUTDOWN_GRACE, &mut done).await {
            return outcome.unwrap_or(Ok(()));
        }
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        done.await.unwrap_or(Ok(()))
    }
}

impl Drop for DashboardServer {
    fn drop(&mut self) {
        self.closed.send_replace(true);
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
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

/// Refuses requests addressed to another host than the loopback listener (421), or to
/// none: a web page whose name an attacker points at 127.0.0.1 (DNS rebinding) must not
/// read the dashboard.
async fn only_hosts(
    hosts: Arc<Vec<String>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the `:authority` of the URI.
    let host = match request.headers().get(axum::http::header::HOST) {
        Some(h) => h.to_str().ok().map(str::to_ascii_lowercase),
        None => request
            .uri()
            .authority()
            .map(|a| a.as_str().to_ascii_lowercase()),
    };
    if host.is_some_and(|h| hosts.contains(&h)) {
        next.run(request).await
    } else {
        super::api::error(
            axum::http::StatusCode::MISDIRECTED_REQUEST,
            format!("this dashboard answers only to {}", hosts.join(", ")),
        )
    }
}

/// Serves the dashboard of `sentinel` at `addr` on a thread and tokio runtime of its own
/// (the caller's runtime only awaits this call), on loopback
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
    let bind_error = |source| DashboardError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let mut app = routes(dashboard);
    if !addr_is_remote(&local) {
        let hosts = Arc::new(loopback_hosts(local.port()));
        app = app.layer(axum::middleware::from_fn(move |request, next| {
            only_hosts(hosts.clone(), request, next)
        }));
    }
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let (kill, killed) = oneshot::channel::<()>();
    let (report, done) = oneshot::channel();
    let mut stop = closed.subscribe();
    let run = move || -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Dropping the runtime at the end drops every connection task it still runs.
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Ends when told to, or when the handle is gone.
                let _ = stop.wait_for(|c| *c).await;
            });
            tokio::select! {
                served = server.into_future() => served,
                _ = killed => Ok(()),
            }
        })
    };
    std::thread::Builder::new()
        .name("sentinel-dashboard".into())
        .spawn(move || {
            let _ = report.send(run());
        })
        .map_err(bind_error)?;
    tracing::info!(addr = %local, "dashboard listening");
    Ok(DashboardServer {
        addr: local,
        closed,
        kill: Some(kill),
        done: Some(done),
    })
}
