//! The demo's Slack: a loopback stand-in for an incoming webhook, which
//! the demo's notifier posts to like any Slack sink. After each pass the
//! demo prints one line per message it received
//! (`slack  committed  dev: api sha-1111111 → sha-5d5d5d5`).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

use crate::notify::{Endpoint, Notifier, Options, Secret, Target};
use crate::runner::Context;

/// The demo's one stand-in (a demo runs once per process).
static INBOX: OnceLock<Inbox> = OnceLock::new();

/// Messages received, and how many were printed.
#[derive(Clone, Default)]
struct Inbox {
    texts: Arc<Mutex<Vec<String>>>,
    printed: Arc<Mutex<usize>>,
}

async fn receive(State(inbox): State<Inbox>, body: Bytes) -> StatusCode {
    let text = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["text"].as_str().map(str::to_string));
    match text {
        Some(t) => {
            inbox
                .texts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(t);
            StatusCode::OK
        }
        None => StatusCode::BAD_REQUEST,
    }
}

/// Starts the stand-in and gives `ctx` a notifier that posts to it.
pub async fn start(ctx: &mut Context) -> Result<()> {
    let inbox = INBOX.get_or_init(Inbox::default).clone();
    let app = axum::Router::new()
        .route("/services/demo", axum::routing::post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/services/demo", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let target = Target::new(
        "slack (demo)",
        Endpoint::Slack {
            url: Secret::new(url),
        },
        None,
    );
    let file = crate::notify::state_file(ctx.workspace.root());
    ctx.notifier = Notifier::start(vec![target], Some(file), Options::default());
    Ok(())
}

/// Waits (briefly) for the notifier to deliver, then prints what arrived
/// since the last call.
pub async fn print(notifier: &Notifier, out: &mut impl Write) -> Result<()> {
    let Some(inbox) = INBOX.get() else {
        return Ok(());
    };
    notifier.idle(Duration::from_secs(5)).await;
    let texts = inbox
        .texts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut printed = inbox
        .printed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for text in texts.iter().skip(*printed) {
        let (event, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        writeln!(out, "  slack  {event}  {rest}")?;
    }
    *printed = texts.len();
    Ok(())
}
