//! A stateful fake Argo CD on loopback that follows a bare GitOps
//! repository, for the automatic-revert tests. Include it with
//! `#[path = "support_argocd/live.rs"] mod live_argo;` next to
//! `mod support_argocd;` (it builds its payloads from the corpus).
//!
//! `GET /api/v1/applications/shop-<env>` answers a real Application object
//! (the corpus's `06_`, a Healthy, Succeeded app) edited to show what Argo
//! CD would after syncing `main`: the tip as the synced revision, the
//! images `overlays/<env>/kustomization.yaml` sets at the tip as the live
//! images, reconciled now, with the health the test sets (Healthy unless
//! told otherwise). A test can freeze the revision an app reports (Argo CD
//! has not synced a newer commit yet).
//!
//! `GET /smoke/<env>` answers the status and body the test sets (200 `ok`
//! unless told otherwise).
//!
//! Every answer closes its connection, so [`LiveArgo::stop`] makes the port
//! refuse connections at once (nothing is kept alive in a client's pool),
//! and [`LiveArgo::restart`] serves again on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::support_argocd::{at, corpus_app};

#[derive(Default)]
struct State {
    /// Per application: its `status.health.status`, one after the other
    /// on successive requests (round and round).
    health: HashMap<String, (Vec<String>, usize)>,
    /// Per application: a revision it reports instead of main's tip.
    frozen: HashMap<String, String>,
    /// Per environment: the smoke endpoint's status and body.
    smoke: HashMap<String, (u16, String)>,
    /// Requests answered, by path.
    asked: HashMap<String, u32>,
}

/// A running (or stopped) fake.
pub struct LiveArgo {
    /// `http://127.0.0.1:PORT`, the same across a restart.
    pub url: String,
    addr: SocketAddr,
    repo: PathBuf,
    state: Arc<Mutex<State>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl LiveArgo {
    /// Serves the bare repository at `repo`.
    pub async fn start(repo: impl Into<PathBuf>) -> LiveArgo {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = LiveArgo {
            url: format!("http://{addr}"),
            addr,
            repo: repo.into(),
            state: Arc::default(),
            task: Mutex::new(None),
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let (repo, state) = (self.repo.clone(), self.state.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (repo, state) = (repo.clone(), state.clone());
                tokio::spawn(answer(sock, repo, state));
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Stops listening: connections to the port are refused from now on.
    pub fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        self.stop();
        // The aborted task drops its listener when it is next polled; bind
        // until the port is free again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(std::time::Instant::now() < deadline, "rebind: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        };
        self.serve(listener);
    }

    /// Application `app` reports health `status` (`Healthy`, `Degraded`,
    /// `Missing`, `Progressing`).
    pub fn set_health(&self, app: &str, status: &str) {
        self.cycle_health(app, &[status]);
    }

    /// Application `app` answers each request with the next of `statuses`
    /// (round and round), so two clients asking in turn see different ones.
    pub fn cycle_health(&self, app: &str, statuses: &[&str]) {
        self.state.lock().unwrap().health.insert(
            app.to_string(),
            (statuses.iter().map(|s| s.to_string()).collect(), 0),
        );
    }

    /// Application `app` reports `revision` as synced, whatever main's tip
    /// is (`None`: the tip again).
    pub fn freeze_revision(&self, app: &str, revision: Option<&str>) {
        let mut s = self.state.lock().unwrap();
        match revision {
            Some(r) => s.frozen.insert(app.to_string(), r.to_string()),
            None => s.frozen.remove(app),
        };
    }

    /// `GET /smoke/<env>` answers `status` with `body`.
    pub fn set_smoke(&self, env: &str, status: u16, body: &str) {
        self.state
            .lock()
            .unwrap()
            .smoke
            .insert(env.to_string(), (status, body.to_string()));
    }

    /// How many requests for `path` were answered.
    pub fn asked(&self, path: &str) -> u32 {
        self.state
            .lock()
            .unwrap()
            .asked
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for LiveArgo {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn answer(mut sock: tokio::net::TcpStream, repo: PathBuf, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    *state.lock().unwrap().asked.entry(path.clone()).or_default() += 1;
    let (status, body) = if let Some(name) = path.strip_prefix("/api/v1/applications/") {
        match application(&repo, name, &state) {
            Some(app) => (200, app.to_string()),
            None => (
                404,
                json!({"error": "not found", "code": 5, "message": format!("applications.argoproj.io \"{name}\" not found")}).to_string(),
            ),
        }
    } else if let Some(env) = path.strip_prefix("/smoke/") {
        state
            .lock()
            .unwrap()
            .smoke
            .get(env)
            .cloned()
            .unwrap_or((200, "ok".into()))
    } else {
        (404, String::new())
    };
    let resp = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// The Application `shop-<env>` as Argo CD shows it after syncing main.
fn application(repo: &Path, name: &str, state: &Mutex<State>) -> Option<serde_json::Value> {
    let env = name.strip_prefix("shop-")?;
    let git = git2::Repository::open_bare(repo).ok()?;
    let tip = git.refname_to_id("refs/heads/main").ok()?;
    let (health, frozen) = {
        let mut s = state.lock().unwrap();
        let health = match s.health.get_mut(name) {
            Some((h, turn)) if !h.is_empty() => {
                *turn += 1;
                h[(*turn - 1) % h.len()].clone()
            }
            _ => "Healthy".into(),
        };
        (health, s.frozen.get(name).cloned())
    };
    let revision = frozen.unwrap_or_else(|| tip.to_string());
    let commit = git.find_commit(git2::Oid::from_str(&revision).ok()?).ok()?;
    let blob = commit
        .tree()
        .ok()?
        .get_path(Path::new(&format!("overlays/{env}/kustomization.yaml")))
        .ok()?
        .to_object(&git)
        .ok()?
        .peel_to_blob()
        .ok()?;
    let text = std::str::from_utf8(blob.content()).ok()?;
    let images: Vec<String> = ferry::kustomize::read_images(text)
        .ok()?
        .into_iter()
        .map(|e| {
            let mut s = e.new_name.unwrap_or(e.name);
            if let Some(t) = e.new_tag {
                s = format!("{s}:{t}");
            }
            if let Some(d) = e.digest {
                s = format!("{s}@{d}");
            }
            s
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let mut app = corpus_app("06_");
    *at(&mut app, "metadata.name") = json!(name);
    for path in [
        "status.sync.revision",
        "status.operationState.operation.sync.revision",
        "status.operationState.syncResult.revision",
    ] {
        *at(&mut app, path) = json!(revision);
    }
    *at(&mut app, "status.sync.status") = json!("Synced");
    *at(&mut app, "status.operationState.phase") = json!("Succeeded");
    *at(&mut app, "status.operationState.finishedAt") =
        json!(rfc(now - time::Duration::seconds(1)));
    *at(&mut app, "status.reconciledAt") = json!(rfc(now));
    *at(&mut app, "status.health.status") = json!(health);
    *at(&mut app, "status.summary.images") = json!(images);
    Some(app)
}
