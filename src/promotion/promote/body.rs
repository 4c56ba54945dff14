//! Titles and bodies of promotion pull requests: the evidence a reviewer
//! reads before merging. The scan and signature columns are the gates'
//! verdict on the exact digest proposed, taken in this pass; the commit
//! message with its `Ferry-*` trailers closes every body for the record,
//! but ferry never reads a body back as evidence.

use crate::config::Config;
use crate::promotion::plan::{Entry, ImageRef};
use crate::promotion::snapshot::{Proof, Snapshot};

/// Titles list at most this many apps by name.
const TITLE_APPS: usize = 3;

/// `staging: api sha-1 → sha-3`, `staging: api sha-1 → sha-3, web v1 → v2`,
/// or `staging: 5 apps (api, web, cron, …)`.
pub fn title(env: &str, entries: &[&Entry]) -> String {
    let tag = |r: &Option<ImageRef>| r.as_ref().and_then(|r| r.tag.clone());
    let moves: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} → {}",
                e.app,
                tag(&e.from).unwrap_or_else(|| "(none)".into()),
                tag(&e.to).unwrap_or_default()
            )
        })
        .collect();
    if moves.len() <= TITLE_APPS {
        return format!("{env}: {}", moves.join(", "));
    }
    let names: Vec<&str> = entries
        .iter()
        .take(TITLE_APPS)
        .map(|e| e.app.as_str())
        .collect();
    format!("{env}: {} apps ({}, …)", entries.len(), names.join(", "))
}

/// The AWS console page of an ECR image, when `name` is an ECR repository
/// URI (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>`).
pub fn ecr_console_link(name: &str, digest: &str) -> Option<String> {
    let (host, repository) = name.split_once('/')?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    let (dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?);
    let rest: Vec<&str> = parts.collect();
    let console = match rest.as_slice() {
        ["amazonaws", "com"] => "console.aws.amazon.com",
        ["amazonaws", "com", "cn"] => "console.amazonaws.cn",
        _ => return None,
    };
    let ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !ok || dkr != "dkr" || ecr != "ecr" || region.is_empty() || repository.is_empty() {
        return None;
    }
    Some(format!(
        "https://{region}.{console}/ecr/repositories/private/{account}/{repository}/_/image/{digest}/details?region={region}"
    ))
}

/// The body of the PR that promotes `entries` (one app, or a grouped
/// environment's apps) to `env`, closed by the commit `message`.
pub fn body(
    config: &Config,
    snapshot: &Snapshot,
    env: &str,
    entries: &[&Entry],
    message: &str,
    request: Option<&str>,
) -> String {
    let upstream = config
        .environments
        .iter()
        .find(|e| e.name == env)
        .and_then(|e| e.after.clone())
        .unwrap_or_default();
    let names: Vec<String> = entries.iter().map(|e| format!("**{}**", e.app)).collect();
    let mut s = if let Some(request) = request {
        format!("{}\n\n", request.trim_end())
    } else if entries.len() == 1 {
        format!(
            "ferry promotes {} to **{env}**: {upstream} has proven it.\n\n",
            names.join(", ")
        )
    } else {
        format!(
            "ferry promotes {} apps to **{env}**: {upstream} has proven each of them.\n\n",
            entries.len()
        )
    };
    s.push_str("| app | from | to | scan | signed by | image |\n|---|---|---|---|---|---|\n");
    let mut evidence = Vec::new();
    for e in entries {
        let state = snapshot.apps.iter().find(|a| a.app == e.app);
        let up = state.and_then(|a| a.envs.iter().find(|x| x.env == upstream));
        let to_digest =
            e.to.as_ref()
                .and_then(|t| t.digest.clone())
                .unwrap_or_default();
        // Planned entries carry the verdict; nothing else is evidence.
        let unknown = || "(not checked)".to_string();
        let scan = e.scan.clone().unwrap_or_else(unknown);
        let key = e.signature_key.clone().unwrap_or_else(unknown);
        let name = up
            .and_then(|u| u.new_name.clone())
            .or_else(|| state.map(|a| a.image.clone()))
            .unwrap_or_default();
        let image = ecr_console_link(&name, &to_digest).map_or_else(
            || format!("`{name}@{to_digest}`"),
            |url| format!("[ECR]({url})"),
        );
        s.push_str(&format!(
            "| {} | {} | {} | {scan} | `{key}` | {image} |\n",
            e.app,
            cell(&e.from),
            cell(&e.to),
        ));
        // Evidence counts only for the image upstream runs.
        let upstream_runs_it = up.is_some_and(|u| {
            matches!(&u.running, Ok(Some(r)) if r.digest.as_deref() == Some(to_digest.as_str()))
        });
        if let Some(Proof::Proven { evidence: ev }) = up
            .filter(|_| upstream_runs_it)
            .and_then(|u| u.proof.as_ref())
        {
            let argocd = config
                .environments
                .iter()
                .find(|c| c.name == upstream)
                .and_then(|c| c.argocd_app_for(&e.app))
                .unwrap_or_default();
            let link = match &config.argocd {
                Some(a) => format!(
                    "[{argocd}]({}/applications/{argocd})",
                    a.url.trim_end_matches('/')
                ),
                None => format!("`{argocd}`"),
            };
            evidence.push(format!("- {} (Argo CD app {link}): {ev}", e.app));
        }
    }
    s.push_str(&format!(
        "\n**Evidence from {upstream}**:\n{}\n\n",
        evidence.join("\n")
    ));
    s.push_str(&format!(
        "Merge to promote; ferry updates this pull request when a newer image is proven and \
         closes it when {env} already runs what it proposes.\n\n```\n{message}```\n"
    ));
    s
}

