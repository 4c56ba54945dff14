//! The GitHub adapter: GitHub.com or GitHub Enterprise Server through
//! octocrab, authenticated with a personal token or as a GitHub App
//! installation (a JWT signed with the App's private key buys an
//! installation token scoped to the GitOps repository; octocrab renews it).
//!
//! Requests go through octocrab's raw HTTP methods so that every response's
//! rate-limit headers (`x-ratelimit-remaining`, `x-ratelimit-reset`,
//! `retry-after`) are seen, on success and on failure; bodies are decoded
//! into octocrab's models. When the budget is spent ferry waits for the
//! reset if that is within [`GitHubSettings::max_rate_limit_wait`], and
//! otherwise fails at once with [`ForgeError::RateLimited`], without
//! sending anything until the reset: a bot that keeps asking only extends
//! its ban. octocrab's own retries are switched off for the same reason.
//! Reset times and `retry-after` are taken at most [`MAX_RESET_WAIT`]
//! ahead, so absurd values neither overflow nor stall ferry.
//!
//! Every body ferry reads is capped at [`MAX_BODY`] and read chunk by
//! chunk. One is read by octocrab itself: the installation-token answer
//! of the API client (octocrab renews that token internally), which is a
//! small JSON object from GitHub's token endpoint.
//!
//! With an App, [`git_credentials`] gives git the same kind of token, so
//! git over https needs no second credential.

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use http_body_util::BodyExt as _;

use octocrab::Octocrab;
use octocrab::models::pulls::PullRequest as GhPull;
use octocrab::models::{AppId, InstallationId, IssueState};
use octocrab::secrecy::SecretString;
use octocrab::service::middleware::retry::RetryConfig;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{
    Forge, ForgeError, PrSpec, PrState, PullRequest, Reaction, StateFilter, split_reviewers,
};

/// GitHub.com's API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Pages of 100 that [`Forge::list`] reads at most (newest first).
const MAX_LIST_PAGES: u32 = 10;
/// Attempts per request when the answer is a server error or the network
/// failed (idempotent requests only) or when a rate limit was waited out.
const MAX_ATTEMPTS: u32 = 3;
/// GitHub asks to wait at least a minute after a secondary rate limit
/// that came without a `retry-after`.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// The longest wait a `retry-after` or `x-ratelimit-reset` is taken at:
/// GitHub's primary window is an hour, and an absurd value (a reset in the
/// year 9999, `retry-after: 18446744073709551615`) must neither overflow
/// the time arithmetic nor stop ferry for longer than that.
pub const MAX_RESET_WAIT: Duration = Duration::from_secs(3600);
/// The largest answer body read: a page of 100 pull requests with long
/// bodies stays well below.
pub const MAX_BODY: usize = 32 << 20;

/// How ferry authenticates to GitHub.
#[derive(Clone)]
pub enum GitHubAuth {
    /// A personal (or fine-grained) access token.
    Token(SecretString),
    /// A GitHub App installed on the repository.
    App {
        /// The App's id.
        app_id: u64,
        /// The App's private key, PEM (PKCS#1 as GitHub issues it, or PKCS#8).
        private_key_pem: SecretString,
    },
}

impl fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitHubAuth::Token(_) => f.write_str("Token(<redacted>)"),
            GitHubAuth::App { app_id, .. } => write!(f, "App {{ app_id: {app_id}, .. }}"),
        }
    }
}

/// Everything [`GitHubForge::connect`] needs.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// API base URL: `https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server.
    pub api_url: String,
    /// Owner of the GitOps repository.
    pub owner: String,
    /// Name of the GitOps repository.
    pub repo: String,
    /// Credentials.
    pub auth: GitHubAuth,
    /// The longest ferry waits for a rate limit to reset before it gives up
    /// with [`ForgeError::RateLimited`].
    pub max_rate_limit_wait: Duration,
}

impl GitHubSettings {
    /// Settings from `forge:`: reads the token from its environment variable
    /// or the App's private key from its file (relative to `base`).
    pub fn from_config(cfg: &crate::config::Forge, base: &Path) -> Result<Self, ForgeError> {
        let repository = cfg.repository.as_deref().ok_or_else(|| {
            ForgeError::Config("forge.repository (owner/name) is required for kind github".into())
        })?;
        let (owner, repo) = parse_repository(repository)?;
        let auth = match (cfg.app_id, &cfg.token_env) {
            (Some(_), Some(_)) => {
                return Err(ForgeError::Config(
                    "forge: set either token_env or app_id, not both".into(),
                ));
            }
            (Some(app_id), None) => {
                let key_file = cfg.private_key_file.as_ref().ok_or_else(|| {
                    ForgeError::Config("forge.private_key_file is required with app_id".into())
                })?;
                let path = base.join(key_file);
                let pem = std::fs::read_to_string(&path).map_err(|e| {
                    ForgeError::Auth(format!("private key {}: {e}", path.display()))
                })?;
                GitHubAuth::App {
                    app_id,
                    private_key_pem: SecretString::from(pem),
                }
            }
            (None, Some(var)) => match std::env::var(var) {
                Ok(token) if !token.trim().is_empty() => {
                    GitHubAuth::Token(SecretString::from(token.trim().to_string()))
                }
                _ => {
                    return Err(ForgeError::Auth(format!(
                        "environment variable {var} (forge.token_env) is not set"
                    )));
                }
            },
            (None, None) => {
                return Err(ForgeError::Config(
                    "forge: kind github needs token_env or app_id + private_key_file".into(),
                ));
            }
        };
        Ok(GitHubSettings {
            api_url: cfg
                .api_url
                .clone()
                .unwrap_or_else(|| DEFAULT_API_URL.to_string()),
            owner,
            repo,
            auth,
            max_rate_limit_wait: Duration::from_secs(60),
        })
    }
}

