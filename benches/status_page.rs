//! How long the status page takes to make at 1,000 apps × 3 environments:
//! the view from the runner's status, then the HTML (`GET /`) or the JSON
//! (`?output=json`), and the view narrowed by a filter. A realistic mix of
//! cells: most current, some moving, waiting, held, pinned (with a reason)
//! or with an open pull request, and DORA figures.
//!
//! ```sh
//! cargo bench --bench status_page
//! ```

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferry::dora::{Band, EnvFigures, Report};
use ferry::promotion::board::{Board, Cell, Next, PinView, PrLink, Row};
use ferry::promotion::plan::{Action, ImageRef};
use ferry::runner::{PassStatus, Status};
use ferry::server::page::{View, render_html};
use time::OffsetDateTime;

const APPS: usize = 1000;
const ENVS: [&str; 3] = ["dev", "staging", "production"];

fn cell(app: usize, env: usize) -> Cell {
    let tag = format!("sha-{:07x}", app * 31 + env);
    let running = Some(ImageRef {
        digest: Some(format!("sha256:{:064x}", app * 7 + env)),
        tag: Some(tag),
    });
    let (action, code, message, to) = match (app + env) % 10 {
        0 => (Action::Commit, None, "commit sha-1234567".to_string(), true),
        1 => (
            Action::PullRequest,
            None,
            "pull request for sha-1234567".to_string(),
            true,
        ),
        2 => (
            Action::None,
            Some("soak"),
            "soak: 3m of 5m in dev".to_string(),
            false,
        ),
        3 => (
            Action::None,
            Some("held"),
            "sha-89abcde held: scan: HIGH 4 over the budget of 3".to_string(),
            false,
        ),
        4 if env == 2 => (
            Action::None,
            Some("pinned"),
            "pinned by oncall".to_string(),
            false,
        ),
        _ => (
            Action::None,
            Some("up_to_date"),
            "runs the newest image that qualifies".to_string(),
            false,
        ),
    };
    Cell {
        running,
        error: None,
        pin: (code == Some("pinned")).then(|| PinView {
            by: Some("oncall".into()),
            reason: Some("incident 4711: <rollback> & hold".into()),
            since: Some("2026-12-01T10:00:00Z".into()),
        }),
        pull_request: (action == Action::PullRequest).then(|| PrLink {
            number: app as u64,
            url: format!("https://github.com/acme/platform-gitops/pull/{app}"),
        }),
        next: Next {
            action,
            to: to.then(|| ImageRef {
                tag: Some("sha-1234567".into()),
                digest: None,
            }),
            code,
            message,
        },
    }
}

fn status() -> Status {
    let now = OffsetDateTime::now_utc();
    let board = Board {
        taken_at: now,
        envs: ENVS.iter().map(|e| e.to_string()).collect(),
        rows: (0..APPS)
            .map(|a| Row {
                app: format!("service-{a:04}"),
                cells: (0..ENVS.len()).map(|e| Some(cell(a, e))).collect(),
            })
            .collect(),
    };
    let dora = Report {
        since: now - Duration::from_secs(30 * 86_400),
        until: now,
        envs: ENVS
            .iter()
            .map(|e| EnvFigures {
                env: e.to_string(),
                deployments: 120,
                per_day: 4.0,
                band: Band::Daily,
                lead_time_median: Some(Duration::from_secs(5400)),
                lead_time_p90: Some(Duration::from_secs(86_000)),
                failures: 3,
                change_failure_rate: Some(0.025),
                time_to_restore_median: Some(Duration::from_secs(1800)),
            })
            .collect(),
    };
    Status {
        last_pass: Some(PassStatus {
            finished_at: now,
            duration: Duration::from_millis(2300),
            triggers: vec!["resync".into()],
            error: None,
        }),
        last_success: Some(now),
        board: Some(Arc::new(board)),
        dora: Some(Arc::new(dora)),
        passes: 100,
        failures: 2,
        ..Status::default()
    }
}

fn bench(c: &mut Criterion) {
    let status = status();
    let now = OffsetDateTime::now_utc();
    let html = render_html(&View::new(&status, true, None, now));
    println!(
        "page: {APPS} apps × {} environments, {} KiB of HTML",
        ENVS.len(),
        html.len() / 1024
    );
    let mut g = c.benchmark_group("status_page");
    g.throughput(Throughput::Elements((APPS * ENVS.len()) as u64));
    g.bench_function("html_1000x3", |b| {
        b.iter(|| render_html(&View::new(std::hint::black_box(&status), true, None, now)))
    });
    g.bench_function("json_1000x3", |b| {
        b.iter(|| {
            View::new(std::hint::black_box(&status), true, None, now)
                .to_json()
                .expect("json")
        })
    });
    g.bench_function("html_1000x3_filtered", |b| {
        b.iter(|| {
            render_html(&View::new(
                std::hint::black_box(&status),
                true,
                Some("service-01"),
                now,
            ))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
