//! The snapshot a pass plans from: everything read from the registry, the
//! gates and the GitOps repository at one moment. Plain data, so planning
//! is a pure function and tests build snapshots by hand.

use std::path::PathBuf;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::config::{Group, Mode};
use crate::gates::Verdict;
pub use crate::health::AnalysisResult;
use crate::kustomize::Pin;
use crate::registry::policy::{Candidate, ImageRecord};

/// What an overlay runs for one app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Running {
    /// `newTag`, if set.
    pub tag: Option<String>,
    /// `digest`, if set.
    pub digest: Option<String>,
}

/// A candidate image with the gates' verdict on it.
#[derive(Debug, Clone)]
pub struct Judged {
    /// Tag, digest and push time.
    pub candidate: Candidate,
    /// `None` when it was not checked (older than what runs, or after the
    /// first candidate that passed).
    pub verdict: Option<Verdict>,
}

/// One app in one environment.
#[derive(Debug, Clone)]
pub struct EnvState {
    /// Environment name.
    pub env: String,
    /// How it receives changes.
    pub mode: Mode,
    /// The environment it follows (`after`), if any.
    pub after: Option<String>,
    /// One promotion PR per app, or one for the environment.
    pub group: Group,
    /// What its overlay runs, or why it could not be read.
    pub running: Result<Option<Running>, String>,
    /// A pin on the app's image in this overlay.
    pub pin: Option<Pin>,
    /// The overlay's kustomization file, relative to the repository root
    /// (`None` when it could not be read).
    pub file: Option<PathBuf>,
    /// The `newName` the overlay gives the app's image, if any.
    pub new_name: Option<String>,
    /// Whether this environment has proven what it runs (health, smoke,
    /// soak); `None` when nothing was asked.
    pub proof: Option<Proof>,
    /// The open promotion pull request for this app and environment.
    pub open_pr: Option<OpenPr>,
    /// The last promotion PR a person closed without merging, when it
    /// proposed the image upstream proves now: a rejection ferry honours.
    pub rejected: Option<OpenPr>,
    /// Whether a promotion PR may be opened now, or when it may next.
    pub window: Window,
    /// For an environment fed by `after`: the image it would receive,
    /// resolved against the registry and judged by the gates. `None` when
    /// nothing was checked (the planner then holds).
    pub incoming: Option<Incoming>,
    /// An open PR on this app's promotion branch that ferry did not open
    /// (a collaborator's): never adopted, and nothing is proposed over it.
    pub foreign_pr: Option<OpenPr>,
    /// What this pass's look at Argo CD and the smoke checks says about the
    /// image it runs, for the automatic revert (environments that another
    /// follows or that have `auto_revert`).
    pub live: Option<crate::promotion::watch::Live>,
    /// The watch of the deployment that runs, in an environment with
    /// `auto_revert`, when ferry made it or saw it land recently.
    pub watch: Option<crate::promotion::watch::Watched>,
    /// The analyses evaluated for what it runs in this pass, in config
    /// order; empty when none were (none configured, Argo CD not showing
    /// the image live, or the environment not observed). See
    /// [`AnalysisResult::past_limit`] for one that failed past its limit.
    pub analysis: Vec<AnalysisResult>,
}

/// The image an environment fed by `after` would receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// What upstream runs, resolved to a tag and a digest the registry
    /// lists, with the gates' verdict on that digest.
    Image {
        /// The tag it is promoted under.
        tag: String,
        /// The digest it is promoted by.
        digest: String,
        /// The gates' verdict on the digest.
        verdict: Verdict,
    },
    /// It cannot be promoted: `not_in_registry`, `registry_unavailable`,
    /// `awaiting_upstream` or `overlay_invalid`, with what a person reads.
    Refused {
        /// The plan code.
        code: &'static str,
        /// Why.
        message: String,
    },
}