/// Splits `owner/name`, accepting only the characters GitHub allows, so the
/// parts can go into request paths as they are.
pub fn parse_repository(repository: &str) -> Result<(String, String), ForgeError> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match repository.split_once('/') {
        Some((owner, repo)) if valid(owner) && valid(repo) => {
            Ok((owner.to_string(), repo.to_string()))
        }
        _ => Err(ForgeError::Config(format!(
            "forge.repository {repository:?} is not owner/name"
        ))),
    }
}

/// The last rate-limit window GitHub reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// Requests per window, if reported.
    pub limit: Option<u64>,
    /// Requests left in this window.
    pub remaining: u64,
    /// When the window resets.
    pub reset_at: OffsetDateTime,
}

/// Pull requests on GitHub (see the module docs).
pub struct GitHubForge {
    crab: Octocrab,
    owner: String,
    repo: String,
    api_url: String,
    max_wait: Duration,
    rate: Mutex<Option<RateLimitStatus>>,
    /// The login ferry acts as (see [`Forge::identity`]), asked at connect;
    /// for a token, again before the next call if GitHub could not answer
    /// then.
    login: OnceLock<String>,
}

impl fmt::Debug for GitHubForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubForge")
            .field("api_url", &self.api_url)
            .field("repository", &format_args!("{}/{}", self.owner, self.repo))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Patch,
}

