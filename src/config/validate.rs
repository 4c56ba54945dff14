//! Checks that serde's types cannot express. Each problem is returned with
//! the path of the field it concerns; the loader turns paths into positions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};

use super::model::{Config, ForgeKind, Mode, RegistryKind, Smoke};
use crate::image::ImageName;
use crate::yaml::PathSeg;

type Problems = Vec<(Vec<PathSeg>, String)>;

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_string())
}

/// Most retries a smoke check may ask for: with the backoff doubling from
/// 200 ms, ten retries already wait over three minutes.
pub const MAX_SMOKE_RETRIES: u32 = 10;

/// Longest per-request timeout of a smoke check.
pub const MAX_SMOKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Why a URL is refused for carrying user-info: a token or a password in
/// it would be stored in the checkout's `.git/config`, or printed. `None`
/// when it carries none. An ssh user name (`git@github.com:…`) is not a
/// secret; anything before `@` in an http(s) URL is.
pub(super) fn user_info(url: &str) -> Option<&'static str> {
    let refused = "carries user-info (a token or password): \
                   give credentials through `token_env` or `ssh_key` instead";
    let lower = url.to_ascii_lowercase();
    if let Some((scheme, rest)) = lower.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (info, _) = authority.rsplit_once('@')?;
        let web = matches!(scheme, "http" | "https");
        return (web || info.contains(':')).then_some(refused);
    }
    // scp-like `user@host:path`: a password (`user:pass@`) is refused.
    let (info, _) = url.split_once('@')?;
    (info.contains(':') && !info.contains('/')).then_some(refused)
}

/// An http(s) URL without user-info, or why not: a message that shows
/// the URL, unless it carries user-info (then it is never echoed).
pub(super) fn web_url(url: &str) -> Result<(), String> {
    if let Some(why) = user_info(url) {
        return Err(format!("the URL {why}"));
    }
    let parsed = Url::parse(url).map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    Ok(())
}

/// A branch name git accepts (`git check-ref-format --branch`).
fn valid_branch(branch: &str) -> bool {
    !branch.starts_with('-') && git2::Reference::is_valid_name(&format!("refs/heads/{branch}"))
}

/// A GitHub login (`alice`), or a team as `team:slug`.
fn valid_reviewer(r: &str) -> bool {
    match r.strip_prefix("team:") {
        Some(slug) => {
            !slug.is_empty()
                && slug.len() <= 100
                && slug
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        }
        None => {
            !r.is_empty()
                && r.len() <= 39
                && !r.starts_with('-')
                && !r.ends_with('-')
                && !r.contains("--")
                && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }
    }
}

/// Every problem in `config`, in the order of the sections.
pub(super) fn validate(config: &Config) -> Problems {
    let mut p = Problems::new();
    if let Some(g) = &config.gitops {
        if g.repo.trim().is_empty() {
            p.push((vec![key("gitops"), key("repo")], "must not be empty".into()));
        }
        if g.branch.trim().is_empty() {
            p.push((
                vec![key("gitops"), key("branch")],
                "must not be empty".into(),
            ));
        } else if !valid_branch(&g.branch) {
            p.push((
                vec![key("gitops"), key("branch")],
                format!("{:?} is not a valid git branch name", g.branch),
            ));
        }
        if let Some(why) = user_info(&g.repo) {
            p.push((vec![key("gitops"), key("repo")], format!("the URL {why}")));
        }
    }
    if let Some(a) = &config.argocd
        && let Err(why) = web_url(&a.url)
    {
        p.push((vec![key("argocd"), key("url")], why));
    }
    forge(config, &mut p);
    if let Some(r) = &config.registry {
        let missing = |field: &str, p: &mut Problems| {
            p.push((
                vec![key("registry")],
                format!("`{field}` is required for kind {:?}", r.kind),
            ));
        };
        for (field, url) in [
            ("endpoint", &r.endpoint),
            ("oci_endpoint", &r.oci_endpoint),
            ("sqs_queue_url", &r.sqs_queue_url),
        ] {
            if let Some(url) = url
                && let Err(why) = web_url(url)
            {
                p.push((vec![key("registry"), key(field)], why));
            }
        }
        if let Some(poll) = &r.poll
            && let Err(e) = poll.parse::<crate::schedule::PollSchedule>()
        {
            p.push((vec![key("registry"), key("poll")], e));
        }
        match r.kind {
            RegistryKind::Ecr if r.region.is_none() => missing("region", &mut p),
            RegistryKind::Local if r.path.is_none() => missing("path", &mut p),
            _ => {}
        }
    }
    environments(config, &mut p);
    apps(config, &mut p);
    chatops(config, &mut p);
    server(config, &mut p);
    notify(config, &mut p);
    p
}

