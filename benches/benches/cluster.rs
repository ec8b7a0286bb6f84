//! The cost of a cluster flow rule's check on the hot path, side by side with the same
//! entry under a local Direct/Reject rule: a lease with tokens, an empty lease, and the
//! local fallback of a degraded backend. No Redis is involved: the lease is filled by hand,
//! as the backend's refill task would fill it.
//!
//! Run: `cargo bench -p sentinel-benches --bench cluster`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use parking_lot::Mutex;
use sentinel_core::Sentinel;
use sentinel_core::cluster::{
    ClusterBackend, ClusterConfig, ClusterLease, ClusterLeases, LeaseState, ThresholdType,
};
use sentinel_core::flow::FlowRule;

/// Keeps the leases it is handed, for the bench to fill.
#[derive(Debug, Default, Clone)]
struct HandBackend(Arc<Mutex<Option<ClusterLeases>>>);

impl ClusterBackend for HandBackend {
    fn attach(&self, leases: ClusterLeases) {
        *self.0.lock() = Some(leases);
    }
    fn state(&self) -> LeaseState {
        LeaseState::Healthy
    }
}

fn rule(resource: &str, cluster: bool) -> FlowRule {
    FlowRule {
        resource: resource.into(),
        // A cluster rule's rate is bounded; its local fallback passes everything here.
        threshold: if cluster { 1e5 } else { 1e12 },
        cluster_mode: cluster,
        cluster_config: cluster.then(|| ClusterConfig {
            flow_id: resource.into(),
            threshold_type: ThresholdType::Global,
            fallback_threshold: Some(1e12),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn lease(backend: &HandBackend, flow_id: &str) -> Arc<ClusterLease> {
    let leases = backend.0.lock().clone().expect("attached");
    leases
        .leases()
        .into_iter()
        .find(|l| l.flow_id() == flow_id)
        .expect("a lease")
}

fn side_by_side(c: &mut Criterion) {
    let backend = HandBackend::default();
    let s = Sentinel::builder().cluster_backend(backend.clone()).build();
    s.load_flow_rules(vec![
        rule("local", false),
        rule("cluster", true),
        rule("empty", true),
        rule("degraded", true),
    ])
    .unwrap();
    lease(&backend, "cluster").add_tokens(1 << 60);
    lease(&backend, "degraded").set_state(LeaseState::Degraded);
    let mut g = c.benchmark_group("cluster_entry_exit");
    g.bench_function("local_direct_reject_passing", |b| {
        b.iter(|| drop(black_box(s.entry(black_box("local")).try_enter())))
    });
    g.bench_function("cluster_lease_with_tokens", |b| {
        b.iter(|| drop(black_box(s.entry(black_box("cluster")).try_enter())))
    });
    g.bench_function("cluster_lease_empty_blocking", |b| {
        b.iter(|| black_box(s.entry(black_box("empty")).try_enter()).is_err())
    });
    g.bench_function("cluster_degraded_local_fallback", |b| {
        b.iter(|| drop(black_box(s.entry(black_box("degraded")).try_enter())))
    });
    g.finish();
}

criterion_group!(benches, side_by_side);
criterion_main!(benches);