impl GitHubForge {
    /// Builds the client and asks GitHub once who ferry is: with a token,
    /// `GET /user`; with an App, `GET /app` (the login is `{slug}[bot]`, as
    /// GitHub shows what an installation opens) and the installation that
    /// covers the repository. Bad credentials fail here, not on the first
    /// pass. With a token, a GitHub that cannot answer right now (rate
    /// limit, network, server error) does not stop ferry from starting:
    /// the next call asks again before anything else, and fails as that
    /// call would, so no pull request is ever returned before the identity
    /// is known.
    pub async fn connect(settings: GitHubSettings) -> Result<Self, ForgeError> {
        let builder = Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(|e| ForgeError::Config(format!("forge.api_url {:?}: {e}", settings.api_url)))?
            // ferry decides about retries itself, from the rate-limit headers.
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)));
        let forge = |crab| GitHubForge {
            crab,
            owner: settings.owner.clone(),
            repo: settings.repo.clone(),
            api_url: settings.api_url.clone(),
            max_wait: settings.max_rate_limit_wait,
            rate: Mutex::new(None),
            login: OnceLock::new(),
        };
        match &settings.auth {
            GitHubAuth::Token(token) => {
                let crab = builder
                    .personal_token(token.clone())
                    .build()
                    .map_err(|e| ForgeError::Config(format!("github client: {e}")))?;
                let forge = forge(crab);
                match forge.who().await {
                    Ok(_) => {}
                    Err(
                        e @ (ForgeError::Transport(_)
                        | ForgeError::RateLimited { .. }
                        | ForgeError::Api { status: 500.., .. }),
                    ) => tracing::warn!(
                        error = %e,
                        "GitHub could not say which user the token is; asking again before the next call"
                    ),
                    Err(e) => return Err(e),
                }
                Ok(forge)
            }
            GitHubAuth::App {
                app_id,
                private_key_pem,
            } => {
                use octocrab::secrecy::ExposeSecret;
                let key =
                    octocrab::EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes())
                        .map_err(|e| ForgeError::Auth(format!("GitHub App private key: {e}")))?;
                let crab = builder
                    .app(AppId(*app_id), key)
                    .build()
                    .map_err(|e| ForgeError::Config(format!("github client: {e}")))?;
                // Authenticated as the App (a JWT), ask which installation
                // covers the repository.
                let mut forge = forge(crab);
                let installation = forge.installation_id(*app_id).await?;
                // Who the installation acts as, asked with the JWT as well.
                #[derive(Deserialize)]
                struct App {
                    slug: String,
                }
                let text = forge.send(Method::Get, "/app", None, true).await?;
                let login = format!("{}[bot]", decode::<App>(&text)?.slug);
                forge.login = OnceLock::from(login);
                // Scoped to the one repository ferry writes to.
                forge.crab = forge
                    .crab
                    .installation_builder(InstallationId(installation))
                    .repositories(vec![forge.repo.clone()])
                    .build()
                    .map_err(|e| ForgeError::Auth(format!("GitHub App installation: {e}")))?;
                Ok(forge)
            }
        }
    }

    /// ferry's login: known since connect, or asked now (`GET /user`, token
    /// only) when GitHub could not answer then.
    async fn who(&self) -> Result<&str, ForgeError> {
        if let Some(login) = self.login.get() {
            return Ok(login);
        }
        #[derive(Deserialize)]
        struct User {
            login: String,
        }
        let text = self
            .send(Method::Get, "/user", None, true)
            .await
            .map_err(|e| match e {
                // What an installation token (GitHub Actions' GITHUB_TOKEN,
                // say) gets: it is no user.
                ForgeError::Auth(m) if m.contains("not accessible by integration") => {
                    ForgeError::Auth(format!(
                        "GET /user: {m}; forge.token_env must hold a user's token \
                         (classic or fine-grained); for a GitHub App set app_id and \
                         private_key_file"
                    ))
                }
                e => e,
            })?;
        let login = decode::<User>(&text)?.login;
        // Two calls racing both asked; GitHub gave both the same answer.
        Ok(self.login.get_or_init(|| login))
    }

    /// Which installation of App `app_id` covers the repository (asked
    /// with the App's JWT).
    async fn installation_id(&self, app_id: u64) -> Result<u64, ForgeError> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let path = format!("/repos/{}/{}/installation", self.owner, self.repo);
        let text = self
            .send(Method::Get, &path, None, true)
            .await
            .map_err(|e| match e {
                ForgeError::Api { status: 404, .. } => ForgeError::Auth(format!(
                    "GitHub App {app_id} is not installed on {}/{}",
                    self.owner, self.repo
                )),
                e => e,
            })?;
        let installation: Installation = decode(&text)?;
        Ok(installation.id)
    }

    /// The rate-limit window of the last response, if any.
    pub fn rate_limit(&self) -> Option<RateLimitStatus> {
        *lock(&self.rate)
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.repo)
    }

    /// Sends one request, honouring the rate limit, and returns the body of
    /// a 2xx answer. `idempotent` requests are also retried after a server
    /// error or a network failure.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<String, ForgeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_for_budget().await?;
            let sent = match method {
                Method::Get => self.crab._get(path).await,
                Method::Post => self.crab._post(path, body).await,
                Method::Patch => self.crab._patch(path, body).await,
            };
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    let e = map_octocrab_error(e);
                    if idempotent && attempt < MAX_ATTEMPTS && matches!(e, ForgeError::Transport(_))
                    {
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    return Err(e);
                }
            };
            let status = response.status().as_u16();
            let headers = Headers::read(response.headers());
            self.record(&headers);
            // Chunk by chunk, failing past the cap (octocrab's own
            // `body_to_string` reads without a limit).
            let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| body_error(e, MAX_BODY))?
                .to_bytes();
            let text = String::from_utf8(body.to_vec())
                .map_err(|_| ForgeError::Decode("the answer is not UTF-8".into()))?;
            if (200..300).contains(&status) {
                return Ok(text);
            }
            let message = error_message(&text, status);
            if let Some(wait) = rate_limit_wait(status, &headers, &message) {
                if wait.retry_in <= self.max_wait && attempt < MAX_ATTEMPTS {
                    tracing::warn!(
                        wait_secs = wait.retry_in.as_secs(),
                        path,
                        "GitHub rate limit reached; waiting for the reset"
                    );
                    tokio::time::sleep(wait.retry_in).await;
                    continue;
                }
                return Err(ForgeError::RateLimited {
                    retry_in: wait.retry_in,
                    reset_at: wait.reset_at,
                });
            }
            if status >= 500 && idempotent && attempt < MAX_ATTEMPTS {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            return Err(match status {
                401 | 403 => ForgeError::Auth(message),
                _ => ForgeError::Api { status, message },
            });
        }
    }

    /// Before sending: if the last answer said the budget is spent, wait
    /// for the reset (when short enough) or fail without sending.
    async fn wait_for_budget(&self) -> Result<(), ForgeError> {
        let Some(window) = *lock(&self.rate) else {
            return Ok(());
        };
        if window.remaining > 0 {
            return Ok(());
        }
        if until(window.reset_at).is_zero() {
            return Ok(());
        }
        // One second of slack for clock skew between GitHub and us.
        let retry_in = until(window.reset_at) + Duration::from_secs(1);
        if retry_in > self.max_wait {
            return Err(ForgeError::RateLimited {
                retry_in,
                reset_at: Some(window.reset_at),
            });
        }
        tracing::warn!(
            wait_secs = retry_in.as_secs(),
            "GitHub rate limit spent; waiting for the reset"
        );
        tokio::time::sleep(retry_in).await;
        Ok(())
    }

    fn record(&self, headers: &Headers) {
        if let (Some(remaining), Some(reset)) = (headers.remaining, headers.reset) {
            let reset_at = reset_time(reset, OffsetDateTime::now_utc());
            *lock(&self.rate) = Some(RateLimitStatus {
                limit: headers.limit,
                remaining,
                reset_at,
            });
        }
    }

    async fn fetch_pull(&self, number: u64) -> Result<GhPull, ForgeError> {
        let text = self
            .send(
                Method::Get,
                &self.repo_path(&format!("/pulls/{number}")),
                None,
                true,
            )
            .await
            .map_err(not_found(number))?;
        decode(&text)
    }

    /// Pull requests ferry may act on: from a branch of this repository.
    /// A fork can name its branch `ferry/…` too; that is not ferry's PR.
    fn ours(&self, pr: &GhPull) -> bool {
        let full = format!("{}/{}", self.owner, self.repo);
        pr.head
            .repo
            .as_ref()
            .and_then(|r| r.full_name.as_deref())
            .is_some_and(|name| name.eq_ignore_ascii_case(&full))
    }

    async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        self.send(
            Method::Post,
            &self.repo_path(&format!("/issues/{number}/labels")),
            Some(&json!({ "labels": labels })),
            true,
        )
        .await
        .map_err(not_found(number))?;
        Ok(())
    }

    async fn request_reviewers(
        &self,
        number: u64,
        reviewers: &[String],
    ) -> Result<Option<PullRequest>, ForgeError> {
        let (users, teams) = split_reviewers(reviewers);
        let sent = self
            .send(
                Method::Post,
                &self.repo_path(&format!("/pulls/{number}/requested_reviewers")),
                Some(&json!({ "reviewers": users, "team_reviewers": teams })),
                true,
            )
            .await;
        match sent {
            Ok(text) => Ok(Some(convert(decode(&text)?)?)),
            // A reviewer GitHub will not take (the author, a non-collaborator,
            // an unknown team) is a config problem; the pull request is open
            // and promotion goes on.
            Err(ForgeError::Api {
                status: 422,
                message,
            }) => {
                tracing::warn!(pr = number, %message, "GitHub refused the reviewers");
                Ok(None)
            }
            Err(e) => Err(not_found(number)(e)),
        }
    }
}

