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
pub mod branch;
mod execute;
mod observe;

pub use body::ecr_console_link;
pub use execute::execute;
pub use observe::{observe, read_proposals};

use crate::config::{Environment, Group};
use crate::forge::AnyForge;
use crate::health::{ArgoClient, SoakTracker};
use crate::promotion::snapshot::{Carried, OpenPr, Proposal};

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
    /// The deployments ferry watches for the automatic revert.
    pub watch: &'a crate::promotion::watch::WatchBook,
    /// `ferry plan`: look, change nothing. The soak clocks are not saved
    /// and smoke checks that could change something (a method other than
    /// GET or HEAD) are not sent.
    pub read_only: bool,
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

/// A PR as a proposal that carries nothing yet: what its branch carries is
/// read from git (`observe`), never from its text.
impl From<crate::forge::PullRequest> for Proposal {
    fn from(pr: crate::forge::PullRequest) -> Self {
        Proposal {
            carried: Vec::new(),
            tampered: None,
            stray: false,
            head: pr.head,
            number: pr.number,
            url: pr.url,
            title: pr.title,
            body: pr.body,
            asked: Vec::new(),
        }
    }
}

/// `(app, digest)` of every image a promotion PR's body names, from the
/// `Ferry-App` and `Ferry-Digest` trailers of its commit message. A digest
/// before any `Ferry-App` line gets an empty app. Text a collaborator can
/// edit: used only to recognise a rejected proposal (where it can make
/// ferry hold, never promote), never for what an open PR carries.
pub fn carried(body: &str) -> Vec<(String, String)> {
    carried_images(body)
        .into_iter()
        .map(|c| (c.app, c.digest))
        .collect()
}

/// One image a promotion PR carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedImage {
    /// `Ferry-App` (empty if none came before the digest).
    pub app: String,
    /// `Ferry-Digest`.
    pub digest: String,
    /// The tag of `Ferry-Image: name:tag@digest`, when given.
    pub tag: Option<String>,
}

/// [`carried`], with each image's tag.
pub fn carried_images(body: &str) -> Vec<CarriedImage> {
    let (mut app, mut tag) = (String::new(), None);
    let mut out = Vec::new();
    for line in body.lines().map(str::trim) {
        if let Some(a) = line.strip_prefix("Ferry-App:") {
            (app, tag) = (a.trim().to_string(), None);
        } else if let Some(image) = line.strip_prefix("Ferry-Image:") {
            let named = image.trim().split('@').next().unwrap_or_default();
            tag = named
                .rsplit_once(':')
                .filter(|(_, t)| !t.contains('/'))
                .map(|(_, t)| t.to_string());
        } else if let Some(d) = line.strip_prefix("Ferry-Digest:") {
            out.push(CarriedImage {
                app: app.clone(),
                digest: d.trim().to_string(),
                tag: tag.take(),
            });
        }
    }
    out
}

/// The PR as seen from one app: `None` when it does not carry the app. A
/// PR whose branch is not ferry's commit counts for every app in its scope
/// (it carries nothing ferry trusts, and is replaced or closed).
pub fn open_pr_for(p: &Proposal, app: &str) -> Option<OpenPr> {
    let c = p.carried.iter().find(|c| c.app == app);
    if c.is_none() && p.tampered.is_none() {
        return None;
    }
    Some(OpenPr {
        number: p.number,
        url: p.url.clone(),
        digest: c.map(|c| c.digest.clone()),
        tag: c.and_then(|c| c.tag.clone()),
        intact: p.tampered.is_none(),
        asked: p.asked.iter().any(|a| a == app),
        gate: None,
    })
}

/// What a closed PR's trailers name, as [`Carried`] (see [`carried`]).
pub fn named_in_text(body: &str) -> Vec<Carried> {
    carried_images(body)
        .into_iter()
        .map(|c| Carried {
            app: c.app,
            tag: c.tag,
            digest: c.digest,
        })
        .collect()
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
        let images = carried_images(
            "Ferry-App: api\nFerry-Image: reg.io:5000/team/api:sha-3@sha256:aa\nFerry-Digest: sha256:aa\n\
             Ferry-App: web\nFerry-Image: reg.io:5000/web@sha256:bb\nFerry-Digest: sha256:bb\n",
        );
        assert_eq!(images[0].tag.as_deref(), Some("sha-3"));
        assert_eq!(images[1].tag, None, "a port is not a tag");
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
