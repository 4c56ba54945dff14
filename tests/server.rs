//! The webhook server on a loopback port, spoken to over HTTP as GitHub
//! would: every corpus payload signed and delivered, and everything that
//! must be refused — unsigned or wrongly signed (401), oversized with or
//! without a Content-Length (413, answered before the body is in), missing
//! headers or not JSON (400) — plus redeliveries handled once, a full
//! queue answered 503 and its redelivery accepted, `/healthz`, 404 and 405.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferry::server::signature::sign;
use ferry::server::{Intake, Scope, ServerState, serve};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{Receiver, channel};
use tokio::sync::oneshot;

const SECRET: &[u8] = b"It's a Secret to Everybody";

struct Running {
    addr: SocketAddr,
    metrics: std::sync::Arc<ferry::metrics::Metrics>,
    intakes: Receiver<Intake>,
    _stop: oneshot::Sender<()>,
    client: reqwest::Client,
}

/// A server for `repository`, refusing bodies over `max_body`, with a
/// queue of `queue` intakes that nothing consumes (the test reads it).
async fn start(repository: &str, max_body: usize, queue: usize) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, intakes) = channel(queue);
    let scope = Scope {
        repository: repository.to_string(),
        base_branch: "main".into(),
        identity: "ferry".into(),
    };
    let metrics = std::sync::Arc::new(ferry::metrics::Metrics::new());
    let state = ServerState::new(SECRET.to_vec(), max_body, scope, tx)
        .unwrap()
        .with_metrics(metrics.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        metrics,
        intakes,
        _stop: stop,
        client: reqwest::Client::new(),
    }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` to the webhook with the given headers (`None`: left out).
    async fn post(
        &self,
        event: Option<&str>,
        delivery: Option<&str>,
        signature: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut req = self
            .client
            .post(self.url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/test");
        if let Some(e) = event {
            req = req.header("x-github-event", e);
        }
        if let Some(d) = delivery {
            req = req.header("x-github-delivery", d);
        }
        if let Some(s) = signature {
            req = req.header("x-hub-signature-256", s);
        }
        let resp = req.body(body).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A correctly signed delivery.
    async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, String) {
        let sig = sign(SECRET, body);
        self.post(Some(event), Some(delivery), Some(&sig), body.to_vec())
            .await
    }

    /// What the queue holds now; the handler queues before it answers.
    fn drain(&mut self) -> Vec<Intake> {
        std::iter::from_fn(|| self.intakes.try_recv().ok()).collect()
    }
}

/// Every corpus payload: (file name, the event its name carries, bytes).
fn corpus() -> Vec<(String, String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/github-webhooks");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            let event = name
                .split_once("X-GitHub-Event=")
                .and_then(|(_, rest)| rest.split_once("_action="))
                .map(|(event, _)| event.to_string())
                .unwrap();
            (name, event, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert_eq!(out.len(), 14, "the corpus changed: review the cases");
    out
}

fn full_name(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["repository"]["full_name"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_corpus_delivery_is_answered_and_queued_as_classified() {
    for (i, (name, event, body)) in corpus().into_iter().enumerate() {
        let payload: Value = serde_json::from_slice(&body).unwrap();
        let mut server = start(&full_name(&body), 5 << 20, 8).await;
        let delivery = format!("72d3162e-cc78-11e3-81ab-4c9367dc{i:04}");
        let (status, text) = server.deliver(&event, &delivery, &body).await;
        let queued = server.drain();
        match event.as_str() {
            "issue_comment" => {
                assert_eq!(
                    (status, text.as_str()),
                    (202, r#"{"status":"accepted"}"#),
                    "{name}"
                );
                let [Intake::Comment(c)] = queued.as_slice() else {
                    panic!("{name}: {queued:?}")
                };
                assert_eq!(c.login, payload["comment"]["user"]["login"], "{name}");
                assert_eq!(c.number, payload["issue"]["number"], "{name}");
                assert_eq!(c.comment_id, payload["comment"]["id"], "{name}");
                assert_eq!(c.body, payload["comment"]["body"], "{name}");
            }
            "pull_request" if name.contains("action=closed") => {
                assert_eq!(status, 202, "{name}: {text}");
                assert_eq!(
                    queued,
                    [Intake::Pass {
                        reason: "pull request #2 closed unmerged".into()
                    }],
                    "{name}"
                );
            }
            "pull_request" | "pull_request_review" => {
                assert_eq!(status, 200, "{name}: {text}");
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["status"], "ignored", "{name}: {text}");
                assert!(
                    v["reason"].as_str().is_some_and(|r| !r.is_empty()),
                    "{text}"
                );
                assert!(queued.is_empty(), "{name}: {queued:?}");
            }
            other => panic!("{name}: no case for {other}"),
        }
    }
}

#[tokio::test]
async fn a_comment_from_another_repository_is_ignored() {
    let (_, _, body) = corpus().into_iter().next().unwrap();
    let mut server = start("acme/platform-gitops", 5 << 20, 8).await;
    let (status, text) = server.deliver("issue_comment", "d-1", &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("not the configured repository"), "{text}");
    assert!(server.drain().is_empty());
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_deliveries_get_401() {
    let (_, event, body) = corpus().into_iter().next().unwrap();
    let mut server = start(&full_name(&body), 5 << 20, 8).await;
    let good = sign(SECRET, &body);
    let wrong_secret = sign(b"another secret", &body);
    let mut other_body = body.clone();
    other_body.push(b'\n');
    let cases: [(&str, Option<String>, Vec<u8>); 6] = [
        ("missing", None, body.clone()),
        ("wrong secret", Some(wrong_secret), body.clone()),
        ("body changed", Some(good.clone()), other_body),
        (
            "malformed hex",
            Some(format!("sha256={}", "zz".repeat(32))),
            body.clone(),
        ),
        (
            "truncated",
            Some(good[..good.len() - 2].to_string()),
            body.clone(),
        ),
        (
            "sha1 prefix",
            Some(good.replace("sha256=", "sha1=")),
            body.clone(),
        ),
    ];
    for (what, sig, body) in cases {
        let (status, text) = server
            .post(Some(&event), Some("d-1"), sig.as_deref(), body)
            .await;
        assert_eq!((status, text.as_str()), (401, "unauthorized\n"), "{what}");
    }
    // Only the legacy SHA-1 header, however right, is not enough.
    let sha1 = server
        .client
        .post(server.url("/webhooks/github"))
        .header("x-github-event", &event)
        .header("x-github-delivery", "d-1")
        .header(
            "x-hub-signature",
            "sha1=d03207e4b030cf234e3447bac4d93add4c6643d8",
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sha1.status().as_u16(), 401);
    assert!(server.drain().is_empty(), "nothing unsigned is queued");
    // The same delivery, signed, is then handled: 401s were not recorded.
    assert_eq!(server.deliver(&event, "d-1", &body).await.0, 202);
    assert_eq!(server.drain().len(), 1);
}

/// Sends `head` (request line and headers) and then `body` on a raw
/// connection, and returns the response's status line and how long it
/// took; the connection is left open, the body possibly unfinished.
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (String, Duration) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed without an answer: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("no answer while the body is still owed");
    let text = String::from_utf8_lossy(&got);
    (text.lines().next().unwrap().to_string(), started.elapsed())
}

#[tokio::test]
async fn oversized_bodies_get_413_before_they_are_read() {
    let limit = 1024;
    let mut server = start("a/b", limit, 8).await;
    let head = |framing: &str| {
        format!(
            "POST /webhooks/github HTTP/1.1\r\nhost: x\r\nx-github-event: ping\r\n\
             x-github-delivery: d-1\r\nx-hub-signature-256: sha256={}\r\n{framing}\r\n",
            "0".repeat(64)
        )
    };
    // 10 MiB announced and not a byte of it sent: the answer comes anyway.
    let (status, took) = raw(server.addr, &head("content-length: 10485760\r\n"), b"").await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Chunked: one chunk just over the limit and no end; refused as soon
    // as the limit is passed, not when the body ends (it never does).
    let chunk = vec![b'{'; limit + 1];
    let mut body = format!("{:x}\r\n", chunk.len()).into_bytes();
    body.extend_from_slice(&chunk);
    body.extend_from_slice(b"\r\n");
    let (status, took) = raw(server.addr, &head("transfer-encoding: chunked\r\n"), &body).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // At the limit exactly is accepted (and one byte more is not).
    let ping = format!("{{\"zen\": \"{}\"}}", "x".repeat(limit - 11)).into_bytes();
    assert_eq!(ping.len(), limit);
    assert_eq!(server.deliver("ping", "d-2", &ping).await.0, 200);
    let mut over = ping.clone();
    over.push(b' ');
    assert_eq!(server.deliver("ping", "d-3", &over).await.0, 413);
    assert!(server.drain().is_empty());
}

#[tokio::test]
async fn missing_headers_or_a_body_not_json_get_400() {
    let mut server = start("a/b", 5 << 20, 8).await;
    let body = br#"{"zen": "Keep it logically awesome."}"#.to_vec();
    let sig = sign(SECRET, &body);
    let (status, _) = server
        .post(None, Some("d-1"), Some(&sig), body.clone())
        .await;
    assert_eq!(status, 400, "no X-GitHub-Event");
    let (status, _) = server
        .post(Some("ping"), None, Some(&sig), body.clone())
        .await;
    assert_eq!(status, 400, "no X-GitHub-Delivery");
    let (status, _) = server
        .post(
            Some("ping"),
            Some(&"d".repeat(200)),
            Some(&sig),
            body.clone(),
        )
        .await;
    assert_eq!(status, 400, "an absurd delivery id");
    for not_json in [&b"{\"zen\": "[..], b"", b"\xff\xfe"] {
        let (status, text) = server.deliver("issue_comment", "d-2", not_json).await;
        assert_eq!((status, text.as_str()), (400, "body is not JSON\n"));
    }
    // None of those counted as seen: the same delivery id is new.
    let (status, text) = server.deliver("ping", "d-1", &body).await;
    assert_eq!((status, text.as_str()), (200, r#"{"status":"pong"}"#));
    assert!(server.drain().is_empty(), "a ping queues nothing");
}

#[tokio::test]
async fn a_redelivery_is_answered_and_handled_once() {
    let (_, event, body) = corpus().into_iter().next().unwrap();
    let mut server = start(&full_name(&body), 5 << 20, 8).await;
    let id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    assert_eq!(server.deliver(&event, id, &body).await.0, 202);
    let (status, text) = server.deliver(&event, id, &body).await;
    assert_eq!((status, text.as_str()), (200, r#"{"status":"duplicate"}"#));
    assert_eq!(server.drain().len(), 1);
    // Another delivery of the same payload is another delivery.
    assert_eq!(server.deliver(&event, "another-id", &body).await.0, 202);
    assert_eq!(server.drain().len(), 1);
}

#[tokio::test]
async fn a_full_queue_gets_503_and_the_redelivery_is_accepted() {
    let (_, event, body) = corpus().into_iter().next().unwrap();
    let mut server = start(&full_name(&body), 5 << 20, 1).await;
    assert_eq!(server.deliver(&event, "first", &body).await.0, 202);
    let (status, text) = server.deliver(&event, "second", &body).await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(server.drain().len(), 1, "only the first is queued");
    assert_eq!(server.deliver(&event, "second", &body).await.0, 202);
    assert_eq!(server.drain().len(), 1);
    // With the consumer gone (shutting down) it is 503 as well.
    drop(std::mem::replace(&mut server.intakes, channel(1).1));
    let (status, text) = server.deliver(&event, "third", &body).await;
    assert_eq!(status, 503, "{text}");
}

/// Every answer is counted by event and result, and `/metrics` serves the
/// same exposition as the registry the runner shares; an event name a
/// caller makes up is counted as `other`, never as a new series.
#[tokio::test]
async fn every_delivery_is_counted_by_event_and_result() {
    let (_, event, body) = corpus().into_iter().next().unwrap();
    let server = start(&full_name(&body), 256 << 10, 8).await;
    assert_eq!(server.deliver(&event, "c-1", &body).await.0, 202);
    assert_eq!(server.deliver(&event, "c-1", &body).await.0, 200);
    let forged = server
        .post(
            Some("made-up"),
            Some("c-2"),
            Some("sha256=00"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(forged.0, 401);
    let big = vec![b' '; 512 << 10];
    assert_eq!(
        server.post(Some("push"), Some("c-3"), None, big).await.0,
        413
    );
    let ping = br#"{"zen":"Keep it logically awesome."}"#.to_vec();
    assert_eq!(server.deliver("ping", "c-4", &ping).await.0, 200);
    let r = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    let text = r.text().await.unwrap();
    assert_eq!(text, server.metrics.render());
    let delivered = |ev: &str, result: &str| {
        let series =
            format!("ferry_webhook_deliveries_total{{event=\"{ev}\",result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map(|v| v.to_string())
    };
    assert_eq!(
        delivered(&event, "accepted").as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        delivered(&event, "duplicate").as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        delivered("other", "unauthorized").as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        delivered("push", "too_large").as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(delivered("ping", "ping").as_deref(), Some("1"), "{text}");
    assert!(!text.contains("made-up"), "{text}");
}

#[tokio::test]
async fn health_unknown_paths_and_methods() {
    let server = start("a/b", 5 << 20, 8).await;
    let get = |path: &str| server.client.get(server.url(path)).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    assert_eq!(get("/nowhere").await.unwrap().status().as_u16(), 404);
    assert_eq!(
        get("/webhooks/github").await.unwrap().status().as_u16(),
        405
    );
    let post = server.client.post(server.url("/healthz")).send().await;
    assert_eq!(post.unwrap().status().as_u16(), 405);
}

/// `/readyz` follows the runner's status: not ready before a successful
/// pass, ready after one, and not ready once the runner is gone while
/// `/healthz` still answers.
#[tokio::test]
async fn readiness_follows_the_runner() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, _intakes) = channel(8);
    let scope = Scope {
        repository: "a/b".into(),
        base_branch: "main".into(),
        identity: "ferry".into(),
    };
    let (status_tx, status) = tokio::sync::watch::channel(ferry::runner::Status::default());
    let state = ServerState::new(SECRET.to_vec(), 1 << 20, scope, tx)
        .unwrap()
        .with_readiness(status, std::time::Duration::from_secs(900));
    tokio::spawn(serve(listener, state, std::future::pending()));
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (code, body) = get("/readyz").await;
    assert_eq!(
        (code, body.as_str()),
        (503, "not ready: no pass has succeeded yet\n")
    );
    status_tx.send_modify(|s| s.last_success = Some(time::OffsetDateTime::now_utc()));
    let (code, body) = get("/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("ready: "), "{body}");
    drop(status_tx);
    let (code, body) = get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("the runner stopped"), "{body}");
    assert_eq!(get("/healthz").await.0, 200, "liveness is not readiness");
}
