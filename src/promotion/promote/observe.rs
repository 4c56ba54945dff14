//! What the pull-request side of a snapshot holds: open promotion PRs,
//! windows, and what upstream environments have proven.
//!
//! Everything an environment shares between its apps is asked once per
//! pass: the Argo CD Application (or each app's, with `{app}` in
//! `argocd_app`), the smoke checks and the window. Only
//! the assessment (is *this* app's image live at *this* app's commit?) and
//! the soak clock are per app.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use tracing::warn;

use super::branch::{self, BranchView, FileChange, ScopeApp};
use super::{BRANCH_PREFIX, GROUP_LEAF, PromotionIo, head_for, open_pr_for};
use crate::config::{Config, Environment, Group};
use crate::forge::{Forge, PrState, StateFilter, same_login};
use crate::gitops::Workspace;
use crate::health::{
    self, AnalysisResult, Application, Expectation, HealthError, SmokeResult, SoakKey, Target,
};
use crate::promotion::snapshot::{OpenPr, Proof, Proposal, Snapshot, Window};
use crate::promotion::watch::{Live, live};
use crate::promotion::window::Windows;

/// Fills in proofs, open PRs, windows and the forge's state of the
/// snapshot.
pub async fn observe(
    config: &Config,
    snapshot: &mut Snapshot,
    ws: &Workspace,
    io: &PromotionIo<'_>,
    now: OffsetDateTime,
) {
    // Open PRs on ferry's branches that ferry did not open: never adopted.
    let mut foreign = Vec::new();
    if let Some(forge) = io.forge {
        match forge.list(StateFilter::Open, BRANCH_PREFIX).await {
            Ok(prs) => {
                let me = forge.identity().to_string();
                let (mine, others): (Vec<_>, Vec<_>) =
                    prs.into_iter().partition(|p| p.opened_by(&me));
                foreign = others;
                let (proposals, unreadable) = read_proposals(config, snapshot, ws, mine);
                snapshot.proposals = proposals;
                // Without the branches nothing is opened or rebuilt blind.
                if let Some(e) = unreadable {
                    warn!(error = %e, "cannot fetch the promotion branches");
                    snapshot.forge_error = Some(e);
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot list promotion pull requests");
                snapshot.forge_error = Some(e.to_string());
            }
        }
    }
    let windows: HashMap<&str, Window> = config
        .environments
        .iter()
        .filter(|e| e.after.is_some())
        .map(|e| {
            // Config load validated the windows; a failure here holds.
            let w = Windows::parse(&e.windows, e.timezone.as_deref())
                .map_or(Window::Closed { next: None }, |w| w.at(now));
            (e.name.as_str(), w)
        })
        .collect();
    let proposals = std::mem::take(&mut snapshot.proposals);
    for app in &mut snapshot.apps {
        for env in &mut app.envs {
            let (Some(cfg), Some(window)) =
                (env_of(config, &env.env), windows.get(env.env.as_str()))
            else {
                continue;
            };
            env.window = window.clone();
            let head = head_for(cfg, &app.app);
            env.open_pr = proposals
                .iter()
                .find(|p| p.head == head)
                .and_then(|p| open_pr_for(p, &app.app));
            if env.open_pr.is_none() {
                env.foreign_pr = foreign.iter().find(|p| p.head == head).map(|p| OpenPr {
                    asked: false,
                    number: p.number,
                    url: p.url.clone(),
                    digest: None,
                    tag: None,
                    intact: false,
                    gate: None,
                });
            }
        }
    }
    snapshot.proposals = proposals;
    prove_upstreams(config, snapshot, ws, io, now).await;
    // A plan looks and writes nothing; the clocks it advanced in memory die with it.
    if !io.read_only
        && let Err(e) = io.soak.save()
    {
        warn!(error = %e, "cannot save the soak clocks; a restart would restart them");
    }
    find_rejections(config, snapshot, io).await;
}

/// ferry's open promotion PRs, each with what its branch carries read from
/// git, whether its head is ferry's own commit, and whether the config still
/// produces its branch. When the branches cannot be fetched, the second
/// value says why and no proposal carries anything or reads as tampered:
/// a fetch that failed says nothing about what a branch holds.
pub fn read_proposals(
    config: &Config,
    snapshot: &Snapshot,
    ws: &Workspace,
    prs: Vec<crate::forge::PullRequest>,
) -> (Vec<Proposal>, Option<String>) {
    let (heads, unreadable) = match ws.fetch_branches(BRANCH_PREFIX) {
        Ok(h) => (Some(h), None),
        Err(e) => (
            None,
            Some(format!("cannot fetch the promotion branches: {e}")),
        ),
    };
    let proposals = prs
        .into_iter()
        .map(|pr| {
            let mut p = Proposal::from(pr);
            let scope = match scope_of(config, snapshot, &p.head) {
                Scope::Apps(s) => s,
                Scope::Stray => {
                    p.stray = true;
                    return p;
                }
                // Another ferry, with another config, may own it.
                Scope::Unknown => return p,
            };
            let Some(heads) = &heads else { return p };
            let head = heads.get(&p.head).copied();
            let read = head
                .ok_or_else(|| format!("its branch {} is gone", p.head))
                .and_then(|head| view_of(ws, head).map_err(|e| e.to_string()))
                .and_then(|view| branch::carried(&view, &scope));
            match read {
                Ok(carried) => p.carried = carried,
                Err(why) => p.tampered = Some(why),
            }
            if let Some(head) = head {
                p.asked = asked_for(config, snapshot, ws, &p, head);
            }
            p
        })
        .collect();
    (proposals, unreadable)
}

/// The carried apps whose image the upstream environment did not run at
/// the branch head's parent (the base the proposal was made on).
fn asked_for(
    config: &Config,
    snapshot: &Snapshot,
    ws: &Workspace,
    p: &Proposal,
    head: git2::Oid,
) -> Vec<String> {
    let Some(env) = p
        .head
        .strip_prefix(BRANCH_PREFIX)
        .and_then(|r| r.split_once('/'))
        .map(|(e, _)| e)
    else {
        return Vec::new();
    };
    let Some(upstream) = env_of(config, env).and_then(|e| e.after.as_deref()) else {
        return Vec::new();
    };
    let Some(parent) = ws.parents(head).ok().and_then(|ps| ps.first().copied()) else {
        return Vec::new();
    };
    p.carried
        .iter()
        .filter(|c| {
            let Some(app) = snapshot.apps.iter().find(|a| a.app == c.app) else {
                return false;
            };
            let Some(file) = app
                .envs
                .iter()
                .find(|e| e.env == upstream)
                .and_then(|e| e.file.as_ref())
            else {
                return false;
            };
            // What cannot be read is not evidence of a request.
            let Ok(crate::gitops::BranchFile::Blob(bytes)) = ws.file_at(parent, file) else {
                return false;
            };
            let ran = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| crate::kustomize::read_images(t).ok())
                .and_then(|es| es.into_iter().find(|e| e.name == app.image));
            // A tag-only overlay runs what its tag resolves to: the tag
            // stands for the digest there.
            let same = ran.is_some_and(|e| match &e.digest {
                Some(d) => *d == c.digest,
                None => e.new_tag.is_some() && e.new_tag == c.tag,
            });
            !same
        })
        .map(|c| c.app.clone())
        .collect()
}

