//! Cluster flow control: three instances of an axum service share one global limit of
//! 300 requests a second through Redis, while load is offered unevenly (50, 150 and 400
//! requests a second). Prints what each instance admitted every second and the fleet's
//! total, kills Redis for three seconds to show the local fallback (each instance limits
//! itself at its share, 300 / 3 live = 100 a second) and the recovery, and ends by itself after
//! 14 seconds.
//!
//! ```text
//! cargo run --release --example cluster                        # starts its own redis-server
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --release --example cluster   # yours (not killed)
//! ```
//!
//! Without `REDIS_URL` it needs Debian's `redis-server`
//! (`apt-get install -y --no-install-recommends redis-server`).

use std::net::TcpListener;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Method;
use axum::routing::get;
use sentinel_adapters::SentinelLayer;
use sentinel_cluster::{Health, RedisBackend};
use sentinel_core::Sentinel;
use sentinel_core::cluster::{ClusterConfig, ThresholdType};
use sentinel_core::flow::FlowRule;
use sentinel_examples::{LocalServer, drive, http_client, status_of};

const LIMIT: f64 = 300.0;
const OFFERED: [u32; 3] = [50, 150, 400];
const SECONDS: u64 = 14;
const KILL_AT: u64 = 6;
const RESTART_AT: u64 = 9;

/// A `redis-server` of the example's own, on a free loopback port; killed when dropped.
struct OwnRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> std::io::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!("sentinel-cluster-example-{port}"));
        std::fs::create_dir_all(&dir)?;
        let mut redis = OwnRedis {
            port,
            dir,
            child: None,
        };
        redis.spawn()?;
        Ok(redis)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other("redis-server did not start"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rule() -> FlowRule {
    FlowRule {
        resource: "GET /checkout".into(),
        threshold: LIMIT,
        cluster_mode: true,
        cluster_config: Some(ClusterConfig {
            flow_id: "checkout".into(),
            threshold_type: ThresholdType::Global,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One instance: its Sentinel, its backend, and its server counting what it served.
struct Instance {
    backend: RedisBackend,
    server: LocalServer,
    served: Arc<AtomicU64>,
}

async fn instance(url: &str, prefix: &str) -> Result<Instance, Box<dyn std::error::Error>> {
    let backend = RedisBackend::builder(url)
        .key_prefix(prefix)
        .runtime(tokio::runtime::Handle::current())
        .build()?;
    let sentinel = Sentinel::builder().cluster_backend(backend.clone()).build();
    sentinel.load_flow_rules(vec![rule()])?;
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let app = Router::new()
        .route(
            "/checkout",
            get(move || {
                count.fetch_add(1, Ordering::Relaxed);
                async { "ok" }
            }),
        )
        .layer(SentinelLayer::new(sentinel));
    Ok(Instance {
        backend,
        server: LocalServer::start(app).await?,
        served,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let (url, mut own) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => match OwnRedis::start() {
            Ok(redis) => (redis.url(), Some(redis)),
            Err(e) => {
                eprintln!(
                    "cannot start redis-server ({e}).\n\
                     Install it with `apt-get install -y --no-install-recommends redis-server`, \
                     or point REDIS_URL at a Redis (redis://host:port/)."
                );
                return ExitCode::FAILURE;
            }
        },
    };
    match run(&url, own.as_mut()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, mut own: Option<&mut OwnRedis>) -> Result<(), Box<dyn std::error::Error>> {
    // A key prefix of this run's own, so that runs against a shared Redis do not meet.
    let prefix = format!("sentinel-example-{}", std::process::id());
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(instance(url, &prefix).await?);
    }
    let ready = Instant::now();
    while !fleet.iter().all(|i| {
        let s = i.backend.status();
        s.health == Health::Healthy && s.live_instances.first().is_some_and(|(_, n)| *n == 3)
    }) {
        if ready.elapsed() > Duration::from_secs(10) {
            return Err("the backends did not reach Redis within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("three instances share a global limit of {LIMIT}/s; offered {OFFERED:?} requests/s");
    let start = Instant::now();
    let client = http_client();
    let drivers: Vec<_> = fleet
        .iter()
        .zip(OFFERED)
        .map(|(i, rate)| {
            let (client, target) = (client.clone(), i.server.url("/checkout"));
            drive(
                start,
                Duration::ZERO,
                Duration::from_secs(SECONDS),
                rate,
                move |_| {
                    let (client, target) = (client.clone(), target.clone());
                    async move {
                        status_of(&client, Method::GET, &target).await;
                    }
                },
            )
        })
        .collect();
    let (mut healthy_total, mut healthy_seconds) = (0, 0);
    let (mut degraded_total, mut degraded_seconds) = (0, 0);
    for second in 1..=SECONDS {
        let healthy_before = fleet
            .iter()
            .all(|i| i.backend.status().health == Health::Healthy);
        let degraded_before = fleet
            .iter()
            .all(|i| i.backend.status().health == Health::Degraded);
        tokio::time::sleep_until((start + Duration::from_secs(second)).into()).await;
        let counts: Vec<u64> = fleet
            .iter()
            .map(|i| i.served.swap(0, Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let healthy_after = fleet
            .iter()
            .all(|i| i.backend.status().health == Health::Healthy);
        let degraded_after = fleet
            .iter()
            .all(|i| i.backend.status().health == Health::Degraded);
        // Only the health at both ends of the second is seen: a second that starts and
        // ends healthy (or degraded) is labelled so; any other mixes shared tokens and
        // local fallbacks.
        let state = match (healthy_before, healthy_after, degraded_after) {
            (true, true, _) => "healthy at both ends",
            (false, _, true) if degraded_before => "degraded at both ends: local fallback",
            _ => "state changed: leases and local fallback mixed",
        };
        println!("second {second:2}: admitted {counts:?}, fleet {total:4}  ({state})");
        // The first second starts with cold leases; seconds that changed state count in
        // neither sum.
        if healthy_before && healthy_after && second > 1 {
            healthy_total += total;
            healthy_seconds += 1;
        } else if degraded_before && degraded_after {
            degraded_total += total;
            degraded_seconds += 1;
        }
        match (second, own.as_deref_mut()) {
            (KILL_AT, Some(redis)) => {
                println!("-- killing Redis for {} s", RESTART_AT - KILL_AT);
                redis.kill();
            }
            (RESTART_AT, Some(redis)) => {
                println!("-- restarting Redis");
                redis.spawn()?;
            }
            (KILL_AT, None) => println!("-- (REDIS_URL given: Redis is not killed)"),
            _ => {}
        }
    }
    for d in drivers {
        d.await?;
    }
    println!(
        "seconds degraded at both ends: the fleet admitted {degraded_total} in \
         {degraded_seconds} s (each instance's fallback is its share, {LIMIT} / 3 live = {}/s, \
         counted in its own sliding window, not in these calendar seconds)",
        LIMIT / 3.0
    );
    println!(
        "seconds healthy at both ends (after the first): the fleet admitted {healthy_total} in \
         {healthy_seconds} s under a global limit of {LIMIT}/s"
    );
    Ok(())
}
