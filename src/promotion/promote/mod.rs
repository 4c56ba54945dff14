//! The pull-request side of a pass.
//!
//! - [`observe`](observe()) fills in what a snapshot needs to plan
//!   promotions: the open promotion PRs (one forge call), each
//!   environment's window, and what upstream environments have proven (one
//!   Argo CD call and one round of smoke checks per environment, one walk
//!   of the history for every overlay file).
//! - [`execute`](execute()) pushes proposal branches and opens, updates or
//!   closes their PRs, one per app and environment or, with
//!   `group: environment`, one per environment.
//! - `body` writes titles and bodies: the evidence reviewers read.
//!
//! Branch names are the only link between a PR and what it promotes, so
//! they are fixed: `ferry/<env>/<app>`, and `ferry/<env>/_all` for a
//! grouped environment (app names cannot start with `_`).

mod body;
mod execute;
mod observe;

pub use execute::execute;
pub use observe::observe;

use crate::config::{Environment, Group};
use crate::forge::AnyForge;
use crate::health::{ArgoClient, SoakTracker};

/// Every promotion branch starts with this.
pub const BRANCH_PREFIX: &str = "ferry/";

/// The last part of a grouped environment's branch.
pub const GROUP_LEAF: &str = "_all";

/// The branch of the promotion PR of `app` to `env`.
pub fn branch(env: &str, app: &str) -> String {
    format!("{BRANCH_PREFIX}{env}/{app}")
}

/// The branch of the one promotion PR of a grouped environment.
pub fn group_branch(env: &str) -> String {
    branch(env, GROUP_LEAF)
}

/// The branch that carries `app`'s promotion to `env`, given its grouping.
pub fn head_for(env: &Environment, app: &str) -> String {
    match env.group {
        Group::App => branch(&env.name, app),
        Group::Environment => group_branch(&env.name),
    }
}

/// The adapters the pull-request side uses; any may be absent, and what
/// cannot be checked then holds.
pub struct PromotionIo<'a> {
    /// Argo CD.
    pub argo: Option<&'a ArgoClient>,
    /// The forge.
    pub forge: Option<&'a AnyForge>,
    /// Soak clocks, kept between passes.
    pub soak: &'a SoakTracker,
}

/// What happened to one promotion PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrAction {
    /// Environment.
    pub env: String,
    /// The apps it promotes (one, unless the environment is grouped).
    pub apps: Vec<String>,
    /// PR number.
    pub number: u64,
    /// PR URL.
    pub url: String,
    /// `opened`, `updated` or `closed`.
    pub what: &'static str,
}

/// `(app, digest)` of every image a promotion PR's body carries, from the
/// `Ferry-App` and `Ferry-Digest` trailers of its commit message. A digest
/// before any `Ferry-App` line gets an empty app.
pub fn carried(body: &str) -> Vec<(String, String)> {
    let mut app = String::new();
    let mut out = Vec::new();
    for line in body.lines().map(str::trim) {
        if let Some(a) = line.strip_prefix("Ferry-App:") {
            app = a.trim().to_string();
        } else if let Some(d) = line.strip_prefix("Ferry-Digest:") {
            out.push((app.clone(), d.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_pairs_apps_with_digests() {
        let body = "text\n```\nstaging: api a→b, web c→d\n\nFerry-App: api\nFerry-Env: staging\n\
                    Ferry-Digest: sha256:aa\nFerry-App: web\nFerry-Digest: sha256:bb\n```\n";
        assert_eq!(
            carried(body),
            [
                ("api".to_string(), "sha256:aa".to_string()),
                ("web".to_string(), "sha256:bb".to_string())
            ]
        );
        assert_eq!(
            carried("Ferry-Digest: sha256:cc"),
            [(String::new(), "sha256:cc".to_string())]
        );
        assert!(carried("no trailers").is_empty());
    }

    #[test]
    fn grouped_environments_share_one_branch() {
        let mut env: Environment =
            yaml_serde::from_str("{name: staging, mode: pull_request}").expect("environment");
        assert_eq!(head_for(&env, "api"), "ferry/staging/api");
        env.group = Group::Environment;
        assert_eq!(head_for(&env, "api"), "ferry/staging/_all");
        assert_eq!(head_for(&env, "web"), head_for(&env, "api"));
    }
}