/// What a `ferry/` branch is to this config.
enum Scope {
    /// A branch it produces: the apps it may change, with their files.
    Apps(Vec<ScopeApp>),
    /// A branch of one of its pull-request environments that it no longer
    /// produces (an app removed, the grouping changed).
    Stray,
    /// Not one of its pull-request environments.
    Unknown,
}

fn scope_of(config: &Config, snapshot: &Snapshot, head: &str) -> Scope {
    let Some((env, leaf)) = head
        .strip_prefix(BRANCH_PREFIX)
        .and_then(|r| r.split_once('/'))
    else {
        return Scope::Unknown;
    };
    let Some(cfg) = env_of(config, env).filter(|e| e.after.is_some()) else {
        return Scope::Unknown;
    };
    let wanted = |app: &str| match cfg.group {
        Group::App => leaf == app,
        Group::Environment => leaf == GROUP_LEAF,
    };
    let scope: Vec<ScopeApp> = snapshot
        .apps
        .iter()
        .filter(|a| wanted(&a.app))
        .filter_map(|a| {
            let e = a.envs.iter().find(|e| e.env == env)?;
            Some(ScopeApp {
                app: a.app.clone(),
                image: a.image.clone(),
                file: e.file.clone()?,
            })
        })
        .collect();
    let produced = match cfg.group {
        Group::App => config
            .apps
            .iter()
            .any(|a| a.name == leaf && a.overlays.contains_key(env)),
        Group::Environment => leaf == GROUP_LEAF,
    };
    if produced {
        Scope::Apps(scope)
    } else {
        Scope::Stray
    }
}

