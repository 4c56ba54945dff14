//! The demo's stand-in for Argo CD, and a smoke endpoint: a small HTTP
//! server on a loopback port that ferry asks through the same client code
//! as production. For an application `platform-<env>` it renders
//! `overlays/<env>` from the GitOps repository's `main` (image references
//! with kustomize semantics) and reports it Synced at the branch tip;
//! Healthy from the second look at a revision on ("after a short delay").
//! `GET /smoke/<env>` answers 503 once for staging after its overlay first
//! changes (the new image "warming up"), 500 while staging runs
//! [`BROKEN_TAG`], 200 otherwise.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The image that passes the gates and dev, and breaks staging: its smoke
/// check answers 500 while staging runs it.
pub const BROKEN_TAG: &str = "sha-9f9f9f9";

/// Per application: the revision last seen and how often it was asked.
type Seen = HashMap<String, (String, u32, String)>;

/// A running stand-in.
pub struct StandIn {
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

/// Starts the stand-in for the bare repository at `repo`.
pub async fn start(repo: PathBuf) -> std::io::Result<StandIn> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let seen: Arc<Mutex<Seen>> = Arc::default();
    // Overlay versions each environment's smoke endpoint has seen.
    let smoke_calls: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (repo, seen, smoke_calls) = (repo.clone(), seen.clone(), smoke_calls.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let Ok(n) = sock.read(&mut buf).await else {
                    return;
                };
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body) = if let Some(app) = path.strip_prefix("/api/v1/applications/") {
                    match application(&repo, app, &seen) {
                        Some(b) => ("200 OK", b),
                        None => ("404 Not Found", "{\"message\":\"not found\"}".to_string()),
                    }
                } else if let Some(env) = path.strip_prefix("/smoke/") {
                    let blob = overlay(&repo, env).map(|(id, _)| id).unwrap_or_default();
                    let mut calls = smoke_calls.lock().unwrap_or_else(|p| p.into_inner());
                    let seen = calls.entry(env.to_string()).or_default();
                    // Staging's first check of a changed overlay fails once.
                    let warming = env == "staging" && !seen.is_empty() && !seen.contains(&blob);
                    if !seen.contains(&blob) {
                        seen.push(blob);
                    }
                    let broken = env == "staging"
                        && overlay(&repo, env).is_some_and(|(_, text)| text.contains(BROKEN_TAG));
                    if broken {
                        (
                            "500 Internal Server Error",
                            "error rate 100%: NullPointerException in /checkout".into(),
                        )
                    } else if warming {
                        ("503 Service Unavailable", "warming up".into())
                    } else {
                        ("200 OK", "ok".into())
                    }
                } else {
                    ("404 Not Found", String::new())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(StandIn { url })
}

/// The overlay of `env` on main: its blob id and text, and main's tip.
fn overlay(repo: &PathBuf, env: &str) -> Option<(String, String)> {
    let git = git2::Repository::open_bare(repo).ok()?;
    let tip = git.refname_to_id("refs/heads/main").ok()?;
    let tree = git.find_commit(tip).ok()?.tree().ok()?;
    let entry = tree
        .get_path(std::path::Path::new(&format!(
            "overlays/{env}/kustomization.yaml"
        )))
        .ok()?;
    let blob = entry.to_object(&git).ok()?.peel_to_blob().ok()?;
    Some((
        blob.id().to_string(),
        String::from_utf8(blob.content().to_vec()).ok()?,
    ))
}

/// The Application object for `platform-<env>`.
fn application(repo: &PathBuf, name: &str, seen: &Mutex<Seen>) -> Option<String> {
    let env = name.strip_prefix("platform-")?;
    let (_, text) = overlay(repo, env)?;
    let tip = git2::Repository::open_bare(repo)
        .ok()?
        .refname_to_id("refs/heads/main")
        .ok()?;
    let text = text.as_str();
    let images: Vec<String> = crate::kustomize::read_images(text)
        .ok()?
        .into_iter()
        .map(|e| {
            let mut s = e.new_name.unwrap_or(e.name);
            if let Some(t) = e.new_tag {
                s.push(':');
                s.push_str(&t);
            }
            if let Some(d) = e.digest {
                s.push('@');
                s.push_str(&d);
            }
            s
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .ok()?;
    let rev = tip.to_string();
    let (healthy, since) = {
        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
        let e = s
            .entry(name.to_string())
            .or_insert((String::new(), 0, stamp.clone()));
        if e.0 != rev {
            *e = (rev.clone(), 0, stamp.clone());
        }
        e.1 += 1;
        (e.1 > 1, e.2.clone())
    };
    let app = serde_json::json!({
        "metadata": {"name": name, "namespace": "argocd"},
        "status": {
            "sync": {"status": "Synced", "revision": rev},
            "health": {"status": if healthy { "Healthy" } else { "Progressing" }, "lastTransitionTime": since},
            "operationState": {"phase": "Succeeded", "finishedAt": since, "syncResult": {"revision": rev}},
            "reconciledAt": stamp,
            "summary": {"images": images}
        }
    });
    Some(app.to_string())
}
