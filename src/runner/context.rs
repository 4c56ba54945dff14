//! What a pass and a command share: the loaded config, gates, the registry
//! and forge adapters and the GitOps checkout, loaded once from the config
//! file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::config::{self, Config};
use crate::forge::AnyForge;
use crate::gates::{GatePolicy, Gates};
use crate::gitops::{Author, CacheLock, Credentials, Workspace};
use crate::health::{ArgoClient, SoakTracker};
use crate::metrics::Metrics;
use crate::promotion::pass::{self, PassError, PassReport};
use crate::promotion::promote::PromotionIo;
use crate::promotion::watch::WatchBook;
use crate::registry::AnyRegistry;

/// Everything a pass needs.
pub struct Context {
    /// The config.
    pub config: Config,
    /// The gates with their cache.
    pub gates: Gates,
    /// The registry adapter.
    pub registry: AnyRegistry,
    /// The checkout.
    pub workspace: Workspace,
    /// Commit author.
    pub author: Author,
    /// Argo CD, when configured.
    pub argo: Option<ArgoClient>,
    /// The forge, when configured.
    pub forge: Option<AnyForge>,
    /// Soak clocks, kept between passes.
    pub soak: SoakTracker,
    /// The deployments watched for the automatic revert, kept between
    /// passes.
    pub watch: WatchBook,
    /// `ferry plan`: the checkout is a scratch copy and nothing is written.
    pub read_only: bool,
    /// The plan of the last pass that succeeded, so that a hold is logged
    /// when it starts, not on every pass while it lasts.
    pub last_plan: Option<crate::promotion::Plan>,
    /// What passes and commands did, for `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// DORA figures, read incrementally from the checkout's history.
    dora: crate::dora::Reporter,
    /// When the DORA figures were last computed.
    dora_at: Option<Instant>,
    /// Where notifications go; sends nothing unless `ferry run` started
    /// the sinks (`ferry plan` never does).
    pub notifier: crate::notify::Notifier,
    // The lock on the cache's checkout and the scratch directory of a
    // read-only context; declared after the workspace so they outlive it.
    _cache_lock: Option<CacheLock>,
    _scratch: Option<tempfile::TempDir>,
}

impl Context {
    /// The adapters of the pull-request side.
    pub fn promotion_io(&self) -> PromotionIo<'_> {
        PromotionIo {
            argo: self.argo.as_ref(),
            forge: self.forge.as_ref(),
            soak: &self.soak,
            watch: &self.watch,
            read_only: self.read_only,
        }
    }

    /// One reconciliation pass with everything loaded here, recorded in
    /// [`Context::metrics`].
    pub async fn run_pass(&mut self) -> Result<PassReport, PassError> {
        let started = Instant::now();
        let result = self.pass().await;
        self.metrics.observe_pass(
            result.as_ref().ok(),
            started.elapsed(),
            time::OffsetDateTime::now_utc(),
        );
        if let Err(e) = &result
            && let Some(done) = e.done()
        {
            self.metrics.observe_commits(done);
        }
        if let Some(AnyForge::GitHub(g)) = &self.forge
            && let Some(rate) = g.rate_limit()
        {
            self.metrics.set_rate_limit_remaining(rate.remaining);
        }
        result
    }

    async fn pass(&mut self) -> Result<PassReport, PassError> {
        let io = PromotionIo {
            argo: self.argo.as_ref(),
            forge: self.forge.as_ref(),
            soak: &self.soak,
            watch: &self.watch,
            read_only: self.read_only,
        };
        let result = pass::run_pass(
            &self.config,
            &mut self.workspace,
            &self.registry,
            &self.gates,
            &io,
            &self.author,
        )
        .await;
        match result.as_ref().err().and_then(|e| e.done().map(|d| (e, d))) {
            Some((e, done)) => {
                self.notifier
                    .after_partial_pass(&self.config, &self.workspace, done, e.to_string())
            }
            None => self.notifier.after_pass(
                &self.config,
                &self.workspace,
                result.as_ref().map_err(ToString::to_string),
            ),
        }
        let report = result?;
        log_holds(self.last_plan.as_ref(), &report.plan);
        self.last_plan = Some(report.plan.clone());
        Ok(report)
    }
}

/// The period the runner's DORA figures cover (the status page, `/metrics`).
pub const DORA_PERIOD: time::Duration = time::Duration::days(30);

/// How often the runner recomputes them: the history changes only with
/// commits, and a report at 1,000 apps reads about 0.3 s of it.
pub const DORA_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

