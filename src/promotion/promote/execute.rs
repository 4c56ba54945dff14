//! Executing the pull-request side of a plan: for each planned step, push
//! the proposal branch and open or update its PR, or comment and close it.
//! Every decision was made by the planner (`plan::prs`); this only acts.

use std::path::Path;

use super::PrAction;
use super::body;
use super::observe::CLOSED_BY_FERRY;
use crate::config::Config;
use crate::forge::{AnyForge, Forge, PrSpec};
use crate::gitops::{Author, Workspace};
use crate::promotion::execute::apply_moves;
use crate::promotion::plan::{Entry, Plan, PrOp, PrStep};
use crate::promotion::snapshot::{Carried, Snapshot};

/// What a pass needs to write pull requests.
struct Writer<'a> {
    config: &'a Config,
    snapshot: &'a Snapshot,
    forge: &'a AnyForge,
    author: &'a Author,
    done: Vec<PrAction>,
}

/// Carries out every pull-request step of `plan`, in order.
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
        done: Vec::new(),
    };
    for step in &plan.pull_requests {
        match step.op {
            PrOp::Open | PrOp::Update => w.propose(ws, step).await?,
            PrOp::Close => {
                if let Some(number) = step.number {
                    w.close(step, number).await?;
                }
            }
        }
    }
    Ok(w.done)
}

impl Writer<'_> {
    /// Pushes the branch with the step's moves on top of the base branch,
    /// then opens its PR or rewrites the open one.
    async fn propose(&mut self, ws: &mut Workspace, step: &PrStep) -> Result<(), String> {
        let (config, name) = (self.config, step.env.as_str());
        let Some(env) = config.environments.iter().find(|e| e.name == name) else {
            return Ok(());
        };
        let entries: Vec<&Entry> = step.carries.iter().collect();
        let mut message = None;
        ws.propose(&step.head, self.author, |root: &Path| {
            let m = apply_moves(root, config, name, &entries)?;
            message.clone_from(&m);
            Ok::<_, String>(m)
        })
        .map_err(|err| err.to_string())?;
        let Some(message) = message else {
            return Ok(());
        };
        let title = body::title(name, &entries);
        let text = body::body(
            config,
            self.snapshot,
            name,
            &entries,
            &message,
            step.request.as_deref(),
        );
        let open = step
            .number
            .and_then(|n| self.snapshot.proposals.iter().find(|p| p.number == n));
        let (pr, what) = match open {
            Some(open) => {
                let pr = self.forge.update(open.number, &title, &text).await;
                // Approvals of the old images may survive the force-push;
                // say what changed where reviewers look.
                let mut note = superseded(&open.carried, &entries);
                if !step.message.is_empty() {
                    note = format!("{}\n\n{note}", step.message).trim().to_string();
                }
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
                    head: step.head.clone(),
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
    /// rejection; one ferry closes is not), comments the reason and closes.
    async fn close(&mut self, step: &PrStep, number: u64) -> Result<(), String> {
        if let Some(p) = self.snapshot.proposals.iter().find(|p| p.number == number) {
            let marked = format!(
                "{}\n\n{CLOSED_BY_FERRY} {}\n",
                p.body.trim_end(),
                step.message.lines().next().unwrap_or_default()
            );
            self.forge
                .update(number, &p.title, &marked)
                .await
                .map_err(|err| err.to_string())?;
        }
        let pr = self
            .forge
            .close(number, &step.message)
            .await
            .map_err(|err| err.to_string())?;
        self.done.push(PrAction {
            env: step.env.clone(),
            apps: step.apps.clone(),
            number: pr.number,
            url: pr.url,
            what: "closed",
        });
        Ok(())
    }
}

/// The comment on an updated PR: each app whose proposed image changed,
/// from what the PR carried to what it carries now; empty when none did.
fn superseded(before: &[Carried], now: &[&Entry]) -> String {
    let short = |d: &str| d.get(..19).unwrap_or(d).to_string();
    let mut lines = Vec::new();
    for e in now {
        let Some(to) = e.to.as_ref().and_then(|t| t.digest.as_deref()) else {
            continue;
        };
        let was = before.iter().find(|c| c.app == e.app).map(|c| &c.digest);
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
        "ferry updated this pull request: upstream has proven newer images.\n\n{}\n\nReview the new images before merging; earlier approvals were for the old ones.",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotion::plan::{Action, ImageRef};

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
            pushed_at: None,
        }
    }

    #[test]
    fn an_update_comment_names_what_changed() {
        let c = |app: &str, digest: &str| Carried {
            app: app.into(),
            tag: None,
            digest: digest.into(),
        };
        let before = [c("api", "sha256:aaaa"), c("web", "sha256:bbbb")];
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
