//! Time sources.
//!
//! Every [`Sentinel`](crate::Sentinel) owns one [`Clock`]. All statistics and rules read time
//! through it, so a test can drive an instance with a [`ManualClock`] and get exact,
//! repeatable results, while production uses the cheap [`RealClock`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A monotonic time source owned by one `Sentinel` instance.
///
/// Times are nanoseconds since the clock's own start (its *epoch*). The wall-clock time of
/// that epoch is kept for logs.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Nanoseconds elapsed since this clock's epoch. Must never go backwards.
    fn now_nanos(&self) -> u64;

    /// Waits for `d`. A real clock blocks the thread; a manual clock advances its time.
    fn sleep(&self, d: Duration);

    /// Unix time in milliseconds at this clock's epoch (`now_nanos() == 0`).
    fn epoch_unix_ms(&self) -> u64;

    /// Milliseconds elapsed since this clock's epoch.
    fn now_millis(&self) -> u64 {
        self.now_nanos() / 1_000_000
    }

    /// Unix time in milliseconds, derived from the monotonic time (for logs).
    fn unix_millis(&self) -> u64 {
        self.epoch_unix_ms() + self.now_millis()
    }
}

fn system_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The production clock: a calibrated TSC read (via `quanta`) where the CPU offers an
/// invariant one, the OS monotonic clock otherwise.
///
/// One read costs about as much as a few arithmetic instructions on x86-64, which is why the
/// admission path can afford to read it directly instead of caching time in a background
/// thread (and so keeps sub-millisecond RT precision).
///
/// Its epoch is the whole Unix second in which it was created, so the seconds of the
/// instance's statistics (and of the metric log) line up with wall-clock seconds.
#[derive(Clone)]
pub struct RealClock {
    clock: quanta::Clock,
    start: u64,
    /// Nanoseconds from the epoch to the first reading.
    offset_ns: u64,
    epoch_unix_ms: u64,
}

impl RealClock {
    /// Starts a clock whose epoch is now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        let unix_ms = system_unix_ms();
        RealClock {
            clock,
            start,
            offset_ns: unix_ms % 1000 * 1_000_000,
            epoch_unix_ms: unix_ms - unix_ms % 1000,
        }
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RealClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealClock")
            .field("now_nanos", &self.now_nanos())
            .field("epoch_unix_ms", &self.epoch_unix_ms)
            .finish()
    }
}

impl Clock for RealClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.offset_ns + self.clock.delta_as_nanos(self.start, self.clock.raw())
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }

    fn epoch_unix_ms(&self) -> u64 {
        self.epoch_unix_ms
    }
}

/// A clock that moves only when told to. Clones share one time.
///
/// `sleep` advances the time instead of blocking, so code that waits (throttling) runs
/// instantly and deterministically in tests.
///
/// ```
/// use std::time::Duration;
/// use sentinel_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(250));
/// clock.sleep(Duration::from_millis(50));
/// assert_eq!(clock.now_millis(), 300);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
    epoch_unix_ms: u64,
}

impl ManualClock {
    /// A clock at time zero whose epoch is 2026-01-01T00:00:00Z (a fixed date keeps log
    /// output of tests repeatable).
    pub fn new() -> Self {
        Self::with_epoch_unix_ms(1_767_225_600_000)
    }

    /// A clock at time zero whose epoch is the given Unix time in milliseconds.
    pub fn with_epoch_unix_ms(epoch_unix_ms: u64) -> Self {
        ManualClock {
            nanos: Arc::new(AtomicU64::new(0)),
            epoch_unix_ms,
        }
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.nanos
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::SeqCst);
    }

    /// Sets the time since the epoch. Setting it backwards is ignored (time is monotonic).
    pub fn set(&self, since_epoch: Duration) {
        self.nanos.fetch_max(
            since_epoch.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::SeqCst,
        );
    }

    /// The time since the epoch.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }

    fn sleep(&self, d: Duration) {
        self.advance(d);
    }

    fn epoch_unix_ms(&self) -> u64 {
        self.epoch_unix_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_and_monotonic() {
        let a = ManualClock::new();
        let b = a.clone();
        a.advance(Duration::from_millis(10));
        assert_eq!(b.now_millis(), 10);
        b.set(Duration::from_millis(5));
        assert_eq!(a.now_millis(), 10, "set backwards is ignored");
        b.set(Duration::from_secs(2));
        assert_eq!(a.elapsed(), Duration::from_secs(2));
        assert_eq!(a.unix_millis(), a.epoch_unix_ms() + 2000);
    }

    #[test]
    fn real_clock_moves_forward() {
        let c = RealClock::new();
        let t0 = c.now_nanos();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while c.now_nanos() == t0 {
            assert!(
                std::time::Instant::now() < deadline,
                "real clock did not move"
            );
            std::hint::spin_loop();
        }
        assert!(c.unix_millis() >= c.epoch_unix_ms());
    }
}