/// `sha-3 `sha256:…`` in a table cell.
fn cell(r: &Option<ImageRef>) -> String {
    let Some(r) = r else { return "-".into() };
    match (&r.tag, &r.digest) {
        (Some(t), Some(d)) => format!("{t} `{d}`"),
        (Some(t), None) => t.clone(),
        (None, Some(d)) => format!("`{d}`"),
        (None, None) => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotion::plan::Action;

    fn entry(app: &str, from: &str, to: &str) -> Entry {
        let r = |t: &str| ImageRef {
            tag: Some(t.into()),
            digest: Some(format!("sha256:{t}")),
        };
        Entry {
            app: app.into(),
            env: "staging".into(),
            action: Action::PullRequest,
            from: Some(r(from)),
            to: Some(r(to)),
            reason: None,
            held: Vec::new(),
            scan: None,
            signature_key: None,
            pushed_at: None,
        }
    }

    #[test]
    fn titles_name_up_to_three_apps() {
        let (a, b, c, d) = (
            entry("api", "sha-1", "sha-3"),
            entry("web", "v1", "v2"),
            entry("cron", "v4", "v5"),
            entry("jobs", "v7", "v8"),
        );
        assert_eq!(title("staging", &[&a]), "staging: api sha-1 → sha-3");
        assert_eq!(
            title("staging", &[&a, &b]),
            "staging: api sha-1 → sha-3, web v1 → v2"
        );
        assert_eq!(
            title("staging", &[&a, &b, &c, &d]),
            "staging: 4 apps (api, web, cron, …)"
        );
    }

    #[test]
    fn ecr_links_only_for_ecr_repositories() {
        assert_eq!(
            ecr_console_link(
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/llmplatform/gateway",
                "sha256:ab"
            )
            .as_deref(),
            Some(
                "https://us-west-2.console.aws.amazon.com/ecr/repositories/private/123456789012/llmplatform/gateway/_/image/sha256:ab/details?region=us-west-2"
            )
        );
        assert!(
            ecr_console_link("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/api", "d")
                .is_some_and(|u| u.starts_with("https://cn-north-1.console.amazonaws.cn/"))
        );
        for not_ecr in [
            "ghcr.io/acme/api",
            "api",
            "localhost:5000/api",
            "12345.dkr.ecr.us-west-2.amazonaws.com/api",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.io/api",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/",
        ] {
            assert_eq!(ecr_console_link(not_ecr, "d"), None, "{not_ecr}");
        }
    }
}