/// A portable environment variable name: a letter or `_`, then letters,
/// digits and `_` (what a shell, a Kubernetes `env:` and a systemd unit
/// all accept).
pub(super) fn valid_env_var(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `notify:` each sink names the variables its kind needs, and only those.
fn notify(config: &Config, p: &mut Problems) {
    use super::model::SinkKind;
    for (i, sink) in config.notify.iter().enumerate() {
        let at = |field: &str| vec![key("notify"), PathSeg::Index(i), key(field)];
        let (needed, refused): (&[&str], &[&str]) = match sink.kind {
            SinkKind::Slack => (&["webhook_url_env"], &["url_env", "secret_env"]),
            SinkKind::Webhook => (&["url_env", "secret_env"], &["webhook_url_env"]),
        };
        let value = |field: &str| match field {
            "webhook_url_env" => sink.webhook_url_env.as_deref(),
            "url_env" => sink.url_env.as_deref(),
            _ => sink.secret_env.as_deref(),
        };
        let kind = match sink.kind {
            SinkKind::Slack => "slack",
            SinkKind::Webhook => "webhook",
        };
        for field in needed {
            match value(field) {
                None => p.push((
                    vec![key("notify"), PathSeg::Index(i)],
                    format!("`{field}` is required for kind {kind}"),
                )),
                Some(name) if !valid_env_var(name) => p.push((
                    at(field),
                    // Not echoed: a URL or secret pasted here by mistake
                    // must not reach a terminal or a log.
                    "is not an environment variable name (letters, digits and '_', \
                     not starting with a digit); put the variable's name here, not its value"
                        .to_string(),
                )),
                Some(_) => {}
            }
        }
        for field in refused {
            if value(field).is_some() {
                p.push((at(field), format!("is not a setting of kind {kind}")));
            }
        }
        if sink.events.as_ref().is_some_and(Vec::is_empty) {
            p.push((
                at("events"),
                "an empty list sends nothing: leave `events` out to send every event".into(),
            ));
        }
    }
}

/// `chatops:` names built-in roles and configured environments.
fn chatops(config: &Config, p: &mut Problems) {
    let Some(c) = &config.chatops else { return };
    let role = |r: &str| {
        (!super::model::ROLES.contains(&r)).then(|| {
            format!(
                "{r:?} is not a GitHub role (one of {})",
                super::model::ROLES.join(", ")
            )
        })
    };
    if let Some(why) = role(&c.permission) {
        p.push((vec![key("chatops"), key("permission")], why));
    }
    for (env, r) in &c.environments {
        let at = vec![key("chatops"), key("environments"), key(env)];
        if !config.environments.iter().any(|e| &e.name == env) {
            p.push((
                at.clone(),
                format!("{env:?} is not a configured environment"),
            ));
        }
        if let Some(why) = role(r) {
            p.push((at, why));
        }
    }
}

/// `server:` listens on a socket address, names a usable environment
/// variable and accepts at least one byte.
fn server(config: &Config, p: &mut Problems) {
    let Some(s) = &config.server else { return };
    let at = |field: &str| vec![key("server"), key(field)];
    if config
        .forge
        .as_ref()
        .and_then(|f| f.repository.as_ref())
        .is_none()
    {
        p.push((
            vec![key("server")],
            "needs `forge.repository` (owner/name): deliveries from any other repository are ignored"
                .into(),
        ));
    }
    if let Err(e) = s.listen.parse::<std::net::SocketAddr>() {
        p.push((
            at("listen"),
            format!(
                "{:?} is not an address and port such as 127.0.0.1:8080: {e}",
                s.listen
            ),
        ));
    }
    let name = &s.webhook_secret_env;
    if name.is_empty() || name.contains(['=', '\0']) {
        p.push((
            at("webhook_secret_env"),
            format!("{name:?} is not an environment variable name"),
        ));
    }
    if s.max_body_bytes() == 0 {
        p.push((at("max_body"), "must be at least 1 byte".into()));
    }
}

fn environments(config: &Config, p: &mut Problems) {
    let at = |i: usize, f: &str| vec![key("environments"), PathSeg::Index(i), key(f)];
    let mut seen = BTreeSet::new();
    for (i, env) in config.environments.iter().enumerate() {
        if !valid_env_name(&env.name) {
            p.push((
                at(i, "name"),
                format!(
                    "{:?} is not a valid name (lowercase letters, digits and '-')",
                    env.name
                ),
            ));
        } else if !seen.insert(env.name.as_str()) {
            p.push((
                at(i, "name"),
                format!("environment {:?} is defined twice", env.name),
            ));
        }
        if let Err(e) = crate::schedule::Windows::parse(&env.windows, env.timezone.as_deref()) {
            let field = if e.starts_with("timezone") {
                "timezone"
            } else {
                "windows"
            };
            p.push((at(i, field), e));
        }
        if let Some(a) = &env.argocd_app {
            let rest = a.replace("{app}", "");
            if rest.contains(['{', '}']) || a.trim().is_empty() {
                p.push((
                    at(i, "argocd_app"),
                    format!("{a:?}: a name, where `{{app}}` is the only placeholder"),
                ));
            }
        }
        for (j, s) in env.smoke.iter().enumerate() {
            let at = |f: &str| {
                vec![
                    key("environments"),
                    PathSeg::Index(i),
                    key("smoke"),
                    PathSeg::Index(j),
                    key(f),
                ]
            };
            smoke(s, &at, p);
        }
        if let Some(r) = &env.auto_revert {
            auto_revert(
                env,
                r,
                &|f: &str| {
                    vec![
                        key("environments"),
                        PathSeg::Index(i),
                        key("auto_revert"),
                        key(f),
                    ]
                },
                p,
            );
        }
        super::analysis::validate(i, env, p);
        if env.mode == Mode::PullRequest && env.after.is_none() {
            p.push((
                vec![key("environments"), PathSeg::Index(i), key("mode")],
                "`mode: pull_request` needs `after`: the environment that proves an image first"
                    .into(),
            ));
        }
        for (j, r) in env.reviewers.iter().enumerate() {
            if !valid_reviewer(r) {
                p.push((
                    vec![
                        key("environments"),
                        PathSeg::Index(i),
                        key("reviewers"),
                        PathSeg::Index(j),
                    ],
                    format!("{r:?} is neither a GitHub login nor `team:<slug>`"),
                ));
            }
        }
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in config.environments.iter().enumerate() {
        names.entry(e.name.as_str()).or_insert(i);
    }
    for (i, env) in config.environments.iter().enumerate() {
        let Some(after) = &env.after else { continue };
        if after == &env.name {
            p.push((
                at(i, "after"),
                "an environment cannot come after itself".into(),
            ));
        } else if !names.contains_key(after.as_str()) {
            p.push((at(i, "after"), format!("unknown environment {after:?}")));
        } else if cycle_from(config, i, &names) {
            p.push((
                at(i, "after"),
                format!("`after` forms a cycle through {after:?}"),
            ));
        }
    }
}

/// `auto_revert` needs a check to watch, a failure time and a watch that
/// is longer than it.
fn auto_revert(
    env: &crate::config::Environment,
    r: &crate::config::AutoRevert,
    at: &dyn Fn(&str) -> Vec<PathSeg>,
    p: &mut Problems,
) {
    // Argo CD tells when ferry's revision is live; without it a smoke
    // check could be judging the image before.
    if env.argocd_app.is_none() {
        p.push((
            at("after"),
            "`auto_revert` needs `argocd_app`: Argo CD shows when the new image is live".into(),
        ));
    }
    if r.after.0.is_zero() {
        p.push((
            at("after"),
            "must be longer than 0s: one failed look is not a failure that lasts".into(),
        ));
    }
    // The watch book keeps a deployment a week (`watch::book::KEEP`).
    if r.within.0 > std::time::Duration::from_secs(7 * 24 * 3600) {
        p.push((
            at("within"),
            "must be at most 7d: ferry keeps what it watches for a week".into(),
        ));
    }
    if r.within.0 <= r.after.0 {
        p.push((
            at("within"),
            "must be longer than `after`: a failure could never last long enough to revert".into(),
        ));
    }
}

/// One smoke check: a URL without user-info, a method, headers and a regex
/// that can be sent, and bounds that keep one pass bounded.
fn smoke(s: &Smoke, at: &dyn Fn(&str) -> Vec<PathSeg>, p: &mut Problems) {
    if let Err(why) = web_url(&s.url) {
        p.push((at("url"), why));
    }
    if let Some(m) = &s.method
        && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        p.push((at("method"), format!("{m:?} is not an HTTP method")));
    }
    for (name, value) in &s.headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            p.push((
                at("headers"),
                format!("{name:?} is not a valid header name"),
            ));
        } else if HeaderValue::from_str(value).is_err() {
            // The value may be a credential: never echo it.
            p.push((
                at("headers"),
                format!("the value of header {name:?} is not valid"),
            ));
        }
    }
    if let Some(r) = &s.body_regex
        && let Err(e) = regex::Regex::new(r)
    {
        p.push((at("body_regex"), format!("invalid regex: {e}")));
    }
    if let Some(n) = s.retries
        && n > MAX_SMOKE_RETRIES
    {
        p.push((
            at("retries"),
            format!("{n} retries: at most {MAX_SMOKE_RETRIES}"),
        ));
    }
    if let Some(t) = &s.timeout
        && (t.0.is_zero() || t.0 > MAX_SMOKE_TIMEOUT)
    {
        p.push((
            at("timeout"),
            format!(
                "{:?}: more than zero and at most {}s",
                t.0,
                MAX_SMOKE_TIMEOUT.as_secs()
            ),
        ));
    }
}