impl Context {
    /// The DORA figures over the last [`DORA_PERIOD`], when they are due
    /// (first call, then every [`DORA_EVERY`]); also set on
    /// [`Context::metrics`]. `None` when not due or not readable (logged).
    pub fn refresh_dora(&mut self) -> Option<Arc<crate::dora::Report>> {
        if self.dora_at.is_some_and(|at| at.elapsed() < DORA_EVERY) {
            return None;
        }
        self.dora_at = Some(Instant::now());
        let until = time::OffsetDateTime::now_utc();
        let started = Instant::now();
        match self
            .dora
            .report(&self.config, &self.workspace, until - DORA_PERIOD, until)
        {
            Ok(reading) => {
                tracing::debug!(commits = reading.commits, took = ?started.elapsed(), "DORA figures");
                self.metrics.set_dora(&reading.report);
                Some(Arc::new(reading.report))
            }
            Err(e) => {
                tracing::warn!(error = %e, "DORA figures not computed");
                None
            }
        }
    }
}

impl Context {
    /// Handles the `/ferry` commands of one comment (see
    /// [`chatops::handle_comment`](crate::chatops::handle_comment)).
    pub async fn handle_comment(
        &mut self,
        event: &crate::chatops::CommentEvent,
    ) -> Vec<crate::chatops::CommandOutcome> {
        let mut io = crate::chatops::Io {
            config: &self.config,
            workspace: &mut self.workspace,
            registry: &self.registry,
            gates: &self.gates,
            promotion: PromotionIo {
                argo: self.argo.as_ref(),
                forge: self.forge.as_ref(),
                soak: &self.soak,
                watch: &self.watch,
                read_only: self.read_only,
            },
            author: &self.author,
            last_plan: self.last_plan.as_ref(),
            now: time::OffsetDateTime::now_utc(),
        };
        let outcomes = crate::chatops::handle_comment(&mut io, event).await;
        self.metrics.observe_commands(&outcomes);
        self.notifier.after_commands(
            &self.config,
            &self.workspace,
            event,
            &outcomes,
            self.last_plan.as_ref(),
        );
        outcomes
    }
}

/// WARN for each hold that starts with this pass, INFO for each that ended.
fn log_holds(previous: Option<&crate::promotion::Plan>, current: &crate::promotion::Plan) {
    use crate::promotion::holds;
    for h in holds::started(previous, current) {
        tracing::warn!(app = %h.app, env = %h.env, code = %h.code, reason = %h.message, "hold started");
    }
    for h in holds::ended(previous, current) {
        tracing::info!(app = %h.app, env = %h.env, code = %h.code, "hold ended");
    }
}

/// Where checkouts live: `FERRY_CACHE_DIR`, else the platform cache dir.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FERRY_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ferry")
}

/// A context that could not be loaded: a message for a person, and
/// whether it was the input's fault (the config, a key file, an
/// environment variable) or not (the network, the disk).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    /// What went wrong, naming the file or field.
    pub message: String,
    /// The input's fault (exit 2) rather than the environment's (exit 1).
    pub input: bool,
}

impl From<(String, bool)> for LoadError {
    fn from((message, input): (String, bool)) -> Self {
        LoadError { message, input }
    }
}

/// Loads everything from the config file.
/// The checkout in `cache` (default [`cache_dir`]) is locked for the life of
/// the context.
pub async fn load(path: &Path, cache: Option<&Path>) -> Result<Context, LoadError> {
    load_with(path, cache, false).await.map_err(LoadError::from)
}

/// [`load`] for `ferry plan`, which changes nothing in the cache: it holds
/// the cache checkout's lock (so it never reads one halfway through a
/// pass), but works in a scratch checkout that borrows the cache's objects
/// and is deleted with the context; soak clocks are read, never saved.
pub async fn load_read_only(path: &Path) -> Result<Context, LoadError> {
    load_with(path, None, true).await.map_err(LoadError::from)
}

