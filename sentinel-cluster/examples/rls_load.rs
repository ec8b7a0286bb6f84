//! Load on the Rate Limit Service: a tonic client holding 64 `ShouldRateLimit` calls in
//! flight against the service (local store) on loopback, in one process.
//!
//! ```text
//! cargo run --release -p sentinel-cluster --features rls --example rls_load [seconds] [in-flight]
//! ```
//!
//! Each call names one of 10,000 users (so the store holds 10,000 buckets) under a limit
//! of 1,000,000 per second, and half the users also send a second descriptor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use sentinel_cluster::rls::proto::{
    Code, Entry, RateLimitDescriptor, RateLimitRequest, RateLimitResponse, SHOULD_RATE_LIMIT,
};
use sentinel_cluster::rls::{RateLimitService, RlsConfig};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic_prost::ProstCodec;

const CONFIG: &str = "domain: load
descriptors:
  - key: user
    rate_limit: {unit: second, requests_per_unit: 1000000}
  - key: path
    rate_limit: {unit: second, requests_per_unit: 1000000}
";

fn request(n: u64) -> RateLimitRequest {
    let entry = |key: &str, value: String| RateLimitDescriptor {
        entries: vec![Entry {
            key: key.into(),
            value,
        }],
        ..Default::default()
    };
    let mut descriptors = vec![entry("user", format!("user-{}", n % 10_000))];
    if n.is_multiple_of(2) {
        descriptors.push(entry("path", "/checkout".into()));
    }
    RateLimitRequest {
        domain: "load".into(),
        descriptors,
        hits_addend: 0,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let in_flight: u64 = args.next().map_or(Ok(64), |s| s.parse())?;

    let service = RateLimitService::builder(RlsConfig::from_yaml(CONFIG, "load.yaml")?).build();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .add_service(service.clone())
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;

    let done = Arc::new(AtomicU64::new(0));
    let over = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..in_flight {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        let (done, over) = (done.clone(), over.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while Instant::now() < until {
                grpc.ready().await.expect("ready");
                let answer: RateLimitResponse = grpc
                    .unary(
                        tonic::Request::new(request(n)),
                        PathAndQuery::from_static(SHOULD_RATE_LIMIT),
                        ProstCodec::<RateLimitRequest, RateLimitResponse>::default(),
                    )
                    .await
                    .expect("an answer")
                    .into_inner();
                if answer.overall_code != Code::Ok as i32 {
                    over.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
                n += in_flight;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let calls = done.load(Ordering::Relaxed);
    println!(
        "{calls} ShouldRateLimit calls in {elapsed:.2} s with {in_flight} in flight: {:.0} calls/s ({} over limit; {} buckets)",
        calls as f64 / elapsed,
        over.load(Ordering::Relaxed),
        service.stats().keys
    );
    Ok(())
}
