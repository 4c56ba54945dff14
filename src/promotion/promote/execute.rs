//! Executing the pull-request side of a plan: push each proposal branch,
//! open or update its PR, close PRs that went stale or that no longer
//! match the config.

use std::path::Path;

use super::body::{self, GateEvidence};
use super::observe::CLOSED_BY_FERRY;
use super::{BRANCH_PREFIX, GROUP_LEAF, PrAction, branch, carried_images, group_branch};
use crate::config::{Config, Environment, Group};
use crate::forge::{AnyForge, Forge, PrSpec};
use crate::gitops::{Author, Workspace};
use crate::promotion::execute::apply_moves;
use crate::promotion::plan::{Action, Entry, ImageRef, Plan};
use crate::promotion::snapshot::Snapshot;

/// What a pass needs to write pull requests.
struct Writer<'a> {
    config: &'a Config,
    snapshot: &'a Snapshot,
    forge: &'a AnyForge,
    author: &'a Author,
    gates: GateEvidence,
    done: Vec<PrAction>,
}

fn code(e: &Entry) -> Option<&'static str> {
    e.reason.as_ref().map(|r| r.code)
}

/// Pushes the proposal branch of every moving pull-request entry and opens
/// or updates its PR; closes PRs whose environment already runs what they
/// propose, and PRs on `ferry/` branches the config no longer produces
/// (an app or environment removed, or the grouping changed).
pub async fn execute(
    config: &Config,
    snapshot: &Snapshot,
    plan: &Plan,
    ws: &mut Workspace,
    author: &Author,
    forge: Option<&AnyForge>,
) -> Result<Vec<PrAction>, String> {
    let Some(forge) = forge else {
        return Ok(Vec::new());
    };
    let mut w = Writer {
        config,
        snapshot,
        forge,
        author,
        gates: GateEvidence::read(ws),
        done: Vec::new(),
    };
    for env in config.environments.iter().filter(|e| e.after.is_some()) {
        let entries: Vec<&Entry> = plan.entries.iter().filter(|e| e.env == env.name).collect();
        match env.group {
            Group::App => {
                for e in entries {
                    w.one_app(ws, env, e).await?;
                }
            }
            Group::Environment => w.grouped(ws, env, &entries).await?,
        }
    }
    w.close_strays().await?;
    Ok(w.done)
}

