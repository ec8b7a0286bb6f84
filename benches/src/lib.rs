//! Criterion benchmarks live in `benches/`; this library holds what several of them share.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `work(thread, i)` for `i` in `0..per_thread` on each of `threads` threads, started
/// together; returns the wall time of the slowest thread (for `iter_custom` scaling benches).
pub fn run_on_threads(threads: u64, per_thread: u64, work: impl Fn(u64, u64) + Sync) -> Duration {
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..per_thread {
                        work(t, i);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}
