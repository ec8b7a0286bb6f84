use sentinel_core::metric_log::{MetricLine, SecondFigures, SecondListener};

use super::history::{History, Point};

fn line(resource: &str, pass: u64, block: u64) -> MetricLine {
    MetricLine {
        resource: resource.to_string(),
        pass_qps: pass,
        block_qps: block,
        complete_qps: pass,
        avg_rt: 3,
        concurrency: 1,
        ..MetricLine::default()
    }
}

fn second(h: &History, s: u64, lines: &[MetricLine]) {
    h.on_second(&SecondFigures {
        unix_ms: s * 1000,
        resources: lines,
        inbound: None,
    });
}

fn passes(h: &History, resource: &str) -> Vec<u32> {
    h.columns(resource, None)
        .unwrap()
        .points
        .iter()
        .map(|p| p.pass)
        .collect()
}

#[test]
fn keeps_the_window_and_clears_seconds_without_figures() {
    let h = History::new(4, 10);
    second(&h, 100, &[line("a", 1, 0)]);
    second(&h, 101, &[line("a", 2, 0)]);
    second(&h, 103, &[line("a", 4, 0)]);
    let c = h.columns("a", None).unwrap();
    assert_eq!(c.seconds, [100_000, 101_000, 102_000, 103_000]);
    assert_eq!(passes(&h, "a"), [1, 2, 0, 4]);
    // Two seconds later the first two have left the window.
    second(&h, 105, &[line("a", 6, 0)]);
    assert_eq!(passes(&h, "a"), [0, 4, 0, 6]);
    // A jump beyond the window clears everything before it.
    second(&h, 500, &[]);
    assert_eq!(passes(&h, "a"), [0, 0, 0, 0]);
    assert_eq!(h.last_second(), Some(500_000));
}

#[test]
fn since_returns_only_later_seconds_and_old_or_repeated_seconds_are_ignored() {
    let h = History::new(300, 10);
    for s in 10..20 {
        second(&h, s, &[line("a", s, 0)]);
    }
    second(&h, 15, &[line("a", 999, 0)]);
    second(&h, 19, &[line("a", 999, 0)]);
    let c = h.columns("a", Some(17_000)).unwrap();
    assert_eq!(c.seconds, [18_000, 19_000]);
    assert_eq!(
        c.points.iter().map(|p| p.pass).collect::<Vec<_>>(),
        [18, 19]
    );
    assert_eq!(
        h.columns("a", Some(19_500)).unwrap().seconds,
        Vec::<u64>::new()
    );
    assert!(h.columns("b", None).is_none());
}

#[test]
fn keeps_the_busiest_resources_when_more_are_active_than_it_holds() {
    let h = History::new(10, 2);
    for s in 1..=20 {
        second(&h, s, &[line("quiet", 1, 0), line("busy", 50, 50)]);
    }
    // Much busier than "quiet" (1 a second): takes its place; one quieter is left out.
    second(
        &h,
        21,
        &[line("new", 5, 0), line("faint", 1, 0), line("quiet", 1, 0)],
    );
    let mut kept = h.resources();
    kept.sort();
    assert_eq!(kept, ["busy", "new"]);
    assert_eq!(h.evicted(), 2, "quiet replaced, faint left out");
    assert!(h.columns("quiet", None).is_none());
    assert_eq!(passes(&h, "new"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    // Newly kept, it stays 10 s whatever comes; after that only a much busier one wins.
    for s in 22..=30 {
        second(
            &h,
            s,
            &[
                line("new", 1, 0),
                line("rival", 30, 0),
                line("busy", 100, 0),
            ],
        );
    }
    assert!(h.resources().contains(&"new".to_string()), "kept for 10 s");
    second(
        &h,
        31,
        &[
            line("new", 1, 0),
            line("rival", 30, 0),
            line("busy", 100, 0),
        ],
    );
    assert!(h.resources().contains(&"rival".to_string()));
}

#[test]
fn a_second_lists_only_resources_that_saw_something_and_recent_traffic_pads_with_zeros() {
    let h = History::new(300, 10);
    second(&h, 1, &[line("a", 2, 1), line("b", 3, 0)]);
    second(&h, 2, &[line("a", 4, 0)]);
    let (_, busy) = h.second(2_000).unwrap();
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].0, "a");
    assert_eq!(busy[0].1.pass, 4);
    assert!(h.second(3_000).is_none());
    assert_eq!(
        h.recent_traffic(&["a", "b", "c"], 4),
        [vec![0, 0, 3, 4], vec![0, 0, 3, 0], vec![0; 4]]
    );
    assert_eq!(Point::default().traffic(), 0);
}
