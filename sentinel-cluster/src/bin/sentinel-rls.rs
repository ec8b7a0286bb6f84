//! `sentinel-rls`: an Envoy Rate Limit Service on Sentinel's GCRA limiter.
//!
//! ```text
//! sentinel-rls --config <rls.yaml> [--config <more.yaml> ...] --listen <addr>
//!              [--redis <url>] [--fail-closed] [--max-keys <n>] [--metrics <addr>]
//! ```
//!
//! Prints `listening on <addr>` once it accepts calls; reloads the configuration files
//! when they change (keeping the last good one); stops on SIGTERM or Ctrl-C. See the
//! `sentinel_cluster::rls` docs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use sentinel_cluster::RedisBackend;
use sentinel_cluster::rls::{ConfigWatcher, DEFAULT_MAX_KEYS, RateLimitService, RlsConfig};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

const USAGE: &str = "usage: sentinel-rls --config <rls.yaml> [--config <more.yaml> ...] --listen <addr> \
[--redis <url>] [--fail-closed] [--max-keys <n>] [--metrics <addr>]";

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
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut configs = Vec::new();
    let (mut listen, mut redis, mut metrics) = (None, None, None);
    let mut fail_closed = false;
    let mut max_keys = DEFAULT_MAX_KEYS;
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
            "--listen" => listen = Some(addr(value()?)?),
            "--redis" => redis = Some(value()?),
            "--metrics" => metrics = Some(addr(value()?)?),
            "--fail-closed" if switch => fail_closed = true,
            "--fail-closed" => return Err("--fail-closed takes no value".into()),
            "--max-keys" => {
                let v = value()?;
                max_keys = v
                    .parse()
                    .map_err(|e| format!("--max-keys: `{v}` is not a number: {e}"))?;
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
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
        max_keys,
        metrics,
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
        Err(e) => {
            if !e.is_empty() {
                eprintln!("sentinel-rls: {e}");
            }
            eprintln!("{USAGE}");
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
        let listener = TcpListener::bind(addr).await?;
        eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "sentinel-rls: the metrics listener failed");
            }
        });
    }
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    // Bounds what one client can make the service hold at once (with the per-request
    // descriptor and entry caps of the service).
    Server::builder()
        .max_concurrent_streams(Some(MAX_STREAMS))
        .concurrency_limit_per_connection(MAX_STREAMS as usize)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), stop_signal())
        .await?;
    tracing::info!("sentinel-rls: stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(_) = async { term.as_mut()?.recv().await } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
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
        ] {
            let e = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(e.contains(says), "{args:?}: {e}");
        }
    }
}