fn view_of(ws: &Workspace, head: git2::Oid) -> Result<BranchView, crate::gitops::GitError> {
    let parents = ws.parents(head)?;
    let Some(parent) = parents.first().copied() else {
        return Ok(BranchView {
            parents: 0,
            parent_on_base: false,
            changes: Vec::new(),
        });
    };
    let mut changes = Vec::new();
    for path in ws.changed_paths(parent, head)? {
        changes.push(FileChange {
            before: ws.file_at(parent, &path)?,
            after: ws.file_at(head, &path)?,
            path,
        });
    }
    Ok(BranchView {
        parents: parents.len(),
        parent_on_base: ws.on_branch(parent),
        changes,
    })
}

/// The marker ferry puts in the body of a PR it closes itself, so that a
/// PR closed by a person reads as a rejection and one closed by ferry not.
pub const CLOSED_BY_FERRY: &str = "Ferry-Closed:";

/// Asks the forge, only for promotions about to be proposed, whether the
/// last PR on their branch was closed unmerged by a person while it
/// proposed the same image; sets `rejected` where it was.
async fn find_rejections(config: &Config, snapshot: &mut Snapshot, io: &PromotionIo<'_>) {
    let Some(forge) = io.forge else { return };
    if snapshot.forge_error.is_some() {
        return;
    }
    let mut last_closed: HashMap<String, Option<crate::forge::PullRequest>> = HashMap::new();
    for app in &mut snapshot.apps {
        let proven: HashMap<String, String> = app
            .envs
            .iter()
            .filter(|e| matches!(e.proof, Some(Proof::Proven { .. })))
            .filter_map(|e| {
                let d = e.running.as_ref().ok()?.as_ref()?.digest.clone()?;
                Some((e.env.clone(), d))
            })
            .collect();
        for env in &mut app.envs {
            let Some(cfg) = env_of(config, &env.env) else {
                continue;
            };
            let Some(wanted) = cfg.after.as_ref().and_then(|u| proven.get(u)) else {
                continue;
            };
            let runs = env
                .running
                .as_ref()
                .ok()
                .and_then(|r| r.as_ref()?.digest.as_ref());
            let proposed = env.open_pr.as_ref().and_then(|p| p.digest.as_ref());
            if runs == Some(wanted) || proposed == Some(wanted) {
                continue;
            }
            let head = head_for(cfg, &app.app);
            let pr = match last_closed.get(&head) {
                Some(pr) => pr.clone(),
                None => match forge.last_closed(&head).await {
                    Ok(pr) => last_closed.entry(head).or_insert(pr).clone(),
                    Err(e) => {
                        warn!(error = %e, "cannot read closed promotion pull requests");
                        snapshot.forge_error = Some(e.to_string());
                        return;
                    }
                },
            };
            let Some(pr) = pr else { continue };
            // A rejection is ferry's proposal closed unmerged by someone
            // else; who closed it is the forge's record, not the body's.
            let me = forge.identity();
            let closed_by_ferry = pr.closed_by.as_deref().is_some_and(|c| same_login(c, me));
            if pr.state != PrState::Closed || !pr.opened_by(me) || closed_by_ferry {
                continue;
            }
            // What it proposed, as its trailers name it: text can only make
            // ferry hold here (honour a "no"), never promote.
            let mut proposal = Proposal::from(pr);
            proposal.carried = super::named_in_text(&proposal.body);
            env.rejected = open_pr_for(&proposal, &app.app)
                .filter(|r| r.digest.as_deref() == Some(wanted.as_str()));
        }
    }
}

fn env_of<'c>(config: &'c Config, name: &str) -> Option<&'c Environment> {
    config.environments.iter().find(|e| e.name == name)
}

