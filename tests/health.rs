//! The `health` module against a fake Argo CD serving the real Application
//! objects of `shared/corpus/argocd` (edited per test) through the
//! production client, and smoke checks against a small local HTTP server.
//! Each condition of a proven environment has a passing and a failing case.

mod support_argocd;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use ferry::config::{DurationValue, Smoke};
use ferry::health::{
    Application, ArgoClient, Check, Expectation, Failure, HealthError, SoakKey, SoakTracker,
    Target, assess, prove, smoke,
};
use serde_json::{Value, json};
use support_argocd::{FakeArgo, at, corpus_app, remove};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

const TOKEN: &str = "argocd-test-token";
/// `status.sync.revision` of corpus file 06: ferry's commit in these tests.
const OURS: &str = "a0c7298faead28f7f60a5106afbb18882ad220a7";
/// A later commit on top of ours (an unrelated change to another app).
const CHILD: &str = "c0ffee0000000000000000000000000000000001";
/// A revision from corpus 06's own history, older than ours.
const UNRELATED: &str = "e5585fcf22366e2d066e0936cbd8a0508756d02d";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER_DIGEST: &str =
    "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const MIN: Duration = Duration::from_secs(60);

/// What `Workspace::is_descendant_or_equal(rev, OURS)` answers in a repo
/// where CHILD descends from OURS; unknown revisions are not descendants.
fn lineage(rev: &str) -> bool {
    rev == OURS || rev == CHILD
}

/// Corpus file 06 runs `nginxinc/nginx-unprivileged:latest` at OURS.
fn want_tag() -> Expectation {
    Expectation {
        commit: OURS.into(),
        image_digest: None,
        image_tag: Some("latest".into()),
        image_name: "nginxinc/nginx-unprivileged".into(),
    }
}

fn want_digest() -> Expectation {
    Expectation {
        commit: OURS.into(),
        image_digest: Some(DIGEST.into()),
        image_tag: Some("sha-3f2a9c1".into()),
        image_name: "123456789012.dkr.ecr.us-west-2.amazonaws.com/gateway".into(),
    }
}

fn rfc(t: OffsetDateTime) -> Value {
    json!(t.format(&Rfc3339).unwrap())
}

/// A fake Argo CD serving corpus file 06 (healthy, synced, succeeded) as
/// application `dev`.
async fn serve_06() -> FakeArgo {
    let fake = FakeArgo::start(TOKEN).await;
    fake.put("dev", corpus_app("06_"));
    fake
}

async fn fetch(fake: &FakeArgo, name: &str) -> Application {
    ArgoClient::new(&fake.url, Some(TOKEN.into()))
        .unwrap()
        .application(name)
        .await
        .unwrap()
}

async fn failures(fake: &FakeArgo, want: &Expectation) -> Vec<Failure> {
    assess(&fetch(fake, "dev").await, want, lineage)
}

fn checks(failures: &[Failure]) -> Vec<Check> {
    failures.iter().map(|f| f.check).collect()
}

/// Asserts that exactly `check` failed and returns its message.
fn only(failures: Vec<Failure>, check: Check) -> String {
    assert_eq!(checks(&failures), vec![check], "{failures:#?}");
    failures[0].message.clone()
}

// ---------------------------------------------------------------- real objects

#[tokio::test]
async fn the_real_healthy_application_passes_every_check() {
    let fake = serve_06().await;
    let app = fetch(&fake, "dev").await;
    assert_eq!(app.metadata.name.as_deref(), Some("dev-app-taxi"));
    assert_eq!(
        app.status.summary.images,
        ["nginxinc/nginx-unprivileged:latest"]
    );
    assert_eq!(assess(&app, &want_tag(), lineage), vec![]);
}

