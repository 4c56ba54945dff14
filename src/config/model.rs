//! The typed `ferry.yaml`. Every struct rejects unknown keys, so a typo is
//! an error at its line instead of a silently ignored setting.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::values::{Condition, DurationValue, TagPattern};

/// The whole configuration. Sections a command does not use may be absent.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The GitOps repository ferry writes to.
    pub gitops: Option<GitOps>,
    /// Where images come from.
    pub registry: Option<Registry>,
    /// What an image must pass before it moves.
    pub gates: Option<Gates>,
    /// The environments, in promotion order.
    #[serde(default)]
    pub environments: Vec<Environment>,
    /// The applications ferry promotes.
    #[serde(default)]
    pub apps: Vec<App>,
    /// The Argo CD API that reports what environments run.
    pub argocd: Option<ArgoCd>,
    /// Where promotion pull requests go.
    pub forge: Option<Forge>,
    /// Who may run comment commands.
    pub chatops: Option<ChatOps>,
    /// The HTTP server receiving GitHub webhooks.
    pub server: Option<Server>,
    /// Where notifications go: Slack incoming webhooks and signed webhooks.
    #[serde(default)]
    pub notify: Vec<NotifySink>,
}

/// The kind of a `notify:` sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// A Slack incoming webhook (`webhook_url_env`).
    Slack,
    /// A JSON POST signed with HMAC-SHA256 (`url_env`, `secret_env`).
    Webhook,
}

/// The events a sink can be sent, as `notify[].events` names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An environment moved by a commit ferry pushed.
    Committed,
    /// A promotion pull request was opened.
    PrOpened,
    /// A promotion pull request now proposes another image.
    PrUpdated,
    /// A pull-request environment runs a new image (after a merge).
    Promoted,
    /// An image the gates refuse (once per app and digest).
    Held,
    /// `/ferry pin` pinned an environment.
    Pinned,
    /// `/ferry unpin` released a pin.
    Unpinned,
    /// `/ferry revert` went back to an earlier image.
    Reverted,
    /// Three passes in a row failed.
    PassFailing,
    /// A pass succeeded after a failing streak.
    PassRecovered,
}

impl EventKind {
    /// Every kind, in the order the README lists them.
    pub const ALL: [EventKind; 10] = [
        EventKind::Committed,
        EventKind::PrOpened,
        EventKind::PrUpdated,
        EventKind::Promoted,
        EventKind::Held,
        EventKind::Pinned,
        EventKind::Unpinned,
        EventKind::Reverted,
        EventKind::PassFailing,
        EventKind::PassRecovered,
    ];

    /// The name `events:` uses, and the `event` field of a payload.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Committed => "committed",
            EventKind::PrOpened => "pr_opened",
            EventKind::PrUpdated => "pr_updated",
            EventKind::Promoted => "promoted",
            EventKind::Held => "held",
            EventKind::Pinned => "pinned",
            EventKind::Unpinned => "unpinned",
            EventKind::Reverted => "reverted",
            EventKind::PassFailing => "pass_failing",
            EventKind::PassRecovered => "pass_recovered",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `notify:`. Only the names of environment variables are in
/// the file: the URLs and the secret are read from them when `ferry run`
/// starts, so they never sit in a config map or a log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySink {
    /// `slack` or `webhook`.
    pub kind: SinkKind,
    /// The variable holding the Slack incoming-webhook URL (slack).
    pub webhook_url_env: Option<String>,
    /// The variable holding the URL to POST to (webhook).
    pub url_env: Option<String>,
    /// The variable holding the HMAC secret (webhook).
    pub secret_env: Option<String>,
    /// Only these events (default: all). `pass_failing` also selects
    /// `pass_recovered`, its end.
    pub events: Option<Vec<EventKind>>,
}

impl NotifySink {
    /// Whether this sink wants events of `kind`.
    pub fn wants(&self, kind: EventKind) -> bool {
        match &self.events {
            None => true,
            Some(list) => {
                list.contains(&kind)
                    || (kind == EventKind::PassRecovered && list.contains(&EventKind::PassFailing))
            }
        }
    }
}