/// Sets `proof` on every app in an environment that another one follows.
async fn prove_upstreams(
    config: &Config,
    snapshot: &mut Snapshot,
    ws: &Workspace,
    io: &PromotionIo<'_>,
    now: OffsetDateTime,
) {
    // Environments another follows prove; those with `auto_revert` are
    // watched: both are looked at.
    let upstreams: HashSet<&str> = config
        .environments
        .iter()
        .filter_map(|e| e.after.as_deref())
        .chain(
            config
                .environments
                .iter()
                .filter(|e| e.auto_revert.is_some())
                .map(|e| e.name.as_str()),
        )
        .collect();
    let Some(argo) = io.argo else { return };
    // Every overlay file of an upstream environment, in one history walk.
    let files: Vec<PathBuf> = snapshot
        .apps
        .iter()
        .flat_map(|a| &a.envs)
        .filter(|e| upstreams.contains(e.env.as_str()))
        .filter_map(|e| e.file.clone())
        .collect();
    let commits = match ws.last_commits_touching(&files) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot read the history of the overlays");
            HashMap::new()
        }
    };
    // Asked once per pass: each Argo CD Application (one per environment,
    // or one per app with `{app}` in `argocd_app`), each environment's
    // smoke checks.
    let mut applications: HashMap<String, Result<Application, HealthError>> = HashMap::new();
    let mut smoke_results: HashMap<String, Vec<SmokeResult>> = HashMap::new();
    for app in &mut snapshot.apps {
        for env in &mut app.envs {
            if !upstreams.contains(env.env.as_str()) {
                continue;
            }
            let Some(cfg) = env_of(config, &env.env) else {
                continue;
            };
            let Some(argocd_app) = cfg.argocd_app_for(&app.app) else {
                continue;
            };
            let Ok(Some(running)) = &env.running else {
                continue;
            };
            let Some(file) = &env.file else { continue };
            let want = Expectation {
                commit: commits.get(file).cloned().unwrap_or_default(),
                image_digest: running.digest.clone(),
                image_tag: running.tag.clone(),
                image_name: env.new_name.clone().unwrap_or_else(|| app.image.clone()),
            };
            if !applications.contains_key(&argocd_app) {
                let fetched = argo.application(&argocd_app).await;
                applications.insert(argocd_app.clone(), fetched);
            }
            let application = match &applications[&argocd_app] {
                Ok(a) => a,
                Err(e) => {
                    env.proof = Some(Proof::NotYet {
                        code: "health",
                        message: format!("Argo CD cannot be asked: {e}"),
                    });
                    env.live = Some(Live::Unknown {
                        why: format!("Argo CD cannot be asked: {e}"),
                    });
                    continue;
                }
            };
            let failures = health::assess(application, &want, |rev| {
                ws.is_descendant_or_equal(rev, &want.commit)
            });
            // Smoke checks belong to the environment: run at the first app
            // Argo CD shows live, then shared.
            let smoke = if failures.is_empty() {
                match smoke_results.get(&env.env) {
                    Some(s) => s.clone(),
                    None => {
                        let mode = health::SmokeMode::of(io.read_only);
                        let s = health::smoke_in(&cfg.smoke, mode).await;
                        smoke_results.insert(env.env.clone(), s.clone());
                        s
                    }
                }
            } else {
                Vec::new()
            };
            let looked = live::classify(application, &failures, &smoke);
            let key = SoakKey {
                app: app.app.clone(),
                env: env.env.clone(),
                digest: running
                    .digest
                    .clone()
                    .or_else(|| running.tag.clone())
                    .unwrap_or_default(),
            };
            // Like smoke, only against an environment that runs the image.
            let analysis = if failures.is_empty() {
                analyse(cfg, &key, io).await
            } else {
                Vec::new()
            };
            let target = Target {
                argocd_app: &argocd_app,
                want: &want,
                smoke: &cfg.smoke,
                soak: cfg.soak.map_or(Duration::ZERO, |d| d.0),
                key: &key,
            };
            let proof =
                health::conclude_with(application, failures, smoke, analysis, io.soak, target, now);
            env.live = Some(live::with_analysis(looked, &proof.analysis));
            env.analysis = proof.analysis.clone();
            env.proof = Some(summarize(proof));
        }
    }
}

