//! The pull-request side of a pass: what environments have proven (Argo
//! CD, smoke, soak), which promotion PRs are open, whether a window is
//! open; and, for entries that move, the proposal branch and its PR.

use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use super::execute::apply_moves;
use super::plan::{Action, Entry, Plan};
use super::snapshot::{OpenPr, Proof, Snapshot};
use super::window::Windows;
use crate::config::{Config, Environment};
use crate::forge::{AnyForge, Forge, PrSpec};
use crate::gitops::{Author, Workspace};
use crate::health::{self, ArgoClient, Expectation, SoakKey, SoakTracker, Target};

/// The branch of the promotion PR of `app` to `env`.
pub fn branch(env: &str, app: &str) -> String {
    format!("ferry/{env}/{app}")
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

fn env_of<'c>(config: &'c Config, name: &str) -> Option<&'c Environment> {
    config.environments.iter().find(|e| e.name == name)
}

/// The digest a promotion PR carries, from its body's trailer.
fn pr_digest(body: &str) -> Option<String> {
    body.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Ferry-Digest:")
            .map(|d| d.trim().to_string())
    })
}

/// Fills in proofs, open PRs and windows of the snapshot.
pub async fn observe(
    config: &Config,
    snapshot: &mut Snapshot,
    ws: &Workspace,
    io: &PromotionIo<'_>,
    now: OffsetDateTime,
) {
    // Environments that feed another one must prove what they run.
    let upstreams: Vec<&str> = config
        .environments
        .iter()
        .filter_map(|e| e.after.as_deref())
        .collect();
    for app in &mut snapshot.apps {
        let cfg_app = config.apps.iter().find(|a| a.name == app.app);
        for env in &mut app.envs {
            let Some(cfg_env) = env_of(config, &env.env) else {
                continue;
            };
            if cfg_env.after.is_some() {
                env.window = match Windows::parse(&cfg_env.windows, cfg_env.timezone.as_deref()) {
                    Ok(w) => w.at(now),
                    Err(_) => crate::promotion::Window::Closed { next: None },
                };
                if let Some(forge) = io.forge {
                    if let Ok(Some(pr)) = forge.find_open(&branch(&env.env, &app.app)).await {
                        env.open_pr = Some(OpenPr {
                            number: pr.number,
                            digest: pr_digest(&pr.body),
                            url: pr.url,
                        });
                    }
                }
            }
            if !upstreams.contains(&env.env.as_str()) {
                continue;
            }
            let (Some(argocd_app), Some(argo), Some(cfg_app)) =
                (&cfg_env.argocd_app, io.argo, cfg_app)
            else {
                continue;
            };
            let Ok(Some(running)) = &env.running else {
                continue;
            };
            let Some(dir) = cfg_app.overlays.get(&env.env) else {
                continue;
            };
            let file = match crate::kustomize::resolve(&ws.root().join(dir)) {
                Ok(f) => f,
                Err(e) => {
                    env.proof = Some(Proof::NotYet {
                        code: "health",
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let rel = file.strip_prefix(ws.root()).unwrap_or(&file).to_path_buf();
            let commit = ws
                .last_commit_touching(&rel)
                .ok()
                .flatten()
                .unwrap_or_default();
            let name = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| crate::kustomize::read_images(&s).ok())
                .and_then(|es| es.into_iter().find(|e| e.name == app.image))
                .and_then(|e| e.new_name)
                .unwrap_or_else(|| app.image.clone());
            let want = Expectation {
                commit,
                image_digest: running.digest.clone(),
                image_tag: running.tag.clone(),
                image_name: name,
            };
            let key = SoakKey {
                app: app.app.clone(),
                env: env.env.clone(),
                digest: running
                    .digest
                    .clone()
                    .or_else(|| running.tag.clone())
                    .unwrap_or_default(),
            };
            let soak = cfg_env.soak.map_or(Duration::ZERO, |d| d.0);
            let target = Target {
                argocd_app,
                want: &want,
                smoke: &cfg_env.smoke,
                soak,
                key: &key,
            };
            let proof = health::prove(
                argo,
                io.soak,
                target,
                |rev| ws.is_descendant_or_equal(rev, &want.commit),
                now,
            )
            .await;
            env.proof = Some(summarize(proof));
        }
    }
}

fn summarize(proof: Result<health::Proof, health::HealthError>) -> Proof {
    let p = match proof {
        Ok(p) => p,
        Err(e) => {
            return Proof::NotYet {
                code: "health",
                message: format!("Argo CD cannot be asked: {e}"),
            };
        }
    };
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
    Proof::Proven {
        evidence: format!(
            "Argo CD revision {}, health {}, {smoke}, proven since {}",
            p.revision.unwrap_or_default(),
            p.health.unwrap_or_default(),
            p.proven_since.map(|t| t.to_string()).unwrap_or_default()
        ),
    }
}

/// What happened to one promotion PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrAction {
    /// Environment.
    pub env: String,
    /// App.
    pub app: String,
    /// PR number.
    pub number: u64,
    /// PR URL.
    pub url: String,
    /// `opened`, `updated` or `closed`.
    pub what: &'static str,
}

fn title(env: &str, e: &Entry) -> String {
    let from = e
        .from
        .as_ref()
        .and_then(|f| f.tag.clone())
        .unwrap_or_else(|| "(none)".into());
    let to =
        e.to.as_ref()
            .and_then(|t| t.tag.clone())
            .unwrap_or_default();
    format!("{env}: {} {from} → {to}", e.app)
}

/// Scan counts and signing key recorded when the digest was committed to
/// the first environment (its `Ferry-Scan` and `Ferry-Signature` trailers).
fn gate_evidence(ws: &Workspace, digest: &str) -> (String, String) {
    let commits = ws.log(500).unwrap_or_default();
    for c in commits {
        let mut current_digest = None;
        let (mut scan, mut sig) = (None, None);
        for (k, v) in &c.trailers {
            match k.as_str() {
                "Ferry-App" => (current_digest, scan, sig) = (None, None, None),
                "Ferry-Digest" => current_digest = Some(v.clone()),
                "Ferry-Scan" => scan = Some(v.clone()),
                "Ferry-Signature" => sig = Some(v.clone()),
                _ => {}
            }
            if current_digest.as_deref() == Some(digest) && scan.is_some() && sig.is_some() {
                return (scan.unwrap_or_default(), sig.unwrap_or_default());
            }
        }
    }
    ("(not recorded)".into(), "(not recorded)".into())
}

fn body(
    config: &Config,
    snapshot: &Snapshot,
    ws: &Workspace,
    env: &str,
    e: &Entry,
    message: &str,
) -> String {
    let upstream = env_of(config, env)
        .and_then(|c| c.after.clone())
        .unwrap_or_default();
    let evidence = snapshot
        .apps
        .iter()
        .find(|a| a.app == e.app)
        .and_then(|a| a.envs.iter().find(|x| x.env == upstream))
        .and_then(|x| match &x.proof {
            Some(Proof::Proven { evidence }) => Some(evidence.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let cell = |r: &Option<super::plan::ImageRef>,
                f: fn(&super::plan::ImageRef) -> Option<String>| {
        r.as_ref().and_then(f).unwrap_or_else(|| "-".into())
    };
    let argocd = env_of(config, &upstream)
        .and_then(|c| c.argocd_app.clone())
        .unwrap_or_default();
    let argocd_link = match &config.argocd {
        Some(a) => format!(
            "[{argocd}]({}/applications/{argocd})",
            a.url.trim_end_matches('/')
        ),
        None => format!("`{argocd}`"),
    };
    let (scan, key) = gate_evidence(
        ws,
        e.to.as_ref()
            .and_then(|t| t.digest.as_deref())
            .unwrap_or_default(),
    );
    format!(
        "ferry promotes **{app}** to **{env}**: {upstream} has proven it.\n\n\
         | | tag | digest |\n|---|---|---|\n| from | {ft} | `{fd}` |\n| to | {tt} | `{td}` |\n\n\
         **Gates**: scan {scan}; signed by key `{key}`.\n\n\
         **Evidence from {upstream}** (Argo CD app {argocd_link}): {evidence}\n\n\
         Merge to promote; ferry updates this pull request when a newer image is proven and closes it when {env} already runs the image.\n\n\
         ```\n{message}```\n",
        app = e.app,
        ft = cell(&e.from, |r| r.tag.clone()),
        fd = cell(&e.from, |r| r.digest.clone()),
        tt = cell(&e.to, |r| r.tag.clone()),
        td = cell(&e.to, |r| r.digest.clone()),
    )
}

/// Pushes each moving pull-request entry's branch and opens or updates its
/// PR; closes PRs that went stale (the environment already runs the image).
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
    let mut done = Vec::new();
    for e in &plan.entries {
        let Some(cfg_env) = env_of(config, &e.env) else {
            continue;
        };
        let head = branch(&e.env, &e.app);
        let open = snapshot
            .apps
            .iter()
            .find(|a| a.app == e.app)
            .and_then(|a| a.envs.iter().find(|x| x.env == e.env))
            .and_then(|x| x.open_pr.clone());
        match (e.action, &e.reason) {
            (Action::PullRequest, _) => {
                let mut message = None;
                ws.propose(&head, author, |root: &Path| {
                    let m = apply_moves(root, config, &e.env, &[e])?;
                    message = m.clone();
                    Ok::<_, String>(m)
                })
                .map_err(|err| err.to_string())?;
                let Some(message) = message else { continue };
                let (title, body) = (
                    title(&e.env, e),
                    body(config, snapshot, ws, &e.env, e, &message),
                );
                let (pr, what) = match &open {
                    Some(o) => (forge.update(o.number, &title, &body).await, "updated"),
                    None => {
                        let spec = PrSpec {
                            head: head.clone(),
                            base: config
                                .gitops
                                .as_ref()
                                .map_or("main".into(), |g| g.branch.clone()),
                            title,
                            body,
                            labels: cfg_env.labels.clone(),
                            reviewers: cfg_env.reviewers.clone(),
                            draft: false,
                        };
                        (forge.open(&spec).await, "opened")
                    }
                };
                let pr = pr.map_err(|err| err.to_string())?;
                done.push(PrAction {
                    env: e.env.clone(),
                    app: e.app.clone(),
                    number: pr.number,
                    url: pr.url,
                    what,
                });
            }
            (Action::None, Some(why)) if why.code == "up_to_date" => {
                if let Some(o) = open {
                    let note = format!(
                        "{} already runs this app's promoted image ({}); closing.",
                        e.env, why.message
                    );
                    let pr = forge
                        .close(o.number, &note)
                        .await
                        .map_err(|err| err.to_string())?;
                    done.push(PrAction {
                        env: e.env.clone(),
                        app: e.app.clone(),
                        number: pr.number,
                        url: pr.url,
                        what: "closed",
                    });
                }
            }
            _ => {}
        }
    }
    Ok(done)
}
