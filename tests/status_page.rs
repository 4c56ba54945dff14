//! The status page `GET /` served by the real router on a loopback port,
//! from a runner status the test publishes on its own watch channel:
//! fetched over HTTP (headers, the JSON form, bad and unknown parameters,
//! the page before the first pass), then loaded in headless Chromium,
//! whose DOM must hold the matrix: one row per app, each environment's tag
//! in its column, the pins, links only for web URLs, and no script but the
//! page's own, and the inline filter hiding rows as one types.
//!
//! Chromium is Debian's `chromium` (`.ci/run` installs it), found through
//! `FERRY_CHROMIUM` or `PATH`; without it the browser tests fail. The
//! screenshot in `docs/status-page.png` is made by
//! `FERRY_UPDATE_SCREENSHOT=1 cargo test --test status_page screenshot`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry::dora::{Band, EnvFigures, Report};
use ferry::promotion::board::{Board, Cell, Next, PinView, PrLink, Row};
use ferry::promotion::plan::{Action, ImageRef};
use ferry::runner::{PassStatus, Status};
use ferry::server::{Scope, ServerState, serve};
use serde_json::Value;
use sha2::Digest as _;
use time::OffsetDateTime;
use tokio::sync::watch;

const ENVS: [&str; 3] = ["dev", "staging", "production"];

/// The router on a loopback port, reading `status`.
async fn start(status: watch::Receiver<Status>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut intakes) = tokio::sync::mpsc::channel(8);
    // Nothing is delivered here; the queue only has to be open.
    tokio::spawn(async move { while intakes.recv().await.is_some() {} });
    let scope = Scope {
        repository: "acme/platform-gitops".into(),
        base_branch: "main".into(),
        identity: "ferry".into(),
    };
    let state = ServerState::new(b"secret".to_vec(), 1 << 20, scope, tx)
        .unwrap()
        .with_readiness(status, Duration::from_secs(900));
    tokio::spawn(serve(listener, state, std::future::pending()));
    addr
}

/// One app × environment as the test expects to see it.
struct Spec {
    tag: &'static str,
    action: Action,
    code: Option<&'static str>,
    message: &'static str,
    pin: Option<(&'static str, &'static str)>,
    pr: Option<u64>,
}

const fn spec(tag: &'static str, code: &'static str, message: &'static str) -> Spec {
    Spec {
        tag,
        action: Action::None,
        code: Some(code),
        message,
        pin: None,
        pr: None,
    }
}

const CURRENT: &str = "no candidate newer than what runs";
const AS_DEV: &str = "runs what dev runs";
const AS_STAGING: &str = "runs what staging runs";

