//! The hot path allocates nothing: a counting global allocator watches entry + exit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_core::cluster::{
    ClusterBackend, ClusterConfig, ClusterLeases, LeaseState, ThresholdType,
};
use sentinel_core::flow::FlowRule;
use sentinel_core::{ManualClock, Sentinel};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts calls per thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn entry_and_exit_allocate_nothing_when_passing_or_blocking() {
    let s = Sentinel::builder().clock(ManualClock::new()).build();
    s.load_flow_rules(vec![
        FlowRule {
            resource: "open".into(),
            threshold: 1e12,
            ..Default::default()
        },
        FlowRule {
            resource: "closed".into(),
            threshold: 0.0,
            ..Default::default()
        },
    ])
    .unwrap();
    s.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        resource: "guarded".into(),
        strategy: Strategy::ErrorCount,
        retry_timeout_ms: 1000,
        threshold: 1e9,
        ..Default::default()
    }])
    .unwrap();
    drop(s.entry("guarded").try_enter());
    // First use creates the nodes (and thread-local state): allowed to allocate.
    drop(s.entry("open").try_enter());
    drop(s.entry("closed").try_enter());
    drop(s.entry("bare").try_enter());

    let n = allocations_during(|| {
        for _ in 0..10_000 {
            drop(s.entry("bare").try_enter().unwrap());
        }
    });
    assert_eq!(n, 0, "no rules");
    let n = allocations_during(|| {
        for _ in 0..10_000 {
            drop(s.entry("open").try_enter().unwrap());
        }
    });
    assert_eq!(n, 0, "one passing flow rule");
    let n = allocations_during(|| {
        for _ in 0..10_000 {
            assert!(s.entry("closed").try_enter().is_err());
        }
    });
    assert_eq!(n, 0, "one blocking flow rule");
    let n = allocations_during(|| {
        for _ in 0..10_000 {
            drop(s.entry("guarded").try_enter().unwrap());
        }
    });
    assert_eq!(n, 0, "one closed circuit breaker");
    // Up to two arguments are stored inline.
    let n = allocations_during(|| {
        for i in 0..10_000 {
            drop(s.entry("open").arg(i).arg(true).try_enter().unwrap());
        }
    });
    assert_eq!(n, 0, "two integer arguments");
}

/// A cluster backend the test fills by hand.
#[derive(Debug, Default, Clone)]
struct HandBackend(std::sync::Arc<parking_lot::Mutex<Option<ClusterLeases>>>);

impl ClusterBackend for HandBackend {
    fn attach(&self, leases: ClusterLeases) {
        *self.0.lock() = Some(leases);
    }
    fn state(&self) -> LeaseState {
        LeaseState::Healthy
    }
}

#[test]
fn cluster_rules_allocate_nothing_in_any_state() {
    let backend = HandBackend::default();
    let s = Sentinel::builder()
        .clock(ManualClock::new())
        .cluster_backend(backend.clone())
        .build();
    s.load_flow_rules(vec![FlowRule {
        resource: "shared".into(),
        threshold: 1e5,
        cluster_mode: true,
        cluster_config: Some(ClusterConfig {
            flow_id: "shared".into(),
            threshold_type: ThresholdType::Global,
            fallback_threshold: Some(5_000.0),
            ..Default::default()
        }),
        ..Default::default()
    }])
    .unwrap();
    let lease = backend.0.lock().as_ref().unwrap().leases()[0].clone();
    drop(s.entry("shared").try_enter());
    lease.add_tokens(10_000);
    let n = allocations_during(|| {
        for _ in 0..10_000 {
            drop(s.entry("shared").try_enter().unwrap());
        }
    });
    assert_eq!(n, 0, "spending a healthy lease");
    let n = allocations_during(|| {
        for _ in 0..10_000 {
            assert!(s.entry("shared").try_enter().is_err());
        }
    });
    assert_eq!(n, 0, "refused by an empty lease");
    lease.set_state(LeaseState::Degraded);
    let n = allocations_during(|| {
        for i in 0..10_000 {
            assert_eq!(s.entry("shared").try_enter().is_ok(), i < 5_000);
        }
    });
    assert_eq!(n, 0, "the local fallback, passing and refusing");
}
