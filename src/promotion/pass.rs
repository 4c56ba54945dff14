//! One reconciliation pass: sync the checkout, take a snapshot, plan, and
//! commit each environment's moves (one commit per environment). Every
//! step re-reads its inputs, so a pass can run at any time, any number of
//! times, in any number of processes, and converges.

use std::path::Path;

use super::execute::apply_moves;
use super::observe;
use super::plan::{Action, Plan, plan};
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
    /// Per environment with moves: what the push did.
    pub commits: Vec<(String, Outcome)>,
}

/// A pass that failed; the next one starts over.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The repository could not be synced or pushed.
    #[error("git: {0}")]
    Git(#[from] GitError),
}

/// Snapshot and plan from the checkout as it is (no sync, no writes).
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
    author: &Author,
) -> Result<PassReport, PassError> {
    ws.sync()?;
    let plan = plan_only(config, ws.root(), source, gates).await;
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
        let outcome = ws.apply(author, PUSH_ATTEMPTS, |root| {
            apply_moves(root, config, &env.name, &moves)
        })?;
        commits.push((env.name.clone(), outcome));
    }
    Ok(PassReport { plan, commits })
}
