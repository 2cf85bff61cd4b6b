//! `GET /metrics` read back as Prometheus reads it, after a known sequence of requests.
//! One test in its own binary: the counters are the process's.

mod common;

use common::*;
use prometheus_parse::{Scrape, Value};

fn sample<'s>(scrape: &'s Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'s Value> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| &s.value)
}

fn number(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Counter(n)) | Some(Value::Gauge(n)) | Some(Value::Untyped(n)) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_count_a_known_sequence_of_requests() {
    let app = spawn_app(Backend::Sqlite).await;
    for _ in 0..2 {
        assert_eq!(
            app.pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
                .await
                .status(),
            "1"
        );
    }
    assert_eq!(
        app.pull_uri(&[("RollNo", "9999999"), ("Year", "2020")])
            .await
            .status(),
        "0"
    );
    let wrong = pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]).replacen(
        "keyhash=\"",
        "keyhash=\"00",
        1,
    );
    assert_eq!(app.post("/pulluri", wrong).await.status(), "0");
    assert_eq!(app.post("/pulluri", "<not xml").await.http, 400);

    let resp = app
        .client
        .get(format!("{}/metrics", app.addr))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.expect("body");
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse");
    let requests =
        |labels: &[(&str, &str)]| number(sample(&scrape, "dlrepo_requests_total", labels));
    assert_eq!(
        requests(&[
            ("endpoint", "pulluri"),
            ("api", "1.0"),
            ("status", "1"),
            ("reason", "")
        ]),
        2.0
    );
    assert_eq!(requests(&[("status", "0"), ("reason", "not_found")]), 1.0);
    assert_eq!(
        requests(&[("status", "0"), ("reason", "auth_keyhash")]),
        1.0
    );
    assert_eq!(
        requests(&[("api", "unknown"), ("reason", "malformed")]),
        1.0
    );
    match sample(
        &scrape,
        "dlrepo_request_duration_seconds",
        &[("endpoint", "pulluri")],
    ) {
        Some(Value::Histogram(buckets)) => {
            let all = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert_eq!(all, 5.0, "{buckets:?}");
        }
        other => panic!("no latency histogram: {other:?}"),
    }
    assert_eq!(
        number(sample(
            &scrape,
            "dlrepo_db_pool_connections",
            &[("state", "max")]
        )),
        4.0
    );
    assert_eq!(
        number(sample(&scrape, "dlrepo_outbox_queued_rows", &[])),
        0.0
    );
    assert_eq!(
        number(sample(&scrape, "dlrepo_audit_dropped_records", &[])),
        0.0
    );
    assert_eq!(
        number(sample(
            &scrape,
            "dlrepo_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )),
        1.0
    );
}
