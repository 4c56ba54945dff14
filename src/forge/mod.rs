//! The forge: where promotion pull requests live. A small trait, [`Forge`],
//! with two adapters: [`github::GitHubForge`] (GitHub or GitHub Enterprise
//! through octocrab, a personal token or a GitHub App installation token)
//! and [`local::LocalForge`] (pull requests recorded in a JSON file, for the
//! demo and tests). [`AnyForge`] is the one the config selects.
//!
//! The forge only records pull requests; branches are pushed by the gitops
//! module, and a merge is what reviewers do on the forge (or
//! [`local::LocalForge::merge`] plus a git merge, in the demo). ferry keeps
//! no state of its own about them: every pass asks the forge again.

pub mod github;
pub mod local;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    /// Open, waiting for review.
    Open,
    /// Closed without being merged.
    Closed,
    /// Merged (closed, with a merge time).
    Merged,
}

/// Which pull requests [`Forge::list`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    /// Only open ones.
    Open,
    /// Closed ones, merged included.
    Closed,
    /// All of them.
    All,
}

impl StateFilter {
    /// Whether a pull request in `state` passes this filter.
    pub fn admits(self, state: PrState) -> bool {
        match self {
            StateFilter::Open => state == PrState::Open,
            StateFilter::Closed => state != PrState::Open,
            StateFilter::All => true,
        }
    }
}

/// A pull request as ferry sees it, the same for every adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// The number on the forge.
    pub number: u64,
    /// Open, closed or merged.
    pub state: PrState,
    /// When it was merged (set exactly when `state` is `Merged`).
    pub merged_at: Option<OffsetDateTime>,
    /// The branch it merges from.
    pub head: String,
    /// The branch it merges into.
    pub base: String,
    /// Title.
    pub title: String,
    /// Body (markdown); empty when the forge has none.
    pub body: String,
    /// Where a person reads it (the web page on GitHub).
    pub url: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Reviewers still requested: logins, and `team:slug` for teams. GitHub
    /// drops a reviewer from this list once they have reviewed.
    pub reviewers: Vec<String>,
    /// The login that opened it (GitHub's `user.login`). ferry acts only on
    /// pull requests opened by its own [`Forge::identity`]: anyone with
    /// push access can open one from a `ferry/` branch.
    pub author: String,
    /// Who closed or merged it, when the forge says. Only
    /// [`Forge::last_closed`] asks GitHub for it (one more request); every
    /// other call leaves it `None`. With it, a pull request ferry closed
    /// itself is told apart from one a reviewer rejected.
    pub closed_by: Option<String>,
    /// The commit its head branch pointed at when the forge answered: the
    /// tip while it is open, the last one once it is closed. `None` where the
    /// forge does not track git (the local forge).
    pub head_sha: Option<String>,
    /// For a merged pull request, the commit its merge made on the base
    /// branch (GitHub's `merge_commit_sha`: the merge, squash or last
    /// rebased commit), when the forge says. The forge's record of which
    /// commit landed it, so a deployment can be told to be this merge.
    pub merge_commit: Option<String>,
}

impl PullRequest {
    /// Whether `login` opened this pull request (logins compare as GitHub
    /// compares them, ignoring ASCII case).
    pub fn opened_by(&self, login: &str) -> bool {
        same_login(&self.author, login)
    }
}

/// Whether two logins name the same account: GitHub logins are ASCII and
/// case-insensitive (`Ferry-Bot` is `ferry-bot`).
pub fn same_login(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// What [`Forge::open`] opens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrSpec {
    /// The branch to merge from (already pushed).
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    /// Title.
    pub title: String,
    /// Body (markdown).
    pub body: String,
    /// Labels to add.
    pub labels: Vec<String>,
    /// Reviewers to request: a login, or `team:slug` for a team.
    pub reviewers: Vec<String>,
    /// Open as a draft.
    pub draft: bool,
}