#[tokio::test]
async fn real_objects_fail_exactly_the_checks_their_status_misses() {
    let fake = FakeArgo::start(TOKEN).await;
    let nginx = Expectation {
        image_name: "nginx".into(),
        ..want_tag()
    };
    // 01 is synced to "rev1", which is not in our history; everything else
    // holds, including reconciledAt == finishedAt.
    fake.put("dev", corpus_app("01_"));
    let msg = only(failures(&fake, &nginx).await, Check::Revision);
    assert!(msg.contains("rev1") && msg.contains(OURS), "{msg}");
    let app = fetch(&fake, "dev").await;
    assert_eq!(assess(&app, &nginx, |r| r == "rev1"), vec![]);

    // 02: a minimal Degraded application.
    fake.put("dev", corpus_app("02_"));
    let f = failures(&fake, &nginx).await;
    assert!(checks(&f).contains(&Check::Health), "{f:#?}");
    assert!(f.iter().any(|f| f.message.contains("Degraded")), "{f:#?}");

    // 04: Synced, but no app health and no operation.
    fake.put("dev", corpus_app("04_"));
    let f = failures(&fake, &nginx).await;
    assert_eq!(
        checks(&f),
        [
            Check::Revision,
            Check::Operation,
            Check::Reconciled,
            Check::Health,
            Check::Image
        ],
        "{f:#?}"
    );

    // 05: OutOfSync.
    fake.put("dev", corpus_app("05_"));
    let f = failures(&fake, &nginx).await;
    assert!(checks(&f).contains(&Check::Sync), "{f:#?}");

    // 08: Synced + Healthy as an e2e assertion, with a registry port in
    // the image; no revision, operation or summary.
    fake.put("dev", corpus_app("08_"));
    let f = failures(&fake, &nginx).await;
    assert_eq!(
        checks(&f),
        [
            Check::Revision,
            Check::Operation,
            Check::Reconciled,
            Check::Image
        ],
        "{f:#?}"
    );
}

// ---------------------------------------------------------------- revision

#[tokio::test]
async fn revision_ours_or_a_descendant_passes_anything_else_fails() {
    let fake = serve_06().await;
    // Unrelated later commits (another app's promotion) must not break it.
    fake.edit("dev", |a| *at(a, "status.sync.revision") = json!(CHILD));
    assert_eq!(failures(&fake, &want_tag()).await, vec![]);

    // An older revision (still running the previous image) fails.
    fake.edit("dev", |a| *at(a, "status.sync.revision") = json!(UNRELATED));
    let msg = only(failures(&fake, &want_tag()).await, Check::Revision);
    assert!(msg.contains(UNRELATED), "{msg}");

    fake.edit("dev", |a| remove(a, "status.sync.revision"));
    let msg = only(failures(&fake, &want_tag()).await, Check::Revision);
    assert!(msg.contains("no sync revision"), "{msg}");
}

#[tokio::test]
async fn multi_source_every_revision_must_descend() {
    // Corpus 11 is the only real multi-source fragment: two revisions in
    // operationState.syncResult. Argo CD reports the same list in
    // status.sync.revisions (one per source) and no status.sync.revision.
    let fragment = corpus_app("11_");
    let revs = fragment["status"]["operationState"]["syncResult"]["revisions"].clone();
    let ours = revs[0].as_str().unwrap().to_string();
    let mut app = corpus_app("06_");
    remove(&mut app, "status.sync.revision");
    *at(&mut app, "status.sync.revisions") = revs.clone();
    remove(&mut app, "status.operationState.syncResult.revision");
    *at(&mut app, "status.operationState.syncResult.revisions") = revs.clone();
    let fake = FakeArgo::start(TOKEN).await;
    fake.put("dev", app);

    let want = Expectation {
        commit: ours.clone(),
        ..want_tag()
    };
    let child = "38cfa22edf9148caabfecb288bfb47dc4352dfc7";
    let is_descendant = |r: &str| r == ours || r == child;
    let app = fetch(&fake, "dev").await;
    assert_eq!(app.revisions(), [ours.as_str(), ours.as_str()]);
    let synced = &app.status.operation_state.as_ref().unwrap().sync_result;
    assert_eq!(synced.as_ref().unwrap().revisions.len(), 2);
    assert_eq!(assess(&app, &want, is_descendant), vec![]);

    // One source moves on within our history: still fine.
    fake.edit("dev", |a| {
        a["status"]["sync"]["revisions"][1] = json!(child)
    });
    let app = fetch(&fake, "dev").await;
    assert_eq!(assess(&app, &want, is_descendant), vec![]);

    // One source is something else (a chart version, another repo): every
    // entry must descend (one good source is not enough), so this holds.
    fake.edit("dev", |a| {
        a["status"]["sync"]["revisions"][1] = json!("1.2.3")
    });
    let app = fetch(&fake, "dev").await;
    let msg = only(assess(&app, &want, is_descendant), Check::Revision);
    assert!(msg.starts_with("revision 1.2.3 is not"), "{msg}");
}

