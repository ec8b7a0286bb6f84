//! A service whose flow rules come from a file: edit the file while it runs and watch the
//! limit change.
//!
//! ```text
//! cargo run --release --example file_rules               # ~16 s; edits the file itself
//! cargo run --release --example file_rules -- rules.yaml # watches your file until Ctrl-C
//! ```
//!
//! The service offers 200 requests per second to `GET /items`. Without arguments the
//! example edits its rule file itself, every way an editor or a deployment does: rewriting
//! in place, saving through a temporary file and a rename, a typo, truncating then
//! writing, deleting and re-creating, clearing with `[]`. Each second it prints the limit
//! in force, what passed and what was blocked, and the source's status. With a path it
//! watches that file (writing a starting rule if there is none) and runs until stopped.

use std::error::Error;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sentinel_core::Sentinel;
use sentinel_datasource::{FileSource, Flow, Pipeline, SourceStatus};

const RESOURCE: &str = "GET /items";
const OFFERED_PER_SECOND: u32 = 200;
const SCRIPTED_SECONDS: u64 = 16;

/// The rule file's content for a limit of `threshold` per second.
fn rules(threshold: i32) -> String {
    format!(
        "# Flow rules of the example service; edit and save.\n\
         - id: items-qps\n  resource: {RESOURCE}\n  threshold: {threshold}\n"
    )
}

type Edit = fn(&Path) -> std::io::Result<()>;

/// The edits of the scripted run: (second, what, how).
const SCRIPT: &[(u64, &str, Edit)] = &[
    (2, "rewrite the file in place: threshold 120", |p| {
        fs::write(p, rules(120))
    }),
    (
        4,
        "save like an editor (write a temporary file, rename it over): threshold 20",
        |p| {
            let temp = p.with_extension("yaml.swp");
            fs::write(&temp, rules(20))?;
            fs::rename(temp, p)
        },
    ),
    (
        6,
        "a typo: threshold -5 (rejected; 20 stays in force)",
        |p| fs::write(p, rules(-5)),
    ),
    (
        8,
        "truncate the file, write threshold 80 a moment later (the empty file clears nothing)",
        |p| {
            let mut file = fs::File::create(p)?;
            thread::sleep(Duration::from_millis(400));
            file.write_all(rules(80).as_bytes())
        },
    ),
    (10, "delete the file (the last good rules stay)", |p| {
        fs::remove_file(p)
    }),
    (12, "create it again: threshold 200", |p| {
        fs::write(p, rules(200))
    }),
    (14, "write `[]`: no flow rules, everything passes", |p| {
        fs::write(p, "[]\n")
    }),
];

fn main() -> Result<(), Box<dyn Error>> {
    let given = std::env::args_os().nth(1).map(PathBuf::from);
    let scripted = given.is_none();
    let path = match given {
        Some(path) => path,
        None => {
            let dir =
                std::env::temp_dir().join(format!("sentinel-file-rules-{}", std::process::id()));
            fs::create_dir_all(&dir)?;
            dir.join("flow.yaml")
        }
    };
    if !path.exists() {
        fs::write(&path, rules(50))?;
    }

    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .label(path.display().to_string())
        .build();
    let source = FileSource::watch(&path, pipeline)?;
    println!("Rules come from {}", path.display());
    println!("{RESOURCE} is offered {OFFERED_PER_SECOND} requests per second.\n");

    let stop = Arc::new(AtomicBool::new(false));
    let load = offer_load(sentinel.clone(), stop.clone());
    let start = Instant::now();
    for second in 1.. {
        if scripted && let Some((_, what, edit)) = SCRIPT.iter().find(|(at, ..)| *at == second - 1)
        {
            println!("  >> {what}");
            edit(&path)?;
        }
        let next = start + Duration::from_secs(second);
        thread::sleep(next.saturating_duration_since(Instant::now()));
        println!("{}", report(second, &sentinel, &source.status()));
        if scripted && second >= SCRIPTED_SECONDS {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    load.join().map_err(|_| "the load thread panicked")?;
    drop(source);
    if scripted && let Some(dir) = path.parent() {
        fs::remove_dir_all(dir)?;
    }
    Ok(())
}

/// Offers `OFFERED_PER_SECOND` entries per second until `stop`.
fn offer_load(sentinel: Sentinel, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let items = sentinel.resource(RESOURCE);
        let gap = Duration::from_secs(1) / OFFERED_PER_SECOND;
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            // Admitted or blocked, the entry is over at once; the stats count both.
            drop(items.entry().try_enter());
            next += gap;
            thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    })
}

/// One line: the limit in force, the last second's traffic, the source's status.
fn report(second: u64, sentinel: &Sentinel, status: &SourceStatus) -> String {
    let limit = sentinel
        .flow_rules()
        .iter()
        .find(|r| r.resource == RESOURCE)
        .map_or_else(
            || "no limit".to_string(),
            |r| format!("limit {:>3}/s", r.threshold),
        );
    let (passed, blocked) = sentinel
        .last_second_stats(RESOURCE)
        .map_or((0.0, 0.0), |s| (s.pass_qps, s.block_qps));
    let health = match (&status.last_error, status.is_healthy()) {
        (Some(e), false) => match e.error.problems().first() {
            Some(problem) => format!("last update rejected: {problem}"),
            None => format!("last update rejected: {}", e.error),
        },
        _ => "ok".to_string(),
    };
    format!(
        "{second:>3}s  {limit:<13} passed {passed:>3}  blocked {blocked:>3}   \
         updates: {} applied, {} rejected; {health}",
        status.updates_applied, status.updates_rejected
    )
}
