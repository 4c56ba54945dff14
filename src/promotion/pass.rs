//! One reconciliation pass: sync the checkout, take a snapshot, plan, and
//! execute: one commit per commit environment, and a proposal branch with
//! its pull request per promotion. Every step re-reads its inputs, so a
//! pass can run at any time, any number of times, in any number of
//! processes, and converges.

use std::path::Path;

use time::OffsetDateTime;

use super::board::Board;
use super::execute::apply_moves;
use super::gating;
use super::observe::{self, read_overlay};
use super::plan::{Action, Plan, plan};
use super::promote::{self, PrAction, PromotionIo};
use super::snapshot::Snapshot;
use super::watch::{self, execute::Reverted};
use crate::config::{Config, Mode};
use crate::gates::Gates;
use crate::gitops::{Author, GitError, Outcome, Workspace};
use crate::registry::ImageSource;

/// Attempts per environment commit before giving up on a busy branch.
pub const PUSH_ATTEMPTS: u32 = 8;

/// What a pass did.
#[derive(Debug, Clone)]
pub struct PassReport {
    /// The plan it executed.
    pub plan: Plan,
    /// Per commit environment with moves: what the push did.
    pub commits: Vec<(String, Outcome)>,
    /// Promotion pull requests opened, updated or closed.
    pub prs: Vec<PrAction>,
    /// What the pass saw and planned, per app × environment.
    pub board: Board,
    /// Automatic reverts it committed.
    pub reverts: Vec<Reverted>,
}

/// A pass that failed; the next one starts over.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The repository could not be synced or pushed.
    #[error("git: {0}")]
    Git(#[from] GitError),
    /// A promotion pull request could not be proposed.
    #[error("promotion: {0}")]
    Promotion(String),
    /// The pass failed after it had pushed commits: what it did before
    /// failing, so the commits are still counted and announced.
    #[error("{error}")]
    Partial {
        /// Why it failed.
        error: Box<PassError>,
        /// The plan, the commits pushed before the failure, the board.
        done: Box<PassReport>,
    },
}

impl PassError {
    /// What the pass did before it failed, if it pushed anything.
    pub fn done(&self) -> Option<&PassReport> {
        match self {
            PassError::Partial { done, .. } => Some(done),
            _ => None,
        }
    }
}

/// `error`, carrying `commits` and `reverts` (and the plan and board)
/// when any was pushed.
fn failed(
    error: PassError,
    plan: &Plan,
    commits: Vec<(String, Outcome)>,
    reverts: Vec<Reverted>,
    board: Board,
) -> PassError {
    let pushed = commits
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Pushed { .. }));
    if !pushed && reverts.is_empty() {
        return error;
    }
    PassError::Partial {
        error: Box::new(error),
        done: Box::new(PassReport {
            plan: plan.clone(),
            commits,
            prs: Vec::new(),
            board,
            reverts,
        }),
    }
}

/// Snapshot from the checkout as it is (no sync, no writes).
pub async fn snapshot<S: ImageSource>(
    config: &Config,
    ws: &Workspace,
    source: &S,
    gates: &Gates,
    io: &PromotionIo<'_>,
) -> Snapshot {
    let now = OffsetDateTime::now_utc();
    let mut snap = observe::take(config, ws.root(), source, gates).await;
    promote::observe(config, &mut snap, ws, io, now).await;
    gating::gate_promotions(config, &mut snap, source, gates).await;
    // The watch judges at the snapshot's time, as the plan does: `now` is
    // older by the registry reads, and a revert the plan found due at
    // `taken_at` would find its image before unchecked and wait a pass.
    let taken_at = snap.taken_at;
    watch::observe::observe(config, &mut snap, ws, io, source, gates, taken_at).await;
    snap
}

/// Snapshot and plan for the commit side only, from a checkout root.
pub async fn plan_only<S: ImageSource>(
    config: &Config,
    root: &Path,
    source: &S,
    gates: &Gates,
) -> Plan {
    plan(&observe::take(config, root, source, gates).await)
}

/// Runs one pass.
pub async fn run_pass<S: ImageSource>(
    config: &Config,
    ws: &mut Workspace,
    source: &S,
    gates: &Gates,
    io: &PromotionIo<'_>,
    author: &Author,
) -> Result<PassReport, PassError> {
    ws.sync()?;
    let snap = snapshot(config, ws, source, gates, io).await;
    let plan = plan(&snap);
    let envs: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
    let mut board = Board::new(&snap, &plan, &envs);
    // Reverts first: a failing image goes back before anything else moves.
    let due: Vec<_> = plan
        .watch
        .iter()
        .filter_map(|w| w.revert.as_ref())
        .collect();
    let reverts = if due.is_empty() {
        Vec::new()
    } else {
        watch::execute::revert_all(config, &due, ws, author, io.forge, io.watch, snap.taken_at)
            .await
    };
    // What the reverted overlays hold now, for the board.
    for r in &reverts {
        if let Some(app) = config.apps.iter().find(|a| a.name == r.app)
            && let Some(dir) = app.overlays.get(&r.env)
            && let Some(entry) = plan
                .entries
                .iter()
                .find(|e| e.app == r.app && e.env == r.env)
        {
            board.settle(&r.env, entry, read_overlay(ws.root(), dir, &app.image));
        }
    }
    let mut commits = Vec::new();
    for env in config
        .environments
        .iter()
        .filter(|e| e.mode == Mode::Commit)
    {
        let moves: Vec<_> = plan
            .moves_in(&env.name)
            .filter(|e| e.action == Action::Commit)
            .collect();
        if moves.is_empty() {
            continue;
        }
        let outcome = match ws.apply(author, PUSH_ATTEMPTS, |root| {
            apply_moves(root, config, &env.name, &moves)
        }) {
            Ok(o) => o,
            Err(e) => return Err(failed(e.into(), &plan, commits, reverts, board)),
        };
        // What the overlays hold now, read back: the commit may have left
        // a move out, or another writer made it.
        for m in &moves {
            if let Some(app) = config.apps.iter().find(|a| a.name == m.app)
                && let Some(dir) = app.overlays.get(&env.name)
            {
                let now = read_overlay(ws.root(), dir, &app.image);
                if env.auto_revert.is_some() {
                    record_made(io.watch, &outcome, m, &now);
                }
                board.settle(&env.name, m, now);
            }
        }
        commits.push((env.name.clone(), outcome));
    }
    let prs = match promote::execute(config, &snap, &plan, ws, author, io.forge).await {
        Ok(prs) => prs,
        Err(e) => {
            return Err(failed(
                PassError::Promotion(e),
                &plan,
                commits,
                reverts,
                board,
            ));
        }
    };
    for pr in &prs {
        board.pull_request(pr);
    }
    note_opened(config, &plan, &prs, io.watch);
    if !io.read_only
        && let Err(e) = io.watch.save()
    {
        tracing::warn!(error = %e, "cannot save the watch book");
    }
    Ok(PassReport {
        plan,
        commits,
        prs,
        board,
        reverts,
    })
}

