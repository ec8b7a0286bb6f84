//! Configuration files edited under a running service: the `sentinel-rls` binary (and
//! its metrics, its refusal of a bad file at start, its stop on SIGTERM) and a mounted
//! service with a [`ConfigWatcher`]. Real time: each test waits on a condition with a
//! timeout.

#![cfg(feature = "rls")]

mod rls_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rls_support::{Client, SHOP, request};
use sentinel_cluster::rls::{ConfigWatcher, RateLimitService, RlsConfig};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel-rls");

/// Saves `text` at `path` as editors do: a temporary file renamed over the old one.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The requests per unit a new user of `shop` gets.
async fn limit_now(client: &mut Client, n: &mut u32) -> u32 {
    *n += 1;
    let r = client
        .ask(request("shop", &[&[("user", &format!("user-{n}"))]]))
        .await
        .unwrap();
    r.statuses[0]
        .current_limit
        .as_ref()
        .unwrap()
        .requests_per_unit
}

/// Polls `condition` every 20 ms for up to 10 s.
async fn eventually<F: std::future::Future<Output = bool>>(
    mut condition: impl FnMut() -> F,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The binary, killed by its PID when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on `config` and loopback, its stderr in `log`; returns it and the
/// address it listens on.
async fn start(config: &Path, args: &[&str], log: &Path) -> (Process, SocketAddr) {
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut process = Process(child);
    let mut stdout = BufReader::new(process.0.stdout.take().unwrap());
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        stdout.read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("`listening on` within 30 s")
        .unwrap()
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    (process, addr)
}

fn sigterm(process: &Process) {
    let status = Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Sends SIGTERM and waits up to 10 s for the exit.
async fn terminate(process: &mut Process) -> std::process::ExitStatus {
    sigterm(process);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(exit) = process.0.try_wait().unwrap() {
            return exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn the_binary_reloads_its_file_keeps_the_last_good_one_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rls.yaml");
    save(&config, SHOP);
    let log = dir.path().join("stderr.log");
    let (mut process, addr) = start(&config, &["--metrics", "127.0.0.1:0"], &log).await;
    let mut client = Client::connect(addr).await;
    let mut n = 0;
    assert_eq!(limit_now(&mut client, &mut n).await, 3);

    save(
        &config,
        &SHOP.replace("requests_per_unit: 3", "requests_per_unit: 1"),
    );
    assert!(
        eventually(|| {
            let mut c = client.clone();
            let mut m = n + 1000;
            async move { limit_now(&mut c, &mut m).await == 1 }
        })
        .await,
        "the edit was not applied"
    );

    save(
        &config,
        &SHOP.replace("unit: second", "unit: second\n      unitt: 1"),
    );
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        eventually(|| async { read_log().contains("configuration refused") }).await,
        "{}",
        read_log()
    );
    assert!(
        read_log().contains("descriptors[0].rate_limit.unitt"),
        "{}",
        read_log()
    );
    assert_eq!(
        limit_now(&mut client, &mut n).await,
        1,
        "the last good one stays"
    );

    let metrics: SocketAddr = read_log()
        .split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the metrics address")
        .parse()
        .unwrap();
    let text = http_get(metrics, "/metrics");
    assert!(text.contains("sentinel_rls_requests_total "), "{text}");
    assert!(
        text.contains("sentinel_rls_config_reloads_total 1"),
        "{text}"
    );

    let exit = terminate(&mut process).await;
    assert!(exit.success(), "{exit:?}\n{}", read_log());
    assert!(read_log().contains("stopped"), "{}", read_log());
}

#[tokio::test]
async fn the_binary_stops_within_its_grace_time_despite_an_idle_client_or_at_a_second_signal() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rls.yaml");
    save(&config, SHOP);
    let log = dir.path().join("stderr.log");
    let (mut process, addr) = start(&config, &["--shutdown-grace", "0.5"], &log).await;
    // A connection open and idle (nothing sent), accepted before the call that follows
    // on a connection of its own.
    let idle = TcpStream::connect(addr).unwrap();
    let mut client = Client::connect(addr).await;
    let mut n = 0;
    assert_eq!(limit_now(&mut client, &mut n).await, 3);
    let exit = terminate(&mut process).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "{exit:?}\n{text}");
    assert!(
        text.contains("cutting the connections still open"),
        "{text}"
    );
    drop((idle, client));

    // A long grace, cut short by a second signal.
    let (mut process, addr) = start(&config, &["--shutdown-grace", "3600"], &log).await;
    let idle = TcpStream::connect(addr).unwrap();
    let mut client = Client::connect(addr).await;
    assert_eq!(limit_now(&mut client, &mut n).await, 3);
    sigterm(&process);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        eventually(|| async { read_log().contains("a second signal stops at once") }).await,
        "{}",
        read_log()
    );
    let exit = terminate(&mut process).await;
    assert!(exit.success(), "{exit:?}\n{}", read_log());
    drop((idle, client));
}