/// Splits reviewers as written in config into (users, team slugs).
pub fn split_reviewers(reviewers: &[String]) -> (Vec<String>, Vec<String>) {
    let mut users = Vec::new();
    let mut teams = Vec::new();
    for r in reviewers {
        match r.strip_prefix("team:") {
            Some(slug) => teams.push(slug.to_string()),
            None => users.push(r.clone()),
        }
    }
    (users, teams)
}

/// A reaction ferry puts on a comment: `eyes` when it starts on a command,
/// `+1` or `confused` when it is done. GitHub's names, which the local
/// forge stores as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Seen, working on it.
    Eyes,
    /// Done.
    PlusOne,
    /// Refused or failed.
    Confused,
}

impl Reaction {
    /// The reaction's `content` as GitHub names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::PlusOne => "+1",
            Reaction::Confused => "confused",
        }
    }
}

/// The forge could not do what was asked. Callers treat every error as
/// "try again next pass"; none of them carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// No pull request with this number.
    #[error("pull request #{0} not found")]
    NotFound(u64),
    /// The pull request is merged, so it cannot be closed or merged again.
    #[error("pull request #{0} is already merged")]
    AlreadyMerged(u64),
    /// The pull request is closed, so it cannot be merged.
    #[error("pull request #{0} is closed")]
    NotOpen(u64),
    /// The forge's rate limit is spent and resets later than ferry is
    /// willing to wait. Nothing was retried past that point.
    #[error("rate limited by the forge; the limit resets in {}s", .retry_in.as_secs())]
    RateLimited {
        /// How long until the forge accepts requests again.
        retry_in: Duration,
        /// When the limit resets, if the forge said so.
        reset_at: Option<OffsetDateTime>,
    },
    /// Credentials are missing, wrong or lack a permission.
    #[error("forge authentication: {0}")]
    Auth(String),
    /// The forge refused the request.
    #[error("forge answered {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The forge's message.
        message: String,
    },
    /// The forge's answer could not be read.
    #[error("malformed answer from the forge: {0}")]
    Decode(String),
    /// The forge could not be reached.
    #[error("forge unreachable: {0}")]
    Transport(String),
    /// `forge:` in config is incomplete or inconsistent.
    #[error("forge config: {0}")]
    Config(String),
    /// A pull request is already open from this branch into this base, but
    /// someone other than ferry opened it. ferry does not adopt it (its
    /// contents are not ferry's to vouch for); the caller holds with this
    /// reason until a person closes it or moves it to another branch.
    #[error(
        "pull request #{number} from this branch was opened by {author}, not by ferry; not adopting it"
    )]
    ForeignPr {
        /// The pull request that is in the way.
        number: u64,
        /// Who opened it.
        author: String,
    },
    /// The local forge's state file could not be read or written.
    #[error("local forge {path}: {message}")]
    Local {
        /// The state file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// What promotion needs from a forge. Implemented by the GitHub adapter and
/// the local (file) adapter; promotion runs the same code on both.
pub trait Forge: Sync {
    /// The login ferry acts as on this forge: what [`PullRequest::author`]
    /// and [`PullRequest::closed_by`] say for what ferry did itself. Learnt
    /// once: when the adapter is built, or, when GitHub could not be asked
    /// then (a token during a rate limit), before the first call that
    /// returns a pull request. Empty until then, so it matches no author.
    fn identity(&self) -> &str;
    /// The open pull request from branch `head`, if any. With several (which
    /// ferry never opens itself), the oldest.
    fn find_open(
        &self,
        head: &str,
    ) -> impl Future<Output = Result<Option<PullRequest>, ForgeError>> + Send;
    /// The newest pull request from branch `head` that is closed or merged,
    /// if any: what became of the last proposal on that branch, with
    /// [`PullRequest::closed_by`] filled in when the forge knows it.
    fn last_closed(
        &self,
        head: &str,
    ) -> impl Future<Output = Result<Option<PullRequest>, ForgeError>> + Send;
    /// Opens a pull request, adds its labels and requests its reviewers. If
    /// one is already open from `spec.head` into `spec.base` and ferry's
    /// [`identity`](Forge::identity) opened it (another ferry process won
    /// the race), that one is returned with the labels and reviewers applied
    /// and its title and body left alone. If someone else opened it, nothing
    /// is changed and the answer is [`ForgeError::ForeignPr`].
    fn open(&self, spec: &PrSpec) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;
    /// Rewrites the title and body.
    fn update(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;
    /// Comments (the reason), then closes. Closing a closed pull request
    /// does nothing; closing a merged one is [`ForgeError::AlreadyMerged`].
    fn close(
        &self,
        number: u64,
        comment: &str,
    ) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;
    /// Adds a comment to pull request or issue `number` (they share the
    /// numbering, and GitHub comments on both the same way).
    fn comment(
        &self,
        number: u64,
        body: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
    /// Puts `reaction` on the issue or pull-request comment `comment_id`.
    /// Reacting twice the same way is no error and leaves one reaction.
    /// The reactions on one issue or PR comment: (login, content), content
    /// as GitHub names it (`eyes`, `+1`, `confused`, …). ferry's own final
    /// reaction marks a comment as handled, in a way every replica and a
    /// restarted process can read.
    fn reactions(
        &self,
        comment_id: u64,
    ) -> impl Future<Output = Result<Vec<(String, String)>, ForgeError>> + Send;
    /// Adds a reaction to an issue or PR comment.
    fn react(
        &self,
        comment_id: u64,
        reaction: Reaction,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
    /// One pull request, in whatever state.
    fn get(&self, number: u64) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;
    /// The repository role of `login`, as GitHub names it in `role_name`
    /// (`read`, `triage`, `write`, `maintain`, `admin`, or a custom role);
    /// `none` when the account has no access. An error when the forge
    /// cannot be asked: the caller refuses then (fail closed).
    fn permission(&self, login: &str) -> impl Future<Output = Result<String, ForgeError>> + Send;
    /// Pull requests in `state` whose head branch starts with `head_prefix`
    /// (e.g. `ferry/`), by ascending number.
    fn list(
        &self,
        state: StateFilter,
        head_prefix: &str,
    ) -> impl Future<Output = Result<Vec<PullRequest>, ForgeError>> + Send;
}

/// The adapter the config selects.
#[derive(Debug)]
pub enum AnyForge {
    /// GitHub or GitHub Enterprise.
    GitHub(Box<github::GitHubForge>),
    /// The local JSON file.
    Local(local::LocalForge),
}

impl AnyForge {
    /// Builds the adapter for `forge:`; relative paths are resolved against
    /// `base` (the config file's directory). For GitHub this reads the token
    /// or private key and, for an App, looks up its installation.
    pub async fn from_config(cfg: &crate::config::Forge, base: &Path) -> Result<Self, ForgeError> {
        use crate::config::ForgeKind;
        match cfg.kind {
            ForgeKind::Local => {
                let path = cfg.path.as_ref().ok_or_else(|| {
                    ForgeError::Config("forge.path is required for kind local".into())
                })?;
                let forge = local::LocalForge::new(base.join(path));
                match &cfg.login {
                    None => Ok(AnyForge::Local(forge)),
                    Some(login) if valid_login(login) => {
                        Ok(AnyForge::Local(forge.with_login(login.clone())))
                    }
                    Some(login) => Err(ForgeError::Config(format!(
                        "forge.login {login:?} is not a login (letters, digits, '-', '_', '.', \
                         optionally ending in [bot])"
                    ))),
                }
            }
            ForgeKind::Github => {
                if cfg.login.is_some() {
                    return Err(ForgeError::Config(
                        "forge.login is for kind local; GitHub says which login the token or App is"
                            .into(),
                    ));
                }
                let settings = github::GitHubSettings::from_config(cfg, base)?;
                Ok(AnyForge::GitHub(Box::new(
                    github::GitHubForge::connect(settings).await?,
                )))
            }
        }
    }
}

impl Forge for AnyForge {
    fn identity(&self) -> &str {
        match self {
            AnyForge::GitHub(f) => f.identity(),
            AnyForge::Local(f) => f.identity(),
        }
    }
    async fn find_open(&self, head: &str) -> Result<Option<PullRequest>, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.find_open(head).await,
            AnyForge::Local(f) => f.find_open(head).await,
        }
    }
    async fn last_closed(&self, head: &str) -> Result<Option<PullRequest>, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.last_closed(head).await,
            AnyForge::Local(f) => f.last_closed(head).await,
        }
    }
    async fn open(&self, spec: &PrSpec) -> Result<PullRequest, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.open(spec).await,
            AnyForge::Local(f) => f.open(spec).await,
        }
    }
    async fn update(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.update(number, title, body).await,
            AnyForge::Local(f) => f.update(number, title, body).await,
        }
    }
    async fn close(&self, number: u64, comment: &str) -> Result<PullRequest, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.close(number, comment).await,
            AnyForge::Local(f) => f.close(number, comment).await,
        }
    }
    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.comment(number, body).await,
            AnyForge::Local(f) => f.comment(number, body).await,
        }
    }
    async fn react(&self, comment_id: u64, reaction: Reaction) -> Result<(), ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.react(comment_id, reaction).await,
            AnyForge::Local(f) => f.react(comment_id, reaction).await,
        }
    }
    async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.get(number).await,
            AnyForge::Local(f) => f.get(number).await,
        }
    }
    async fn reactions(&self, comment_id: u64) -> Result<Vec<(String, String)>, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.reactions(comment_id).await,
            AnyForge::Local(f) => f.reactions(comment_id).await,
        }
    }
    async fn permission(&self, login: &str) -> Result<String, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.permission(login).await,
            AnyForge::Local(f) => f.permission(login).await,
        }
    }
    async fn list(
        &self,
        state: StateFilter,
        head_prefix: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        match self {
            AnyForge::GitHub(f) => f.list(state, head_prefix).await,
            AnyForge::Local(f) => f.list(state, head_prefix).await,
        }
    }
}