/// `chatops:` the minimum GitHub role for comment commands.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatOps {
    /// Minimum role for `pin`, `unpin`, `revert` and `promote` (one of
    /// read, triage, write, maintain, admin; default write).
    #[serde(default = "default_permission")]
    pub permission: String,
    /// Minimum role per environment, replacing `permission` there.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
}

impl Default for ChatOps {
    fn default() -> Self {
        ChatOps {
            permission: default_permission(),
            environments: BTreeMap::new(),
        }
    }
}

fn default_permission() -> String {
    "write".to_string()
}

/// The GitHub roles `chatops:` may name, lowest first.
pub const ROLES: [&str; 5] = ["read", "triage", "write", "maintain", "admin"];

/// `argocd:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgoCd {
    /// Base URL of the Argo CD server, e.g. `https://argocd.acme.io`.
    pub url: String,
    /// Environment variable holding an API token.
    pub token_env: Option<String>,
}

/// Which forge adapter to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgeKind {
    /// GitHub or GitHub Enterprise through its REST API.
    Github,
    /// Pull requests recorded in a local file, for the demo and tests.
    Local,
}

/// `forge:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forge {
    /// `github` or `local`.
    pub kind: ForgeKind,
    /// `owner/name` of the GitOps repository on the forge (github).
    pub repository: Option<String>,
    /// API base URL (github; default `https://api.github.com`).
    pub api_url: Option<String>,
    /// Environment variable holding a token (github).
    pub token_env: Option<String>,
    /// GitHub App id (github, instead of a token).
    pub app_id: Option<u64>,
    /// GitHub App private key (PEM), relative to the config file.
    pub private_key_file: Option<PathBuf>,
    /// The local forge's state file, relative to the config file (local).
    pub path: Option<PathBuf>,
    /// The login ferry acts as on the local forge (local; default `ferry`):
    /// the author of every pull request it opens. ferry adopts only pull
    /// requests with this author. GitHub says itself which login a token
    /// or App is, so kind github refuses this key.
    #[serde(default)]
    pub login: Option<String>,
}

/// `gitops:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitOps {
    /// Any URL git understands, or a local path.
    pub repo: String,
    /// The branch ferry commits to and opens pull requests against.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Author and committer name of ferry's commits.
    #[serde(default = "default_author_name")]
    pub author_name: String,
    /// Author and committer e-mail.
    #[serde(default = "default_author_email")]
    pub author_email: String,
    /// Environment variable holding a token for https remotes.
    pub token_env: Option<String>,
    /// SSH private key for ssh remotes.
    pub ssh_key: Option<PathBuf>,
}

fn default_branch() -> String {
    "main".to_string()
}

fn default_author_name() -> String {
    "ferry".to_string()
}

fn default_author_email() -> String {
    "ferry@localhost".to_string()
}

/// Which registry adapter to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryKind {
    /// Amazon ECR through the AWS SDK.
    Ecr,
    /// A YAML file describing images, for the demo and tests.
    Local,
}

/// `registry:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// `ecr` or `local`.
    pub kind: RegistryKind,
    /// AWS region (ecr).
    pub region: Option<String>,
    /// Endpoint override, e.g. a local AWS-compatible server (ecr).
    pub endpoint: Option<String>,
    /// SQS queue receiving the EventBridge events (ecr).
    pub sqs_queue_url: Option<String>,
    /// Cron schedule of the full poll (ecr), with seconds:
    /// `0 */5 * * * *`.
    pub poll: Option<String>,
    /// Registry URL for signature (OCI) requests instead of the one ECR's
    /// token names (ecr; mirrors and tests).
    pub oci_endpoint: Option<String>,
    /// The registry file (local), relative to the config file.
    pub path: Option<PathBuf>,
}

/// `gates:`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// The scan budget.
    pub scan: Option<ScanGate>,
    /// The signature check.
    pub signature: Option<SignatureGate>,
}

/// Severities as ECR reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// CRITICAL
    Critical,
    /// HIGH
    High,
    /// MEDIUM
    Medium,
    /// LOW
    Low,
    /// INFORMATIONAL
    Informational,
    /// UNDEFINED
    Undefined,
}

