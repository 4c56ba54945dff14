//! Fills [`Watched`] into a snapshot for every app in an environment with
//! `auto_revert`: which deployment runs, whether ferry made it or saw it
//! land, the failure clock after this look, and the image before it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use tracing::{info, warn};

use super::book::{Deployment, SeenPr};
use super::{BackTo, Live, Via, Watched};
use crate::config::Config;
use crate::forge::{Forge, PrState};
use crate::gates::{Gate, Gates};
use crate::gitops::Workspace;
use crate::promotion::promote::PromotionIo;
use crate::promotion::revert::{self, Deployed};
use crate::promotion::snapshot::{AppState, EnvState, Snapshot};
use crate::registry::ImageSource;

/// An overlay's versions, newest first: commit and bytes.
type Versions = Vec<(String, Vec<u8>)>;

/// How far back an overlay's history is read for the image before.
const VERSIONS: usize = 200;
const COMMITS: usize = 5_000;

/// See the module docs. Writes the book's file unless `io.read_only`.
pub async fn observe<S: ImageSource>(
    config: &Config,
    snapshot: &mut Snapshot,
    ws: &Workspace,
    io: &PromotionIo<'_>,
    source: &S,
    gates: &Gates,
    now: OffsetDateTime,
) {
    let watched: Vec<&str> = config
        .environments
        .iter()
        .filter(|e| e.auto_revert.is_some())
        .map(|e| e.name.as_str())
        .collect();
    if watched.is_empty() {
        return;
    }
    learn_merges(snapshot, io, &watched, now).await;
    let mut histories: HashMap<PathBuf, Result<Versions, String>> = HashMap::new();
    let repositories: HashMap<&str, &str> = config
        .apps
        .iter()
        .map(|a| (a.name.as_str(), a.repository.as_str()))
        .collect();
    for app in &mut snapshot.apps {
        let image = app.image.clone();
        let repository = repositories.get(app.app.as_str()).copied().unwrap_or("");
        for i in 0..app.envs.len() {
            let Some(rule) = config
                .environments
                .iter()
                .find(|e| e.name == app.envs[i].env)
                .and_then(|e| e.auto_revert)
            else {
                continue;
            };
            let env = &app.envs[i];
            let Some(dep) = io.watch.current(&app.app, &env.env) else {
                continue;
            };
            let within = rule.within.0;
            let after = rule.after.0;
            if now - dep.landed_at > within {
                continue;
            }
            let Some(file) = env.file.clone() else {
                continue;
            };
            let history = histories
                .entry(file.clone())
                .or_insert_with(|| versions(ws, &file));
            let history = match history {
                Ok(h) => deployed(h, &image),
                Err(e) => {
                    warn!(app = %app.app, env = %env.env, error = %e, "cannot read the overlay's history; not watched this pass");
                    continue;
                }
            };
            let Some(watched) = look(app, i, &dep, &history, io, now, within, after) else {
                continue;
            };
            let watched = match watched {
                Look::Watched(w) => *w,
                Look::Gone => {
                    info!(app = %app.app, env = %app.envs[i].env, commit = %dep.commit,
                        "the overlay no longer runs this deployment; watch ended");
                    io.watch.forget(&app.app, &app.envs[i].env, &dep.commit);
                    continue;
                }
            };
            let mut watched = watched;
            if due(&watched, now)
                && let Ok(back) = &mut watched.back_to
            {
                back.checked = Some(check_back(app, repository, back, source, gates).await);
            }
            app.envs[i].watch = Some(watched);
        }
    }
    io.watch.prune(now);
    if !io.read_only
        && let Err(e) = io.watch.save()
    {
        warn!(error = %e, "cannot save the watch book; a restart would forget the watches");
    }
}

/// Whether a revert of `w` is due at `now`: failing for `after`, within
/// the watch, not pinned, not reverted.
fn due(w: &Watched, now: OffsetDateTime) -> bool {
    w.reverted_by.is_none()
        && !w.pinned
        && now - w.landed_at <= w.within
        && w.failing.as_ref().is_some_and(|f| now - f.since >= w.after)
}

enum Look {
    Watched(Box<Watched>),
    /// The overlay runs something else now: not this deployment any more.
    Gone,
}

#[allow(clippy::too_many_arguments)]
fn look(
    app: &AppState,
    i: usize,
    dep: &Deployment,
    history: &[Deployed],
    io: &PromotionIo<'_>,
    now: OffsetDateTime,
    within: std::time::Duration,
    after: std::time::Duration,
) -> Option<Look> {
    let env: &EnvState = &app.envs[i];
    let running = env.running.as_ref().ok()?.as_ref()?;
    let base = |live: Live, failing, back_to| Watched {
        commit: dep.commit.clone(),
        via: dep.via.clone(),
        landed_at: dep.landed_at,
        within,
        after,
        live,
        failing,
        back_to,
        pinned: env.pin.is_some(),
        reverted_by: dep.reverted_by.clone(),
    };
    if dep.reverted_by.is_some() {
        return Some(Look::Watched(Box::new(base(
            Live::Healthy,
            None,
            Err("reverted already".into()),
        ))));
    }
    // The history must end in what the overlay runs, and that image must
    // have come with the deployment's commit.
    let current = history.first()?;
    if (&current.tag, &current.digest) != (&running.tag, &running.digest) {
        return None;
    }
    let run = history
        .iter()
        .take_while(|d| (&d.tag, &d.digest) == (&current.tag, &current.digest))
        .count();
    let brought = history.get(run.saturating_sub(1))?;
    if brought.commit != dep.commit || (&dep.tag, &dep.digest) != (&running.tag, &running.digest) {
        return Some(Look::Gone);
    }
    let back_to = match revert::pick(history, None) {
        Ok(t) => Ok(BackTo {
            tag: t.to.tag.clone(),
            digest: t.to.digest.clone().unwrap_or_default(),
            commit: t.to.commit.clone(),
            checked: None,
        }),
        Err(e) => Err(e.to_string()),
    };
    let live = env.live.clone().unwrap_or_else(|| Live::Unknown {
        why: "Argo CD was not asked (no `argocd` or `argocd_app`)".into(),
    });
    let failing = io.watch.look(&app.app, &env.env, &dep.commit, &live, now);
    Some(Look::Watched(Box::new(base(live, failing, back_to))))
}