/// How git reaches `gitops.repo`: the credentials (a token from
/// `token_env`, an ssh key, or a GitHub App forge's installation tokens)
/// and the remote, a relative local path taken from the config file's
/// directory `base`. The error says whether it was the input's fault.
pub fn git_access(
    config: &Config,
    gitops: &crate::config::GitOps,
    base: &Path,
) -> Result<(Credentials, String), (String, bool)> {
    let creds = match (&gitops.token_env, &gitops.ssh_key) {
        (Some(var), _) => Credentials::Token {
            user: "x-access-token".into(),
            token: std::env::var(var)
                .map_err(|_| (format!("gitops.token_env: ${var} is not set"), true))?,
        },
        (None, Some(key)) => Credentials::SshKey {
            private_key: base.join(key),
            passphrase: None,
        },
        // A GitHub App forge gives git its installation tokens too.
        (None, None) => match &config.forge {
            Some(f) => crate::forge::github::git_credentials(f, base, &gitops.repo)
                .map_err(|e| (e.to_string(), true))?
                .unwrap_or_default(),
            None => Credentials::None,
        },
    };
    let repo = if gitops.repo.contains("://")
        || gitops.repo.contains('@')
        || Path::new(&gitops.repo).is_absolute()
    {
        gitops.repo.clone()
    } else {
        base.join(&gitops.repo).display().to_string()
    };
    Ok((creds, repo))
}

async fn load_with(
    path: &Path,
    cache: Option<&Path>,
    read_only: bool,
) -> Result<Context, (String, bool)> {
    let config = config::load(path).map_err(|e| (e.to_string(), true))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let gitops = config
        .gitops
        .clone()
        .ok_or_else(|| (format!("{}: `gitops:` is required", path.display()), true))?;
    let registry_cfg = config
        .registry
        .clone()
        .ok_or_else(|| (format!("{}: `registry:` is required", path.display()), true))?;
    let policy = GatePolicy::load(config.gates.as_ref(), &base)
        .map_err(|e| (format!("{}: {e}", path.display()), true))?;
    let registry = AnyRegistry::from_config(&registry_cfg, &base)
        .await
        .map_err(|e| (e.to_string(), true))?;
    let (creds, repo) = git_access(&config, &gitops, &base)?;
    let cache = cache.map_or_else(cache_dir, Path::to_path_buf);
    // A malformed FERRY_LOCK_WAIT is the user's input; the rest is not.
    let failed = |e: crate::gitops::GitError| {
        let input = matches!(e, crate::gitops::GitError::LockWait(_));
        (e.to_string(), input)
    };
    let (workspace, checkout, cache_lock, scratch) = if read_only {
        let checkout = Workspace::dir_for(&repo, &gitops.branch, &cache).map_err(failed)?;
        // No checkout yet: nothing to lock, and nothing is created.
        let lock = if checkout.exists() {
            let wait = crate::gitops::wait_from_env().map_err(|e| (e, true))?;
            Some(Workspace::lock_dir(&checkout, wait).map_err(failed)?)
        } else {
            None
        };
        let scratch = tempfile::Builder::new()
            .prefix("ferry-plan-")
            .tempdir()
            .map_err(|e| (format!("ferry: scratch checkout: {e}"), false))?;
        let mut ws =
            Workspace::open(&repo, &gitops.branch, scratch.path(), creds).map_err(failed)?;
        ws.borrow_objects(&checkout).map_err(failed)?;
        (ws, checkout, lock, Some(scratch))
    } else {
        let ws = Workspace::open(&repo, &gitops.branch, &cache, creds).map_err(failed)?;
        let checkout = ws.root().to_path_buf();
        (ws, checkout, None, None)
    };
    let argo = match &config.argocd {
        Some(a) => Some(ArgoClient::from_config(a).map_err(|e| (e.to_string(), true))?),
        None => None,
    };
    let forge = match &config.forge {
        Some(f) => Some(
            AnyForge::from_config(f, &base)
                .await
                .map_err(|e| (e.to_string(), true))?,
        ),
        None => None,
    };
    // Soak clocks beside the checkout, so a restart keeps them.
    let soak_file = {
        let mut name = checkout.file_name().unwrap_or_default().to_os_string();
        name.push(".soak.json");
        checkout.with_file_name(name)
    };
    let watch_file = {
        let mut name = checkout.file_name().unwrap_or_default().to_os_string();
        name.push(".watch.json");
        checkout.with_file_name(name)
    };
    Ok(Context {
        argo,
        forge,
        soak: SoakTracker::with_file(soak_file),
        watch: WatchBook::with_file(watch_file),
        gates: Gates::new(policy),
        registry,
        workspace,
        author: Author {
            name: gitops.author_name.clone(),
            email: gitops.author_email.clone(),
        },
        config,
        read_only,
        last_plan: None,
        metrics: Arc::new(Metrics::new()),
        dora: crate::dora::Reporter::default(),
        dora_at: None,
        notifier: crate::notify::Notifier::default(),
        _cache_lock: cache_lock,
        _scratch: scratch,
    })
}
