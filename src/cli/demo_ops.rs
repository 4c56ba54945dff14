//! The demo's operations scene: what a platform team sees of the run that
//! just happened, through the real server on a loopback port — `/readyz`,
//! a few lines of `/metrics`, the status page (saved beside the demo's
//! repository) and the DORA figures of the repository.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use crate::runner::{Context, PassStatus, Status};
use crate::server::http::{ServerState, serve};
use crate::server::webhook::Scope;

/// The series the scene prints, as rendered (name and labels).
const SHOWN: &[&str] = &[
    r#"ferry_passes_total{result="ok"}"#,
    r#"ferry_commits_total{env="dev"}"#,
    r#"ferry_commits_total{env="production"}"#,
    r#"ferry_pull_requests_total{action="opened",env="production"}"#,
    r#"ferry_commands_total{command="revert",result="ok"}"#,
    r#"ferry_commands_total{command="unpin",result="failed"}"#,
    r#"ferry_auto_reverts_total{check="smoke",env="staging"}"#,
    r#"ferry_watched_deployments{env="staging",state="reverted"}"#,
    r#"ferry_webhook_deliveries_total{event="issue_comment",result="unauthorized"}"#,
    r#"ferry_held_images{app="web",env="dev"}"#,
    r#"ferry_dora_deployments{env="production"}"#,
    r#"ferry_dora_change_failure_ratio{env="production"}"#,
    r#"ferry_dora_change_failure_ratio{env="staging"}"#,
];

/// Runs one more pass, publishes its status the way `ferry run` does, and
/// reads it back over HTTP.
pub async fn scene(ctx: &mut Context, dir: &Path, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "\n── operations: what the platform team sees (the server on a loopback port) ──"
    )?;
    let started = Instant::now();
    let report = ctx.run_pass().await?;
    let finished_at = OffsetDateTime::now_utc();
    let dora = ctx.refresh_dora();
    let (ok, failed) = ctx.metrics.passes();
    let status = Status {
        last_pass: Some(PassStatus {
            finished_at,
            duration: started.elapsed(),
            triggers: vec!["demo".into()],
            error: None,
        }),
        last_success: Some(finished_at),
        plan: Some(Arc::new(report.plan.clone())),
        board: Some(Arc::new(report.board.clone())),
        dora: dora.clone(),
        passes: ok + failed,
        failures: failed,
        consecutive_failures: 0,
        commands: 0,
    };
    let (_status_tx, status_rx) = watch::channel(status);
    let (tx, _intake) = mpsc::channel(1);
    let scope = Scope {
        repository: "acme/gitops".into(),
        base_branch: "main".into(),
        identity: "ferry".into(),
    };
    let state = ServerState::new(b"ferry-demo-ops".to_vec(), 1 << 20, scope, tx)?
        .with_readiness(status_rx, std::time::Duration::from_secs(900))
        .with_metrics(ctx.metrics.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(serve(listener, state, std::future::pending()));
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(format!("{base}{path}")).send();
        async move {
            let r = request.await?;
            let status = r.status().as_u16();
            anyhow::Ok((status, r.text().await?))
        }
    };

    let (code, body) = get("/readyz").await.context("GET /readyz")?;
    writeln!(out, "  GET /readyz   {code} {}", body.trim())?;
    let (code, metrics) = get("/metrics").await.context("GET /metrics")?;
    let series = metrics.lines().filter(|l| !l.starts_with('#')).count();
    writeln!(
        out,
        "  GET /metrics  {code}, {series} series in the Prometheus text format; a few:"
    )?;
    for name in SHOWN {
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or("(none)");
        writeln!(out, "    {name} {value}")?;
    }
    let (code, html) = get("/").await.context("GET /")?;
    let page = dir.join("status.html");
    std::fs::write(&page, &html).with_context(|| format!("writing {}", page.display()))?;
    let board = &report.board;
    writeln!(
        out,
        "  GET /        {code}, the status page: {} apps × {} environments ({} KiB, saved as status.html)",
        board.rows.len(),
        board.envs.len(),
        html.len() / 1024
    )?;
    for row in &board.rows {
        let cells: Vec<String> = board
            .envs
            .iter()
            .zip(&row.cells)
            .map(|(env, cell)| match cell {
                None => format!("{env}: -"),
                Some(c) => {
                    let tag = c
                        .running
                        .as_ref()
                        .and_then(|r| r.tag.as_deref())
                        .unwrap_or("?");
                    let pin = c
                        .pin
                        .as_ref()
                        .map(|p| format!(" pinned by {}", p.by.as_deref().unwrap_or("?")))
                        .unwrap_or_default();
                    let code = c.next.code.unwrap_or("moving");
                    format!("{env}: {tag}{pin} [{code}]")
                }
            })
            .collect();
        writeln!(out, "    {:<4} {}", row.app, cells.join(" | "))?;
    }
    match dora {
        Some(d) => {
            writeln!(
                out,
                "  DORA over the last 30 days (as `ferry report` gives them):"
            )?;
            for e in &d.envs {
                let lead = e
                    .lead_time_median
                    .map_or("none".to_string(), super::report::human);
                let cfr = e
                    .change_failure_rate
                    .map_or("none".to_string(), |r| format!("{:.0}%", r * 100.0));
                writeln!(
                    out,
                    "    {:<10} {} deployments ({}), lead time median {lead}, change failure rate {cfr}",
                    e.env,
                    e.deployments,
                    e.band.as_str()
                )?;
            }
        }
        None => writeln!(out, "  DORA figures could not be computed")?,
    }
    Ok(())
}