/// Notes each promotion PR this pass opened or updated in an environment
/// with `auto_revert`, with the images its branch carries (the plan's PR
/// step), so that its merge is recognised even before a pass sees it open.
fn note_opened(config: &Config, plan: &Plan, prs: &[PrAction], book: &watch::WatchBook) {
    for pr in prs.iter().filter(|p| p.what != "closed") {
        let watched = config
            .environments
            .iter()
            .any(|e| e.name == pr.env && e.auto_revert.is_some());
        if !watched {
            continue;
        }
        // What the branch carries: the step's entries (moves and the apps
        // a grouped PR keeps), not only this pass's moves.
        let Some(step) = plan.pull_requests.iter().find(|s| {
            s.env == pr.env && s.apps == pr.apps && s.op != crate::promotion::plan::PrOp::Close
        }) else {
            continue;
        };
        let carried = step
            .carries
            .iter()
            .filter_map(|m| {
                let to = m.to.as_ref()?;
                Some((m.app.clone(), to.tag.clone(), to.digest.clone()?))
            })
            .collect();
        book.opened(watch::book::SeenPr {
            number: pr.number,
            url: pr.url.clone(),
            env: pr.env.clone(),
            carried,
        });
    }
}

/// Records a move ferry pushed as a deployment to watch, when the overlay
/// runs it after the push (a move the commit left out is not ferry's).
fn record_made(
    book: &watch::WatchBook,
    outcome: &Outcome,
    m: &crate::promotion::Entry,
    now: &Result<
        (
            Option<crate::promotion::Running>,
            Option<crate::kustomize::Pin>,
        ),
        String,
    >,
) {
    let (Outcome::Pushed { commit, .. }, Some(to)) = (outcome, &m.to) else {
        return;
    };
    let Ok((Some(runs), _)) = now else { return };
    if runs.tag != to.tag || runs.digest != to.digest {
        return;
    }
    book.record(watch::Deployment {
        app: m.app.clone(),
        env: m.env.clone(),
        commit: commit.to_string(),
        tag: to.tag.clone(),
        digest: to.digest.clone(),
        landed_at: OffsetDateTime::now_utc(),
        via: watch::Via::Commit,
        failing: None,
        reverted_by: None,
    });
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn board() -> Board {
        Board {
            taken_at: datetime!(2026-12-02 00:00 UTC),
            envs: vec!["dev".into()],
            rows: Vec::new(),
        }
    }

    /// A pass that fails after pushing keeps what it pushed, so the commit
    /// is still counted and announced; one that pushed nothing is a plain
    /// failure.
    #[test]
    fn a_failure_after_a_push_carries_the_commits() {
        let plan = Plan {
            entries: Vec::new(),
            pull_requests: Vec::new(),
            watch: Vec::new(),
        };
        let pushed = vec![(
            "dev".to_string(),
            Outcome::Pushed {
                commit: git2::Oid::zero(),
                attempts: 1,
            },
        )];
        let e = failed(
            PassError::Promotion("GitHub: 502".into()),
            &plan,
            pushed,
            Vec::new(),
            board(),
        );
        assert_eq!(e.to_string(), "promotion: GitHub: 502");
        let done = e.done().expect("the commits it pushed");
        assert_eq!(done.commits.len(), 1);
        assert!(done.prs.is_empty());
        let nothing = vec![("dev".to_string(), Outcome::NothingToDo)];
        let e = failed(
            PassError::Promotion("GitHub: 502".into()),
            &plan,
            nothing.clone(),
            Vec::new(),
            board(),
        );
        assert!(e.done().is_none());
        assert!(matches!(e, PassError::Promotion(_)));
        // An automatic revert pushed before the failure is kept, to be
        // counted and announced, even without another commit.
        let revert = Reverted {
            app: "api".into(),
            env: "staging".into(),
            commit: "b".repeat(40),
            reverts: "a".repeat(40),
            from: crate::promotion::plan::ImageRef {
                tag: Some("v2".into()),
                digest: None,
            },
            to: crate::promotion::plan::ImageRef {
                tag: Some("v1".into()),
                digest: None,
            },
            check: "smoke".into(),
            seen: "500".into(),
            pull_request: None,
        };
        let e = failed(
            PassError::Promotion("GitHub: 502".into()),
            &plan,
            nothing,
            vec![revert],
            board(),
        );
        assert_eq!(e.done().map(|d| d.reverts.len()), Some(1));
    }
}