/// The registry's and the gates' word on the image to go back to: it must
/// be listed and its signature must pass; scan findings do not block a
/// rollback (as for `/ferry revert`: the image ran before).
async fn check_back<S: ImageSource>(
    app: &AppState,
    repository: &str,
    back: &mut BackTo,
    source: &S,
    gates: &Gates,
) -> Result<Option<String>, String> {
    let record = app.records.iter().find(|r| {
        if back.digest.is_empty() {
            back.tag
                .as_ref()
                .is_some_and(|t| r.tags.iter().any(|x| x == t))
        } else {
            r.digest.as_str() == back.digest
        }
    });
    let Some(record) = record else {
        return Err(format!(
            "{} is not in the registry repository `{repository}`",
            describe(back)
        ));
    };
    back.digest = record.digest.to_string();
    let verdict = gates.check(source, repository, &record.digest).await;
    let unsigned: Vec<String> = verdict
        .reasons
        .iter()
        .filter(|r| r.gate == Gate::Signature)
        .map(|r| format!("{} ({})", r.code.as_str(), r.message))
        .collect();
    if !unsigned.is_empty() {
        return Err(format!(
            "the signature of {} does not pass: {}",
            describe(back),
            unsigned.join("; ")
        ));
    }
    Ok(verdict.signature_key.clone())
}

fn describe(b: &BackTo) -> String {
    Deployed {
        commit: b.commit.clone(),
        tag: b.tag.clone(),
        digest: (!b.digest.is_empty()).then(|| b.digest.clone()),
    }
    .describe()
}

/// The versions of `file` on the first-parent line, newest first: commit
/// and bytes (empty for a deleted file).
fn versions(ws: &Workspace, file: &Path) -> Result<Versions, String> {
    ws.file_versions(file, VERSIONS, COMMITS)
        .map(|vs| {
            vs.into_iter()
                .map(|v| (v.commit, v.content.unwrap_or_default()))
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// What each version set for `image`.
fn deployed(versions: &[(String, Vec<u8>)], image: &str) -> Vec<Deployed> {
    versions
        .iter()
        .map(|(commit, bytes)| {
            let entry = std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| crate::kustomize::read_images(t).ok())
                .and_then(|es| es.into_iter().find(|e| e.name == image));
            Deployed {
                commit: commit.clone(),
                tag: entry.as_ref().and_then(|e| e.new_tag.clone()),
                digest: entry.and_then(|e| e.digest),
            }
        })
        .collect()
}

/// Notes the promotion PRs open in watched environments, and asks the
/// forge about each that is open no more: the merge of one ferry opened is
/// a deployment it saw land, landed by the commit the forge names.
async fn learn_merges(
    snapshot: &Snapshot,
    io: &PromotionIo<'_>,
    watched: &[&str],
    now: OffsetDateTime,
) {
    let Some(forge) = io.forge else { return };
    if snapshot.forge_error.is_some() {
        return;
    }
    let open: Vec<SeenPr> = snapshot
        .proposals
        .iter()
        .filter(|p| p.tampered.is_none() && !p.stray)
        .filter_map(|p| {
            let env = p
                .head
                .strip_prefix(crate::promotion::promote::BRANCH_PREFIX)?
                .split_once('/')?
                .0;
            watched.contains(&env).then(|| SeenPr {
                number: p.number,
                url: p.url.clone(),
                env: env.to_string(),
                carried: p
                    .carried
                    .iter()
                    .map(|c| (c.app.clone(), c.tag.clone(), c.digest.clone()))
                    .collect(),
            })
        })
        .collect();
    for pr in io.watch.saw_open(open) {
        match forge.get(pr.number).await {
            Ok(got) if got.state == PrState::Merged && got.opened_by(forge.identity()) => {
                let Some(commit) = got.merge_commit.clone() else {
                    warn!(
                        number = pr.number,
                        "the forge names no merge commit; its deployment is not watched"
                    );
                    continue;
                };
                for (app, tag, digest) in &pr.carried {
                    io.watch.record(Deployment {
                        app: app.clone(),
                        env: pr.env.clone(),
                        commit: commit.clone(),
                        tag: tag.clone(),
                        digest: Some(digest.clone()),
                        landed_at: got.merged_at.unwrap_or(now),
                        via: Via::Merge {
                            number: pr.number,
                            url: pr.url.clone(),
                        },
                        failing: None,
                        reverted_by: None,
                    });
                }
            }
            Ok(_) => {}
            Err(e) => {
                warn!(number = pr.number, error = %e, "cannot ask the forge about a promotion PR; asking again next pass");
                io.watch.still_unknown(pr);
            }
        }
    }
}
