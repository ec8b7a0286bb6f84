//! The dashboard's memory: the last seconds of per-second figures of the busiest
//! resources, fed by sentinel-core's per-second aggregation (nothing on the hot path).

use std::collections::HashMap;
use std::sync::Mutex;

use sentinel_core::metric_log::{MetricLine, SecondFigures, SecondListener};
use tokio::sync::watch;

/// Seconds of history kept by default (Sentinel's dashboard keeps five minutes too).
pub const DEFAULT_HISTORY_SECONDS: usize = 300;
/// Resources kept by default: the busiest ones.
pub const DEFAULT_MAX_RESOURCES: usize = 500;

/// One resource's figures for one second. Counts are per second; `avg_rt_ms` is the
/// average response time of the entries completed in the second, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Point {
    /// Entries admitted.
    pub pass: u32,
    /// Entries blocked.
    pub block: u32,
    /// Entries completed.
    pub complete: u32,
    /// Completed entries marked failed.
    pub error: u32,
    /// Average response time, milliseconds (0 when nothing completed).
    pub avg_rt_ms: u32,
    /// Highest concurrency during the second.
    pub concurrency: u32,
}

impl Point {
    fn of(line: &MetricLine) -> Point {
        let c = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Point {
            pass: c(line.pass_qps),
            block: c(line.block_qps),
            complete: c(line.complete_qps),
            error: c(line.error_qps),
            avg_rt_ms: c(line.avg_rt),
            concurrency: c(line.concurrency),
        }
    }

    /// Entries that asked to pass in the second (admitted or blocked): how busy it was.
    pub fn traffic(&self) -> u64 {
        u64::from(self.pass) + u64::from(self.block)
    }
}

/// Weight of the latest second in a resource's rate (an exponential moving average with
/// a time constant of about 5 s).
const RATE_WEIGHT: f64 = 0.2;

/// A resource not kept takes the place of the least busy kept one only when its second's
/// traffic exceeds that one's rate by half plus one, so that resources of about the same
/// traffic do not take turns (each turn would erase a history).
const REPLACE_FACTOR: f64 = 1.5;

/// Seconds a resource stays kept once admitted, whatever comes.
const MIN_STAY_SECONDS: u64 = 10;

/// A resource's points, one per second of the window, indexed by `second % len`.
#[derive(Debug)]
struct Series {
    name: String,
    points: Box<[Point]>,
    /// Recent traffic per second, averaged: what "busiest" compares.
    rate: f64,
    /// The second it was admitted (Unix seconds).
    since: u64,
}

#[derive(Debug)]
struct Ring {
    len: usize,
    max_resources: usize,
    /// The first second recorded (Unix seconds).
    first: u64,
    /// The last second recorded (Unix seconds).
    last: Option<u64>,
    index: HashMap<String, usize>,
    series: Vec<Series>,
    inbound: Series,
    /// Resources left out or evicted because the table was full.
    evicted: u64,
    /// The last second's figures of the active resources not kept (the table was full).
    left_out: Vec<(String, Point)>,
}

/// The last [`DEFAULT_HISTORY_SECONDS`] seconds of per-second figures of the busiest
/// [`DEFAULT_MAX_RESOURCES`] resources (both configurable), and of inbound traffic.
///
/// A [`SecondListener`]: register it with
/// [`Sentinel::add_second_listener`](sentinel_core::Sentinel::add_second_listener) (the
/// dashboard does) and it is filled once a second from what the aggregation computes
/// anyway. When more resources are active than it keeps, a resource not kept replaces the
/// least busy kept one when its traffic in a second (pass + block) exceeds 1.5 times the
/// kept one's recent rate (an average over about the last 5 s) plus one, and that one has
/// been kept for 10 s at least: resources of about the same traffic do not take turns.
/// Memory is bounded by
/// `resources × seconds × 24` bytes (3.6 MB by default). The last second of the resources
/// not kept is kept too, for the live stream.
#[derive(Debug)]
pub struct History {
    ring: Mutex<Ring>,
    latest: watch::Sender<Option<u64>>,
}

/// A resource's history in columns, oldest second first (what charts plot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// Start of each second, Unix milliseconds.
    pub seconds: Vec<u64>,
    /// The points of those seconds.
    pub points: Vec<Point>,
}

