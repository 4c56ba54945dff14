//! The demo's last scene: an image that passes the gates and dev, is
//! promoted to staging by a merged pull request, and then fails staging's
//! smoke check. ferry watches what it saw land, and once the failure has
//! lasted `auto_revert.after` (one second in the demo) it commits staging
//! back to the image before, pins it, and says why on the pull request.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::demo::{Kind, Registry, merge, pass};
use super::demo_argocd::BROKEN_TAG;
use crate::forge::local::LocalForge;
use crate::forge::{AnyForge, Forge, StateFilter};
use crate::promotion::watch::WatchState;
use crate::runner::Context;

/// Passes to wait at most for each step; the demo's clocks are short.
const ROUNDS: usize = 8;

/// Runs the scene.
pub(super) async fn scene(
    ctx: &mut Context,
    dir: &Path,
    registry: &mut Registry,
    out: &mut impl Write,
) -> Result<()> {
    writeln!(
        out,
        "\n── auto-revert: {BROKEN_TAG} passes the gates and dev, then fails staging's smoke check ──"
    )?;
    registry.push("platform/api", BROKEN_TAG, Kind::Good, 6)?;
    writeln!(out, "  arrived platform/api:{BROKEN_TAG}  → pass")?;
    let forge = match &ctx.forge {
        Some(AnyForge::Local(f)) => LocalForge::new(f.path()),
        _ => anyhow::bail!("the demo uses the local forge"),
    };
    let mut merged = None;
    for _ in 0..ROUNDS {
        pass(ctx, out).await?;
        let open = forge.list(StateFilter::Open, "ferry/staging/api").await?;
        if let Some(pr) = open.into_iter().find(|p| p.title.contains(BROKEN_TAG)) {
            merge(ctx, dir, &pr, "staging").await?;
            writeln!(out, "  reviewer merged #{} \"{}\"", pr.number, pr.title)?;
            merged = Some(pr.number);
            break;
        }
    }
    let Some(number) = merged else {
        anyhow::bail!("staging was never proposed {BROKEN_TAG}")
    };
    let mut reverted = false;
    for _ in 0..ROUNDS {
        let report = pass(ctx, out).await?;
        for w in report
            .plan
            .watch
            .iter()
            .filter(|w| w.app == "api" && w.env == "staging")
        {
            writeln!(out, "  watch api/staging: {}", w.describe())?;
        }
        if !report.reverts.is_empty() {
            reverted = true;
            break;
        }
        let failing = report.plan.watch.iter().any(|w| {
            w.app == "api" && w.env == "staging" && matches!(w.state, WatchState::Reverting { .. })
        });
        if failing {
            // Let the failure last `after` (1s in the demo's config).
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    anyhow::ensure!(reverted, "staging was never reverted");
    let text = std::fs::read_to_string(
        ctx.workspace
            .root()
            .join("overlays/staging/kustomization.yaml"),
    )?;
    if let Some(pin) = text.lines().find(|l| l.contains("ferry:pin")) {
        writeln!(out, "  overlays/staging: {}", pin.trim())?;
    }
    if let Some(c) = forge.comments(number).await?.last() {
        let first = c.body.lines().next().unwrap_or_default();
        writeln!(out, "  ferry commented on #{number}: {first}")?;
    }
    writeln!(out, "  the next pass:")?;
    let report = pass(ctx, out).await?;
    if let Some(w) = report
        .plan
        .watch
        .iter()
        .find(|w| w.app == "api" && w.env == "staging")
    {
        writeln!(out, "  watch api/staging: {}", w.describe())?;
    }
    Ok(())
}
