//! How fast a webhook delivery is acknowledged: the real server on a
//! loopback port, a signed `issue_comment` corpus payload, each request a
//! new delivery id (so none is a duplicate) and a consumer draining the
//! queue as the loop would. Prints p50/p90/p99/max per scenario.
//!
//! ```sh
//! cargo bench --bench webhook_ack                 # 2,000 sequential, then 4 × 500 concurrent
//! cargo bench --bench webhook_ack -- N CONCURRENCY
//! ```
//!
//! The time is from sending the request to having the whole response, on
//! one keep-alive connection per client task; signing is done once, before
//! timing (the signature covers the body, which does not change).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry::server::signature::sign;
use ferry::server::{Scope, ServerState, serve};

const SECRET: &[u8] = b"bench secret";
const PAYLOAD: &str = "01_X-GitHub-Event=issue_comment_action=created_on-issue_octokit.json";

struct Target {
    url: String,
    body: Vec<u8>,
    signature: String,
}

async fn one(client: &reqwest::Client, t: &Target, id: &str) -> Duration {
    let started = Instant::now();
    let resp = client
        .post(&t.url)
        .header("content-type", "application/json")
        .header("x-github-event", "issue_comment")
        .header("x-github-delivery", id)
        .header("x-hub-signature-256", &t.signature)
        .body(t.body.clone())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    resp.bytes().await.expect("response body");
    let took = started.elapsed();
    assert_eq!(status, 202, "every delivery is accepted");
    took
}

fn report(name: &str, mut times: Vec<Duration>, wall: Duration) {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times[i].as_secs_f64() * 1e3
    };
    println!(
        "{name:<28} n={:<5} p50={:.3}ms p90={:.3}ms p99={:.3}ms max={:.3}ms  ({:.0} req/s)",
        times.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        times.len() as f64 / wall.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/github-webhooks")
        .join(PAYLOAD);
    let body = std::fs::read(&path).expect("the corpus payload");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let scope = Scope {
        repository: "Codertocat/Hello-World".into(),
        base_branch: "main".into(),
        identity: "ferry".into(),
    };
    let state = ServerState::new(SECRET.to_vec(), 5 << 20, scope, tx).unwrap();
    tokio::spawn(serve(listener, state, std::future::pending()));
    // The loop's side: take each intake off the queue.
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let target = Arc::new(Target {
        url: format!("http://{addr}/webhooks/github"),
        signature: sign(SECRET, &body),
        body,
    });
    println!(
        "payload {PAYLOAD} ({} bytes), server and client on one tokio runtime",
        target.body.len()
    );

    let client = reqwest::Client::new();
    for i in 0..100 {
        one(&client, &target, &format!("warmup-{i}")).await;
    }
    let started = Instant::now();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        times.push(one(&client, &target, &format!("seq-{i}")).await);
    }
    report("sequential, keep-alive", times, started.elapsed());

    let per_task = n.div_ceil(concurrency).max(1);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let target = target.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut times = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    times.push(one(&client, &target, &format!("con-{t}-{i}")).await);
                }
                times
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    report(
        &format!("{concurrency} concurrent clients"),
        all,
        started.elapsed(),
    );
}