/// A login as GitHub allows it (ASCII letters, digits, `-`, `_`, `.`),
/// optionally with GitHub's `[bot]` suffix for Apps. It goes into comments
/// and logs, so nothing else is accepted.
pub fn valid_login(login: &str) -> bool {
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviewers_split_into_users_and_teams() {
        let (users, teams) = split_reviewers(&[
            "alice".to_string(),
            "team:platform".to_string(),
            "bob".to_string(),
        ]);
        assert_eq!(users, ["alice", "bob"]);
        assert_eq!(teams, ["platform"]);
    }

    #[test]
    fn logins_compare_like_github_and_odd_ones_are_refused() {
        assert!(same_login("Ferry-Bot", "ferry-bot"));
        assert!(!same_login("ferry-bot", "ferry-bot2"));
        assert!(valid_login("ferry"));
        assert!(valid_login("ferry-app[bot]"));
        for bad in ["", "[bot]", "a b", "ferry\n", "ferry[bot]x", "é"] {
            assert!(!valid_login(bad), "{bad:?}");
        }
    }

    #[test]
    fn reactions_carry_githubs_names() {
        assert_eq!(Reaction::Eyes.as_str(), "eyes");
        assert_eq!(Reaction::PlusOne.as_str(), "+1");
        assert_eq!(Reaction::Confused.as_str(), "confused");
    }

    #[test]
    fn closed_filter_includes_merged() {
        assert!(StateFilter::Closed.admits(PrState::Merged));
        assert!(StateFilter::Closed.admits(PrState::Closed));
        assert!(!StateFilter::Closed.admits(PrState::Open));
        assert!(!StateFilter::Open.admits(PrState::Merged));
        assert!(StateFilter::All.admits(PrState::Open));
    }
}