impl GitHubForge {
    /// Pull requests of this repository from branch `head` in `state`
    /// (`open` or `closed`), one page with `paging` (`per_page=…`, sort).
    async fn pulls_from(
        &self,
        head: &str,
        state: &str,
        paging: &str,
    ) -> Result<Vec<GhPull>, ForgeError> {
        // GitHub filters by `owner:branch`; the branch is checked again here.
        let query = format!(
            "?state={state}&head={}&{paging}",
            encode_query(&format!("{}:{head}", self.owner))
        );
        let text = self
            .send(
                Method::Get,
                &self.repo_path(&format!("/pulls{query}")),
                None,
                true,
            )
            .await?;
        let pulls: Vec<GhPull> = decode(&text)?;
        Ok(pulls
            .into_iter()
            .filter(|p| p.head.ref_field == head && self.ours(p))
            .collect())
    }
}

impl Forge for GitHubForge {
    /// Empty only while GitHub has not yet answered who the token is; every
    /// pull request this forge returns was read after it did.
    fn identity(&self) -> &str {
        self.login.get().map_or("", String::as_str)
    }

    async fn find_open(&self, head: &str) -> Result<Option<PullRequest>, ForgeError> {
        self.who().await?;
        let found = self.pulls_from(head, "open", "per_page=100").await?;
        found
            .into_iter()
            .min_by_key(|p| p.number)
            .map(convert)
            .transpose()
    }

    async fn last_closed(&self, head: &str) -> Result<Option<PullRequest>, ForgeError> {
        self.who().await?;
        // Newest first; ferry keeps one PR per branch open at a time, so the
        // first page holds the last closed one.
        let found = self
            .pulls_from(head, "closed", "sort=created&direction=desc&per_page=10")
            .await?;
        let Some(pull) = found.into_iter().max_by_key(|p| p.number) else {
            return Ok(None);
        };
        let mut pr = convert(pull)?;
        // The pull request object does not say who closed it; its issue does.
        #[derive(Deserialize)]
        struct Login {
            login: String,
        }
        #[derive(Deserialize)]
        struct Issue {
            closed_by: Option<Login>,
        }
        let text = self
            .send(
                Method::Get,
                &self.repo_path(&format!("/issues/{}", pr.number)),
                None,
                true,
            )
            .await
            .map_err(not_found(pr.number))?;
        pr.closed_by = decode::<Issue>(&text)?.closed_by.map(|u| u.login);
        Ok(Some(pr))
    }

    async fn open(&self, spec: &PrSpec) -> Result<PullRequest, ForgeError> {
        let me = self.who().await?;
        let created = self
            .send(
                Method::Post,
                &self.repo_path("/pulls"),
                Some(&json!({
                    "title": spec.title,
                    "head": spec.head,
                    "base": spec.base,
                    "body": spec.body,
                    "draft": spec.draft,
                })),
                false,
            )
            .await;
        let mut pr = match created {
            Ok(text) => convert(decode(&text)?)?,
            // Another process opened it first: GitHub allows one open pull
            // request per head and base, and says so with a 422.
            Err(ForgeError::Api {
                status: 422,
                message,
            }) if message.contains("already exists") => match self.find_open(&spec.head).await? {
                // Adopted only when ferry opened it: a collaborator's pull
                // request on a `ferry/` branch is not ferry's to label,
                // update or vouch for.
                Some(existing) if existing.base == spec.base && !existing.opened_by(me) => {
                    return Err(ForgeError::ForeignPr {
                        number: existing.number,
                        author: existing.author,
                    });
                }
                Some(existing) if existing.base == spec.base => existing,
                _ => {
                    return Err(ForgeError::Api {
                        status: 422,
                        message,
                    });
                }
            },
            Err(e) => return Err(e),
        };
        if !spec.labels.is_empty() {
            self.add_labels(pr.number, &spec.labels).await?;
            for label in &spec.labels {
                if !pr.labels.contains(label) {
                    pr.labels.push(label.clone());
                }
            }
        }
        if !spec.reviewers.is_empty()
            && let Some(updated) = self.request_reviewers(pr.number, &spec.reviewers).await?
        {
            pr = updated;
        }
        Ok(pr)
    }

    async fn update(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, ForgeError> {
        self.who().await?;
        let text = self
            .send(
                Method::Patch,
                &self.repo_path(&format!("/pulls/{number}")),
                Some(&json!({ "title": title, "body": body })),
                true,
            )
            .await
            .map_err(not_found(number))?;
        convert(decode(&text)?)
    }

    async fn close(&self, number: u64, comment: &str) -> Result<PullRequest, ForgeError> {
        self.who().await?;
        let current = convert(self.fetch_pull(number).await?)?;
        match current.state {
            PrState::Merged => return Err(ForgeError::AlreadyMerged(number)),
            PrState::Closed => return Ok(current),
            PrState::Open => {}
        }
        // The reason first: if ferry dies in between, the next pass closes
        // it again (and says why twice) rather than closing it silently.
        if !comment.is_empty() {
            self.comment(number, comment).await?;
        }
        let text = self
            .send(
                Method::Patch,
                &self.repo_path(&format!("/pulls/{number}")),
                Some(&json!({ "state": "closed" })),
                true,
            )
            .await
            .map_err(not_found(number))?;
        convert(decode(&text)?)
    }

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        self.send(
            Method::Post,
            &self.repo_path(&format!("/issues/{number}/comments")),
            Some(&json!({ "body": body })),
            false,
        )
        .await
        .map_err(not_found(number))?;
        Ok(())
    }

    /// GitHub answers 201 for a new reaction and 200 when this login had
    /// already reacted the same way, so sending it again is harmless and
    /// the request is retried like an idempotent one.
    async fn react(&self, comment_id: u64, reaction: Reaction) -> Result<(), ForgeError> {
        self.send(
            Method::Post,
            &self.repo_path(&format!("/issues/comments/{comment_id}/reactions")),
            Some(&json!({ "content": reaction.as_str() })),
            true,
        )
        .await?;
        Ok(())
    }

