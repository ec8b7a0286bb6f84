//! Applying a rule file of 10,000 flow rules: parse (JSON or YAML), decode, validate and
//! swap the whole set into a `Sentinel`; and the same through a `FileSource` reading the
//! file from disk. Every timed load changes all 10,000 rules (documents alternate between
//! two thresholds), except in the `unchanged` case.
//!
//! ```text
//! cargo bench -p sentinel-benches --bench rule_file
//! ```

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sentinel_core::Sentinel;
use sentinel_datasource::{FileSource, Flow, Format, Pipeline};

const RULES: usize = 10_000;

/// A JSON document of 10,000 flow rules of mixed behaviours, on 10,000 resources.
fn json_document(bump: u32) -> Vec<u8> {
    let mut rules = Vec::with_capacity(RULES);
    for i in 0..RULES as u32 {
        let threshold = 100 + i % 900 + bump;
        rules.push(match i % 4 {
            0 => format!(
                r#"{{"id": "r{i}", "resource": "GET /api/v1/items/{i}", "threshold": {threshold}}}"#
            ),
            1 => format!(
                r#"{{"id": "r{i}", "resource": "POST /api/v1/orders/{i}", "threshold": {threshold}, "controlBehavior": "Throttling", "maxQueueingTimeMs": 500}}"#
            ),
            2 => format!(
                r#"{{"id": "r{i}", "resource": "GET /api/v1/catalog/{i}", "threshold": {threshold}, "tokenCalculateStrategy": 1, "warmUpPeriodSec": 10, "warmUpColdFactor": 3}}"#
            ),
            _ => format!(
                r#"{{"id": "r{i}", "resource": "job-{i}", "threshold": {threshold}, "statIntervalInMs": 2000}}"#
            ),
        });
    }
    format!("[\n{}\n]\n", rules.join(",\n")).into_bytes()
}

/// The same rules as YAML, as `Pipeline::export` writes them (block style).
fn yaml_document(bump: u32) -> Vec<u8> {
    let scratch = Sentinel::new();
    let pipeline = Pipeline::for_kind::<Flow>(&scratch);
    pipeline.apply(&json_document(bump), Format::Json).unwrap();
    pipeline.export(Format::Yaml).unwrap().into_bytes()
}

fn document(format: Format, bump: u32) -> Vec<u8> {
    match format {
        Format::Yaml => yaml_document(bump),
        _ => json_document(bump),
    }
}

fn rule_file(c: &mut Criterion) {
    let mut group = c.benchmark_group("rule_file_10k_flow_rules");
    group.sample_size(20);
    for format in [Format::Json, Format::Yaml] {
        let docs = [document(format, 0), document(format, 1)];
        let sentinel = Sentinel::new();
        let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
        pipeline.apply(&docs[0], format).unwrap();
        assert_eq!(sentinel.flow_rules().len(), RULES);
        let mut turn = 0;
        group.bench_function(format!("apply_{format}_changed"), |b| {
            b.iter(|| {
                turn ^= 1;
                pipeline.apply(&docs[turn], format).unwrap()
            })
        });
    }

    let doc = document(Format::Json, 0);
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
    pipeline.apply(&doc, Format::Json).unwrap();
    group.bench_function("apply_JSON_unchanged", |b| {
        b.iter(|| pipeline.apply(&doc, Format::Json).unwrap())
    });

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.json");
    let docs = [document(Format::Json, 0), document(Format::Json, 1)];
    std::fs::write(&path, &docs[0]).unwrap();
    let sentinel = Sentinel::new();
    // A debounce longer than the bench: only the timed reloads read the file.
    let source = FileSource::builder(&path)
        .debounce(Duration::from_secs(3600))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    let mut turn = 0;
    group.bench_function("file_source_reload_JSON_changed", |b| {
        b.iter_batched(
            || {
                turn ^= 1;
                std::fs::write(&path, &docs[turn]).unwrap();
            },
            |()| source.reload().unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, rule_file);
criterion_main!(benches);
