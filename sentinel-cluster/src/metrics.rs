//! Prometheus metrics of a backend (feature `prometheus`), for the `prometheus-client`
//! registry that also holds sentinel-core's collector.

use std::fmt::Error;

use sentinel_core::prometheus::client::collector::Collector;
use sentinel_core::prometheus::client::encoding::{DescriptorEncoder, EncodeMetric};
use sentinel_core::prometheus::client::metrics::counter::ConstCounter;
use sentinel_core::prometheus::client::metrics::gauge::ConstGauge;

use crate::{Health, RedisBackend};

/// Reads a [`RedisBackend`]'s [`status`](RedisBackend::status) at every scrape.
///
/// Metrics (label `instance`, the backend's instance id; `flow_id` where named):
/// `sentinel_cluster_healthy` (1 or 0), `sentinel_cluster_live_instances{flow_id}`,
/// `sentinel_cluster_leases_per_second`, `sentinel_cluster_redis_latency_seconds` (last
/// successful call), and the counters `sentinel_cluster_redis_errors_total`,
/// `sentinel_cluster_tokens_granted_total` and
/// `sentinel_cluster_fallback_admissions_total`.
///
/// ```
/// use sentinel_cluster::{ClusterCollector, RedisBackend};
/// use sentinel_core::prometheus::client::registry::Registry;
///
/// let backend = RedisBackend::builder("redis://127.0.0.1:6379/").build()?;
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(ClusterCollector::new(&backend)));
/// let mut text = String::new();
/// sentinel_core::prometheus::client::encoding::text::encode(&mut text, &registry)?;
/// assert!(text.contains("sentinel_cluster_healthy"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ClusterCollector {
    backend: RedisBackend,
}

impl ClusterCollector {
    /// A collector for `backend`.
    pub fn new(backend: &RedisBackend) -> Self {
        ClusterCollector {
            backend: backend.clone(),
        }
    }
}

type Labels = Vec<(&'static str, String)>;

fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(Labels, M)],
) -> Result<(), Error> {
    let Some(kind) = rows.first().map(|(_, m)| m.metric_type()) else {
        return Ok(());
    };
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, m) in rows {
        m.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), Error> {
        let status = self.backend.status();
        let instance = || vec![("instance", self.backend.instance_id().to_string())];
        let gauge = |v: f64| vec![(instance(), ConstGauge::new(v))];
        let counter = |v: u64| vec![(instance(), ConstCounter::new(v))];
        let healthy = f64::from(u8::from(status.health == Health::Healthy));
        family(
            &mut encoder,
            "sentinel_cluster_healthy",
            "Whether Redis answers (1) or cluster rules limit locally (0)",
            &gauge(healthy),
        )?;
        let live: Vec<(Labels, ConstGauge<f64>)> = status
            .live_instances
            .iter()
            .map(|(flow, n)| {
                let mut labels = instance();
                labels.push(("flow_id", sentinel_core::text::escape(flow).into_owned()));
                (labels, ConstGauge::new(f64::from(*n)))
            })
            .collect();
        family(
            &mut encoder,
            "sentinel_cluster_live_instances",
            "Instances that heartbeat within the live window, per flow id",
            &live,
        )?;
        family(
            &mut encoder,
            "sentinel_cluster_leases_per_second",
            "Lease calls to Redis in the last second",
            &gauge(f64::from(status.leases_per_second)),
        )?;
        if let Some(latency) = status.redis_latency {
            family(
                &mut encoder,
                "sentinel_cluster_redis_latency_seconds",
                "Round trip of the last successful Redis call",
                &gauge(latency.as_secs_f64()),
            )?;
        }
        family(
            &mut encoder,
            "sentinel_cluster_redis_errors",
            "Redis errors and timeouts",
            &counter(status.redis_errors),
        )?;
        family(
            &mut encoder,
            "sentinel_cluster_tokens_granted",
            "Tokens Redis granted to this instance's leases",
            &counter(status.tokens_granted),
        )?;
        family(
            &mut encoder,
            "sentinel_cluster_fallback_admissions",
            "Entries admitted by local fallback limits",
            &counter(status.fallback_admissions),
        )?;
        Ok(())
    }
}
