//! Rules that follow Kubernetes custom resources (needs a cluster).
//!
//! ```text
//! kubectl apply -f deploy/crds/                        # the five CRDs (once per cluster)
//! kubectl apply -n shop -f deploy/samples/             # sample FlowRules and CircuitBreakerRules
//! cargo run --example k8s_rules --features k8s -- shop # follows namespace shop until Ctrl-C
//! kubectl -n shop edit flowrules storefront-flow-rules # the change shows within a second
//! ```
//!
//! The example connects as `kubectl` does (`KUBECONFIG`, `~/.kube/config`, or a pod's
//! service account; in a pod, bind `deploy/rbac.yaml`'s Role). It loads every rule kind
//! from the custom resources of the namespace (optionally only those a label selector
//! picks: `-- shop app=storefront`) and prints the rules in force and the source's status
//! whenever they change. `-- --crds` prints the CRD manifests instead.

use std::error::Error;
use std::time::Duration;

use sentinel_core::Sentinel;
use sentinel_datasource::{KubeSource, Pipeline, SourceStatus, crd};
use sentinel_examples::print_changes;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (namespace, labels) = match args.as_slice() {
        [flag] if flag == "--crds" => {
            for definition in crd::definitions() {
                println!("---\n{}", crd::manifest(&definition));
            }
            return Ok(());
        }
        [namespace] => (namespace, None),
        [namespace, labels] => (namespace, Some(labels)),
        _ => {
            println!("usage: k8s_rules NAMESPACE [LABEL_SELECTOR] | --crds");
            println!("It needs a cluster; see the steps at the top of examples/k8s_rules.rs.");
            return Ok(());
        }
    };

    let sentinel = Sentinel::new();
    let mut builder = KubeSource::namespace(namespace.as_str());
    if let Some(labels) = labels {
        builder = builder.labels(labels.as_str());
    }
    let source = builder.start(Pipeline::builder(&sentinel).all_kinds().build())?;
    println!("Following {}; Ctrl-C to stop.", source.what());
    if !source.wait_synced(Duration::from_secs(30)) {
        println!("Not listed yet (no cluster, or no CRDs?); still trying.");
    }
    print_changes(|| report(&sentinel, &source.status()))
}

/// The rules in force per kind and the source's health.
fn report(sentinel: &Sentinel, status: &SourceStatus) -> String {
    let counts: Vec<String> = status
        .rules_in_force
        .iter()
        .map(|k| format!("{} {}", k.rules, k.kind))
        .collect();
    let health = match (&status.last_error, status.is_healthy()) {
        (Some(e), false) => format!("last error: {}", e.error),
        _ => "ok".into(),
    };
    let flow: Vec<String> = sentinel
        .flow_rules()
        .iter()
        .map(|r| format!("{} ≤ {}/s", r.resource, r.threshold))
        .collect();
    format!(
        "rules in force: {}; {health}\n  flow: {}",
        counts.join(", "),
        flow.join(", ")
    )
}