/// `forge:` has what its kind needs.
fn forge(config: &Config, p: &mut Problems) {
    let Some(f) = &config.forge else { return };
    let at = |field: &str| vec![key("forge"), key(field)];
    let missing = |field: &str, p: &mut Problems| {
        p.push((
            vec![key("forge")],
            format!("`{field}` is required for kind {:?}", f.kind),
        ));
    };
    match f.kind {
        ForgeKind::Github => {
            match &f.repository {
                None => missing("repository", p),
                Some(r) => {
                    let ok = r.split_once('/').is_some_and(|(o, n)| {
                        let part = |s: &str| {
                            !s.is_empty()
                                && s.chars().all(|c| {
                                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
                                })
                        };
                        part(o) && part(n)
                    });
                    if !ok {
                        p.push((at("repository"), format!("{r:?} is not `owner/name`")));
                    }
                }
            }
            match (&f.token_env, f.app_id, &f.private_key_file) {
                (Some(_), None, _) | (None, Some(_), Some(_)) => {}
                (None, None, None) => p.push((
                    vec![key("forge")],
                    "give `token_env`, or `app_id` and `private_key_file`".into(),
                )),
                (None, Some(_), None) => missing("private_key_file", p),
                (None, None, Some(_)) => missing("app_id", p),
                (Some(_), Some(_), _) => p.push((
                    at("token_env"),
                    "give `token_env` or a GitHub App (`app_id`, `private_key_file`), not both"
                        .into(),
                )),
            }
            if let Some(url) = &f.api_url
                && let Err(why) = web_url(url)
            {
                p.push((at("api_url"), why));
            }
        }
        ForgeKind::Local if f.path.is_none() => missing("path", p),
        ForgeKind::Local => {}
    }
}

