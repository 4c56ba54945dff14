//! A fake Argo CD for the health tests: an axum server on 127.0.0.1 that
//! serves `GET /api/v1/applications/{name}` from a map of Application
//! objects (JSON) the test edits between requests, and answers 401 to a
//! request without the expected bearer token, as Argo CD does. The objects
//! come from the real ones in `shared/corpus/argocd`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Clone)]
struct Shared {
    token: String,
    apps: Arc<Mutex<HashMap<String, Value>>>,
}

/// A running fake Argo CD.
pub struct FakeArgo {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Shared,
}

impl FakeArgo {
    /// Starts a server that wants `Authorization: Bearer {token}`.
    pub async fn start(token: &str) -> FakeArgo {
        let shared = Shared {
            token: token.to_string(),
            apps: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/api/v1/applications/{name}", get(get_application))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeArgo { url, shared }
    }

    /// Serves `app` as application `name` (replacing any previous one).
    pub fn put(&self, name: &str, app: Value) {
        self.shared
            .apps
            .lock()
            .unwrap()
            .insert(name.to_string(), app);
    }

    /// Edits the served application `name` in place.
    pub fn edit(&self, name: &str, f: impl FnOnce(&mut Value)) {
        let mut apps = self.shared.apps.lock().unwrap();
        f(apps.get_mut(name).expect("application served"));
    }
}

async fn get_application(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(format!("Bearer {}", s.token).as_str()) {
        // Argo CD's gRPC-gateway error shape; code 16 = Unauthenticated.
        let msg = "invalid session: token signature is invalid";
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": msg, "code": 16, "message": msg})),
        )
            .into_response();
    }
    match s.apps.lock().unwrap().get(&name) {
        Some(app) => Json(app.clone()).into_response(),
        None => {
            let msg = format!("applications.argoproj.io \"{name}\" not found");
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": msg, "code": 5, "message": msg})),
            )
                .into_response()
        }
    }
}

/// The first YAML document of the corpus file whose name starts with
/// `prefix` (e.g. `"06_"`), as JSON.
pub fn corpus_app(prefix: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/argocd");
    assert!(dir.is_dir(), "corpus missing at {}", dir.display());
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no corpus file {prefix}*"));
    let text = std::fs::read_to_string(&path).unwrap();
    let first = yaml_serde::Deserializer::from_str(&text)
        .next()
        .expect("a document");
    <Value as serde::Deserialize>::deserialize(first).unwrap()
}

/// The value at a dotted path (`status.sync.status`), creating objects on
/// the way, so a test can set fields a corpus object lacks.
pub fn at<'a>(v: &'a mut Value, path: &str) -> &'a mut Value {
    path.split('.').fold(v, |v, key| {
        if !v.is_object() {
            *v = json!({});
        }
        v.as_object_mut().unwrap().entry(key).or_insert(Value::Null)
    })
}

/// Removes the field at a dotted path.
pub fn remove(v: &mut Value, path: &str) {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let obj = if parent.is_empty() { v } else { at(v, parent) };
    obj.as_object_mut().unwrap().remove(key);
}