// ---------------------------------------------------------------- sync, operation, reconcile

#[tokio::test]
async fn sync_status_must_be_synced() {
    let fake = serve_06().await;
    for status in ["OutOfSync", "Unknown"] {
        fake.edit("dev", |a| *at(a, "status.sync.status") = json!(status));
        let msg = only(failures(&fake, &want_tag()).await, Check::Sync);
        assert!(msg.contains(status), "{msg}");
    }
    fake.edit("dev", |a| *at(a, "status.sync.status") = json!("Synced"));
    assert_eq!(failures(&fake, &want_tag()).await, vec![]);
}

#[tokio::test]
async fn the_last_operation_must_have_succeeded() {
    let fake = serve_06().await;
    for phase in ["Running", "Failed", "Error", "Terminating"] {
        fake.edit("dev", |a| {
            *at(a, "status.operationState.phase") = json!(phase);
            *at(a, "status.operationState.message") = json!("one or more objects failed");
        });
        let msg = only(failures(&fake, &want_tag()).await, Check::Operation);
        assert!(
            msg.contains(phase) && msg.contains("objects failed"),
            "{msg}"
        );
    }
    fake.edit("dev", |a| {
        *at(a, "status.operationState.phase") = json!("Succeeded");
    });
    assert_eq!(failures(&fake, &want_tag()).await, vec![]);

    // No operation at all: nothing says a sync of ours finished.
    fake.edit("dev", |a| remove(a, "status.operationState"));
    let f = failures(&fake, &want_tag()).await;
    assert_eq!(checks(&f), [Check::Operation, Check::Reconciled], "{f:#?}");
}

#[tokio::test]
async fn reconciled_at_must_not_be_older_than_the_operation() {
    let fake = serve_06().await;
    let finished = datetime!(2022-04-22 17:11:29 UTC);
    fake.edit("dev", |a| {
        *at(a, "status.reconciledAt") = rfc(finished - Duration::from_secs(1));
    });
    let msg = only(failures(&fake, &want_tag()).await, Check::Reconciled);
    assert!(msg.contains("2022-04-22T17:11:29Z"), "{msg}");

    fake.edit("dev", |a| *at(a, "status.reconciledAt") = rfc(finished));
    assert_eq!(failures(&fake, &want_tag()).await, vec![]);

    fake.edit("dev", |a| remove(a, "status.reconciledAt"));
    only(failures(&fake, &want_tag()).await, Check::Reconciled);
}

#[tokio::test]
async fn error_conditions_fail_warnings_do_not() {
    let fake = serve_06().await;
    for kind in ["ComparisonError", "InvalidSpecError", "SyncError"] {
        fake.edit("dev", |a| {
            *at(a, "status.conditions") = json!([
                {"type": "SharedResourceWarning", "message": "shared"},
                {"type": kind, "message": "rpc error: code = Unknown",
                 "lastTransitionTime": "2022-04-28T18:36:56Z"}
            ]);
        });
        let msg = only(failures(&fake, &want_tag()).await, Check::Conditions);
        assert!(msg.contains(kind) && msg.contains("rpc error"), "{msg}");
        assert!(!msg.contains("SharedResourceWarning"), "{msg}");
    }
    fake.edit("dev", |a| {
        *at(a, "status.conditions") = json!([{"type": "OrphanedResourceWarning"}]);
    });
    assert_eq!(failures(&fake, &want_tag()).await, vec![]);
}

// ---------------------------------------------------------------- health, image

#[tokio::test]
async fn health_must_be_healthy() {
    let fake = serve_06().await;
    for status in ["Progressing", "Degraded", "Missing", "Suspended", "Unknown"] {
        fake.edit("dev", |a| *at(a, "status.health.status") = json!(status));
        let msg = only(failures(&fake, &want_tag()).await, Check::Health);
        assert!(msg.contains(status), "{msg}");
    }
    fake.edit("dev", |a| *at(a, "status.health.status") = json!("Healthy"));
    assert_eq!(failures(&fake, &want_tag()).await, vec![]);
}