/// What the gates say about an image a PR carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gated {
    /// The registry lists it; the verdict.
    Checked(Verdict),
    /// The registry does not list it (deleted, or never pushed).
    NotInRegistry,
    /// The registry could not be asked.
    Unavailable(String),
}

/// What an environment has proven about the image it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Every check holds and the soak time has passed.
    Proven {
        /// A line of evidence for PR bodies (revision, health, smoke,
        /// analysis values, soak).
        evidence: String,
    },
    /// A check does not hold: `health` (Argo CD), `smoke`, `analysis`
    /// (Prometheus), or `soak` with the time left.
    NotYet {
        /// `health`, `smoke`, `analysis` or `soak`.
        code: &'static str,
        /// What a person reads.
        message: String,
    },
}

/// A promotion pull request (open, or closed when it was rejected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPr {
    /// Its number.
    pub number: u64,
    /// Its web URL.
    pub url: String,
    /// The digest it promotes, read from the commit on its branch.
    pub digest: Option<String>,
    /// The tag it promotes, read from the same commit.
    pub tag: Option<String>,
    /// Whether its branch head is a commit ferry would have produced; a
    /// PR whose branch holds anything else is replaced.
    pub intact: bool,
    /// Upstream did not run `digest` when the PR was proposed: a person
    /// asked for it (see [`Proposal::asked`]).
    pub asked: bool,
    /// The gates' verdict on `digest`, when it was asked.
    pub gate: Option<Gated>,
}

pub use crate::schedule::Window;

/// One app: its candidates and its state per environment.
#[derive(Debug, Clone)]
pub struct AppState {
    /// App name.
    pub app: String,
    /// `images[].name` in the overlays.
    pub image: String,
    /// Candidates, newest first by the app's tag policy, with verdicts
    /// where they were checked; `Err` when the registry could not list.
    pub candidates: Result<Vec<Judged>, String>,
    /// Everything the registry lists for the app's repository (empty when
    /// it could not list), to resolve what upstream environments run.
    pub records: Arc<Vec<ImageRecord>>,
    /// Environments the app has an overlay in, in config order.
    pub envs: Vec<EnvState>,
}

/// A promotion pull request ferry opened, open on the forge (head branch
/// under `ferry/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Its head branch.
    pub head: String,
    /// Its number.
    pub number: u64,
    /// Its web URL.
    pub url: String,
    /// Every image it promotes, read from the commit on its branch (never
    /// from its title or body, which collaborators can edit).
    pub carried: Vec<Carried>,
    /// `None` when the branch head is a commit ferry would have produced;
    /// otherwise why not (a collaborator pushed to it, it was rebased, it
    /// holds other changes). Such a branch is replaced or closed.
    pub tampered: Option<String>,
    /// True when the config no longer produces this branch (its app was
    /// removed, or the environment's grouping changed).
    pub stray: bool,
    /// Its title.
    pub title: String,
    /// Its body.
    pub body: String,
    /// Apps whose carried image the upstream environment did not run at the
    /// commit the branch was proposed on. ferry proposes by itself only
    /// what upstream runs, so such an image was asked for (`/ferry
    /// promote`). Read from git, like `carried`.
    pub asked: Vec<String>,
}

/// One image a promotion branch sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The app.
    pub app: String,
    /// The tag it sets, if any.
    pub tag: Option<String>,
    /// The digest it sets.
    pub digest: String,
}

/// Everything one pass plans from.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was taken.
    pub taken_at: OffsetDateTime,
    /// Apps in config order.
    pub apps: Vec<AppState>,
    /// Every open promotion pull request, by ascending number.
    pub proposals: Vec<Proposal>,
    /// Why the forge could not be asked for them, if it could not: no
    /// pull request is opened blind.
    pub forge_error: Option<String>,
}

impl Snapshot {
    /// The open promotion PR from branch `head`.
    pub fn proposal(&self, head: &str) -> Option<&Proposal> {
        self.proposals.iter().find(|p| p.head == head)
    }
}