/// True when following `after` from environment `start` comes back to it.
fn cycle_from(config: &Config, start: usize, names: &BTreeMap<&str, usize>) -> bool {
    let mut cur = start;
    for _ in 0..config.environments.len() {
        match config.environments[cur]
            .after
            .as_deref()
            .and_then(|a| names.get(a))
        {
            Some(&next) if next == start => return true,
            Some(&next) => cur = next,
            None => return false,
        }
    }
    false
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// App names become branch names (`ferry/<env>/<app>`) and trailers; a
/// leading letter or digit keeps them apart from `_all`, the branch of a
/// grouped environment.
fn valid_app_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !s.contains("..")
        && !s.ends_with(".lock")
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn apps(config: &Config, p: &mut Problems) {
    let at = |i: usize, f: &str| vec![key("apps"), PathSeg::Index(i), key(f)];
    let envs: BTreeSet<&str> = config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for (i, app) in config.apps.iter().enumerate() {
        if !valid_app_name(&app.name) {
            p.push((
                at(i, "name"),
                format!(
                    "{:?} is not a valid name (letters, digits, '-', '_' and '.', \
                     starting with a letter or digit, at most 100)",
                    app.name
                ),
            ));
        } else if !seen.insert(app.name.as_str()) {
            p.push((
                at(i, "name"),
                format!("app {:?} is defined twice", app.name),
            ));
        }
        if let Err(e) = ImageName::parse(&app.repository) {
            p.push((at(i, "repository"), e.to_string()));
        }
        if let Err(e) = ImageName::parse(&app.image) {
            p.push((at(i, "image"), e.to_string()));
        }
        for (env, dir) in &app.overlays {
            let here = vec![key("apps"), PathSeg::Index(i), key("overlays"), key(env)];
            if !envs.is_empty() && !envs.contains(env.as_str()) {
                p.push((here.clone(), format!("unknown environment {env:?}")));
            }
            if let Err(why) = check_overlay_path(dir) {
                p.push((here.clone(), why));
            }
            // Each environment its own overlay: a write for one would
            // change the other, past its gates and its ChatOps role.
            let norm = |d: &Path| -> Vec<String> {
                d.components()
                    .filter(|c| !matches!(c, Component::CurDir))
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            };
            if let Some((other, _)) = app
                .overlays
                .iter()
                .find(|(e, d)| e.as_str() < env.as_str() && norm(d) == norm(dir))
            {
                p.push((
                    here,
                    format!("is also the overlay of {other:?}; each environment needs its own"),
                ));
            }
        }
    }
}

/// An overlay path must be relative and must not leave the repository.
pub(super) fn check_overlay_path(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err("overlay path is empty".into());
    }
    let mut depth: usize = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("overlay path {shown:?} leaves the repository"))?;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "overlay path {shown:?} must be relative to the repository root"
                ));
            }
        }
    }
    Ok(())
}
