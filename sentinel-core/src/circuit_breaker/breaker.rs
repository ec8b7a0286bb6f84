//! One breaker: its window, its state machine, and its place in the pipeline.
//!
//! The whole state is one `AtomicU64`: the state (2 bits), a transition sequence number
//! (30 bits: it orders events and identifies a half-open round), and the probes admitted
//! and succeeded in the current half-open round (16 bits each). Every transition is one
//! compare-and-swap, so exactly one caller wins each of them. A closed breaker costs an
//! entry one atomic load, and its exit one window update.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::events::{Event, EventHub, State, StateChange};
use super::rule::{CircuitBreakerRule, Strategy};
use crate::block::{BlockError, BlockInfo, BlockType, BlockedRule};
use crate::pipeline::{Check, CheckContext, ExitContext, ORDER_CIRCUIT_BREAKER, Verdict};
use crate::stat::LeapWindow;

const TOTAL: usize = 0;
const BAD: usize = 1;

const STATE_SHIFT: u32 = 62;
const SEQ_SHIFT: u32 = 32;
const SEQ_MASK: u64 = (1 << 30) - 1;
const ADMITTED_SHIFT: u32 = 16;
const COUNT_MASK: u64 = 0xffff;

fn pack(state: State, seq: u64, admitted: u64, succeeded: u64) -> u64 {
    let s = match state {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
    };
    (s << STATE_SHIFT)
        | ((seq & SEQ_MASK) << SEQ_SHIFT)
        | ((admitted & COUNT_MASK) << ADMITTED_SHIFT)
        | (succeeded & COUNT_MASK)
}

fn state_of(w: u64) -> State {
    match w >> STATE_SHIFT {
        0 => State::Closed,
        1 => State::Open,
        _ => State::HalfOpen,
    }
}
fn seq_of(w: u64) -> u64 {
    (w >> SEQ_SHIFT) & SEQ_MASK
}
fn admitted_of(w: u64) -> u64 {
    (w >> ADMITTED_SHIFT) & COUNT_MASK
}
fn succeeded_of(w: u64) -> u64 {
    w & COUNT_MASK
}

static NEXT_BREAKER: AtomicU64 = AtomicU64::new(1);

/// The compiled form of one circuit-breaker rule, with its state.
pub(crate) struct Breaker {
    id: u64,
    rule: CircuitBreakerRule,
    word: AtomicU64,
    /// Open: when the next probe may go. Half-open: when a round whose probes stay silent
    /// is given up (the probe timeout after the round started).
    next_retry_ns: AtomicU64,
    /// The metric that last tripped the breaker (f64 bits), for block errors.
    trip_snapshot: AtomicU64,
    /// The window bucket of the last judgement of a closed breaker.
    judged_epoch: AtomicU64,
    window: LeapWindow,
    probes: u64,
    retry_ns: u64,
    probe_timeout_ns: u64,
    slow_ns: u64,
    open: Arc<BlockInfo>,
    probing: Arc<BlockInfo>,
    events: Weak<EventHub>,
}