/// A board such as a platform team's: eight apps, three environments, a
/// pin, open pull requests, holds, moves, waits and an error.
fn apps() -> Vec<(&'static str, Vec<Option<Spec>>)> {
    vec![
        (
            "gateway",
            vec![
                Some(spec("sha-3f2a9c1", "up_to_date", CURRENT)),
                Some(spec("sha-3f2a9c1", "up_to_date", AS_DEV)),
                Some(Spec {
                    action: Action::PullRequest,
                    code: None,
                    pr: Some(41),
                    ..spec("sha-1b7e004", "", "pull request for sha-3f2a9c1")
                }),
            ],
        ),
        (
            "billing",
            vec![
                Some(Spec {
                    action: Action::Commit,
                    code: None,
                    ..spec("sha-9c04d2e", "", "commit sha-a81f3b7")
                }),
                Some(spec(
                    "sha-77e1a90",
                    "soak",
                    "dev has soaked 2m of 5m for sha-9c04d2e",
                )),
                Some(spec("sha-77e1a90", "up_to_date", AS_STAGING)),
            ],
        ),
        (
            "checkout",
            vec![
                Some(spec(
                    "sha-5d2b8f1",
                    "held",
                    "sha-e41c0a9 held: scan: CRITICAL 1 over the budget of 0",
                )),
                Some(spec("sha-5d2b8f1", "up_to_date", AS_DEV)),
                Some(Spec {
                    pin: Some((
                        "alice",
                        "INC-2291: payment errors after the 5d2b8f1 rollout",
                    )),
                    ..spec("sha-40c9e2d", "pinned", "pinned by alice")
                }),
            ],
        ),
        (
            "search",
            vec![
                Some(spec("sha-c3a1f07", "up_to_date", CURRENT)),
                Some(spec("sha-c3a1f07", "up_to_date", AS_DEV)),
                Some(spec(
                    "sha-b2d4e91",
                    "window",
                    "outside the promotion window * 9-16 * * Mon-Thu",
                )),
            ],
        ),
        (
            "notifications",
            vec![
                Some(spec("sha-0e6f2b3", "up_to_date", CURRENT)),
                Some(Spec {
                    pr: Some(57),
                    ..spec(
                        "sha-8a1c44d",
                        "pr_open",
                        "pull request #57 for sha-0e6f2b3 waits for review",
                    )
                }),
                Some(spec(
                    "sha-8a1c44d",
                    "awaiting_upstream",
                    "staging does not run sha-0e6f2b3 yet",
                )),
            ],
        ),
        (
            "identity",
            vec![
                Some(spec("sha-71d9e05", "up_to_date", CURRENT)),
                Some(spec(
                    "sha-71d9e05",
                    "health",
                    "Argo CD platform-staging: Degraded",
                )),
                Some(spec("sha-2f8b6c0", "up_to_date", CURRENT)),
            ],
        ),
        (
            "ledger",
            vec![
                Some(spec("sha-6b3e9a2", "up_to_date", CURRENT)),
                Some(spec(
                    "sha-4c7d1e8",
                    "pr_closed",
                    "bob closed pull request #33 for sha-6b3e9a2",
                )),
                Some(spec("sha-4c7d1e8", "up_to_date", AS_STAGING)),
            ],
        ),
        (
            "reports",
            vec![
                Some(spec(
                    "sha-d90a5f6",
                    "registry_unavailable",
                    "ECR: throttled; asked again next pass",
                )),
                Some(spec("sha-d90a5f6", "up_to_date", AS_DEV)),
                None,
            ],
        ),
    ]
}

