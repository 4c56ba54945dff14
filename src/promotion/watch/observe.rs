//! Fills [`Watched`] into a snapshot for every app in an environment with
//! `auto_revert`: which deployment runs, whether ferry made it or saw it
//! land, the failure clock after this look, and the image before it.

use std::collections::{HashMap, HashSet};
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

/// An overlay's versions, newest first: commit, commit time (seconds) and
/// bytes.
type Versions = Vec<(String, i64, Vec<u8>)>;

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
    // First every watched app's look, then the blame (a check the
    // environment shares fails every app at once), then the clocks.
    let mut pending: Vec<Pending> = Vec::new();
    for (ai, app) in snapshot.apps.iter().enumerate() {
        for (ei, env) in app.envs.iter().enumerate() {
            let Some(cfg) = config.environments.iter().find(|e| e.name == env.env) else {
                continue;
            };
            let Some(rule) = cfg.auto_revert else {
                continue;
            };
            let Some(dep) = io.watch.current(&app.app, &env.env) else {
                continue;
            };
            // A revert stays listed after the watch (until the book lets
            // it go): downstream PRs carrying the reverted image read it.
            if now - dep.landed_at > rule.within.0 && dep.reverted_by.is_none() {
                continue;
            }
            let Some(file) = env.file.clone() else {
                continue;
            };
            let history = histories
                .entry(file.clone())
                .or_insert_with(|| versions(ws, &file));
            let (history, brought) = match history {
                Ok(h) => (deployed(h, &app.image), brought(h, &app.image)),
                Err(e) => {
                    warn!(app = %app.app, env = %env.env, error = %e, "cannot read the overlay's history; not watched this pass");
                    continue;
                }
            };
            match look(env, &dep, &history) {
                Some(Look::Watching { back_to }) => {
                    let live = env.live.clone().unwrap_or_else(|| Live::Unknown {
                        why: "Argo CD was not asked (no `argocd` or `argocd_app`)".into(),
                    });
                    let shared = match &live {
                        Live::Failing { check, seen } => shared(cfg, check, seen),
                        _ => false,
                    };
                    pending.push(Pending {
                        ai,
                        ei,
                        dep,
                        back_to,
                        live,
                        shared,
                        rule,
                        brought,
                    });
                }
                Some(Look::Reverted) => {
                    pending.push(Pending {
                        ai,
                        ei,
                        dep,
                        back_to: Err("reverted already".into()),
                        live: Live::Healthy,
                        shared: false,
                        rule,
                        brought: None,
                    });
                }
                Some(Look::Gone) => {
                    info!(app = %app.app, env = %env.env, commit = %dep.commit,
                        "the overlay no longer runs this deployment; watch ended");
                    io.watch.forget(&app.app, &env.env, &dep.commit);
                }
                None => {
                    tracing::debug!(app = %app.app, env = %env.env, commit = %dep.commit,
                        "the deployment is not on the overlay's first-parent history (yet); waiting");
                }
            }
        }
    }
    let newest = newest_changes(snapshot, ws, &pending, &mut histories);
    blame(&mut pending, &newest);
    for p in pending {
        let app = &mut snapshot.apps[p.ai];
        let env = &app.envs[p.ei];
        let failing = if p.dep.reverted_by.is_some() {
            None
        } else {
            io.watch.look(
                &app.app,
                &env.env,
                &p.dep.commit,
                &p.live,
                now,
                p.rule.after.0,
            )
        };
        let mut watched = Watched {
            commit: p.dep.commit.clone(),
            digest: p.dep.digest.clone(),
            via: p.dep.via.clone(),
            landed_at: p.dep.landed_at,
            within: p.rule.within.0,
            after: p.rule.after.0,
            live: p.live,
            failing,
            back_to: p.back_to,
            pinned: env.pin.is_some(),
            reverted_by: p.dep.reverted_by.clone(),
        };
        let repository = repositories.get(app.app.as_str()).copied().unwrap_or("");
        if due(&watched, now)
            && let Ok(back) = &mut watched.back_to
        {
            back.checked = Some(check_back(app, repository, back, source, gates).await);
        }
        app.envs[p.ei].watch = Some(watched);
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

/// One watched app in one environment, between its look and its clock.
struct Pending {
    ai: usize,
    ei: usize,
    dep: Deployment,
    back_to: Result<BackTo, String>,
    live: Live,
    /// `live` fails a check the environment shares between its apps.
    shared: bool,
    rule: crate::config::AutoRevert,
    /// The commit that brought what the overlay runs.
    brought: Option<String>,
}

/// Whether a failing `check` is one the environment shares between its
/// apps: its smoke checks, an Argo CD application without `{app}`, an
/// analysis whose query does not name `{app}`.
fn shared(cfg: &crate::config::Environment, check: &str, seen: &str) -> bool {
    match check {
        "smoke" => true,
        "argocd" => !cfg
            .argocd_app
            .as_deref()
            .is_some_and(|a| a.contains("{app}")),
        "analysis" => cfg
            .analysis
            .iter()
            .find(|a| seen.starts_with(&format!("{}: ", a.name)))
            .is_none_or(|a| !a.query.contains("{app}")),
        _ => true,
    }
}

/// The commit that brought what `versions` runs for `image`: the oldest
/// of the newest run of versions with the same image.
fn brought(versions: &[(String, i64, Vec<u8>)], image: &str) -> Option<String> {
    let history = deployed(versions, image);
    let current = history.first()?;
    let run = history
        .iter()
        .take_while(|d| (&d.tag, &d.digest) == (&current.tag, &current.digest))
        .count();
    versions.get(run.checked_sub(1)?).map(|(c, _, _)| c.clone())
}

/// Per environment where a shared check fails this pass: the newest image
/// change of any app there — whoever made it (a person, a command, a
/// revert), not only the deployments ferry watches. Newest by history
/// (`is_descendant(rev, ancestor)`), never by commit times, which any
/// committer sets.
fn newest_changes(
    snapshot: &Snapshot,
    ws: &Workspace,
    pending: &[Pending],
    histories: &mut HashMap<PathBuf, Result<Versions, String>>,
) -> HashMap<String, String> {
    let envs: HashSet<&str> = pending
        .iter()
        .filter(|p| p.shared)
        .map(|p| p.dep.env.as_str())
        .collect();
    let mut changes: HashMap<String, HashSet<String>> = HashMap::new();
    for app in &snapshot.apps {
        for env in app.envs.iter().filter(|e| envs.contains(e.env.as_str())) {
            let Some(file) = &env.file else { continue };
            let versions = histories
                .entry(file.clone())
                .or_insert_with(|| versions(ws, file));
            if let Some(c) = versions.as_ref().ok().and_then(|v| brought(v, &app.image)) {
                changes.entry(env.env.clone()).or_default().insert(c);
            }
        }
    }
    changes
        .into_iter()
        .filter_map(|(env, commits)| {
            newest(&commits, |rev, ancestor| {
                ws.is_descendant_or_equal(rev, ancestor)
            })
            .map(|c| (env, c))
        })
        .collect()
}

/// The commit of `commits` that is every other's descendant, if one is:
/// the changes of one branch's first-parent line always have one.
fn newest(commits: &HashSet<String>, is_descendant: impl Fn(&str, &str) -> bool) -> Option<String> {
    let mut sorted: Vec<&String> = commits.iter().collect();
    sorted.sort();
    let mut best = *sorted.first()?;
    for c in &sorted {
        if is_descendant(c, best) {
            best = c;
        }
    }
    sorted
        .iter()
        .all(|c| is_descendant(best, c))
        .then(|| best.clone())
}

/// A failure of a check the environment shares is blamed on the newest
/// image change there, and only when that change is a deployment ferry
/// watches (several, when one merge brought them together): the others ran
/// before it without failing, and a failure after a hand edit or a revert
/// is not the watched image's. The looks not blamed stop their clocks. So
/// a failure that outlives a revert reverts nothing more.
fn blame(pending: &mut [Pending], newest: &HashMap<String, String>) {
    for p in pending.iter_mut().filter(|p| p.shared) {
        let blamed = newest
            .get(&p.dep.env)
            .is_some_and(|n| p.brought.as_ref() == Some(n));
        if !blamed && let Live::Failing { check, seen } = &p.live {
            p.live = Live::Settling {
                why: format!(
                    "the environment's {check} fails ({seen}), but this is not its newest change"
                ),
            };
        }
    }
}

enum Look {
    Watching {
        back_to: Result<BackTo, String>,
    },
    /// ferry reverted it already.
    Reverted,
    /// The overlay runs something else now: not this deployment any more.
    Gone,
}

/// Whether the overlay still runs `dep`, as its history shows, and the
/// image before it.
fn look(env: &EnvState, dep: &Deployment, history: &[Deployed]) -> Option<Look> {
    if dep.reverted_by.is_some() {
        return Some(Look::Reverted);
    }
    let running = env.running.as_ref().ok()?.as_ref()?;
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
    // A deployment the checkout does not hold yet (its merge landed after
    // this pass synced) is waited for, not given up.
    if !history.iter().any(|d| d.commit == dep.commit) {
        return None;
    }
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
    Some(Look::Watching { back_to })
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
                .map(|v| (v.commit, v.time, v.content.unwrap_or_default()))
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// What each version set for `image`.
fn deployed(versions: &[(String, i64, Vec<u8>)], image: &str) -> Vec<Deployed> {
    versions
        .iter()
        .map(|(commit, _, bytes)| {
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
                // An image a person asked for (`/ferry promote`) is their
                // deployment, not ferry's: never watched.
                carried: p
                    .carried
                    .iter()
                    .filter(|c| !p.asked.contains(&c.app))
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
                    if io.watch.was_asked(pr.number, app) {
                        continue;
                    }
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
            // Gone from the forge: nothing to ask again.
            Err(crate::forge::ForgeError::NotFound(_)) => {}
            Err(e) => {
                warn!(number = pr.number, error = %e, "cannot ask the forge about a promotion PR; asking again next pass");
                io.watch.still_unknown(pr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn pending(app: &str, env: &str, brought: &str, live: Live, shared: bool) -> Pending {
        Pending {
            ai: 0,
            ei: 0,
            dep: Deployment {
                app: app.into(),
                env: env.into(),
                commit: format!("{app}-commit"),
                tag: None,
                digest: None,
                landed_at: datetime!(2026-12-02 10:00 UTC),
                via: Via::Commit,
                failing: None,
                reverted_by: None,
            },
            back_to: Err("none".into()),
            live,
            shared,
            rule: crate::config::AutoRevert {
                after: crate::config::DurationValue(std::time::Duration::from_secs(60)),
                within: crate::config::DurationValue(std::time::Duration::from_secs(3600)),
            },
            brought: Some(brought.to_string()),
        }
    }

    fn smoke_fails() -> Live {
        Live::Failing {
            check: "smoke".into(),
            seen: "http://staging/healthz: expected HTTP 200, got 500".into(),
        }
    }

    /// The environment's smoke check fails every app at once: only the
    /// newest change there is blamed, in that environment alone, and only
    /// when it is a watched deployment.
    #[test]
    fn a_shared_check_blames_the_newest_change_only() {
        let degraded = Live::Failing {
            check: "argocd".into(),
            seen: "Degraded".into(),
        };
        let mut p = vec![
            pending("web", "staging", "c100", smoke_fails(), true),
            pending("api", "staging", "c200", smoke_fails(), true),
            pending("db", "production", "c100", smoke_fails(), true),
            // An app's own check is its own, however old.
            pending("old", "staging", "c050", degraded, false),
        ];
        let newest = HashMap::from([
            ("staging".to_string(), "c200".to_string()),
            ("production".to_string(), "c100".to_string()),
        ]);
        blame(&mut p, &newest);
        assert!(
            matches!(p[0].live, Live::Settling { .. }),
            "{:?}",
            p[0].live
        );
        assert_eq!(p[1].live, smoke_fails());
        assert_eq!(p[2].live, smoke_fails(), "another environment");
        assert!(matches!(p[3].live, Live::Failing { .. }));
        // A newer change that is not watched (a hand edit, ferry's revert
        // of api): nobody is blamed, so a failure that outlives a revert
        // reverts nothing more.
        let mut p = vec![
            pending("web", "staging", "c100", smoke_fails(), true),
            pending("api", "staging", "c200", smoke_fails(), true),
        ];
        blame(
            &mut p,
            &HashMap::from([("staging".to_string(), "c300".to_string())]),
        );
        assert!(
            p.iter().all(|p| matches!(p.live, Live::Settling { .. })),
            "{:?}",
            p[1].live
        );
        // One merge that brought two apps: both are the newest change.
        let mut p = vec![
            pending("web", "staging", "c300", smoke_fails(), true),
            pending("api", "staging", "c300", smoke_fails(), true),
        ];
        blame(
            &mut p,
            &HashMap::from([("staging".to_string(), "c300".to_string())]),
        );
        assert!(p.iter().all(|p| p.live == smoke_fails()));
    }

    #[test]
    fn the_commit_that_brought_an_image_is_the_oldest_of_its_run() {
        let v = |c: &str, t: i64, tag: &str| {
            (
                c.to_string(),
                t,
                format!("images:\n- name: api\n  newTag: {tag}\n").into_bytes(),
            )
        };
        // c3 only touched another app (same api tag): c2 brought sha-2.
        let versions = vec![
            v("c3", 30, "sha-2"),
            v("c2", 20, "sha-2"),
            v("c1", 10, "sha-1"),
        ];
        assert_eq!(brought(&versions, "api").as_deref(), Some("c2"));
        assert_eq!(brought(&[], "api"), None);
    }

    /// The newest change is found by history, whatever the commit times
    /// say (a committer's clock can be behind).
    #[test]
    fn the_newest_change_is_the_descendant_of_all_others() {
        // c1 → c2 → c3 on one line; the names sort otherwise.
        let order = ["zz1", "aa2", "mm3"];
        let pos = |c: &str| order.iter().position(|o| *o == c);
        let desc =
            |rev: &str, anc: &str| matches!((pos(rev), pos(anc)), (Some(r), Some(a)) if r >= a);
        let all: HashSet<String> = order.iter().map(|s| s.to_string()).collect();
        assert_eq!(newest(&all, desc).as_deref(), Some("mm3"));
        let two: HashSet<String> = ["zz1", "aa2"].iter().map(|s| s.to_string()).collect();
        assert_eq!(newest(&two, desc).as_deref(), Some("aa2"));
        // A commit not on the line: no newest, nobody blamed.
        let odd: HashSet<String> = ["zz1", "elsewhere"].iter().map(|s| s.to_string()).collect();
        assert_eq!(newest(&odd, desc), None);
        assert_eq!(newest(&HashSet::new(), desc), None);
    }

    #[test]
    fn which_checks_an_environment_shares() {
        let cfg: crate::config::Config = crate::config::parse(
            "environments:
  - name: staging
    mode: commit
    argocd_app: '{app}-staging'
    analysis:
      - {name: rate, prometheus: {url: 'http://p:9090'}, query: 'rate{service=\"{app}\"}', success: '> 0.9'}
      - {name: errors, prometheus: {url: 'http://p:9090'}, query: 'errors', success: '< 1'}
  - {name: prod, mode: commit, argocd_app: platform-prod}
",
        )
        .unwrap();
        let (staging, prod) = (&cfg.environments[0], &cfg.environments[1]);
        assert!(shared(staging, "smoke", "x"));
        assert!(
            !shared(staging, "argocd", "Degraded"),
            "one Argo CD app per app"
        );
        assert!(shared(prod, "argocd", "Degraded"));
        assert!(!shared(staging, "analysis", "rate: 0.5 (needs > 0.9)"));
        assert!(shared(staging, "analysis", "errors: 3 (needs < 1)"));
    }
}
