//! `sentinel-rls`: an Envoy Rate Limit Service on Sentinel's GCRA limiter.
//!
//! ```text
//! sentinel-rls --config <rls.yaml> [--config <more.yaml> ...] --listen <addr>
//!              [--redis <url>] [--fail-closed] [--max-keys <n>] [--metrics <addr>]
//!              [--shutdown-grace <seconds>]
//! ```
//!
//! Prints `listening on <addr>` once it accepts calls; reloads the configuration files
//! when they change (keeping the last good one). On SIGTERM or Ctrl-C it stops taking
//! connections and lets calls in flight finish, for at most `--shutdown-grace` seconds
//! (default 5), then exits even if clients keep connections open; a second signal exits
//! at once. `--help` prints the usage. See the `sentinel_cluster::rls` docs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sentinel_cluster::RedisBackend;
use sentinel_cluster::rls::{ConfigWatcher, DEFAULT_MAX_KEYS, RateLimitService, RlsConfig};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

const USAGE: &str = "usage: sentinel-rls --config <rls.yaml> [--config <more.yaml> ...] --listen <addr> \
[--redis <url>] [--fail-closed] [--max-keys <n>] [--metrics <addr>] [--shutdown-grace <seconds>]";

/// How long a stop waits for calls in flight by default.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The most calls one client connection has in flight.
const MAX_STREAMS: u32 = 64;

/// The command line.
struct Args {
    configs: Vec<PathBuf>,
    listen: SocketAddr,
    redis: Option<String>,
    fail_closed: bool,
    max_keys: usize,
    metrics: Option<SocketAddr>,
    shutdown_grace: Duration,
}

/// Why the command line is not run.
#[derive(Debug)]
enum ArgsError {
    /// `--help`: the usage on stdout.
    Help,
    /// A mistake, said on stderr with the usage.
    Bad(String),
}

impl From<String> for ArgsError {
    fn from(m: String) -> Self {
        ArgsError::Bad(m)
    }
}

impl From<&str> for ArgsError {
    fn from(m: &str) -> Self {
        ArgsError::Bad(m.into())
    }
}

/// Sets a flag given at most once.
fn once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("{flag} is given twice"));
    }
    Ok(())
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut configs = Vec::new();
    let (mut listen, mut redis, mut metrics) = (None, None, None);
    let (mut max_keys, mut grace) = (None, None);
    let mut fail_closed = false;
    while let Some(arg) = args.next() {
        // `--flag value` or `--flag=value`.
        let (flag, mut inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let switch = inline.is_none();
        let mut value = || {
            inline
                .take()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        let addr = |v: String| {
            v.parse::<SocketAddr>()
                .map_err(|e| format!("{flag}: `{v}` is not an address (ip:port): {e}"))
        };
        match flag.as_str() {
            "--config" => configs.push(PathBuf::from(value()?)),
            "--listen" => once(&mut listen, &flag, addr(value()?)?)?,
            "--redis" => once(&mut redis, &flag, value()?)?,
            "--metrics" => once(&mut metrics, &flag, addr(value()?)?)?,
            "--fail-closed" if switch => fail_closed = true,
            "--fail-closed" => return Err("--fail-closed takes no value".into()),
            "--max-keys" => {
                let v = value()?;
                let n: usize = v
                    .parse()
                    .map_err(|e| format!("--max-keys: `{v}` is not a number: {e}"))?;
                if n == 0 {
                    return Err("--max-keys: must be at least 1".into());
                }
                once(&mut max_keys, &flag, n)?;
            }
            "--shutdown-grace" => {
                let v = value()?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                    .ok_or(format!(
                        "--shutdown-grace: `{v}` is not a number of seconds from 0 to 3600"
                    ))?;
                once(&mut grace, &flag, Duration::from_secs_f64(secs))?;
            }
            "--help" | "-h" => return Err(ArgsError::Help),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    if configs.is_empty() {
        return Err("--config is required".into());
    }
    Ok(Args {
        configs,
        listen: listen.ok_or("--listen is required")?,
        redis,
        fail_closed,
        max_keys: max_keys.unwrap_or(DEFAULT_MAX_KEYS),
        metrics,
        shutdown_grace: grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(ArgsError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Bad(e)) => {
            eprintln!("sentinel-rls: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sentinel-rls: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = RlsConfig::load(&args.configs)?;
    let mut builder = RateLimitService::builder(config)
        .max_keys(args.max_keys)
        .fail_closed(args.fail_closed);
    if let Some(url) = &args.redis {
        builder = builder.redis(RedisBackend::builder(url).build()?);
    }
    let service = builder.build();
    let _watcher = ConfigWatcher::start(&args.configs, service.clone())?;
    if let Some(addr) = args.metrics {
        let stats = service.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let text = stats.stats().to_prometheus();
                async move { text }
            }),
        );
        let listener = bind("--metrics", addr).await?;
        eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "sentinel-rls: the metrics listener failed");
            }
        });
    }
    let listener = bind("--listen", args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let (stopping, stopped) = tokio::sync::oneshot::channel();
    // Bounds what one client can make the service hold at once (with the per-request
    // descriptor and entry caps of the service).
    let server = Server::builder()
        .max_concurrent_streams(Some(MAX_STREAMS))
        .concurrency_limit_per_connection(MAX_STREAMS as usize)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
            stop_signal().await;
            let _ = stopping.send(());
        });
    // After the first signal: the grace time, or a second signal, whichever comes first.
    let cut = async {
        if stopped.await.is_err() {
            return std::future::pending::<()>().await;
        }
        let again = stop_signal();
        tracing::info!(
            grace = ?args.shutdown_grace,
            "sentinel-rls: stopping; a second signal stops at once"
        );
        tokio::select! {
            () = tokio::time::sleep(args.shutdown_grace) => {}
            () = again => {}
        }
    };
    tokio::select! {
        served = server => {
            served?;
            tracing::info!("sentinel-rls: stopped");
        }
        () = cut => tracing::warn!("sentinel-rls: stopped, cutting the connections still open"),
    }
    Ok(())
}