impl Writer<'_> {
    async fn one_app(
        &mut self,
        ws: &mut Workspace,
        env: &Environment,
        e: &Entry,
    ) -> Result<(), String> {
        let head = branch(&env.name, &e.app);
        match (e.action, code(e)) {
            (Action::PullRequest, _) => self.propose(ws, env, &head, &[e]).await,
            (Action::None, Some("up_to_date")) => {
                let Some(open) = self.snapshot.proposal(&head) else {
                    return Ok(());
                };
                let why = e.reason.as_ref().map(|r| r.message.as_str()).unwrap_or("");
                let note = format!(
                    "{} already runs this app's promoted image ({why}); closing.",
                    env.name
                );
                self.close(&env.name, vec![e.app.clone()], open.number, &note)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// One PR for the environment. When anything moves, the branch is
    /// rebuilt with every app that moves plus every app the open PR
    /// already carries and the environment does not run yet (waiting for
    /// review, or for a newer image upstream still has to prove), each at
    /// the image the PR carries; an update never drops an app. When
    /// nothing moves, the PR is closed once the environment runs all it
    /// carries.
    async fn grouped(
        &mut self,
        ws: &mut Workspace,
        env: &Environment,
        entries: &[&Entry],
    ) -> Result<(), String> {
        let head = group_branch(&env.name);
        let open = self.snapshot.proposal(&head);
        if entries.iter().any(|e| e.action == Action::PullRequest) {
            let images = open.map(|o| carried_images(&o.body)).unwrap_or_default();
            let kept: Vec<Entry> = entries
                .iter()
                .filter(|e| e.action != Action::PullRequest)
                .filter(|e| !matches!(code(e), Some("up_to_date" | "pinned")))
                .filter_map(|e| {
                    let c = images.iter().find(|c| c.app == e.app)?;
                    Some(Entry {
                        action: Action::PullRequest,
                        to: Some(ImageRef {
                            tag: c.tag.clone(),
                            digest: Some(c.digest.clone()),
                        }),
                        reason: None,
                        ..(*e).clone()
                    })
                })
                .collect();
            // Config order, so the title and the branch do not depend on
            // which app moved first.
            let all: Vec<&Entry> = entries
                .iter()
                .filter_map(|e| {
                    if e.action == Action::PullRequest {
                        Some(*e)
                    } else {
                        kept.iter().find(|k| k.app == e.app)
                    }
                })
                .collect();
            return self.propose(ws, env, &head, &all).await;
        }
        let Some(open) = open else {
            return Ok(());
        };
        let carried: Vec<&Entry> = entries
            .iter()
            .copied()
            .filter(|e| open.carried.iter().any(|(app, _)| *app == e.app))
            .collect();
        if carried.iter().all(|e| code(e) == Some("up_to_date")) {
            let apps = carried.iter().map(|e| e.app.clone()).collect();
            let note = format!(
                "{} already runs every image this pull request proposes; closing.",
                env.name
            );
            return self.close(&env.name, apps, open.number, &note).await;
        }
        Ok(())
    }

    /// Pushes `head` with the moves of `entries` on top of the base branch,
    /// then opens its PR or rewrites the open one.
    async fn propose(
        &mut self,
        ws: &mut Workspace,
        env: &Environment,
        head: &str,
        entries: &[&Entry],
    ) -> Result<(), String> {
        let (config, name) = (self.config, env.name.as_str());
        let mut message = None;
        ws.propose(head, self.author, |root: &Path| {
            let m = apply_moves(root, config, name, entries)?;
            message.clone_from(&m);
            Ok::<_, String>(m)
        })
        .map_err(|err| err.to_string())?;
        let Some(message) = message else {
            return Ok(());
        };
        let title = body::title(name, entries);
        let text = body::body(config, self.snapshot, &self.gates, name, entries, &message);
        let (pr, what) = match self.snapshot.proposal(head) {
            Some(open) => {
                let pr = self.forge.update(open.number, &title, &text).await;
                // Approvals of the old images may survive the force-push;
                // say what changed where reviewers look.
                let note = superseded(&open.carried, entries);
                if pr.is_ok() && !note.is_empty() {
                    self.forge
                        .comment(open.number, &note)
                        .await
                        .map_err(|err| err.to_string())?;
                }
                (pr, "updated")
            }
            None => {
                let spec = PrSpec {
                    head: head.to_string(),
                    base: config
                        .gitops
                        .as_ref()
                        .map_or("main".into(), |g| g.branch.clone()),
                    title,
                    body: text,
                    labels: env.labels.clone(),
                    reviewers: env.reviewers.clone(),
                    draft: false,
                };
                (self.forge.open(&spec).await, "opened")
            }
        };
        let pr = pr.map_err(|err| err.to_string())?;
        self.done.push(PrAction {
            env: name.to_string(),
            apps: entries.iter().map(|e| e.app.clone()).collect(),
            number: pr.number,
            url: pr.url,
            what,
        });
        Ok(())
    }

    /// Marks the body as closed by ferry (a PR a person closes is a
    /// rejection; one ferry closes is not), comments `note` and closes.
    async fn close(
        &mut self,
        env: &str,
        apps: Vec<String>,
        number: u64,
        note: &str,
    ) -> Result<(), String> {
        if let Some(p) = self.snapshot.proposals.iter().find(|p| p.number == number) {
            let marked = format!(
                "{}\n\n{CLOSED_BY_FERRY} {}\n",
                p.body.trim_end(),
                note.lines().next().unwrap_or_default()
            );
            self.forge
                .update(number, &p.title, &marked)
                .await
                .map_err(|err| err.to_string())?;
        }
        let pr = self
            .forge
            .close(number, note)
            .await
            .map_err(|err| err.to_string())?;
        self.done.push(PrAction {
            env: env.to_string(),
            apps,
            number: pr.number,
            url: pr.url,
            what: "closed",
        });
        Ok(())
    }

    /// Closes open PRs on `ferry/<env>/<leaf>` branches of pull-request
    /// environments that the config would not produce now. Branches of
    /// environments ferry does not know are left alone: another ferry, with
    /// another config, may own them.
    async fn close_strays(&mut self) -> Result<(), String> {
        let strays: Vec<(String, u64, String)> = self
            .snapshot
            .proposals
            .iter()
            .filter_map(|p| {
                let rest = p.head.strip_prefix(BRANCH_PREFIX)?;
                let (env, leaf) = rest.split_once('/')?;
                let cfg = self
                    .config
                    .environments
                    .iter()
                    .find(|e| e.name == env && e.after.is_some())?;
                let expected = match cfg.group {
                    Group::Environment => leaf == GROUP_LEAF,
                    Group::App => self
                        .config
                        .apps
                        .iter()
                        .any(|a| a.name == leaf && a.overlays.contains_key(env)),
                };
                (!expected).then(|| (env.to_string(), p.number, p.head.clone()))
            })
            .collect();
        for (env, number, head) in strays {
            let note = format!(
                "ferry no longer proposes changes on `{head}`: its app was removed from \
                 {env}, or {env} changed its `group:` setting; closing."
            );
            self.close(&env, Vec::new(), number, &note).await?;
        }
        Ok(())
    }
}

/// The comment on an updated PR: each app whose proposed image changed,
/// from what the PR carried to what it carries now; empty when none did.
fn superseded(before: &[(String, String)], now: &[&Entry]) -> String {
    let short = |d: &str| d.get(..19).unwrap_or(d).to_string();
    let mut lines = Vec::new();
    for e in now {
        let Some(to) = e.to.as_ref().and_then(|t| t.digest.as_deref()) else {
            continue;
        };
        let was = before.iter().find(|(app, _)| *app == e.app).map(|(_, d)| d);
        if was.map(String::as_str) == Some(to) {
            continue;
        }
        let tag = e.to.as_ref().and_then(|t| t.tag.as_deref()).unwrap_or("-");
        lines.push(match was {
            Some(w) => format!(
                "- {}: now {tag} (`{}`), was `{}`",
                e.app,
                short(to),
                short(w)
            ),
            None => format!("- {}: added, {tag} (`{}`)", e.app, short(to)),
        });
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "ferry updated this pull request: upstream has proven newer images.\n\n{}\n\n         Review the new images before merging; earlier approvals were for the old ones.",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(app: &str, tag: &str, digest: &str) -> Entry {
        Entry {
            app: app.into(),
            env: "staging".into(),
            action: Action::PullRequest,
            from: None,
            to: Some(ImageRef {
                tag: Some(tag.into()),
                digest: Some(digest.into()),
            }),
            reason: None,
            held: Vec::new(),
            scan: None,
            signature_key: None,
        }
    }

    #[test]
    fn an_update_comment_names_what_changed() {
        let before = [
            ("api".to_string(), "sha256:aaaa".to_string()),
            ("web".to_string(), "sha256:bbbb".to_string()),
        ];
        let (api, web, cron) = (
            entry("api", "sha-4", "sha256:cccc"),
            entry("web", "v1", "sha256:bbbb"),
            entry("cron", "v9", "sha256:dddd"),
        );
        let note = superseded(&before, &[&api, &web, &cron]);
        assert!(
            note.contains("- api: now sha-4 (`sha256:cccc`), was `sha256:aaaa`"),
            "{note}"
        );
        assert!(note.contains("- cron: added, v9 (`sha256:dddd`)"), "{note}");
        assert!(
            !note.contains("web"),
            "unchanged apps are not named: {note}"
        );
        assert_eq!(superseded(&before, &[&web]), "", "nothing changed");
    }
}
