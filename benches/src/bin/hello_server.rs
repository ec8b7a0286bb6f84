//! An axum hello-world on 127.0.0.1 for `scripts/loadtest.sh`: `GET /items/{id}` answers
//! "hello", with or without `SentinelLayer` (one flow rule that every request passes). It
//! prints its address, serves for a bounded time, then exits.
//!
//! ```text
//! hello_server [--sentinel] [--seconds N]     (default: no layer, 30 s)
//! ```

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sentinel_adapters::SentinelLayer;
use sentinel_core::Sentinel;
use sentinel_core::flow::FlowRule;
use tokio::net::TcpListener;

fn app(with_sentinel: bool) -> Result<Router, Box<dyn std::error::Error>> {
    let app = Router::new().route("/items/{id}", get(|| async { "hello" }));
    if !with_sentinel {
        return Ok(app);
    }
    let sentinel = Sentinel::new();
    sentinel.load_flow_rules(vec![FlowRule {
        resource: "GET /items/{id}".into(),
        threshold: 1e12,
        ..Default::default()
    }])?;
    Ok(app.layer(SentinelLayer::new(sentinel)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut with_sentinel = false;
    let mut seconds = 30;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sentinel" => with_sentinel = true,
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds N")?;
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    let serve = axum::serve(listener, app(with_sentinel)?);
    // Serve until the time is up, then exit (dropping open connections).
    let _ = tokio::time::timeout(Duration::from_secs(seconds), serve).await;
    Ok(())
}
