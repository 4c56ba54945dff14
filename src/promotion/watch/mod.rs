//! Automatic revert: after a new image lands in an environment with
//! `auto_revert`, watch it; if its health fails without a break for
//! `after`, within `within` of the landing, commit the environment back to
//! the image it ran before and pin it there.
//!
//! - [`book`]: what ferry made or saw land, and each deployment's failure
//!   clock, kept in a file beside the checkout (`<checkout>.watch.json`).
//! - [`live`]: pure; what one look at Argo CD and the smoke checks says
//!   about an environment now — healthy, settling, failing (which check,
//!   what was seen), or unknown (a check that could not be asked).
//! - [`observe`]: fills [`Watched`] into the snapshot: the deployment the
//!   overlay's history shows, whether ferry made it or saw it land, the
//!   failure clock, and the image before it with the gates' word on it.
//! - [`plan`]: pure; per watched environment `watching` (time left) or
//!   `reverting` (the failing check), and the reverts that are due.
//! - [`execute`]: the revert commit (a compare-and-swap on the overlay),
//!   the comment on the promotion PR.
//!
//! The rules: only a deployment ferry made (its own push) or saw land (the
//! merge of a promotion PR it proposed, as the forge records it) is watched
//! — never a hand edit, a ChatOps command or a revert; a failure counts
//! only while the watch lasts; a check that cannot be asked is not a
//! failure, and it breaks the failure clock; a pinned environment is never
//! reverted (the revert pins, so a revert is never reverted); and the
//! revert commit applies only while the overlay still runs the deployment
//! it reverts, so two replicas revert once.

pub mod book;
pub mod execute;
pub mod live;
pub mod observe;
pub mod plan;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use book::{Deployment, WatchBook};
pub use live::Live;
pub use plan::{RevertStep, WatchEntry, WatchState, next_look, plan_watch};

/// How ferry knows a deployment is one it may revert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Via {
    /// ferry pushed the commit itself (a dev commit, a commit-mode
    /// promotion).
    Commit,
    /// The forge recorded ferry's promotion PR merged as this commit.
    Merge {
        /// The PR's number.
        number: u64,
        /// Its web page.
        url: String,
    },
}

/// An image to go back to: what the environment ran before the
/// deployment, and whether the gates let ferry set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackTo {
    /// Its tag, if the overlay set one.
    pub tag: Option<String>,
    /// Its digest.
    pub digest: String,
    /// The commit that last set it.
    pub commit: String,
    /// `Ok(signature key)` when the registry lists the digest and its
    /// signature passes (as for `/ferry revert`, scan findings do not block
    /// a rollback); otherwise why not. `None` until a revert is due: the
    /// gates are asked only then.
    pub checked: Option<Result<Option<String>, String>>,
}

/// The failure clock of a deployment: since when its health has failed
/// without a break, and the last failure seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failing {
    /// The first look of the unbroken run of failures.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// `argocd`, `smoke` or `analysis`.
    pub check: String,
    /// What the last look saw.
    pub seen: String,
    /// The last look that saw it failing.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
}

/// What the snapshot holds for one watched app in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// The commit that brought the image (ferry's push, or the merge).
    pub commit: String,
    /// The digest it brought.
    pub digest: Option<String>,
    /// How ferry knows it.
    pub via: Via,
    /// When it landed.
    pub landed_at: OffsetDateTime,
    /// `auto_revert.within`.
    pub within: std::time::Duration,
    /// `auto_revert.after`.
    pub after: std::time::Duration,
    /// What this look saw.
    pub live: Live,
    /// The failure clock after this look.
    pub failing: Option<Failing>,
    /// The image before, or why there is none to go back to.
    pub back_to: Result<BackTo, String>,
    /// The environment is pinned: never reverted.
    pub pinned: bool,
    /// Reverted already, by this commit (kept for the rest of the watch so
    /// the plan says so).
    pub reverted_by: Option<String>,
}