    async fn reactions(&self, comment_id: u64) -> Result<Vec<(String, String)>, ForgeError> {
        #[derive(Deserialize)]
        struct User {
            login: String,
        }
        #[derive(Deserialize)]
        struct Reacted {
            user: Option<User>,
            content: String,
        }
        // One page: a comment ferry handles has few reactions, and ferry's
        // come early.
        let text = self
            .send(
                Method::Get,
                &self.repo_path(&format!(
                    "/issues/comments/{comment_id}/reactions?per_page=100"
                )),
                None,
                true,
            )
            .await?;
        Ok(decode::<Vec<Reacted>>(&text)?
            .into_iter()
            .map(|r| (r.user.map(|u| u.login).unwrap_or_default(), r.content))
            .collect())
    }

    async fn permission(&self, login: &str) -> Result<String, ForgeError> {
        // It goes into the path: no `.`/`..` segment either.
        if !super::valid_login(login) || login.starts_with('.') {
            return Err(ForgeError::Decode(format!(
                "{login:?} is not a GitHub login"
            )));
        }
        #[derive(Deserialize)]
        struct Permission {
            role_name: String,
        }
        let text = self
            .send(
                Method::Get,
                &self.repo_path(&format!("/collaborators/{login}/permission")),
                None,
                true,
            )
            .await?;
        Ok(decode::<Permission>(&text)?.role_name)
    }

    async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        self.who().await?;
        convert(self.fetch_pull(number).await?)
    }

    /// Reads at most the 1000 most recently created pull requests in
    /// `state` (GitHub cannot filter by branch prefix).
    async fn list(
        &self,
        state: StateFilter,
        head_prefix: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        let state_param = match state {
            StateFilter::Open => "open",
            StateFilter::Closed => "closed",
            StateFilter::All => "all",
        };
        self.who().await?;
        let mut out = Vec::new();
        for page in 1..=MAX_LIST_PAGES {
            let path = self.repo_path(&format!(
                "/pulls?state={state_param}&sort=created&direction=desc&per_page=100&page={page}"
            ));
            let text = self.send(Method::Get, &path, None, true).await?;
            let pulls: Vec<GhPull> = decode(&text)?;
            let full_page = pulls.len() == 100;
            for p in pulls {
                if p.head.ref_field.starts_with(head_prefix) && self.ours(&p) {
                    let pr = convert(p)?;
                    if state.admits(pr.state) {
                        out.push(pr);
                    }
                }
            }
            if !full_page {
                break;
            }
        }
        out.sort_by_key(|p| p.number);
        out.dedup_by_key(|p| p.number);
        Ok(out)
    }
}

/// The user GitHub expects with an installation token over https.
pub const GIT_TOKEN_USER: &str = "x-access-token";
/// An installation token is renewed when less than this is left of its
/// hour, so a fetch or push never starts with one about to expire.
const GIT_TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);
/// The longest one token request may take, both requests together.
const GIT_TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Credentials for git over https from the GitHub App ferry already runs
/// as, when `forge:` is a GitHub App and the GitOps remote is on that
/// GitHub's host: installation tokens (user `x-access-token`) scoped to
/// the one repository, renewed before they expire. No second, long-lived
/// credential for git is needed. `None` for a personal token, a local
/// forge, or a remote elsewhere (the token is never sent to another host).
pub fn git_credentials(
    cfg: &crate::config::Forge,
    base: &Path,
    remote: &str,
) -> Result<Option<crate::gitops::Credentials>, ForgeError> {
    if cfg.kind != crate::config::ForgeKind::Github || cfg.app_id.is_none() {
        return Ok(None);
    }
    let settings = GitHubSettings::from_config(cfg, base)?;
    let GitHubAuth::App {
        app_id,
        private_key_pem,
    } = &settings.auth
    else {
        return Ok(None);
    };
    let host = git_host(&settings.api_url)?;
    if !sends_token_to(remote, &host) {
        tracing::warn!(
            remote = %crate::redact::url(remote),
            host,
            "the GitOps remote is not an https URL on the forge's host; \
             git gets no GitHub App token"
        );
        return Ok(None);
    }
    use octocrab::secrecy::ExposeSecret;
    let key = octocrab::EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes())
        .map_err(|e| ForgeError::Auth(format!("GitHub App private key: {e}")))?;
    let source = InstallationTokens {
        api_url: settings.api_url.clone(),
        app_id: *app_id,
        key,
        owner: settings.owner.clone(),
        repo: settings.repo.clone(),
        host,
        state: Mutex::new(TokenState::default()),
    };
    Ok(Some(crate::gitops::Credentials::Source(
        std::sync::Arc::new(source),
    )))
}