impl Breaker {
    /// A closed breaker for a valid rule; a half-open round whose probes stay silent for
    /// `probe_timeout_ns` is given up.
    pub(crate) fn new(
        rule: &CircuitBreakerRule,
        events: Weak<EventHub>,
        probe_timeout_ns: u64,
    ) -> Self {
        let info = |message: &'static str| {
            BlockInfo::new(
                BlockType::CircuitBreaking,
                rule.resource.as_str(),
                Some(BlockedRule {
                    id: rule.id.clone(),
                    description: rule.describe(),
                }),
                message,
            )
        };
        Breaker {
            id: NEXT_BREAKER.fetch_add(1, Ordering::Relaxed),
            rule: rule.clone(),
            word: AtomicU64::new(pack(State::Closed, 0, 0, 0)),
            next_retry_ns: AtomicU64::new(0),
            trip_snapshot: AtomicU64::new(0),
            judged_epoch: AtomicU64::new(u64::MAX),
            window: LeapWindow::new(
                rule.stat_interval_ms as u64,
                rule.stat_sliding_window_bucket_count as usize,
                2,
            ),
            probes: rule.probes(),
            retry_ns: rule.retry_timeout_ms as u64 * 1_000_000,
            probe_timeout_ns,
            slow_ns: rule.max_allowed_rt_ms.saturating_mul(1_000_000),
            open: info("circuit breaker is open"),
            probing: info("circuit breaker is half-open and its probes are taken"),
            events,
        }
    }

    /// The rule this breaker enforces.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn rule(&self) -> &CircuitBreakerRule {
        &self.rule
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        state_of(self.word.load(Ordering::Acquire))
    }

    /// Tries one transition from the state word `from`; on success reports it.
    fn transition(
        &self,
        from: u64,
        to: State,
        admitted: u64,
        now_ns: u64,
        snapshot: Option<f64>,
    ) -> Option<u64> {
        let seq = seq_of(from) + 1;
        let to_word = pack(to, seq, admitted, 0);
        self.word
            .compare_exchange(from, to_word, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        if to == State::Closed {
            self.window.clear();
        }
        if let Some(hub) = self.events.upgrade() {
            hub.send(Event::Change {
                breaker: self.id,
                seq,
                change: StateChange {
                    resource: self.rule.resource.clone(),
                    rule_id: self.rule.id.clone(),
                    rule: self.rule.clone(),
                    from: state_of(from),
                    to,
                    snapshot,
                    at_ms: now_ns / 1_000_000,
                },
            });
        }
        Some(seq_of(to_word))
    }

    /// Opens the breaker from the state word `from`; the next probe may go at `retry_at`.
    fn open(&self, from: u64, retry_at: u64, now_ns: u64, snapshot: Option<f64>) -> bool {
        self.next_retry_ns.store(retry_at, Ordering::Release);
        if let Some(v) = snapshot {
            self.trip_snapshot.store(v.to_bits(), Ordering::Relaxed);
        }
        self.transition(from, State::Open, 0, now_ns, snapshot)
            .is_some()
    }

    fn block(&self, info: &Arc<BlockInfo>, retry_after_ns: u64) -> Verdict {
        let snapshot = f64::from_bits(self.trip_snapshot.load(Ordering::Relaxed));
        Verdict::Block(
            BlockError::from_info(info.clone())
                .with_snapshot(snapshot)
                .with_retry_after(Duration::from_nanos(retry_after_ns)),
        )
    }

    /// The probe of half-open round `seq` ended without a verdict: reopen at once so that
    /// the next caller may probe.
    fn probe_lost(&self, seq: u64, now_ns: u64) {
        let w = self.word.load(Ordering::Acquire);
        if state_of(w) == State::HalfOpen && seq_of(w) == seq {
            self.open(w, now_ns, now_ns, None);
        }
    }

    /// The probe of half-open round `seq` completed.
    fn probe_done(&self, seq: u64, bad: Option<f64>, now_ns: u64) {
        loop {
            let w = self.word.load(Ordering::Acquire);
            if state_of(w) != State::HalfOpen || seq_of(w) != seq {
                return; // a probe of a round that is over
            }
            let done = if bad.is_some() {
                self.open(w, now_ns.saturating_add(self.retry_ns), now_ns, bad)
            } else if succeeded_of(w) + 1 >= self.probes {
                self.transition(w, State::Closed, 0, now_ns, None).is_some()
            } else {
                self.word
                    .compare_exchange(w, w + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            };
            if done {
                return;
            }
        }
    }

    /// Records a completion while closed and trips when the rule says so.
    fn record(&self, bad: bool, now_ns: u64) {
        let e = self.window.epoch(now_ns);
        let in_bucket = self.window.add_counted(TOTAL, e, 1);
        if bad {
            self.window.add_at(BAD, e, 1);
        }
        let w = self.word.load(Ordering::Acquire);
        if state_of(w) != State::Closed {
            return;
        }
        // A good completion in the bucket of the last judgement (nothing left the window
        // since) lowers a ratio and leaves a count alone: it can only trip the breaker by
        // bringing the window up to the minimum. In a later bucket, old completions may
        // have left the window, so it is judged like any other.
        // The window holds at least the bucket's count: above the minimum, the sum need not
        // be read to know it is not the minimum.
        if !bad && self.judged_epoch.load(Ordering::Relaxed) == e {
            let minimum = self.rule.min_request_amount.max(1);
            if in_bucket > minimum || self.window.sum_at(TOTAL, e) != minimum {
                return;
            }
        }
        self.judged_epoch.store(e, Ordering::Relaxed);
        // Completions add TOTAL before BAD, so a TOTAL read after BAD covers every bad
        // completion counted.
        let bad = self.window.sum_at(BAD, e) as f64;
        let total = self.window.sum_at(TOTAL, e);
        if total == 0 || total < self.rule.min_request_amount {
            return;
        }
        let metric = match self.rule.strategy {
            Strategy::ErrorCount => bad,
            Strategy::SlowRequestRatio | Strategy::ErrorRatio => (bad / total as f64).min(1.0),
        };
        if metric >= self.rule.threshold {
            self.open(
                w,
                now_ns.saturating_add(self.retry_ns),
                now_ns,
                Some(metric),
            );
        }
    }

    /// Whether a completion counts as bad for this rule, and its snapshot if so.
    fn judge(&self, ctx: &ExitContext<'_>) -> Option<f64> {
        match self.rule.strategy {
            Strategy::SlowRequestRatio => {
                let rt = ctx.rt();
                (rt > Duration::from_nanos(self.slow_ns)).then_some(rt.as_secs_f64() * 1000.0)
            }
            Strategy::ErrorRatio | Strategy::ErrorCount => ctx.is_error().then_some(1.0),
        }
    }
}

impl Check for Breaker {
    fn order(&self) -> u32 {
        ORDER_CIRCUIT_BREAKER
    }

    #[inline]
    fn check(&self, ctx: &CheckContext<'_>) -> Verdict {
        loop {
            let w = self.word.load(Ordering::Acquire);
            match state_of(w) {
                State::Closed => return Verdict::Pass,
                State::Open => {
                    let retry_at = self.next_retry_ns.load(Ordering::Acquire);
                    if ctx.now_nanos() < retry_at {
                        return self.block(&self.open, retry_at - ctx.now_nanos());
                    }
                    // One caller wins the retry time it read and starts the round; the
                    // round is given up only if its probes stay silent for the probe
                    // timeout. Losers change nothing: a probe that fails meanwhile has
                    // already set the next retry time, and it must stand.
                    let give_up = ctx.now_nanos().saturating_add(self.probe_timeout_ns);
                    if self
                        .next_retry_ns
                        .compare_exchange(retry_at, give_up, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        match self.transition(w, State::HalfOpen, 1, ctx.now_nanos(), None) {
                            Some(seq) => return Verdict::PassWith(seq),
                            // The state moved under a stale read: put the time back.
                            None => {
                                let _ = self.next_retry_ns.compare_exchange(
                                    give_up,
                                    retry_at,
                                    Ordering::AcqRel,
                                    Ordering::Acquire,
                                );
                            }
                        }
                    }
                }
                State::HalfOpen => {
                    if admitted_of(w) < self.probes {
                        let next = w + (1 << ADMITTED_SHIFT);
                        if self
                            .word
                            .compare_exchange(w, next, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                        {
                            // The round is given up only when its latest probe has been
                            // silent for the probe timeout.
                            self.next_retry_ns.fetch_max(
                                ctx.now_nanos().saturating_add(self.probe_timeout_ns),
                                Ordering::AcqRel,
                            );
                            return Verdict::PassWith(seq_of(w));
                        }
                    } else if ctx.now_nanos() >= self.next_retry_ns.load(Ordering::Acquire) {
                        // The round's probes stayed silent for the probe timeout (leaked
                        // guards): reopen and let this caller start a new round.
                        self.open(w, ctx.now_nanos(), ctx.now_nanos(), None);
                    } else {
                        return self.block(&self.probing, self.retry_ns);
                    }
                }
            }
        }
    }

    fn needs_exit(&self) -> bool {
        true
    }

    fn on_cancel(&self, ctx: &CheckContext<'_>, token: Option<u64>) {
        if let Some(seq) = token {
            self.probe_lost(seq, ctx.now_nanos());
        }
    }

    #[inline]
    fn on_exit(&self, ctx: &ExitContext<'_>) {
        let now = ctx.entry().now_nanos();
        match (ctx.token(), ctx.is_abandoned()) {
            (Some(seq), true) => self.probe_lost(seq, now),
            (None, true) => {}
            (Some(seq), false) => self.probe_done(seq, self.judge(ctx), now),
            (None, false) => self.record(self.judge(ctx).is_some(), now),
        }
    }
}

impl Breaker {
    /// Tells listeners this breaker's rule was removed.
    pub(crate) fn retire(&self) {
        if let Some(hub) = self.events.upgrade() {
            hub.send(Event::Removed {
                breaker: self.id,
                rule: self.rule.clone(),
            });
        }
    }
}

impl Drop for Breaker {
    fn drop(&mut self) {
        if let Some(hub) = self.events.upgrade() {
            hub.send_if_running(Event::Dropped { breaker: self.id });
        }
    }
}