#[test]
fn the_binary_refuses_a_bad_file_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rls.yaml");
    save(
        &config,
        "domain: shop\ndescriptors:\n  - key: user\n    replaces: [{name: x}]\n",
    );
    let out = Command::new(BIN)
        .arg(format!("--config={}", config.display()))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at `descriptors[0].replaces`"), "{stderr}");
    assert!(stderr.contains("rls.yaml"), "{stderr}");
    let out = Command::new(BIN).arg("--listen").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: sentinel-rls"));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: sentinel-rls"));
    // A busy address names its flag.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().map(|a| (busy, a)).unwrap();
    save(&config, SHOP);
    let out = Command::new(BIN)
        .arg(format!("--config={}", config.display()))
        .args(["--listen", &busy.1.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("--listen {}", busy.1)), "{stderr}");
}

#[tokio::test]
async fn a_watched_service_follows_its_file_and_keeps_the_last_good_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shop.yaml");
    save(&config, SHOP);
    let service = RateLimitService::builder(RlsConfig::load(&[&config]).unwrap()).build();
    let watcher = ConfigWatcher::start([&config], service.clone()).unwrap();
    let served = rls_support::Served::start(service.clone()).await;
    let mut client = served.client().await;
    let mut n = 0;
    assert_eq!(limit_now(&mut client, &mut n).await, 3);

    save(
        &config,
        &SHOP.replace("requests_per_unit: 3", "requests_per_unit: 7"),
    );
    assert!(eventually(|| async { service.stats().reloads == 1 }).await);
    assert_eq!(limit_now(&mut client, &mut n).await, 7);

    std::fs::write(
        &config,
        "domain: shop\ndescriptors: [{key: user, value: 1, value: 2}]\n",
    )
    .unwrap();
    assert!(eventually(|| async { watcher.last_error().is_some() }).await);
    let e = watcher.last_error().unwrap();
    assert_eq!(e.path, "descriptors[0].value", "{e}");
    assert_eq!(
        limit_now(&mut client, &mut n).await,
        7,
        "the last good one stays"
    );
    assert!(watcher.reload().is_err());
    assert_eq!(service.stats().reloads, 1);
}

#[cfg(unix)]
#[tokio::test]
async fn a_configmap_swap_reloads() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A ConfigMap volume: `shop.yaml -> ..data/shop.yaml`, `..data -> ..<timestamp>`.
    std::fs::create_dir(d.join("..1")).unwrap();
    std::fs::write(d.join("..1/shop.yaml"), SHOP).unwrap();
    symlink("..1", d.join("..data")).unwrap();
    symlink("..data/shop.yaml", d.join("shop.yaml")).unwrap();
    let config = d.join("shop.yaml");
    let service = RateLimitService::builder(RlsConfig::load(&[&config]).unwrap()).build();
    let _watcher = ConfigWatcher::start([&config], service.clone()).unwrap();
    let served = rls_support::Served::start(service.clone()).await;
    let mut client = served.client().await;
    let mut n = 0;
    // The ConfigMap changes: a new directory, `..data` swapped to it.
    std::fs::create_dir(d.join("..2")).unwrap();
    std::fs::write(
        d.join("..2/shop.yaml"),
        SHOP.replace("requests_per_unit: 3", "requests_per_unit: 5"),
    )
    .unwrap();
    symlink("..2", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    assert!(eventually(|| async { service.stats().reloads == 1 }).await);
    assert_eq!(limit_now(&mut client, &mut n).await, 5);
}

#[test]
fn the_deploy_sample_configuration_loads() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rls/rls.yaml");
    let config = RlsConfig::load(&[sample]).unwrap();
    assert_eq!(config.domains().collect::<Vec<_>>(), ["shop"]);
}