#[tokio::test]
async fn the_image_is_found_by_digest_or_by_tag_without_one() {
    let fake = serve_06().await;
    let name = &want_digest().image_name;
    let sidecar = "nginxinc/nginx-unprivileged:latest";
    // kustomize renders newTag + digest as name:tag@digest.
    fake.edit("dev", |a| {
        *at(a, "status.summary.images") = json!([sidecar, format!("{name}:sha-3f2a9c1@{DIGEST}")]);
    });
    assert_eq!(failures(&fake, &want_digest()).await, vec![]);
    fake.edit("dev", |a| {
        *at(a, "status.summary.images") = json!([format!("{name}@{DIGEST}")]);
    });
    assert_eq!(failures(&fake, &want_digest()).await, vec![]);

    // Same tag, another digest: the tag was moved; what runs is not ours.
    fake.edit("dev", |a| {
        *at(a, "status.summary.images") =
            json!([sidecar, format!("{name}:sha-3f2a9c1@{OTHER_DIGEST}")]);
    });
    let msg = only(failures(&fake, &want_digest()).await, Check::Image);
    assert!(msg.contains(DIGEST) && msg.contains(OTHER_DIGEST), "{msg}");
    // Our digest under another name does not count either.
    fake.edit("dev", |a| {
        *at(a, "status.summary.images") = json!([format!("{name}-canary@{DIGEST}")]);
    });
    only(failures(&fake, &want_digest()).await, Check::Image);

    // Without a digest, the tag decides.
    let by_tag = Expectation {
        image_digest: None,
        ..want_digest()
    };
    fake.edit("dev", |a| {
        *at(a, "status.summary.images") = json!([format!("{name}:sha-3f2a9c1")]);
    });
    assert_eq!(failures(&fake, &by_tag).await, vec![]);
    fake.edit("dev", |a| {
        *at(a, "status.summary.images") = json!([format!("{name}:sha-0000000")]);
    });
    only(failures(&fake, &by_tag).await, Check::Image);
    fake.edit("dev", |a| remove(a, "status.summary"));
    let msg = only(failures(&fake, &by_tag).await, Check::Image);
    assert!(msg.contains("none"), "{msg}");

    // Corpus 08's image carries a registry port: the port is not a tag.
    let port = Expectation {
        image_name: "10.42.0.1:30000/test-image".into(),
        image_tag: Some("1.0.2".into()),
        ..by_tag.clone()
    };
    let e2e = corpus_app("08_");
    fake.edit("dev", |a| {
        *at(a, "status.summary.images") = e2e["spec"]["source"]["kustomize"]["images"].clone();
    });
    assert_eq!(failures(&fake, &port).await, vec![]);
}

// ---------------------------------------------------------------- the client

