//! The dashboard, live: the demo's shop under its built-in traffic (a burst every 20 s, a
//! hot product, a payment provider that fails for 4 s of every 20), with the dashboard on
//! a loopback port. Open the address it prints first.
//!
//! ```text
//! cargo run --release --example dashboard                # until Ctrl-C
//! cargo run --release --example dashboard -- --seconds 60
//! ```
//!
//! Rules are read from and saved to a file (printed; created with the shop's rules on the
//! first run, kept after), so edits made on the page with the printed write token are
//! saved, reloaded like a hand edit of the file, and still in force on the next run.
//! Delete the file to start over. Writes and reloads are logged on standard error.

use std::time::{Duration, Instant};

use sentinel_adapters::dashboard::{self, DashboardConfig};
use sentinel_core::Sentinel;
use sentinel_datasource::{FileSource, Pipeline};
use sentinel_examples::shop::{Seen, load_rules, start_customers, start_shop};

/// `--seconds N` from the command line: how long to run (None: until Ctrl-C).
fn seconds_to_run() -> Result<Option<u64>, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--seconds"), Some(n)) => n
            .parse()
            .map(Some)
            .map_err(|_| format!("--seconds takes a whole number, not {n:?}")),
        _ => Err("usage: dashboard [--seconds N]".into()),
    }
}

/// 128 random bits in hex, from the standard library's per-process random hash keys.
fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let word = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    format!("{:016x}{:016x}", word(), word())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_for = seconds_to_run()?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let sentinel = Sentinel::new();

    // The rules file: the shop's rules on the first run, what was saved afterwards.
    let dir = std::env::temp_dir().join("sentinel-dashboard-example");
    let path = dir.join("rules.yaml");
    if !path.exists() {
        std::fs::create_dir_all(&dir)?;
        load_rules(&sentinel)?;
        let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
        std::fs::write(&path, pipeline.export(sentinel_datasource::Format::Yaml)?)?;
    }
    let source = FileSource::builder(&path)
        .start_strict(Pipeline::builder(&sentinel).all_kinds().build())?;
    let token = random_token();

    let config = DashboardConfig::new("demo shop")
        .version(env!("CARGO_PKG_VERSION"))
        .source(source.pipeline())
        .write_token(token.clone())
        .editor(source.editor());
    let board = dashboard::serve(&sentinel, ([127, 0, 0, 1], 0).into(), config).await?;
    println!("dashboard: {}", board.url());
    println!(
        "rules file: {} (edits on the page are saved here)",
        path.display()
    );
    println!("write token: {token}");

    let start = Instant::now();
    let shop = start_shop(&sentinel, start).await?;
    let customers = start_customers(start, &shop.server, &Seen::new());
    println!(
        "shop: http://{} under built-in traffic; Ctrl-C to stop",
        shop.server.addr
    );

    match run_for {
        Some(n) => tokio::time::sleep(Duration::from_secs(n)).await,
        None => tokio::signal::ctrl_c().await?,
    }
    customers.iter().for_each(|c| c.abort());
    board.shutdown().await?;
    drop(source);
    Ok(())
}
