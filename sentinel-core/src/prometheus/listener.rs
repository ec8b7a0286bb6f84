//! The standalone `/metrics` listener (feature `prometheus-listener`): a `tiny_http`
//! server on a thread of its own, for services without an HTTP framework.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{CONTENT_TYPE, Exposition};
use crate::Sentinel;

/// A standalone `/metrics` listener on its own thread; stops when dropped.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `sentinel`'s metrics at `GET /metrics` on `addr` (port 0 picks a free port), on a
/// thread of its own. Errors: the address cannot be bound,
/// or the thread cannot be started.
///
/// ```no_run
/// let s = sentinel_core::Sentinel::new();
/// let server = sentinel_core::prometheus::serve(&s, "127.0.0.1:9464").unwrap();
/// println!("metrics at http://{}/metrics", server.local_addr());
/// ```
pub fn serve(
    sentinel: &Sentinel,
    addr: impl std::net::ToSocketAddrs,
) -> std::io::Result<MetricsServer> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("the metrics listener has no IP address"))?;
    let server = Arc::new(server);
    let exposition = Exposition::new(sentinel);
    let listener = server.clone();
    let thread = std::thread::Builder::new()
        .name("sentinel-metrics-http".into())
        .spawn(move || {
            for request in listener.incoming_requests() {
                let response = if request.url() == "/metrics" {
                    let header = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                        .expect("a valid static header");
                    tiny_http::Response::from_string(exposition.render()).with_header(header)
                } else {
                    tiny_http::Response::from_string("not found; try /metrics")
                        .with_status_code(404)
                };
                if let Err(e) = request.respond(response) {
                    tracing::debug!(error = %e, "a metrics scrape went away");
                }
            }
        })?;
    Ok(MetricsServer {
        server,
        addr,
        thread: Some(thread),
    })
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}
