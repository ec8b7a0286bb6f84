//! Flow rules that follow an etcd key.
//!
//! ```text
//! cargo run --example etcd_rules --features etcd
//! cargo run --example etcd_rules --features etcd -- http://127.0.0.1:2379 /sentinel/flow
//! ```
//!
//! Without arguments the example starts a throwaway etcd on loopback (it needs `etcd` on
//! the PATH; Debian: `apt-get install etcd-server`), then changes the rules in it as an
//! operator would: an update, a mistake (rejected: the rules in force stay), etcd killed
//! (the rules stay), etcd restarted and an update written (it arrives), the key deleted
//! (the rules stay). It ends by itself after a few seconds.
//!
//! With an endpoint and a key it follows that key and prints every change until stopped:
//!
//! ```text
//! etcdctl put /sentinel/flow '[{"resource": "GET /items", "threshold": 10}]'
//! ```

#[path = "../sentinel-datasource/tests/support/etcd_server.rs"]
mod etcd_server;

use std::error::Error;
use std::time::{Duration, Instant};

use etcd_server::{EtcdServer, etcd_available};
use sentinel_core::Sentinel;
use sentinel_datasource::etcd_client::Client;
use sentinel_datasource::{EtcdSource, Flow, Pipeline, SourceStatus};
use sentinel_examples::print_changes;

const KEY: &str = "/sentinel/example/flow";
const RESOURCE: &str = "GET /items";
/// How long each step may take to show.
const STEP: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => scripted(),
        [endpoint, key] => follow(endpoint, key),
        _ => Err("usage: etcd_rules [ENDPOINT KEY]".into()),
    }
}

/// Follows `key` on `endpoint`, printing each change, until stopped.
fn follow(endpoint: &str, key: &str) -> Result<(), Box<dyn Error>> {
    let sentinel = Sentinel::new();
    let source = EtcdSource::key([endpoint], key).start(Pipeline::for_kind::<Flow>(&sentinel))?;
    println!("Following {key} on {endpoint}; Ctrl-C to stop.");
    print_changes(|| report(&sentinel, &source.status()))
}

/// Starts etcd, follows a key in it, and changes it every way.
fn scripted() -> Result<(), Box<dyn Error>> {
    if !etcd_available() {
        println!("`etcd` is not on the PATH (Debian: apt-get install etcd-server);");
        println!("or give an endpoint and a key: etcd_rules http://127.0.0.1:2379 /sentinel/flow");
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("sentinel-etcd-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_script(&dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run_script(dir: &std::path::Path) -> Result<(), Box<dyn Error>> {
    let mut etcd = EtcdServer::start(dir);
    println!(
        "etcd is up at {}; the rules live in its key {KEY}.\n",
        etcd.endpoint()
    );
    let mut writer = Writer::connect(&etcd.endpoint())?;
    writer.put(&rules(100))?;

    let sentinel = Sentinel::new();
    let source = EtcdSource::key([etcd.endpoint()], KEY)
        .retry(Duration::from_millis(100), Duration::from_secs(1))
        .start(Pipeline::for_kind::<Flow>(&sentinel))?;
    source.wait_synced(STEP);
    println!("{}", report(&sentinel, &source.status()));

    let limit_is = |n: f64| move |s: &Sentinel, _: &SourceStatus| limit(s) == Some(n);
    step(
        "put threshold 20",
        &sentinel,
        &source,
        limit_is(20.0),
        || writer.put(&rules(20)),
    )?;
    let rejected = source.status().updates_rejected;
    step(
        "put threshold -5 (a mistake: rejected, 20 stays in force)",
        &sentinel,
        &source,
        move |_, st| st.updates_rejected > rejected,
        || writer.put(&rules(-5)),
    )?;
    step(
        "kill etcd (the rules stay in force; the source retries)",
        &sentinel,
        &source,
        |_, st| {
            !st.is_healthy()
                && st
                    .last_error
                    .as_ref()
                    .is_some_and(|e| e.error.to_string().contains("watch error"))
        },
        || {
            etcd.kill();
            Ok(())
        },
    )?;
    etcd.start_again();
    let mut writer = Writer::connect(&etcd.endpoint())?;
    step(
        "restart etcd on the same data and put threshold 50 (it arrives)",
        &sentinel,
        &source,
        |s, st| limit(s) == Some(50.0) && st.is_healthy(),
        || writer.put(&rules(50)),
    )?;
    let rejected = source.status().updates_rejected;
    step(
        "delete the key (the last good rules stay)",
        &sentinel,
        &source,
        move |_, st| st.updates_rejected > rejected,
        || writer.delete(),
    )?;
    drop(source);
    println!("\nThe source is dropped: it stops, and it never wrote to etcd.");
    Ok(())
}

/// Does `action`, waits until `done` holds, and prints the state.
fn step(
    what: &str,
    sentinel: &Sentinel,
    source: &EtcdSource,
    done: impl Fn(&Sentinel, &SourceStatus) -> bool,
    action: impl FnOnce() -> Result<(), Box<dyn Error>>,
) -> Result<(), Box<dyn Error>> {
    println!("  >> {what}");
    action()?;
    let deadline = Instant::now() + STEP;
    while !done(sentinel, &source.status()) {
        if Instant::now() > deadline {
            return Err(format!("no effect after {STEP:?}: {what}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("{}", report(sentinel, &source.status()));
    Ok(())
}

/// The key's value for a limit of `threshold` per second.
fn rules(threshold: i32) -> String {
    format!(r#"[{{"id": "items-qps", "resource": "{RESOURCE}", "threshold": {threshold}}}]"#)
}

fn limit(sentinel: &Sentinel) -> Option<f64> {
    sentinel
        .flow_rules()
        .iter()
        .find(|r| r.resource == RESOURCE)
        .map(|r| r.threshold)
}

/// One line: the limit in force and the source's status.
fn report(sentinel: &Sentinel, status: &SourceStatus) -> String {
    let limit = limit(sentinel).map_or("no limit".into(), |t| format!("limit {t}/s"));
    let health = match (&status.last_error, status.is_healthy()) {
        (Some(e), false) => format!("last error: {}", e.error),
        _ => "ok".into(),
    };
    format!(
        "     {limit:<14} updates: {} applied, {} rejected; {health}",
        status.updates_applied, status.updates_rejected
    )
}

/// The operator's client: writes the key.
struct Writer {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Writer {
    fn connect(endpoint: &str) -> Result<Writer, Box<dyn Error>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = runtime.block_on(Client::connect([endpoint], None))?;
        Ok(Writer { runtime, client })
    }

    fn put(&mut self, value: &str) -> Result<(), Box<dyn Error>> {
        self.runtime.block_on(self.client.put(KEY, value, None))?;
        Ok(())
    }

    fn delete(&mut self) -> Result<(), Box<dyn Error>> {
        self.runtime.block_on(self.client.delete(KEY, None))?;
        Ok(())
    }
}
