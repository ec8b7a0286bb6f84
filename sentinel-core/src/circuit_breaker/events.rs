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
use crate::text::Escaped;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
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
    /// The breaker is gone: no transition of it can follow.
    Dropped { breaker: u64 },
}

type Listeners = Arc<RwLock<Vec<Arc<dyn StateListener>>>>;

/// The instance's event queue and listeners.
#[derive(Default)]
pub(crate) struct EventHub {
    listeners: Listeners,
    queue: OnceLock<Sender<Event>>,
}

impl EventHub {
    pub(crate) fn add_listener(&self, l: Arc<dyn StateListener>) {
        self.listeners.write().push(l);
    }

    /// Queues an event if the dispatcher runs (it starts with the first event that must
    /// reach listeners; an event about a breaker it never heard of is not one).
    pub(crate) fn send_if_running(&self, event: Event) {
        if let Some(tx) = self.queue.get() {
            let _ = tx.send(event);
        }
    }

    /// Queues an event (never blocks).
    pub(crate) fn send(&self, event: Event) {
        let tx = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let listeners = self.listeners.clone();
            let spawned = std::thread::Builder::new()
                .name("sentinel-breaker-events".into())
                .spawn(move || dispatch(rx, listeners));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the circuit breaker event dispatcher");
            }
            tx
        });
        // Fails only when the dispatcher could not start; the event is then dropped.
        let _ = tx.send(event);
    }
}

/// Delivers events in per-breaker transition order until the hub is dropped.
fn dispatch(rx: mpsc::Receiver<Event>, listeners: Listeners) {
    let mut dispatcher = Dispatcher::default();
    for event in rx {
        dispatcher.handle(event, &listeners);
    }
}

/// What the dispatcher knows of one breaker.
struct Pending {
    /// The next sequence number to deliver.
    next: u64,
    /// Transitions that arrived before an earlier one.
    early: BTreeMap<u64, StateChange>,
    /// The breaker's rule was removed: its later transitions are dropped.
    removed: bool,
}

/// Orders events per breaker. Nothing is parked for good: a breaker's entry lives until the
/// breaker itself is dropped, and after its removal its transitions are dropped, not kept.
#[derive(Default)]
struct Dispatcher {
    pending: HashMap<u64, Pending>,
}

impl Dispatcher {
    fn handle(&mut self, event: Event, listeners: &Listeners) {
        match event {
            Event::Change {
                breaker,
                seq,
                change,
            } => {
                let p = self.pending.entry(breaker).or_insert_with(|| Pending {
                    next: 1,
                    early: BTreeMap::new(),
                    removed: false,
                });
                if p.removed {
                    tracing::debug!(resource = %Escaped(&change.resource), rule_id = %Escaped(&change.rule_id), "transition of a removed circuit breaker dropped");
                    return;
                }
                p.early.insert(seq, change);
                while let Some(change) = p.early.remove(&p.next) {
                    p.next += 1;
                    tracing::info!(
                        resource = %Escaped(&change.resource),
                        rule_id = %Escaped(&change.rule_id),
                        from = %change.from,
                        to = %change.to,
                        snapshot = change.snapshot,
                        "circuit breaker state change"
                    );
                    notify(listeners, |l| l.on_change(&change));
                }
            }
            Event::Removed { breaker, rule } => {
                if let Some(p) = self.pending.get_mut(&breaker) {
                    p.removed = true;
                    p.early.clear();
                } else {
                    self.pending.insert(
                        breaker,
                        Pending {
                            next: 1,
                            early: BTreeMap::new(),
                            removed: true,
                        },
                    );
                }
                tracing::info!(resource = %Escaped(&rule.resource), rule_id = %Escaped(&rule.id), "circuit breaker removed");
                notify(listeners, |l| l.on_removed(&rule));
            }
            Event::Dropped { breaker } => {
                self.pending.remove(&breaker);
            }
        }
    }

    /// Breakers the dispatcher keeps anything for.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.pending.len()
    }

    /// Transitions waiting for an earlier one.
    #[cfg(test)]
    fn parked(&self) -> usize {
        self.pending.values().map(|p| p.early.len()).sum()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn change(to: State) -> StateChange {
        StateChange {
            resource: "r".into(),
            rule_id: String::new(),
            rule: CircuitBreakerRule::default(),
            from: State::Closed,
            to,
            snapshot: None,
            at_ms: 0,
        }
    }

    #[test]
    fn transitions_after_a_removal_are_dropped_not_parked() {
        struct Record(Mutex<Vec<State>>);
        impl StateListener for Record {
            fn on_change(&self, c: &StateChange) {
                self.0.lock().unwrap().push(c.to);
            }
        }
        let heard = Arc::new(Record(Mutex::new(Vec::new())));
        let listeners: Listeners = Arc::new(RwLock::new(vec![heard.clone() as _]));
        let deliver = &listeners;
        let mut d = Dispatcher::default();
        let changed = |seq, to| Event::Change {
            breaker: 7,
            seq,
            change: change(to),
        };
        d.handle(changed(1, State::Open), deliver);
        d.handle(
            Event::Removed {
                breaker: 7,
                rule: CircuitBreakerRule::default(),
            },
            deliver,
        );
        // In-flight entries of the removed breaker still complete and move it on.
        for seq in 2..1000 {
            d.handle(changed(seq + 1, State::HalfOpen), deliver);
        }
        assert_eq!(
            d.parked(),
            0,
            "nothing waits for a transition that is never coming"
        );
        assert_eq!(*heard.0.lock().unwrap(), vec![State::Open]);
        d.handle(Event::Dropped { breaker: 7 }, deliver);
        assert_eq!(d.tracked(), 0, "a dropped breaker leaves nothing behind");
    }
}