fn digest_of(tag: &str) -> String {
    // A stable, distinct digest per tag.
    let sum = sha2::Sha256::digest(tag.as_bytes());
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn board(now: OffsetDateTime) -> Board {
    Board {
        taken_at: now - Duration::from_secs(14),
        envs: ENVS.iter().map(|e| e.to_string()).collect(),
        rows: apps()
            .into_iter()
            .map(|(app, cells)| Row {
                app: app.into(),
                cells: cells
                    .into_iter()
                    .map(|c| {
                        c.map(|s| Cell {
                            running: Some(ImageRef {
                                tag: Some(s.tag.into()),
                                digest: Some(digest_of(s.tag)),
                            }),
                            error: None,
                            pin: s.pin.map(|(by, why)| PinView {
                                by: Some(by.into()),
                                reason: Some(why.into()),
                                since: Some("2026-12-01T22:14:05Z".into()),
                            }),
                            pull_request: s.pr.map(|n| PrLink {
                                number: n,
                                url: format!("https://github.com/acme/platform-gitops/pull/{n}"),
                            }),
                            next: Next {
                                action: s.action,
                                to: None,
                                code: s.code,
                                message: s.message.into(),
                            },
                        })
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn dora(now: OffsetDateTime) -> Report {
    let f = |env: &str, n: u64, band, lead: u64, failures: u64, restore: u64| EnvFigures {
        env: env.into(),
        deployments: n,
        per_day: n as f64 / 30.0,
        band,
        lead_time_median: Some(Duration::from_secs(lead)),
        lead_time_p90: Some(Duration::from_secs(lead * 4)),
        failures,
        change_failure_rate: Some(failures as f64 / n as f64),
        time_to_restore_median: (failures > 0).then(|| Duration::from_secs(restore)),
    };
    Report {
        since: now - Duration::from_secs(30 * 86_400),
        until: now,
        envs: vec![
            f("dev", 212, Band::Daily, 540, 3, 1500),
            f("staging", 61, Band::Daily, 7_800, 2, 2_700),
            f("production", 19, Band::Weekly, 93_000, 1, 3_900),
        ],
    }
}

fn realistic(now: OffsetDateTime) -> Status {
    Status {
        last_pass: Some(PassStatus {
            finished_at: now - Duration::from_secs(12),
            duration: Duration::from_millis(2140),
            triggers: vec!["resync".into(), "webhook: push".into()],
            error: None,
        }),
        last_success: Some(now - Duration::from_secs(12)),
        board: Some(Arc::new(board(now))),
        dora: Some(Arc::new(dora(now))),
        passes: 431,
        failures: 2,
        ..Status::default()
    }
}

/// The realistic board and one app whose names and pin came from someone
/// hostile: markup in the pin, a quote in the name, a script URL.
fn with_hostile(now: OffsetDateTime) -> Status {
    let mut s = realistic(now);
    let board = Arc::make_mut(s.board.as_mut().unwrap());
    board.rows.push(Row {
        app: "evil\"><img src=x>".into(),
        cells: vec![
            Some(Cell {
                running: Some(ImageRef {
                    tag: Some("v1".into()),
                    digest: None,
                }),
                error: None,
                pin: Some(PinView {
                    by: Some("mallory".into()),
                    reason: Some("<script>alert(1)</script>".into()),
                    since: None,
                }),
                pull_request: Some(PrLink {
                    number: 9,
                    url: "javascript:alert(document.domain)".into(),
                }),
                next: Next {
                    action: Action::None,
                    to: None,
                    code: Some("pinned"),
                    message: "pinned by mallory".into(),
                },
            }),
            None,
            None,
        ],
    });
    s
}

async fn get(addr: SocketAddr, path: &str) -> reqwest::Response {
    reqwest::get(format!("http://{addr}{path}")).await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Before the first pass the page says so (200); once the runner publishes
/// a board the same URL serves it, with its headers; the JSON form holds
/// the same cells; unknown parameters are ignored, a bad `output` is 400.
#[tokio::test]
async fn page_and_json_follow_the_runner_status() {
    let (tx, rx) = watch::channel(Status::default());
    let addr = start(rx).await;

    let r = get(addr, "/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    let body = r.text().await.unwrap();
    assert!(body.contains("No pass has run yet"), "{body}");
    assert!(!body.contains("<table"));
    let r = get(addr, "/?output=json").await;
    assert_eq!(r.status(), 200);
    let json: Value = r.json().await.unwrap();
    assert_eq!(json["board"], Value::Null);

    let now = OffsetDateTime::now_utc();
    tx.send(realistic(now)).unwrap();
    let r = get(addr, "/?utm_source=x&app=").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "referrer-policy"), "no-referrer");
    let csp = header(&r, "content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    let body = r.text().await.unwrap();
    assert_eq!(body.matches("<tr data-app=").count(), 8);
    assert!(body.contains("<span class=\"tag\">sha-40c9e2d</span>"));
    assert!(body.contains("431 passes, 2 failed"));

    let r = get(addr, "/?output=json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(header(&r, "cache-control"), "no-store");
    let json: Value = r.json().await.unwrap();
    assert_eq!(json["board"]["envs"], serde_json::json!(ENVS));
    let rows = json["board"]["apps"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    for ((app, cells), row) in apps().iter().zip(rows) {
        assert_eq!(row["app"], *app);
        for (spec, cell) in cells.iter().zip(row["cells"].as_array().unwrap()) {
            match spec {
                None => assert_eq!(cell, &Value::Null, "{app}"),
                Some(s) => {
                    assert_eq!(cell["tag"], s.tag, "{app}");
                    assert_eq!(cell["digest"], digest_of(s.tag));
                    assert_eq!(cell["next"]["message"], s.message);
                }
            }
        }
    }
    assert_eq!(
        json["board"]["apps"][2]["cells"][2]["pin"]["by"], "alice",
        "checkout is pinned in production"
    );
    assert_eq!(json["dora"]["envs"][2]["deployments"], 19);
    assert_eq!(json["last_pass"]["succeeded"], true);

    let r = get(addr, "/?output=json&app=GATE").await;
    let json: Value = r.json().await.unwrap();
    assert_eq!(json["board"]["apps"].as_array().unwrap().len(), 1);
    assert_eq!(json["board"]["total_apps"], 8);

    let r = get(addr, "/?output=yaml").await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "output must be html or json, not \"yaml\"\n"
    );
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

/// Chromium: `FERRY_CHROMIUM`, else `chromium` on `PATH`.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .expect(
            "chromium not found: install Debian's chromium (.ci/run does) or set FERRY_CHROMIUM",
        )
}

/// Runs headless Chromium with `args` and returns its stdout; killed after
/// a minute.
fn run_chromium(args: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn dump_dom(url: String) -> String {
    tokio::task::spawn_blocking(move || run_chromium(&["--dump-dom".into(), url]))
        .await
        .unwrap()
}

/// The `<tr>` elements of the body, as (data-app, inner HTML).
fn body_rows(dom: &str) -> Vec<(String, String)> {
    let tbody = &dom[dom.find("<tbody>").expect("a tbody")..];
    let tbody = &tbody[..tbody.find("</tbody>").unwrap()];
    tbody
        .split("<tr ")
        .skip(1)
        .map(|tr| {
            let app = tr
                .strip_prefix("data-app=\"")
                .and_then(|r| r.split_once('"'))
                .map(|(a, _)| a.to_string())
                .expect("every row names its app");
            (app, tr[..tr.find("</tr>").unwrap()].to_string())
        })
        .collect()
}

/// The `<td>`s of a row, in order, as (data-env, inner HTML).
fn row_cells(row: &str) -> Vec<(String, String)> {
    row.split("<td ")
        .skip(1)
        .map(|td| {
            let env = td
                .split_once("data-env=\"")
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(e, _)| e.to_string())
                .expect("every cell names its environment");
            (env, td[..td.find("</td>").unwrap()].to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_matrix_with_tags_and_pins() {
    let now = OffsetDateTime::now_utc();
    let (_tx, rx) = watch::channel(with_hostile(now));
    let addr = start(rx).await;
    let dom = dump_dom(format!("http://{addr}/")).await;

    let rows = body_rows(&dom);
    let expected = apps();
    assert_eq!(rows.len(), expected.len() + 1, "one row per app");
    for ((app, cells), (dom_app, row)) in expected.iter().zip(&rows) {
        assert_eq!(dom_app, app);
        let tds = row_cells(row);
        assert_eq!(tds.len(), ENVS.len(), "{app}: one cell per environment");
        for ((spec, env), (dom_env, td)) in cells.iter().zip(ENVS).zip(&tds) {
            assert_eq!(dom_env, env);
            match spec {
                None => assert!(!td.contains("class=\"tag\""), "{app}/{env}: {td}"),
                Some(s) => {
                    assert!(
                        td.contains(&format!("<span class=\"tag\">{}</span>", s.tag)),
                        "{app}/{env} should run {}: {td}",
                        s.tag
                    );
                    let short = &digest_of(s.tag)["sha256:".len()..][..12];
                    assert!(td.contains(short), "{app}/{env}: short digest");
                    match s.pin {
                        Some((by, why)) => {
                            assert!(td.contains(&format!(
                                "pinned by <strong class=\"by\">{by}</strong>"
                            )));
                            assert!(td.contains(why), "{td}");
                        }
                        None => assert!(!td.contains("class=\"pin\""), "{app}/{env}"),
                    }
                    if let Some(n) = s.pr {
                        assert!(td.contains(&format!(
                            "<a href=\"https://github.com/acme/platform-gitops/pull/{n}\">#{n}</a>"
                        )));
                    }
                }
            }
        }
    }
    // The pinned cell is production's, and only there.
    let checkout = &rows[2].1;
    let tds = row_cells(checkout);
    assert!(tds[2].1.contains("class=\"pin\"") && tds[2].0 == "production");
    assert!(tds[2].1.contains("<code class=\"badge\">pinned</code>"));

    // The hostile row: its text stayed text.
    let (evil_app, evil) = rows.last().unwrap();
    assert!(evil_app.starts_with("evil&quot;"), "{evil_app}");
    assert!(
        !dom.contains("<img src=\"x\">"),
        "no element came from an app name"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(
        evil.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{evil}"
    );
    assert!(evil.contains("open PR #9"));
    assert!(!dom.contains("javascript:"), "a script URL is never a link");

    // The page's script ran under its policy: it marks the form live.
    assert!(dom.contains("<form method=\"get\" action=\"\" role=\"search\" class=\"live\">"));
    // The DORA row sits in the header, one cell per environment.
    let head = &dom[dom.find("<thead>").unwrap()..dom.find("</thead>").unwrap()];
    assert!(head.contains("data-env=\"production\"><div>19 deployments, 0.63/day"));

    // Without JavaScript the form's GET filters on the server.
    let dom = dump_dom(format!("http://{addr}/?app=CHECK")).await;
    let rows = body_rows(&dom);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "checkout");
    assert!(dom.contains("<span id=\"shown\">1</span> of 9 apps"));
}

/// The inline filter, driven as a person would: the page as served, with
/// a line of script that types into the box. (Loaded from a file, as a
/// page of its own origin could not be scripted from outside.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_filters_rows_as_one_types() {
    let (_tx, rx) = watch::channel(realistic(OffsetDateTime::now_utc()));
    let addr = start(rx).await;
    let html = get(addr, "/").await.text().await.unwrap();
    let typing = "<script>var f=document.getElementById('filter');f.value='Bill';\
                  f.dispatchEvent(new Event('input'));</script></body>";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.html");
    std::fs::write(&file, html.replace("</body>", typing)).unwrap();
    let dom = dump_dom(format!("file://{}", file.display())).await;
    let rows = body_rows(&dom);
    assert_eq!(rows.len(), 8, "the script hides rows, it removes none");
    for (app, _) in &rows {
        let hidden = dom.contains(&format!("<tr data-app=\"{app}\" hidden=\"\">"));
        assert_eq!(hidden, app != "billing", "{app}");
    }
    assert!(dom.contains("<span id=\"shown\">1</span> of 8 apps"));
}

fn docs_png() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png")
}

/// The screenshot of the realistic board; with
/// `FERRY_UPDATE_SCREENSHOT=1` it replaces `docs/status-page.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshot() {
    let now = OffsetDateTime::now_utc();
    let (_tx, rx) = watch::channel(realistic(now));
    let addr = start(rx).await;
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("status-page.png");
    let args = vec![
        format!("--screenshot={}", png.display()),
        "--window-size=1024,640".into(),
        "--force-device-scale-factor=1".into(),
        format!("http://{addr}/"),
    ];
    tokio::task::spawn_blocking(move || run_chromium(&args))
        .await
        .unwrap();
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // A blank page compresses to a few KB; this one holds a table of text.
    assert!(
        bytes.len() > 40 * 1024,
        "{} bytes: nothing rendered?",
        bytes.len()
    );
    if std::env::var_os("FERRY_UPDATE_SCREENSHOT").is_some() {
        assert!(
            bytes.len() < 150 * 1024,
            "{} bytes: too big for docs/",
            bytes.len()
        );
        std::fs::write(docs_png(), &bytes).unwrap();
    }
    let committed = std::fs::metadata(docs_png()).expect("docs/status-page.png is committed");
    assert!(committed.len() < 150 * 1024);
}