impl History {
    /// Keeps `seconds` of history (at least 1) for at most `max_resources` resources.
    pub fn new(seconds: usize, max_resources: usize) -> History {
        let seconds = seconds.max(1);
        History {
            ring: Mutex::new(Ring {
                len: seconds,
                max_resources,
                first: 0,
                last: None,
                index: HashMap::new(),
                series: Vec::new(),
                inbound: Series::new(String::new(), seconds),
                evicted: 0,
                left_out: Vec::new(),
            }),
            latest: watch::Sender::new(None),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves whole points behind: keep serving.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds of history kept.
    pub fn seconds(&self) -> usize {
        self.ring().len
    }

    /// Resources kept at most.
    pub fn max_resources(&self) -> usize {
        self.ring().max_resources
    }

    /// The last second recorded, Unix milliseconds.
    pub fn last_second(&self) -> Option<u64> {
        self.ring().last.map(|s| s * 1000)
    }

    /// Seconds of resources not recorded because the table was full, so far: each second
    /// a resource is left out counts one, and so does the replacement of a kept one.
    pub fn evicted(&self) -> u64 {
        self.ring().evicted
    }

    /// Names of the resources kept.
    pub fn resources(&self) -> Vec<String> {
        self.ring().series.iter().map(|s| s.name.clone()).collect()
    }

    /// A resource's seconds after `since_ms` (Unix milliseconds; `None`: the whole
    /// window), oldest first; `None` when the resource is not kept.
    pub fn columns(&self, resource: &str, since_ms: Option<u64>) -> Option<Columns> {
        let ring = self.ring();
        let i = *ring.index.get(resource)?;
        Some(ring.columns(&ring.series[i], since_ms))
    }

    /// Inbound traffic's seconds after `since_ms`, oldest first.
    pub fn inbound_columns(&self, since_ms: Option<u64>) -> Columns {
        let ring = self.ring();
        ring.columns(&ring.inbound, since_ms)
    }

    /// Whether each named resource is kept.
    pub fn kept(&self, resources: &[&str]) -> Vec<bool> {
        let ring = self.ring();
        resources
            .iter()
            .map(|r| ring.index.contains_key(*r))
            .collect()
    }

    /// The last `n` seconds' traffic (pass + block) of each named resource, oldest first,
    /// zeros for seconds or resources not kept: sparklines.
    pub fn recent_traffic(&self, resources: &[&str], n: usize) -> Vec<Vec<u64>> {
        let ring = self.ring();
        resources
            .iter()
            .map(|name| match ring.index.get(*name) {
                Some(&i) => ring
                    .recent(&ring.series[i], n)
                    .map(|p| p.traffic())
                    .collect(),
                None => vec![0; n],
            })
            .collect()
    }

    /// The figures of second `second_ms` (Unix milliseconds) of every kept resource that
    /// saw anything in it (for the last second recorded: of every resource that did, kept
    /// or not), and of inbound traffic; `None` once it left the window.
    pub fn second(&self, second_ms: u64) -> Option<(Point, Vec<(String, Point)>)> {
        let ring = self.ring();
        let s = second_ms / 1000;
        let last = ring.last?;
        if s > last || last - s >= ring.len as u64 {
            return None;
        }
        let slot = (s % ring.len as u64) as usize;
        let mut busy: Vec<(String, Point)> = ring
            .series
            .iter()
            .filter(|x| x.points[slot] != Point::default())
            .map(|x| (x.name.clone(), x.points[slot]))
            .collect();
        if s == last {
            busy.extend(ring.left_out.iter().cloned());
        }
        Some((ring.inbound.points[slot], busy))
    }

    /// Wakes with each new second recorded (its Unix milliseconds).
    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<u64>> {
        self.latest.subscribe()
    }
}

impl Series {
    fn new(name: String, len: usize) -> Series {
        Series {
            name,
            points: vec![Point::default(); len].into_boxed_slice(),
            rate: 0.0,
            since: 0,
        }
    }

    fn set(&mut self, slot: usize, p: Point) {
        self.points[slot] = p;
    }
}

impl Ring {
    fn slot(&self, second: u64) -> usize {
        (second % self.len as u64) as usize
    }

    /// The seconds of the window after `since_ms`, oldest first.
    fn window(&self, since_ms: Option<u64>) -> std::ops::Range<u64> {
        let Some(last) = self.last else {
            return 0..0;
        };
        let first = (last + 1).saturating_sub(self.len as u64).max(self.first);
        let after = since_ms.map_or(0, |ms| ms / 1000 + 1);
        first.max(after)..last + 1
    }

    fn columns(&self, series: &Series, since_ms: Option<u64>) -> Columns {
        let window = self.window(since_ms);
        Columns {
            seconds: window.clone().map(|s| s * 1000).collect(),
            points: window.map(|s| series.points[self.slot(s)]).collect(),
        }
    }

    fn recent<'a>(&'a self, series: &'a Series, n: usize) -> impl Iterator<Item = Point> + 'a {
        let kept = self.last.map_or(0, |last| (last + 1).min(self.len as u64)) as usize;
        let missing = n.saturating_sub(kept);
        let last = self.last.unwrap_or(0);
        let shown = n - missing;
        std::iter::repeat_n(Point::default(), missing).chain(
            (0..shown as u64)
                .rev()
                .map(move |back| series.points[self.slot(last - back)]),
        )
    }

    /// Moves the window to end at `second`, clearing the seconds it passes over.
    fn advance_to(&mut self, second: u64) {
        // Before the first second every point is zero already.
        let cleared = self
            .last
            .map_or(0, |last| (second - last).min(self.len as u64));
        for back in 0..cleared {
            let slot = self.slot(second - back);
            self.inbound.set(slot, Point::default());
            for s in &mut self.series {
                s.set(slot, Point::default());
            }
        }
        self.last = Some(second);
    }

    /// Adds resources not kept yet: while there is room, then in place of the least busy
    /// kept ones when busier; the rest are left out (their second is kept in `left_out`).
    fn admit(&mut self, second: u64, mut newcomers: Vec<(&MetricLine, Point)>) {
        let slot = self.slot(second);
        newcomers.sort_by_key(|(_, p)| std::cmp::Reverse(p.traffic()));
        let mut newcomers = newcomers.into_iter();
        let keep = |ring: &mut Ring, i: usize, line: &MetricLine, p: Point| {
            let mut s = Series::new(line.resource.clone(), ring.len);
            s.set(slot, p);
            s.rate = p.traffic() as f64;
            s.since = second;
            ring.index.insert(line.resource.clone(), i);
            if i == ring.series.len() {
                ring.series.push(s);
            } else {
                let old = std::mem::replace(&mut ring.series[i], s);
                ring.index.remove(&old.name);
                ring.left_out.push((old.name, old.points[slot]));
                ring.evicted += 1;
            }
        };
        while self.series.len() < self.max_resources {
            let Some((line, p)) = newcomers.next() else {
                return;
            };
            keep(self, self.series.len(), line, p);
        }
        let mut quietest: Vec<usize> = (0..self.series.len())
            .filter(|&i| second - self.series[i].since >= MIN_STAY_SECONDS)
            .collect();
        quietest.sort_by(|&a, &b| self.series[a].rate.total_cmp(&self.series[b].rate));
        let mut quietest = quietest.into_iter().peekable();
        for (line, p) in newcomers {
            let busier =
                |i: &usize| p.traffic() as f64 > self.series[*i].rate * REPLACE_FACTOR + 1.0;
            match quietest.next_if(busier) {
                Some(i) => keep(self, i, line, p),
                None => {
                    self.left_out.push((line.resource.clone(), p));
                    self.evicted += 1;
                }
            }
        }
    }
}

impl SecondListener for History {
    fn on_second(&self, figures: &SecondFigures<'_>) {
        let second = figures.unix_ms / 1000;
        {
            let mut ring = self.ring();
            if ring.last.is_some_and(|last| second <= last) {
                return;
            }
            if ring.last.is_none() {
                ring.first = second;
            }
            ring.advance_to(second);
            let slot = ring.slot(second);
            if let Some(inbound) = figures.inbound {
                ring.inbound.set(slot, Point::of(inbound));
            }
            let mut newcomers = Vec::new();
            for line in figures.resources {
                let p = Point::of(line);
                match ring.index.get(line.resource.as_str()) {
                    Some(&i) => ring.series[i].set(slot, p),
                    None => newcomers.push((line, p)),
                }
            }
            for s in &mut ring.series {
                s.rate += RATE_WEIGHT * (s.points[slot].traffic() as f64 - s.rate);
            }
            ring.left_out.clear();
            if !newcomers.is_empty() {
                ring.admit(second, newcomers);
            }
        }
        self.latest.send_replace(Some(figures.unix_ms));
    }
}