/// The environment's analyses evaluated once for the image of `key`
/// (the query depends on the app), each outcome counted in the streaks
/// kept beside the soak clocks.
async fn analyse(cfg: &Environment, key: &SoakKey, io: &PromotionIo<'_>) -> Vec<AnalysisResult> {
    if cfg.analysis.is_empty() {
        return Vec::new();
    }
    health::analysis::evaluate(&cfg.analysis, key, io.soak.analysis()).await
}

fn summarize(p: health::Proof) -> Proof {
    if !p.failures.is_empty() {
        let why: Vec<String> = p
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.check, f.message))
            .collect();
        return Proof::NotYet {
            code: "health",
            message: why.join("; "),
        };
    }
    let failed: Vec<String> = p
        .smoke
        .iter()
        .filter(|s| !s.ok)
        .map(|s| format!("{}: {}", s.url, s.message))
        .collect();
    if !failed.is_empty() {
        return Proof::NotYet {
            code: "smoke",
            message: failed.join("; "),
        };
    }
    let held: Vec<String> = p
        .analysis
        .iter()
        .filter(|a| !a.passed())
        .map(AnalysisResult::hold_message)
        .collect();
    if !held.is_empty() {
        return Proof::NotYet {
            code: "analysis",
            message: held.join("; "),
        };
    }
    match p.soak_remaining {
        Some(left) if left.is_zero() => {}
        Some(left) => {
            return Proof::NotYet {
                code: "soak",
                message: format!("{}s of soak left", left.as_secs()),
            };
        }
        None => {
            return Proof::NotYet {
                code: "soak",
                message: "not proven yet".into(),
            };
        }
    }
    let smoke = if p.smoke.is_empty() {
        "no smoke checks".to_string()
    } else {
        format!("{} smoke check(s) passed", p.smoke.len())
    };
    let analysis: String = p
        .analysis
        .iter()
        .map(|a| format!(", analysis {}", a.evidence()))
        .collect();
    Proof::Proven {
        evidence: format!(
            "Argo CD revision {}, health {}, {smoke}{analysis}, proven since {}",
            p.revision.unwrap_or_default(),
            p.health.unwrap_or_default(),
            p.proven_since
                .and_then(|t| t
                    .replace_nanosecond(0)
                    .ok()?
                    .format(&time::format_description::well_known::Rfc3339)
                    .ok())
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Outcome;

    fn proof(analysis: Vec<AnalysisResult>) -> health::Proof {
        health::Proof {
            failures: Vec::new(),
            smoke: Vec::new(),
            soak_remaining: Some(Duration::ZERO),
            proven_since: Some(time::macros::datetime!(2026-12-01 10:00 UTC)),
            revision: Some("abc".into()),
            health: Some("Healthy".into()),
            analysis,
        }
    }

    fn result(name: &str, outcome: Outcome, streak: u32) -> AnalysisResult {
        AnalysisResult {
            name: name.into(),
            outcome,
            success: ">= 0.95".into(),
            streak,
            limit: 3,
        }
    }

    #[test]
    fn an_analysis_that_does_not_pass_holds_with_its_value_or_why() {
        let p = proof(vec![
            result("success-rate", Outcome::Fail { value: 0.5 }, 2),
            result("latency", Outcome::Pass { value: 0.99 }, 0),
            result(
                "errors",
                Outcome::Inconclusive {
                    why: "no data".into(),
                },
                0,
            ),
        ]);
        assert!(!p.proven());
        assert_eq!(
            summarize(p),
            Proof::NotYet {
                code: "analysis",
                message: "success-rate: 0.5 (needs >= 0.95; failed 2 of 3); errors: no data".into()
            }
        );
    }

    #[test]
    fn the_evidence_of_a_proof_lists_each_analysis_with_its_value() {
        let p = proof(vec![
            result("success-rate", Outcome::Pass { value: 0.98 }, 0),
            result("latency", Outcome::Pass { value: 1.0 }, 0),
        ]);
        assert!(p.proven());
        assert_eq!(
            summarize(p),
            Proof::Proven {
                evidence: "Argo CD revision abc, health Healthy, no smoke checks, \
                           analysis success-rate 0.98 (>= 0.95), analysis latency 1 (>= 0.95), \
                           proven since 2026-12-01T10:00:00Z"
                    .into()
            }
        );
        assert!(
            matches!(summarize(proof(Vec::new())), Proof::Proven { evidence } if !evidence.contains("analysis"))
        );
    }
}