/// The host git talks to for an API at `api_url`: `github.com` for
/// `https://api.github.com`, the host itself for GitHub Enterprise Server
/// (`https://HOST/api/v3`).
fn git_host(api_url: &str) -> Result<String, ForgeError> {
    let url = reqwest::Url::parse(api_url)
        .map_err(|e| ForgeError::Config(format!("forge.api_url {api_url:?}: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| ForgeError::Config(format!("forge.api_url {api_url:?} has no host")))?
        .to_ascii_lowercase();
    Ok(host
        .strip_prefix("api.")
        .map_or(host.clone(), str::to_string))
}

/// Whether a token for `host` may go to `url`: https on that host (any
/// port), or plain http on a loopback address (tests, a local mirror).
fn sends_token_to(url: &str, host: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(h) = u.host_str() else {
        return false;
    };
    let same = h.eq_ignore_ascii_case(host);
    match u.scheme() {
        "https" => same,
        "http" => same && matches!(h, "127.0.0.1" | "localhost" | "[::1]"),
        _ => false,
    }
}

#[derive(Default)]
struct TokenState {
    installation: Option<u64>,
    token: Option<(SecretString, OffsetDateTime)>,
}

/// See [`git_credentials`].
pub struct InstallationTokens {
    api_url: String,
    app_id: u64,
    key: octocrab::EncodingKey,
    owner: String,
    repo: String,
    host: String,
    state: Mutex<TokenState>,
}

impl fmt::Debug for InstallationTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationTokens")
            .field("api_url", &self.api_url)
            .field("app_id", &self.app_id)
            .field("repository", &format_args!("{}/{}", self.owner, self.repo))
            .finish_non_exhaustive()
    }
}

impl crate::gitops::TokenSource for InstallationTokens {
    fn credentials(&self, url: &str) -> Result<(String, String), String> {
        use octocrab::secrecy::ExposeSecret;
        if !sends_token_to(url, &self.host) {
            return Err(format!(
                "the GitHub App token is only sent over https to {}",
                self.host
            ));
        }
        let mut state = lock(&self.state);
        if let Some((token, expires_at)) = &state.token
            && until(*expires_at) > GIT_TOKEN_MARGIN
        {
            return Ok((GIT_TOKEN_USER.into(), token.expose_secret().to_string()));
        }
        let (installation, token, expires_at) = self.mint_blocking(state.installation)?;
        let shown = token.expose_secret().to_string();
        state.installation = Some(installation);
        state.token = Some((token, expires_at));
        Ok((GIT_TOKEN_USER.into(), shown))
    }
}

impl InstallationTokens {
    /// libgit2 calls from a thread that may be a Tokio worker (with a
    /// current-thread runtime, the only one): the requests run on a runtime
    /// of their own in a thread of their own, with a client of their own, so
    /// they never wait on the blocked caller's runtime.
    fn mint_blocking(
        &self,
        installation: Option<u64>,
    ) -> Result<(u64, SecretString, OffsetDateTime), String> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("cannot start the token request: {e}"))?;
                    rt.block_on(async {
                        tokio::time::timeout(GIT_TOKEN_TIMEOUT, self.mint(installation))
                            .await
                            .map_err(|_| "the token request timed out".to_string())?
                            .map_err(|e| e.to_string())
                    })
                })
                .join()
                .map_err(|_| "the token request failed unexpectedly".to_string())?
        })
    }

    /// Asks GitHub (as the App) for the installation, when not known yet,
    /// and a token scoped to the repository.
    async fn mint(
        &self,
        installation: Option<u64>,
    ) -> Result<(u64, SecretString, OffsetDateTime), ForgeError> {
        let crab = Octocrab::builder()
            .base_uri(self.api_url.as_str())
            .map_err(|e| ForgeError::Config(format!("forge.api_url {:?}: {e}", self.api_url)))?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(20)))
            .app(AppId(self.app_id), self.key.clone())
            .build()
            .map_err(|e| ForgeError::Config(format!("github client: {e}")))?;
        let forge = GitHubForge {
            crab,
            owner: self.owner.clone(),
            repo: self.repo.clone(),
            api_url: self.api_url.clone(),
            // A token request is never worth waiting out a rate limit for.
            max_wait: Duration::ZERO,
            rate: Mutex::new(None),
            login: OnceLock::new(),
        };
        let installation = match installation {
            Some(id) => id,
            None => forge.installation_id(self.app_id).await?,
        };
        #[derive(Deserialize)]
        struct Token {
            token: String,
            expires_at: Option<String>,
        }
        let text = forge
            .send(
                Method::Post,
                &format!("/app/installations/{installation}/access_tokens"),
                Some(&json!({ "repositories": [self.repo] })),
                false,
            )
            .await?;
        let token: Token = decode(&text)?;
        // GitHub's tokens last an hour; without a date, assume less.
        let expires_at = token
            .expires_at
            .and_then(|t| {
                OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
            })
            .unwrap_or_else(|| OffsetDateTime::now_utc() + GIT_TOKEN_MARGIN * 2);
        Ok((installation, SecretString::from(token.token), expires_at))
    }
}

/// The rate-limit headers of one response.
struct Headers {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<i64>,
    retry_after: Option<u64>,
}

impl Headers {
    fn read(map: &reqwest::header::HeaderMap) -> Self {
        // octocrab and reqwest share the `http` crate's header types.
        fn number<T: std::str::FromStr>(map: &reqwest::header::HeaderMap, name: &str) -> Option<T> {
            map.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        Headers {
            limit: number(map, "x-ratelimit-limit"),
            remaining: number(map, "x-ratelimit-remaining"),
            reset: number(map, "x-ratelimit-reset"),
            retry_after: number(map, "retry-after"),
        }
    }
}

struct Wait {
    retry_in: Duration,
    reset_at: Option<OffsetDateTime>,
}

/// How long a 403/429 asks ferry to wait, or `None` when it is not a rate
/// limit (a real permission problem).
fn rate_limit_wait(status: u16, headers: &Headers, message: &str) -> Option<Wait> {
    if status != 403 && status != 429 {
        return None;
    }
    let now = OffsetDateTime::now_utc();
    if let Some(secs) = headers.retry_after {
        let retry_in = Duration::from_secs(secs).min(MAX_RESET_WAIT);
        return Some(Wait {
            retry_in,
            reset_at: Some(now + retry_in),
        });
    }
    if headers.remaining == Some(0)
        && let Some(reset) = headers.reset
    {
        let reset_at = reset_time(reset, now);
        // One second of slack for clock skew between GitHub and us.
        let retry_in = until(reset_at) + Duration::from_secs(1);
        return Some(Wait {
            retry_in,
            reset_at: Some(reset_at),
        });
    }
    if status == 429 || message.to_ascii_lowercase().contains("rate limit") {
        return Some(Wait {
            retry_in: SECONDARY_LIMIT_WAIT,
            reset_at: None,
        });
    }
    None
}

/// When a window resetting at unix time `reset` ends, at most
/// [`MAX_RESET_WAIT`] after `now`; a reset in the past is `now`.
fn reset_time(reset: i64, now: OffsetDateTime) -> OffsetDateTime {
    let latest = now + MAX_RESET_WAIT;
    if reset >= latest.unix_timestamp() {
        return latest;
    }
    // Out of range only far in the past, which is as good as now.
    OffsetDateTime::from_unix_timestamp(reset).unwrap_or(now)
}

/// Time left until `at`, zero when it has passed.
fn until(at: OffsetDateTime) -> Duration {
    Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO)
}