/// `gates.scan:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanGate {
    /// Most findings allowed per severity; a severity not listed is unlimited.
    #[serde(default)]
    pub max: BTreeMap<Severity, u32>,
    /// How long to wait for a pending scan before reporting it.
    pub wait: Option<DurationValue>,
}

/// `gates.signature:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureGate {
    /// PEM public keys, relative to the config file; any one verifying is enough.
    pub cosign_keys: Vec<PathBuf>,
}

/// How an environment receives changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// ferry commits straight to the branch.
    Commit,
    /// ferry opens a pull request that people merge.
    PullRequest,
}

/// One entry of `environments:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Unique name, used as the key of `apps[].overlays`.
    pub name: String,
    /// `commit` or `pull_request`.
    pub mode: Mode,
    /// The environment that must prove an image first.
    pub after: Option<String>,
    /// The Argo CD application that deploys it; `{app}` in the name is
    /// replaced by the app's name, for one Argo CD application per app
    /// (`{app}-staging`).
    pub argocd_app: Option<String>,
    /// HTTP checks that must pass.
    #[serde(default)]
    pub smoke: Vec<Smoke>,
    /// How long an image must run healthy before it moves on.
    pub soak: Option<DurationValue>,
    /// Revert a new image automatically when the environment's health
    /// fails after it lands.
    pub auto_revert: Option<AutoRevert>,
    /// Pull request reviewers (`user` or `team:slug`).
    #[serde(default)]
    pub reviewers: Vec<String>,
    /// Pull request labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Cron expressions (minute hour day-of-month month day-of-week) of
    /// the minutes in which promotion PRs may be opened.
    #[serde(default)]
    pub windows: Vec<String>,
    /// The time zone the windows are read in: an IANA name such as
    /// `Europe/Paris`, or a UTC offset such as `+02:00` (default UTC).
    pub timezone: Option<String>,
    /// Pull request grouping.
    #[serde(default)]
    pub group: Group,
    /// Prometheus checks that must pass, with the health and smoke
    /// checks, for the whole soak time.
    #[serde(default)]
    pub analysis: Vec<Analysis>,
}

impl Environment {
    /// The Argo CD application that deploys `app` here, if any.
    pub fn argocd_app_for(&self, app: &str) -> Option<String> {
        self.argocd_app.as_ref().map(|a| a.replace("{app}", app))
    }
}

/// `auto_revert: {after: 5m, within: 1h}`: once a new image ferry made or
/// saw land runs in the environment, watch it for `within`; if its health
/// fails without a break for `after`, commit the environment back to the
/// image it ran before, and pin it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoRevert {
    /// How long the health must fail, without a break, before ferry reverts.
    pub after: DurationValue,
    /// How long after the image landed ferry watches it.
    pub within: DurationValue,
}

/// One HTTP smoke check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smoke {
    /// http:// or https:// URL.
    pub url: String,
    /// HTTP method (default GET).
    pub method: Option<String>,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    pub body: Option<String>,
    /// Expected status (default 200).
    pub expect_status: Option<u16>,
    /// A regex the response body must match.
    pub body_regex: Option<String>,
    /// Per-request timeout (default 10s).
    pub timeout: Option<DurationValue>,
    /// Retries after a failure, with backoff (default 2).
    pub retries: Option<u32>,
}

/// One Prometheus check of `environments[].analysis`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// Unique within its environment; the key of its failure streak.
    pub name: String,
    /// The server asked.
    pub prometheus: Prometheus,
    /// A PromQL instant query; `{app}` and `{env}` are replaced by the
    /// app's and the environment's name, escaped for a double-quoted
    /// PromQL string.
    pub query: String,
    /// The condition its one value must meet, such as `>= 0.95` (see
    /// [`Analysis::condition`]; checked at load).
    pub success: String,
    /// Failed evaluations in a row before the analysis counts as failed
    /// past its limit (default 1).
    pub failure_limit: Option<u32>,
}

impl Analysis {
    /// `success`, parsed. Config load refuses a condition that does not
    /// parse, so an error here means the config was built by hand.
    pub fn condition(&self) -> Result<Condition, String> {
        Condition::parse(&self.success)
    }

    /// `failure_limit`, 1 when unset.
    pub fn limit(&self) -> u32 {
        self.failure_limit.unwrap_or(1)
    }
}