#[tokio::test]
async fn the_client_needs_the_bearer_token() {
    let fake = serve_06().await;
    for token in [None, Some("wrong".to_string())] {
        let err = ArgoClient::new(&fake.url, token)
            .unwrap()
            .application("dev")
            .await
            .unwrap_err();
        assert!(
            matches!(err, HealthError::Status { status: 401, .. }),
            "{err:?}"
        );
    }
    let err = ArgoClient::new(&fake.url, Some(TOKEN.into()))
        .unwrap()
        .application("nope")
        .await
        .unwrap_err();
    assert!(
        matches!(err, HealthError::Status { status: 404, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("/api/v1/applications/nope"),
        "{err}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_application_is_an_error() {
    let fake = FakeArgo::start(TOKEN).await;
    fake.put("dev", json!({"status": {"sync": "Synced"}}));
    let err = ArgoClient::new(&fake.url, Some(TOKEN.into()))
        .unwrap()
        .application("dev")
        .await
        .unwrap_err();
    assert!(matches!(err, HealthError::Malformed { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_argocd_is_an_error_never_a_pass() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = ArgoClient::new(&url, Some(TOKEN.into())).unwrap();
    let err = client.application("dev").await.unwrap_err();
    assert!(matches!(err, HealthError::Http { .. }), "{err:?}");
    assert!(!err.to_string().contains(TOKEN));

    let want = want_tag();
    let key = key(DIGEST);
    let target = Target {
        argocd_app: "dev",
        want: &want,
        smoke: &[],
        soak: Duration::ZERO,
        key: &key,
    };
    let tracker = SoakTracker::new();
    let r = prove(
        &client,
        &tracker,
        target,
        lineage,
        OffsetDateTime::now_utc(),
    )
    .await;
    assert!(matches!(r, Err(HealthError::Http { .. })), "{r:?}");
}

/// A server that answers every request with `200 OK` and a chunked body
/// that never ends (64 KiB chunks), counting the bytes it managed to send.
async fn endless_body() -> (String, Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                while sock.write_all(chunk.as_bytes()).await.is_ok() {
                    counter.fetch_add(0x10000, Ordering::SeqCst);
                }
            });
        }
    });
    (url, sent)
}

#[tokio::test]
async fn an_oversized_application_body_is_a_clear_error() {
    // Announced: a 17 MiB Application (one huge annotation).
    let fake = serve_06().await;
    fake.edit("dev", |app| {
        *at(app, "metadata.annotations.filler") = json!("x".repeat(17 << 20));
    });
    let err = ArgoClient::new(&fake.url, Some(TOKEN.into()))
        .unwrap()
        .application("dev")
        .await
        .unwrap_err();
    assert!(matches!(err, HealthError::Http { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("the response body exceeds the limit of 16777216 bytes"),
        "{err}"
    );

    // Not announced: a chunked body without end is cut off at the cap.
    let (url, sent) = endless_body().await;
    let started = std::time::Instant::now();
    let err = ArgoClient::new(&url, None)
        .unwrap()
        .application("dev")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The server got no further than the cap plus what sat in buffers.
    assert!(sent.load(Ordering::SeqCst) < 64 << 20, "{sent:?}");
}

#[tokio::test]
async fn argocd_errors_never_show_a_query_token_or_user_info() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://argo:pw-s3cret@127.0.0.1:{port}/?token=q-s3cret");
    let err = ArgoClient::new(&url, None)
        .unwrap()
        .application("dev")
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        text.contains("/api/v1/applications/dev?<redacted>"),
        "{text}"
    );
    // A Status error shows the same redacted URL.
    let fake = serve_06().await;
    let err = ArgoClient::new(&format!("{}/?token=q-s3cret", fake.url), None)
        .unwrap()
        .application("dev")
        .await
        .unwrap_err();
    assert!(
        matches!(err, HealthError::Status { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

// ---------------------------------------------------------------- smoke checks

#[derive(Clone, Default)]
struct SmokeState {
    /// Requests per path.
    hits: Arc<Mutex<std::collections::HashMap<String, u32>>>,
    /// `/flaky` answers 503 this many times, then 200.
    fail_first: Arc<AtomicU32>,
    /// `/switch` answers 200 while true, 503 otherwise.
    up: Arc<AtomicBool>,
}

impl SmokeState {
    fn hit(&self, path: &str) -> u32 {
        let mut hits = self.hits.lock().unwrap();
        let n = hits.entry(path.to_string()).or_default();
        *n += 1;
        *n
    }
    fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

struct SmokeServer {
    url: String,
    state: SmokeState,
}

async fn smoke_server() -> SmokeServer {
    let state = SmokeState::default();
    state.up.store(true, Ordering::SeqCst);
    let app = axum::Router::new()
        .route(
            "/ok",
            get(|State(s): State<SmokeState>| async move {
                s.hit("/ok");
                "{\"status\": \"ok\", \"version\": \"sha-3f2a9c1\"}"
            }),
        )
        .route("/big", get(|| async { "ok".repeat(1 << 20) }))
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ok")]) }),
        )
        .route(
            "/created",
            get(|State(s): State<SmokeState>| async move {
                s.hit("/created");
                StatusCode::CREATED
            }),
        )
        .route(
            "/flaky",
            get(|State(s): State<SmokeState>| async move {
                let n = s.hit("/flaky");
                if n <= s.fail_first.load(Ordering::SeqCst) {
                    (StatusCode::SERVICE_UNAVAILABLE, "warming up")
                } else {
                    (StatusCode::OK, "ready")
                }
            }),
        )
        .route(
            "/switch",
            get(|State(s): State<SmokeState>| async move {
                s.hit("/switch");
                if s.up.load(Ordering::SeqCst) {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }),
        )
        .route(
            "/slow",
            get(|State(s): State<SmokeState>| async move {
                s.hit("/slow");
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/echo",
            post(
                |State(s): State<SmokeState>, headers: HeaderMap, body: String| async move {
                    s.hit("/echo");
                    let token = headers.get("x-smoke-token").and_then(|v| v.to_str().ok());
                    if token == Some("t0k") && body == r#"{"ping":1}"# {
                        (StatusCode::OK, "pong")
                    } else {
                        (StatusCode::BAD_REQUEST, "bad request")
                    }
                },
            ),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    SmokeServer { url, state }
}

fn check(url: String) -> Smoke {
    Smoke {
        url,
        method: None,
        headers: Default::default(),
        body: None,
        expect_status: None,
        body_regex: None,
        timeout: None,
        retries: Some(0),
    }
}

#[tokio::test]
async fn smoke_expected_status_defaults_to_200() {
    let s = smoke_server().await;
    let created = Smoke {
        expect_status: Some(201),
        ..check(format!("{}/created", s.url))
    };
    let r = smoke(&[
        check(format!("{}/ok", s.url)),
        created,
        check(format!("{}/created", s.url)),
    ])
    .await;
    assert_eq!(r.len(), 3);
    assert!(r[0].ok && r[0].attempts == 1, "{r:#?}");
    assert!(r[1].ok, "{r:#?}");
    assert!(!r[2].ok, "{r:#?}");
    assert!(
        r[2].message.contains("expected HTTP 200, got 201"),
        "{r:#?}"
    );
    // Results come back in the order of the checks.
    assert!(r[0].url.ends_with("/ok") && r[1].url.ends_with("/created"));
}

#[tokio::test]
async fn smoke_does_not_follow_redirects() {
    let s = smoke_server().await;
    let moved = check(format!("{}/moved", s.url));
    let expect_302 = Smoke {
        expect_status: Some(302),
        ..moved.clone()
    };
    let r = smoke(&[moved, expect_302]).await;
    assert!(!r[0].ok && r[0].message.contains("got 302"), "{r:#?}");
    assert!(r[1].ok, "{r:#?}");
    assert_eq!(s.state.hits("/ok"), 0);
}

#[tokio::test]
async fn smoke_body_regex_must_match() {
    let s = smoke_server().await;
    let good = Smoke {
        body_regex: Some(r#""version":\s*"sha-3f2a9c1""#.into()),
        ..check(format!("{}/ok", s.url))
    };
    let bad = Smoke {
        body_regex: Some(r#""status":\s*"down""#.into()),
        ..check(format!("{}/ok", s.url))
    };
    let r = smoke(&[good, bad]).await;
    assert!(r[0].ok, "{r:#?}");
    assert!(
        !r[1].ok && r[1].message.contains("does not match"),
        "{r:#?}"
    );
}

#[tokio::test]
async fn smoke_sends_method_headers_and_body() {
    let s = smoke_server().await;
    let mut post = Smoke {
        method: Some("post".into()),
        body: Some(r#"{"ping":1}"#.into()),
        body_regex: Some("^pong$".into()),
        ..check(format!("{}/echo", s.url))
    };
    post.headers.insert("X-Smoke-Token".into(), "t0k".into());
    let mut no_header = post.clone();
    no_header.headers.clear();
    let r = smoke(&[post, no_header]).await;
    assert!(r[0].ok, "{r:#?}");
    assert!(!r[1].ok && r[1].message.contains("got 400"), "{r:#?}");
    assert!(!r[1].message.contains("t0k"));
}

#[tokio::test]
async fn smoke_retries_with_backoff_until_success() {
    let s = smoke_server().await;
    s.state.fail_first.store(2, Ordering::SeqCst);
    let flaky = Smoke {
        retries: None, // default: 2 retries
        ..check(format!("{}/flaky", s.url))
    };
    let r = smoke(&[flaky]).await;
    assert!(r[0].ok, "{r:#?}");
    assert_eq!(r[0].attempts, 3);
    assert_eq!(s.state.hits("/flaky"), 3);
}

#[tokio::test]
async fn smoke_gives_up_after_the_retries() {
    let s = smoke_server().await;
    s.state.fail_first.store(5, Ordering::SeqCst);
    let flaky = Smoke {
        retries: Some(1),
        ..check(format!("{}/flaky", s.url))
    };
    let r = smoke(&[flaky]).await;
    assert!(!r[0].ok, "{r:#?}");
    assert_eq!(r[0].attempts, 2);
    assert!(r[0].message.contains("got 503"), "{r:#?}");
    assert_eq!(s.state.hits("/flaky"), 2);
}

#[tokio::test]
async fn smoke_times_out() {
    let s = smoke_server().await;
    let slow = Smoke {
        timeout: Some(DurationValue(Duration::from_millis(100))),
        retries: Some(1),
        ..check(format!("{}/slow", s.url))
    };
    let r = smoke(&[slow]).await;
    assert!(!r[0].ok, "{r:#?}");
    assert_eq!(r[0].attempts, 2);
    assert!(r[0].message.contains("timed out"), "{r:#?}");
}

#[tokio::test]
async fn smoke_urls_never_show_their_query_token() {
    let s = smoke_server().await;
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        url
    };
    let checks = [
        // Passing, failing on the status, failing to connect, invalid.
        check(format!("{}/ok?token=tok-s3cret", s.url)),
        check(format!("{}/created?token=tok-s3cret", s.url)),
        check(format!("{refused}/health?token=tok-s3cret")),
        Smoke {
            body_regex: Some("(".into()),
            ..check(format!(
                "http://user:pw-s3cret@{}/ok?token=tok-s3cret",
                &s.url[7..]
            ))
        },
    ];
    let r = smoke(&checks).await;
    assert!(r[0].ok && !r[1].ok && !r[2].ok && !r[3].ok, "{r:#?}");
    // Which failures the server answered: a wrong status is its answer; a
    // refused connection and an invalid check are not (the automatic
    // revert acts only on an answer).
    let answered: Vec<bool> = r.iter().map(|x| x.answered).collect();
    assert_eq!(answered, [true, true, false, false], "{r:#?}");
    for result in &r {
        let shown = format!("{result:?} {}", serde_json::to_string(result).unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(result.url.ends_with("?<redacted>"), "{result:?}");
    }
    assert!(r[0].url.ends_with("/ok?<redacted>"));
    assert!(r[3].url.starts_with("http://***@127.0.0.1:"), "{:?}", r[3]);
    // The query still reached the server: only the text is redacted.
    assert_eq!(s.state.hits("/ok"), 1);
}

#[tokio::test]
async fn an_oversized_smoke_body_fails_the_check_clearly() {
    let (url, sent) = endless_body().await;
    let endless = Smoke {
        body_regex: Some("never".into()),
        timeout: Some(DurationValue(Duration::from_secs(30))),
        ..check(format!("{url}/health"))
    };
    let s = smoke_server().await;
    // Announced with a content-length of 2 MiB.
    let announced = Smoke {
        body_regex: Some("ok".into()),
        ..check(format!("{}/big", s.url))
    };
    // Without a regex the body is never read, so its size does not matter.
    let unread = check(format!("{url}/health"));
    let started = std::time::Instant::now();
    let r = smoke(&[endless, announced, unread]).await;
    assert!(!r[0].ok, "{r:#?}");
    assert!(
        r[0].message
            .contains("the response body exceeds the limit of 1048576 bytes"),
        "{r:#?}"
    );
    assert!(
        !r[1].ok && r[1].message.contains("exceeds the limit"),
        "{r:#?}"
    );
    // A body too large is the server's answer (it can fail an image); one
    // that answered nothing could not be asked.
    assert!(r[0].answered && r[1].answered, "{r:#?}");
    assert!(r[2].ok, "{r:#?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cut off, not timed out"
    );
    assert!(sent.load(Ordering::SeqCst) < 64 << 20);
}

#[tokio::test]
async fn smoke_against_nothing_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    drop(listener);
    let r = smoke(&[check(url)]).await;
    assert!(!r[0].ok && r[0].attempts == 1, "{r:#?}");
}

// ---------------------------------------------------------------- prove and soak

fn key(digest: &str) -> SoakKey {
    SoakKey {
        app: "taxi".into(),
        env: "dev".into(),
        digest: digest.into(),
    }
}

#[tokio::test]
async fn prove_gathers_the_evidence_and_skips_smoke_when_argocd_fails() {
    let fake = serve_06().await;
    let s = smoke_server().await;
    let client = ArgoClient::new(&fake.url, Some(TOKEN.into())).unwrap();
    let tracker = SoakTracker::new();
    let want = want_tag();
    let smoke_checks = [check(format!("{}/ok", s.url))];
    let key = key("latest");
    let target = Target {
        argocd_app: "dev",
        want: &want,
        smoke: &smoke_checks,
        soak: Duration::ZERO,
        key: &key,
    };
    let now = datetime!(2026-01-01 10:00 UTC);
    let proof = prove(&client, &tracker, target, lineage, now)
        .await
        .unwrap();
    assert!(proof.proven(), "{proof:#?}");
    assert_eq!(proof.revision.as_deref(), Some(OURS));
    assert_eq!(proof.health.as_deref(), Some("Healthy"));
    assert_eq!(proof.smoke.len(), 1);
    assert_eq!(proof.soak_remaining, Some(Duration::ZERO));
    assert_eq!(s.state.hits("/ok"), 1);

    fake.edit("dev", |a| {
        *at(a, "status.health.status") = json!("Degraded")
    });
    let proof = prove(&client, &tracker, target, lineage, now)
        .await
        .unwrap();
    assert!(!proof.proven());
    assert_eq!(checks(&proof.failures), [Check::Health]);
    assert!(proof.smoke.is_empty());
    assert_eq!(proof.soak_remaining, None);
    assert_eq!(s.state.hits("/ok"), 1, "smoke must not run");
}

#[tokio::test]
async fn a_flap_during_soak_restarts_the_clock() {
    let fake = serve_06().await;
    let s = smoke_server().await;
    let client = ArgoClient::new(&fake.url, Some(TOKEN.into())).unwrap();
    let tracker = SoakTracker::new();
    let want = want_tag();
    let smoke_checks = [check(format!("{}/switch", s.url))];
    let key = key("latest");
    let target = Target {
        argocd_app: "dev",
        want: &want,
        smoke: &smoke_checks,
        soak: 5 * MIN,
        key: &key,
    };
    let t0 = datetime!(2026-01-01 10:00 UTC);
    fake.edit("dev", |a| {
        *at(a, "status.health.lastTransitionTime") = rfc(t0 - 60 * MIN);
    });
    let prove_at = |now| prove(&client, &tracker, target, lineage, now);

    // Healthy for an hour already, but ferry starts watching at t0.
    let p = prove_at(t0).await.unwrap();
    assert_eq!(p.proven_since, Some(t0));
    assert_eq!(p.soak_remaining, Some(5 * MIN));
    assert!(!p.proven());
    let p = prove_at(t0 + 2 * MIN).await.unwrap();
    assert_eq!(p.soak_remaining, Some(3 * MIN));

    // Argo CD sees it Degraded at t0+3m: the clock stops.
    fake.edit("dev", |a| {
        *at(a, "status.health.status") = json!("Degraded");
        *at(a, "status.health.lastTransitionTime") = rfc(t0 + 3 * MIN);
    });
    let p = prove_at(t0 + 3 * MIN).await.unwrap();
    assert_eq!(p.soak_remaining, None);
    assert_eq!(checks(&p.failures), [Check::Health]);

    // Healthy again: the soak starts over from the next observation.
    fake.edit("dev", |a| {
        *at(a, "status.health.status") = json!("Healthy");
        *at(a, "status.health.lastTransitionTime") = rfc(t0 + 4 * MIN);
    });
    let p = prove_at(t0 + 5 * MIN).await.unwrap();
    assert_eq!(p.proven_since, Some(t0 + 5 * MIN));
    assert_eq!(p.soak_remaining, Some(5 * MIN));

    // A flap ferry did not see (between two polls) shows only as a newer
    // lastTransitionTime, which wins over ferry's first sighting.
    fake.edit("dev", |a| {
        *at(a, "status.health.lastTransitionTime") = rfc(t0 + 7 * MIN);
    });
    let p = prove_at(t0 + 8 * MIN).await.unwrap();
    assert_eq!(p.proven_since, Some(t0 + 7 * MIN));
    assert_eq!(p.soak_remaining, Some(4 * MIN));

    // A failing smoke check is a flap too.
    s.state.up.store(false, Ordering::SeqCst);
    let p = prove_at(t0 + 9 * MIN).await.unwrap();
    assert!(p.failures.is_empty() && !p.smoke[0].ok, "{p:#?}");
    assert_eq!(p.soak_remaining, None);
    s.state.up.store(true, Ordering::SeqCst);
    let p = prove_at(t0 + 10 * MIN).await.unwrap();
    assert_eq!(p.proven_since, Some(t0 + 10 * MIN));

    // Held continuously for the soak: proven.
    let p = prove_at(t0 + 15 * MIN).await.unwrap();
    assert_eq!(p.soak_remaining, Some(Duration::ZERO));
    assert!(p.proven(), "{p:#?}");

    // A restart forgets the clock: conservative, it starts over.
    tracker.clear();
    let p = prove_at(t0 + 16 * MIN).await.unwrap();
    assert_eq!(p.soak_remaining, Some(5 * MIN));
    assert!(!p.proven());
}