/// What reading a capped body failed with.
fn body_error(e: Box<dyn std::error::Error + Send + Sync>, cap: usize) -> ForgeError {
    if e.is::<http_body_util::LengthLimitError>() {
        ForgeError::Transport(format!(
            "the answer's body exceeds the limit of {cap} bytes"
        ))
    } else {
        ForgeError::Transport(crate::redact::text(&format!("reading the answer: {e}")))
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 4u64.pow(attempt.saturating_sub(1)))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded value is a plain copy; a panic elsewhere cannot leave it
    // half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// GitHub's `message` (plus the validation errors'), or the body's start;
/// redacted, as a proxy in between may quote a request's headers or URL.
fn error_message(text: &str, status: u16) -> String {
    crate::redact::text(&raw_error_message(text, status))
}

fn raw_error_message(text: &str, status: u16) -> String {
    #[derive(Deserialize)]
    struct Body {
        message: Option<String>,
        #[serde(default)]
        errors: Vec<Value>,
    }
    match serde_json::from_str::<Body>(text) {
        Ok(body) => {
            let mut message = body.message.unwrap_or_else(|| format!("HTTP {status}"));
            let details: Vec<&str> = body
                .errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect();
            if !details.is_empty() {
                message = format!("{message}: {}", details.join("; "));
            }
            message
        }
        Err(_) => {
            let t: String = text.trim().chars().take(200).collect();
            if t.is_empty() {
                format!("HTTP {status}")
            } else {
                t
            }
        }
    }
}

fn map_octocrab_error(e: octocrab::Error) -> ForgeError {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            match status {
                401 | 403 => ForgeError::Auth(source.message),
                _ => ForgeError::Api {
                    status,
                    message: source.message,
                },
            }
        }
        // Building the App's JWT or the installation token request.
        octocrab::Error::JWT { source, .. } => {
            ForgeError::Auth(format!("GitHub App JWT: {source}"))
        }
        e @ (octocrab::Error::Installation { .. }
        | octocrab::Error::InstallationTokenInvalidAuth { .. }) => {
            ForgeError::Auth(crate::redact::text(&e.to_string()))
        }
        e => ForgeError::Transport(crate::redact::text(&e.to_string())),
    }
}

fn not_found(number: u64) -> impl Fn(ForgeError) -> ForgeError {
    move |e| match e {
        ForgeError::Api { status: 404, .. } => ForgeError::NotFound(number),
        e => e,
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ForgeError> {
    serde_json::from_str(text).map_err(|e| ForgeError::Decode(e.to_string()))
}

fn convert(pr: GhPull) -> Result<PullRequest, ForgeError> {
    let merged_at = pr.merged_at.map(chrono_to_time).transpose()?;
    // The list endpoint has no `merged` field; `merged_at` is in both.
    let state = match (&merged_at, &pr.state) {
        (Some(_), _) => PrState::Merged,
        (None, Some(IssueState::Open)) => PrState::Open,
        (None, Some(IssueState::Closed)) => PrState::Closed,
        (None, other) => {
            return Err(ForgeError::Decode(format!(
                "pull request #{} has state {other:?}",
                pr.number
            )));
        }
    };
    let mut reviewers: Vec<String> = pr
        .requested_reviewers
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.login)
        .collect();
    reviewers.extend(
        pr.requested_teams
            .unwrap_or_default()
            .into_iter()
            .map(|t| format!("team:{}", t.slug)),
    );
    Ok(PullRequest {
        number: pr.number,
        state,
        merged_at,
        head: pr.head.ref_field,
        base: pr.base.ref_field,
        title: pr.title.unwrap_or_default(),
        body: pr.body.unwrap_or_default(),
        url: pr.html_url.map(|u| u.to_string()).unwrap_or(pr.url),
        labels: pr
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.name)
            .collect(),
        reviewers,
        // A deleted account shows as GitHub's "ghost"; it is not ferry.
        author: pr
            .user
            .map(|u| u.login)
            .unwrap_or_else(|| "ghost".to_string()),
        closed_by: None,
        head_sha: Some(pr.head.sha).filter(|s| !s.is_empty()),
        merge_commit: pr
            .merge_commit_sha
            .filter(|s| !s.is_empty())
            .filter(|_| state == PrState::Merged),
    })
}