/// `environments[].analysis[].prometheus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prometheus {
    /// Base URL of the Prometheus HTTP API (`http://prometheus:9090`, or
    /// with a path prefix).
    pub url: String,
    /// Environment variable holding a bearer token, if the server wants
    /// one.
    pub token_env: Option<String>,
}

/// How promotion pull requests are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// One pull request per app and environment.
    #[default]
    App,
    /// One pull request per environment for all apps of a pass.
    Environment,
}

/// How candidates are ordered, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// By push time.
    #[default]
    Pushed,
    /// By semantic version of the tag.
    Semver,
}

/// One entry of `apps:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Unique name.
    pub name: String,
    /// The registry repository (e.g. ECR repository name).
    pub repository: String,
    /// The `images[].name` this app has in the overlays.
    pub image: String,
    /// Regex a tag must match to be a candidate (default: every tag).
    pub tags: Option<TagPattern>,
    /// Candidate order.
    #[serde(default)]
    pub order: Order,
    /// Overlay directory per environment, relative to the repo root.
    #[serde(default)]
    pub overlays: BTreeMap<String, PathBuf>,
}

/// `server:` — the HTTP server receiving GitHub webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Address and port to listen on, e.g. `127.0.0.1:8080` (checked as a
    /// socket address at load).
    pub listen: String,
    /// Environment variable holding the webhook secret. ferry refuses to
    /// start a server when it is unset or empty.
    pub webhook_secret_env: String,
    /// Largest delivery body accepted (default 5 MiB); bigger gets 413.
    #[serde(default)]
    pub max_body: Option<ByteSize>,
}

/// The body limit when `server.max_body` is absent: GitHub caps payloads
/// at 25 MB, but the events ferry reads are a few dozen KiB.
pub const DEFAULT_MAX_BODY: u64 = 5 * 1024 * 1024;

/// Why the webhook secret cannot be read. Names the variable, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The variable is unset or empty.
    #[error(
        "environment variable {0} (server.webhook_secret_env) is unset or empty: \
         ferry does not start a server without a webhook secret"
    )]
    Unset(String),
    /// The variable is not valid UTF-8.
    #[error("environment variable {0} (server.webhook_secret_env) is not valid UTF-8")]
    NotUnicode(String),
}

impl Server {
    /// `max_body` in bytes, or the default.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body.map_or(DEFAULT_MAX_BODY, |b| b.0)
    }

    /// `listen` as a socket address (validated at load, so this fails only
    /// on a `Server` built by hand).
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, std::net::AddrParseError> {
        self.listen.parse()
    }

    /// The webhook secret from the environment variable `webhook_secret_env`.
    pub fn webhook_secret(&self) -> Result<Vec<u8>, SecretError> {
        self.webhook_secret_from(|name| std::env::var_os(name))
    }

    /// The webhook secret as `lookup` reports the variable (the process
    /// environment in [`Server::webhook_secret`]; a map in tests).
    pub fn webhook_secret_from(
        &self,
        lookup: impl FnOnce(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Vec<u8>, SecretError> {
        let name = &self.webhook_secret_env;
        let value = lookup(name).ok_or_else(|| SecretError::Unset(name.clone()))?;
        let value = value
            .into_string()
            .map_err(|_| SecretError::NotUnicode(name.clone()))?;
        if value.is_empty() {
            return Err(SecretError::Unset(name.clone()));
        }
        Ok(value.into_bytes())
    }
}

/// A size in bytes, written as an integer (`1048576`) or a string with a
/// unit: `512B`, `64KiB`, `5MiB` (binary units only, so `5MB` is refused
/// rather than guessed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `5MiB`-style text (a space before the unit is allowed).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let mult: u64 = match unit.trim_start() {
            "" | "B" => 1,
            "KiB" => 1024,
            "MiB" => 1024 * 1024,
            other => {
                return Err(format!(
                    "size {s:?}: unknown unit {other:?} (use B, KiB or MiB)"
                ));
            }
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("size {s:?}: a number must come before the unit"))?;
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("size {s:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size in bytes, or a string such as \"5MiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("size {v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}
