//! The demo's ChatOps scene: people comment on an issue of the GitOps
//! repository, each comment goes to ferry's real webhook server as a
//! signed `issue_comment` delivery, and ferry runs the commands the
//! commenter's role allows, replying on the issue.

use std::io::Write;

use anyhow::{Context as _, Result, bail};
use serde_json::json;
use tokio::sync::mpsc;

use crate::chatops::CommandOutcome;
use crate::forge::{AnyForge, Forge, local::LocalForge};
use crate::runner::Context;
use crate::server::http::{ServerState, WEBHOOK_PATH, serve};
use crate::server::signature::{SIGNATURE_HEADER, sign};
use crate::server::webhook::{Intake, Scope};

/// The demo's webhook secret (a real one comes from `webhook_secret_env`).
const SECRET: &[u8] = b"ferry-demo-webhook-secret";
const REPOSITORY: &str = "acme/gitops";

/// The server on a loopback port, and what it queues.
struct Hook {
    url: String,
    client: reqwest::Client,
    intake: mpsc::Receiver<Intake>,
    deliveries: u32,
}

impl Hook {
    async fn start(
        identity: &str,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Result<Hook> {
        let (tx, intake) = mpsc::channel(16);
        let scope = Scope {
            repository: REPOSITORY.into(),
            base_branch: "main".into(),
            identity: identity.into(),
        };
        let state = ServerState::new(SECRET.to_vec(), 5 << 20, scope, tx)?.with_metrics(metrics);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}{WEBHOOK_PATH}", listener.local_addr()?);
        tokio::spawn(serve(listener, state, std::future::pending()));
        Ok(Hook {
            url,
            client: reqwest::Client::new(),
            intake,
            deliveries: 0,
        })
    }

    /// Delivers `payload` as GitHub would, signed with `secret`.
    async fn deliver(&mut self, payload: &serde_json::Value, secret: &[u8]) -> Result<u16> {
        self.deliveries += 1;
        let body = serde_json::to_vec(payload)?;
        let status = self
            .client
            .post(&self.url)
            .header("x-github-event", "issue_comment")
            .header(
                "x-github-delivery",
                format!("00000000-0000-4000-8000-{:012}", self.deliveries),
            )
            .header(SIGNATURE_HEADER, sign(secret, &body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?
            .status();
        Ok(status.as_u16())
    }
}

/// The `issue_comment` payload for a comment (the fields GitHub sends that
/// ferry reads).
fn payload(issue: u64, id: u64, url: &str, login: &str, body: &str) -> serde_json::Value {
    json!({
        "action": "created",
        "issue": {"number": issue, "title": "api: errors in production", "pull_request": null},
        "comment": {
            "id": id, "html_url": url, "body": body,
            "user": {"login": login, "type": "User"},
            "performed_via_github_app": null
        },
        "repository": {"full_name": REPOSITORY, "name": "gitops", "owner": {"login": "acme"}},
        "sender": {"login": login, "type": "User"}
    })
}

fn local(ctx: &Context) -> Result<&LocalForge> {
    match &ctx.forge {
        Some(AnyForge::Local(f)) => Ok(f),
        _ => bail!("the demo uses the local forge"),
    }
}

/// `login` comments `body` on the issue; ferry answers.
async fn say(
    ctx: &mut Context,
    hook: &mut Hook,
    issue: u64,
    login: &str,
    body: &str,
    out: &mut impl Write,
) -> Result<Vec<CommandOutcome>> {
    let posted = local(ctx)?.post_comment(issue, login, body).await?;
    let status = hook
        .deliver(&payload(issue, posted.id, &posted.url, login, body), SECRET)
        .await?;
    writeln!(out, "  {login} comments \"{body}\"  → webhook {status}")?;
    let Some(Intake::Comment(event)) = hook.intake.recv().await else {
        bail!("the server queued no comment");
    };
    let outcomes = ctx.handle_comment(&event).await;
    for o in &outcomes {
        // The reply's first sentence; the rest is on the issue.
        let text = o.message.lines().next().unwrap_or_default();
        let first = match text.find(". ") {
            Some(i) => text.get(..=i).unwrap_or(text),
            None => text,
        };
        let commit = o
            .commit
            .as_deref()
            .map(|c| format!(" [commit {}]", c.get(..8).unwrap_or(c)))
            .unwrap_or_default();
        let verdict = if o.ok { "done" } else { "not done" };
        writeln!(out, "    ferry replies: {verdict}: {first}{commit}")?;
    }
    let reactions = local(ctx)?
        .issue_comments(issue)
        .await?
        .into_iter()
        .find(|c| c.id == posted.id)
        .map(|c| c.reactions.join(" "))
        .unwrap_or_default();
    writeln!(out, "    reactions on the comment: {reactions}")?;
    Ok(outcomes)
}

/// After production: a maintainer's revert lands pinned, a read-only
/// user's unpin is refused, the next pass leaves the pin alone, and the
/// maintainer's unpin lets automation go on.
pub async fn scene(ctx: &mut Context, dir: &std::path::Path, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "\n── ChatOps: production misbehaves; the on-call engineer reverts it from an issue ──"
    )?;
    let forge = local(ctx)?;
    forge.set_role("oncall", "maintain").await?;
    forge.set_role("rita", "read").await?;
    let issue = forge
        .open_issue("api: errors in production", "oncall")
        .await?;
    let identity = forge.identity().to_string();
    writeln!(
        out,
        "  roles: oncall maintain, rita read; production needs maintain (chatops.environments)"
    )?;
    let mut hook = Hook::start(&identity, ctx.metrics.clone())
        .await
        .context("the webhook server")?;

    let forged = payload(issue, 999, "", "mallory", "/ferry unpin api production");
    let status = hook.deliver(&forged, b"not-the-secret").await?;
    writeln!(
        out,
        "  a delivery signed with another secret  → webhook {status}, nothing done"
    )?;

    say(
        ctx,
        &mut hook,
        issue,
        "oncall",
        "/ferry revert api production",
        out,
    )
    .await?;
    say(
        ctx,
        &mut hook,
        issue,
        "rita",
        "/ferry unpin api production",
        out,
    )
    .await?;
    writeln!(out, "  the next pass:")?;
    let report = super::demo::pass(ctx, out).await?;
    if let Some(e) = report
        .plan
        .entries
        .iter()
        .find(|e| e.app == "api" && e.env == "production")
        && let Some(why) = &e.reason
        && why.code != "pinned"
    {
        writeln!(out, "  (api/production: {})", why.code)?;
    }
    say(
        ctx,
        &mut hook,
        issue,
        "oncall",
        "/ferry unpin api production",
        out,
    )
    .await?;
    // Automation goes on: once staging shows its new revision healthy,
    // production gets its promotion PR again.
    for round in 1..=4 {
        writeln!(out, "  pass {round} after the unpin:")?;
        let report = super::demo::pass(ctx, out).await?;
        if let Some(opened) = report.prs.iter().find(|p| p.env == "production") {
            let pr = local(ctx)?.get(opened.number).await?;
            super::demo::merge(ctx, dir, &pr, "production").await?;
            writeln!(out, "  reviewer merged #{} \"{}\"", pr.number, pr.title)?;
            break;
        }
    }
    Ok(())
}