fn chrono_to_time(t: chrono::DateTime<chrono::Utc>) -> Result<OffsetDateTime, ForgeError> {
    OffsetDateTime::from_unix_timestamp(t.timestamp())
        .and_then(|d| d.replace_nanosecond(t.timestamp_subsec_nanos()))
        .map_err(|e| ForgeError::Decode(format!("timestamp {t}: {e}")))
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(remaining: Option<u64>, reset: Option<i64>, retry_after: Option<u64>) -> Headers {
        Headers {
            limit: Some(5000),
            remaining,
            reset,
            retry_after,
        }
    }

    #[test]
    fn primary_limit_waits_until_the_reset() {
        let reset = OffsetDateTime::now_utc().unix_timestamp() + 120;
        let w = rate_limit_wait(403, &headers(Some(0), Some(reset), None), "API rate limit")
            .expect("a rate limit");
        assert!(w.retry_in > Duration::from_secs(110) && w.retry_in <= Duration::from_secs(122));
        assert_eq!(w.reset_at.map(|t| t.unix_timestamp()), Some(reset));
    }

    #[test]
    fn retry_after_wins_and_plain_forbidden_is_not_a_limit() {
        let w = rate_limit_wait(403, &headers(Some(10), None, Some(7)), "secondary").unwrap();
        assert_eq!(w.retry_in, Duration::from_secs(7));
        assert!(
            rate_limit_wait(
                403,
                &headers(Some(10), None, None),
                "Resource not accessible by integration"
            )
            .is_none()
        );
        assert!(rate_limit_wait(404, &headers(Some(0), Some(1), None), "Not Found").is_none());
        let secondary = rate_limit_wait(
            403,
            &headers(None, None, None),
            "You have exceeded a secondary rate limit",
        )
        .unwrap();
        assert_eq!(secondary.retry_in, SECONDARY_LIMIT_WAIT);
    }

    #[test]
    fn absurd_retry_after_values_are_clamped_without_panicking() {
        for (status, secs) in [
            (429, u64::MAX),
            (403, u64::MAX / 2),
            (429, 10 * 365 * 86_400),
        ] {
            let w = rate_limit_wait(status, &headers(None, None, Some(secs)), "slow down")
                .expect("a rate limit");
            assert_eq!(w.retry_in, MAX_RESET_WAIT);
            let reset_at = w.reset_at.expect("a reset time");
            assert!(reset_at <= OffsetDateTime::now_utc() + MAX_RESET_WAIT);
        }
        let w = rate_limit_wait(429, &headers(None, None, Some(0)), "").unwrap();
        assert_eq!(w.retry_in, Duration::ZERO);
    }

    #[test]
    fn absurd_reset_times_are_clamped_without_panicking() {
        let now = OffsetDateTime::now_utc();
        // Past the end of `time`'s range, at its end, and far in the past.
        for reset in [i64::MAX, 253_402_300_799, now.unix_timestamp() + 86_400] {
            let w = rate_limit_wait(403, &headers(Some(0), Some(reset), None), "API rate limit")
                .expect("a rate limit");
            assert!(
                w.retry_in <= MAX_RESET_WAIT + Duration::from_secs(1),
                "{reset}"
            );
            assert!(
                w.retry_in >= MAX_RESET_WAIT - Duration::from_secs(5),
                "{reset}"
            );
            assert_eq!(reset_time(reset, now), now + MAX_RESET_WAIT);
        }
        for reset in [i64::MIN, -1, 0] {
            let w = rate_limit_wait(403, &headers(Some(0), Some(reset), None), "API rate limit")
                .unwrap();
            assert_eq!(w.retry_in, Duration::from_secs(1), "{reset}");
        }
        assert_eq!(until(now - Duration::from_secs(10)), Duration::ZERO);
    }

    #[test]
    fn tokens_go_only_to_the_forges_host_over_https() {
        assert_eq!(git_host("https://api.github.com").unwrap(), "github.com");
        assert_eq!(
            git_host("https://ghe.acme.io/api/v3").unwrap(),
            "ghe.acme.io"
        );
        assert!(sends_token_to(
            "https://github.com/acme/gitops.git",
            "github.com"
        ));
        assert!(sends_token_to(
            "https://GitHub.com:443/acme/gitops.git",
            "github.com"
        ));
        assert!(!sends_token_to(
            "http://github.com/acme/gitops.git",
            "github.com"
        ));
        assert!(!sends_token_to(
            "https://github.com.evil.io/a.git",
            "github.com"
        ));
        assert!(!sends_token_to(
            "git@github.com:acme/gitops.git",
            "github.com"
        ));
        assert!(!sends_token_to(
            "ssh://git@github.com/acme/gitops.git",
            "github.com"
        ));
        assert!(sends_token_to("http://127.0.0.1:9418/a.git", "127.0.0.1"));
    }

    #[test]
    fn error_messages_never_quote_secrets() {
        let text = "<html>proxy error for https://u:s3cret@api.github.com/repos?access_token=s3cret Authorization: token s3cret</html>";
        let m = error_message(text, 502);
        assert!(!m.contains("s3cret"), "{m}");
    }

    #[test]
    fn error_messages_include_validation_details() {
        let text = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:ferry/staging/api."}]}"#;
        assert_eq!(
            error_message(text, 422),
            "Validation Failed: A pull request already exists for acme:ferry/staging/api."
        );
        assert_eq!(error_message("", 502), "HTTP 502");
    }

    #[test]
    fn repositories_and_queries() {
        assert_eq!(
            parse_repository("acme/platform-gitops").unwrap(),
            ("acme".to_string(), "platform-gitops".to_string())
        );
        assert!(parse_repository("acme").is_err());
        assert!(parse_repository("acme/a/b").is_err());
        assert!(parse_repository("acme/a?b").is_err());
        assert_eq!(encode_query("acme:ferry/a+b&c"), "acme%3Aferry%2Fa%2Bb%26c");
    }

    #[test]
    fn the_corpus_pull_request_converts() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/github-webhooks/14_X-GitHub-Event=pull_request_action=closed_merged=false_octokit.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            panic!("corpus missing at {path}");
        };
        let event: Value = serde_json::from_str(&text).unwrap();
        let pr: GhPull = serde_json::from_value(event["pull_request"].clone()).unwrap();
        let pr = convert(pr).unwrap();
        assert_eq!(pr.state, PrState::Closed);
        assert_eq!(pr.number, 2);
        assert_eq!(pr.head, "changes");
        assert_eq!(pr.base, "master");
        assert!(pr.url.starts_with("https://github.com/"));
    }
}
