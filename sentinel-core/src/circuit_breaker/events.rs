//! Breaker state changes and the listeners that hear about them.
//!
//! Listeners never run on the request path: a transition only queues an event, and one
//! dispatcher thread per instance (started with the first event) calls the listeners, in
//! the order the transitions happened for each breaker, exactly once each. A listener that
//! panics is logged and skipped; a slow listener delays only later notifications.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use super::rule::CircuitBreakerRule;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Entries pass; completions are counted.
    Closed,
    /// Entries are blocked until the retry timeout has passed.
    Open,
    /// A few probes are let through to test the dependency; everything else is blocked.
    HalfOpen,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Closed => "Closed",
            State::Open => "Open",
            State::HalfOpen => "HalfOpen",
        })
    }
}

/// One state transition of one breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// The guarded resource.
    pub resource: String,
    /// The rule's id (may be empty).
    pub rule_id: String,
    /// The whole rule.
    pub rule: CircuitBreakerRule,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// What caused it: the ratio or count that tripped a closed breaker, the RT (ms) of a
    /// slow probe, 1 for a probe that failed with an error; `None` otherwise.
    pub snapshot: Option<f64>,
    /// When, in milliseconds on the instance clock.
    pub at_ms: u64,
}

/// Hears about breaker state changes. Register with
/// [`Sentinel::add_circuit_breaker_listener`](crate::Sentinel::add_circuit_breaker_listener)
/// (or pass a closure to
/// [`Sentinel::on_circuit_breaker_state_change`](crate::Sentinel::on_circuit_breaker_state_change)).
pub trait StateListener: Send + Sync + 'static {
    /// A breaker changed state.
    fn on_change(&self, change: &StateChange);

    /// A breaker's rule was removed by a rule load; the breaker is gone.
    fn on_removed(&self, _rule: &CircuitBreakerRule) {}
}

impl<F: Fn(&StateChange) + Send + Sync + 'static> StateListener for F {
    fn on_change(&self, change: &StateChange) {
        self(change)
    }
}

pub(crate) enum Event {
    Change {
        breaker: u64,
        seq: u64,
        change: StateChange,
    },
    Removed {
        breaker: u64,
        rule: CircuitBreakerRule,
    },
}

type Listeners = Arc<RwLock<Vec<Arc<dyn StateListener>>>>;

/// The instance's event queue and listeners.
#[derive(Default)]
pub(crate) struct EventHub {
    listeners: Listeners,
    queue: OnceLock<Sender<Event>>,
}

impl EventHub {
    pub fn add_listener(&self, l: Arc<dyn StateListener>) {
        self.listeners.write().push(l);
    }

    /// Queues an event (never blocks).
    pub fn send(&self, event: Event) {
        let tx = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let listeners = self.listeners.clone();
            let spawned = std::thread::Builder::new()
                .name("sentinel-breaker-events".into())
                .spawn(move || dispatch(rx, listeners));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the breaker event dispatcher");
            }
            tx
        });
        // Fails only when the dispatcher could not start; the event is then dropped.
        let _ = tx.send(event);
    }
}

/// Delivers events in per-breaker transition order until the hub is dropped.
fn dispatch(rx: mpsc::Receiver<Event>, listeners: Listeners) {
    // Per breaker: the next sequence number to deliver and early arrivals.
    let mut pending: HashMap<u64, (u64, BTreeMap<u64, StateChange>)> = HashMap::new();
    for event in rx {
        match event {
            Event::Change {
                breaker,
                seq,
                change,
            } => {
                let (next, early) = pending.entry(breaker).or_insert((1, BTreeMap::new()));
                early.insert(seq, change);
                while let Some(change) = early.remove(next) {
                    *next += 1;
                    tracing::info!(
                        resource = %change.resource,
                        rule_id = %change.rule_id,
                        from = %change.from,
                        to = %change.to,
                        snapshot = change.snapshot,
                        "circuit breaker state change"
                    );
                    notify(&listeners, |l| l.on_change(&change));
                }
            }
            Event::Removed { breaker, rule } => {
                pending.remove(&breaker);
                tracing::info!(resource = %rule.resource, rule_id = %rule.id, "circuit breaker removed");
                notify(&listeners, |l| l.on_removed(&rule));
            }
        }
    }
}

fn notify(listeners: &Listeners, f: impl Fn(&dyn StateListener)) {
    let current: Vec<Arc<dyn StateListener>> = listeners.read().clone();
    for l in current {
        if catch_unwind(AssertUnwindSafe(|| f(l.as_ref()))).is_err() {
            tracing::error!("a circuit breaker listener panicked; it stays registered");
        }
    }
}