/// Binds `addr` for `flag`, naming the flag when it fails.
async fn bind(flag: &str, addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{flag} {addr}: {e}"))
}

/// SIGTERM or Ctrl-C; SIGTERM is listened for from this call on (not only once the
/// future is polled), so none sent after it is missed.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(_) = async { term.as_mut()?.recv().await } => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string())).map_err(|e| match e {
            ArgsError::Help => "help".into(),
            ArgsError::Bad(m) => m,
        })
    }

    #[test]
    fn arguments_are_read_in_both_forms_and_mistakes_are_named() {
        let a = parse(&[
            "--config",
            "a.yaml",
            "--config=b.yaml",
            "--listen=127.0.0.1:8081",
            "--redis",
            "redis://r:6379/",
            "--fail-closed",
            "--max-keys",
            "10",
            "--metrics",
            "127.0.0.1:9090",
        ])
        .unwrap();
        assert_eq!(
            a.configs,
            [PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]
        );
        assert_eq!(a.listen, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(a.redis.as_deref(), Some("redis://r:6379/"));
        assert!(a.fail_closed);
        assert_eq!(a.max_keys, 10);
        assert_eq!(a.metrics, Some("127.0.0.1:9090".parse().unwrap()));
        let a = parse(&["--config", "a.yaml", "--listen", "[::1]:1"]).unwrap();
        assert_eq!(
            (a.fail_closed, a.max_keys, a.redis),
            (false, DEFAULT_MAX_KEYS, None)
        );
        for (args, says) in [
            (&["--listen", "127.0.0.1:1"][..], "--config is required"),
            (&["--config", "a"][..], "--listen is required"),
            (&["--config"][..], "--config needs a value"),
            (
                &["--config", "a", "--listen", "localhost"][..],
                "`localhost` is not an address",
            ),
            (
                &[
                    "--config",
                    "a",
                    "--listen",
                    "127.0.0.1:1",
                    "--max-keys",
                    "x",
                ][..],
                "--max-keys",
            ),
            (
                &[
                    "--config",
                    "a",
                    "--listen",
                    "127.0.0.1:1",
                    "--fail-closed=no",
                ][..],
                "--fail-closed takes no value",
            ),
            (&["--verbose"][..], "unknown argument `--verbose`"),
            (&["--help"][..], "help"),
            (
                &[
                    "--config",
                    "a",
                    "--listen",
                    "127.0.0.1:1",
                    "--max-keys",
                    "0",
                ][..],
                "--max-keys: must be at least 1",
            ),
            (
                &[
                    "--config",
                    "a",
                    "--listen",
                    "127.0.0.1:1",
                    "--listen",
                    "127.0.0.1:2",
                ][..],
                "--listen is given twice",
            ),
            (
                &[
                    "--config",
                    "a",
                    "--listen",
                    "127.0.0.1:1",
                    "--redis",
                    "r",
                    "--redis=s",
                ][..],
                "--redis is given twice",
            ),
            (
                &[
                    "--config",
                    "a",
                    "--listen",
                    "127.0.0.1:1",
                    "--shutdown-grace",
                    "-1",
                ][..],
                "--shutdown-grace: `-1` is not a number",
            ),
        ] {
            let e = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(e.contains(says), "{args:?}: {e}");
        }
    }
}
