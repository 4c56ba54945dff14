//! `ferry demo [--dir DIR]`: ferry's main job on its embedded default, with
//! no cloud. It creates a GitOps repository from `fixtures/demo/`, a local
//! registry and a demo signing key, then lets images "arrive" one by one
//! and runs a pass after each, printing a timeline, and ends with the log
//! of the GitOps repository.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::Exit;
use crate::forge::{AnyForge, Forge, StateFilter};
use crate::gates::SignatureEvidence;
use crate::gates::signer::Signer;
use crate::gitops::{Author, Outcome, init_bare_with};
use crate::image::Digest;
use crate::promotion::Action;
use crate::runner::context::load;

/// The demo's GitOps repository, embedded so the binary needs no files.
const FILES: &[(&str, &str)] = &[
    (
        "base/kustomization.yaml",
        include_str!("../../fixtures/demo/base/kustomization.yaml"),
    ),
    (
        "base/api.yaml",
        include_str!("../../fixtures/demo/base/api.yaml"),
    ),
    (
        "base/web.yaml",
        include_str!("../../fixtures/demo/base/web.yaml"),
    ),
    (
        "overlays/dev/kustomization.yaml",
        include_str!("../../fixtures/demo/overlays/dev/kustomization.yaml"),
    ),
    (
        "overlays/staging/kustomization.yaml",
        include_str!("../../fixtures/demo/overlays/staging/kustomization.yaml"),
    ),
    (
        "overlays/production/kustomization.yaml",
        include_str!("../../fixtures/demo/overlays/production/kustomization.yaml"),
    ),
];

const CONFIG: &str = r#"# Written by `ferry demo`.
gitops: {repo: gitops.git, branch: main, author_name: ferry-demo, author_email: ferry@demo.invalid}
registry: {kind: local, path: registry.yaml}
gates:
  scan: {max: {CRITICAL: 0, HIGH: 3}}
  signature: {cosign_keys: [keys/demo.pub]}
argocd: {url: ARGOCD_URL}
forge: {kind: local, path: prs.json, repository: acme/gitops}
chatops: {permission: write, environments: {production: maintain}}
environments:
  - {name: dev, mode: commit, argocd_app: platform-dev, smoke: [{url: "ARGOCD_URL/smoke/dev"}]}
  - {name: staging, mode: pull_request, after: dev, argocd_app: platform-staging,
     smoke: [{url: "ARGOCD_URL/smoke/staging", retries: 0}], labels: [promotion], reviewers: [alice, "team:platform"],
     auto_revert: {after: 1s, within: 1h}}
  - {name: production, mode: pull_request, after: staging, argocd_app: platform-production, labels: [promotion],
     group: environment, windows: ["* * * * *"], timezone: Europe/Paris}
apps:
  - name: api
    repository: platform/api
    image: api
    tags: '^sha-[0-9a-f]{7,40}$'
    overlays: {dev: overlays/dev, staging: overlays/staging, production: overlays/production}
  - name: web
    repository: platform/web
    image: web
    tags: '^v\d+\.\d+\.\d+$'
    order: semver
    overlays: {dev: overlays/dev, staging: overlays/staging, production: overlays/production}
"#;

/// Arguments of `ferry demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to build the demo (kept for inspection); a temporary
    /// directory when absent.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The digest an image gets in the demo (a stand-in for a manifest).
pub fn demo_digest(repository: &str, tag: &str) -> Digest {
    crate::oci::sha256(format!("{repository}:{tag}").as_bytes())
}

/// How an arriving image fares.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Good,
    Critical,
    Unsigned,
}

struct Arrival {
    repository: &'static str,
    tag: &'static str,
    kind: Kind,
    minute: u32,
}

/// The story: what CI pushes, in order. Each line is one step.
const STORY: &[&[Arrival]] = &[
    &[Arrival {
        repository: "platform/api",
        tag: "sha-2a2a2a2",
        kind: Kind::Good,
        minute: 1,
    }],
    &[Arrival {
        repository: "platform/api",
        tag: "sha-3b3b3b3",
        kind: Kind::Critical,
        minute: 2,
    }],
    &[Arrival {
        repository: "platform/api",
        tag: "sha-4c4c4c4",
        kind: Kind::Unsigned,
        minute: 3,
    }],
    &[
        Arrival {
            repository: "platform/api",
            tag: "sha-5d5d5d5",
            kind: Kind::Good,
            minute: 4,
        },
        Arrival {
            repository: "platform/web",
            tag: "v1.1.0",
            kind: Kind::Good,
            minute: 4,
        },
    ],
    &[],
];

/// The registry file, rebuilt from every image that has arrived.
pub(super) struct Registry {
    dir: PathBuf,
    signer: Signer,
    lines: Vec<(String, String)>,
}

impl Registry {
    pub(super) fn push(
        &mut self,
        repository: &str,
        tag: &str,
        kind: Kind,
        minute: u32,
    ) -> Result<()> {
        let digest = demo_digest(repository, tag);
        let scan = match kind {
            Kind::Critical => "{status: COMPLETE, findings: {CRITICAL: 2, HIGH: 5}}",
            _ => "{status: COMPLETE, findings: {HIGH: 1, LOW: 4}}",
        };
        let sigs = match kind {
            Kind::Unsigned => String::new(),
            _ => {
                let SignatureEvidence::SimpleSigning {
                    payload,
                    signature_b64,
                } = self.signer.sign_simple(repository, &digest)?
                else {
                    anyhow::bail!("unexpected signature format");
                };
                let file = format!("sigs/{}.json", digest.hex());
                std::fs::write(self.dir.join(&file), payload)?;
                format!("{{payload: {file}, signature: \"{signature_b64}\"}}")
            }
        };
        self.lines.push((
            repository.to_string(),
            format!(
                "      - digest: {digest}\n        tags: [{tag}]\n        pushed_at: 2026-11-26T09:{minute:02}:00Z\n        scan: {scan}\n        signatures: [{sigs}]\n"
            ),
        ));
        let mut out = String::from("repositories:\n");
        for repo in ["platform/api", "platform/web"] {
            out.push_str(&format!("  {repo}:\n    images:\n"));
            for (r, l) in &self.lines {
                if r == repo {
                    out.push_str(l);
                }
            }
        }
        crate::atomic::write(&self.dir.join("registry.yaml"), out.as_bytes())?;
        Ok(())
    }
}

/// Runs the command.
pub fn run(args: Args) -> Exit {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => match tempfile::tempdir() {
            Ok(t) => {
                tmp = t;
                tmp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("ferry: {e}");
                return Exit::Failure;
            }
        },
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: {e}");
            return Exit::Failure;
        }
    };
    let mut out = std::io::stdout().lock();
    match rt.block_on(story(&dir, &mut out)) {
        Ok(()) => {
            if args.dir.is_some() {
                let _ = writeln!(
                    out,
                    "\nThe demo is in {}: ferry.yaml, registry.yaml, gitops.git.",
                    dir.display()
                );
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("ferry demo: {e:#}");
            Exit::Failure
        }
    }
}

async fn story(dir: &Path, out: &mut impl Write) -> Result<()> {
    std::fs::create_dir_all(dir.join("sigs"))?;
    std::fs::create_dir_all(dir.join("keys"))?;
    anyhow::ensure!(
        !dir.join("gitops.git").exists(),
        "{} already holds a demo; use an empty directory",
        dir.display()
    );
    let author = Author {
        name: "platform-team".into(),
        email: "platform@demo.invalid".into(),
    };
    let files: Vec<(&str, &[u8])> = FILES.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
    init_bare_with(&dir.join("gitops.git"), &files, "main", &author)
        .context("creating the GitOps repository")?;
    let stand_in = super::demo_argocd::start(dir.join("gitops.git")).await?;
    std::fs::write(
        dir.join("ferry.yaml"),
        CONFIG.replace("ARGOCD_URL", &stand_in.url),
    )?;
    let signer = Signer::generate()?;
    std::fs::write(dir.join("keys/demo.pub"), signer.public_pem()?)?;
    let mut registry = Registry {
        dir: dir.to_path_buf(),
        signer,
        lines: Vec::new(),
    };
    // What the overlays already run.
    registry.push("platform/api", "sha-1111111", Kind::Good, 0)?;
    registry.push("platform/web", "v1.0.0", Kind::Good, 0)?;

    let mut ctx = load(&dir.join("ferry.yaml"), Some(&dir.join("cache")))
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    super::demo_notify::start(&mut ctx).await?;
    writeln!(
        out,
        "ferry demo: a GitOps repo with dev, staging and production overlays; a local registry;"
    )?;
    writeln!(
        out,
        "gates: scan budget CRITICAL 0, HIGH 3, and a cosign signature by the demo key.\n"
    )?;
    for (step, arrivals) in STORY.iter().enumerate() {
        writeln!(out, "── step {} ──", step + 1)?;
        if arrivals.is_empty() {
            writeln!(out, "  nothing new arrives; the pass must change nothing")?;
        }
        for a in *arrivals {
            registry.push(a.repository, a.tag, a.kind, a.minute)?;
            let d = demo_digest(a.repository, a.tag);
            let v = ctx.gates.check(&ctx.registry, a.repository, &d).await;
            let verdict = if v.passes() {
                "pass".to_string()
            } else {
                let why: Vec<String> = v
                    .reasons
                    .iter()
                    .map(|r| format!("{} ({})", r.code.as_str(), r.message))
                    .collect();
                format!("hold: {}", why.join("; "))
            };
            writeln!(out, "  arrived {}:{}  → {verdict}", a.repository, a.tag)?;
        }
        pass(&mut ctx, out).await?;
    }
    writeln!(
        out,
        "\n── promotion: dev proves, staging and production get pull requests ──"
    )?;
    for round in 1..=16 {
        writeln!(out, "── pass {round} ──")?;
        let report = pass(&mut ctx, out).await?;
        if report
            .plan
            .entries
            .iter()
            .all(|e| e.reason.as_ref().is_some_and(|r| r.code == "up_to_date"))
        {
            writeln!(
                out,
                "  every app runs the same image in dev, staging and production"
            )?;
            break;
        }
        // The reviewer merges an environment's PRs once none is pending.
        for env in ["staging", "production"] {
            let entries: Vec<_> = report
                .plan
                .entries
                .iter()
                .filter(|e| e.env == env)
                .collect();
            let waiting = entries
                .iter()
                .any(|e| e.reason.as_ref().is_some_and(|r| r.code == "pr_open"));
            if !waiting || entries.iter().any(|e| e.action == Action::PullRequest) {
                continue;
            }
            let Some(AnyForge::Local(forge)) = &ctx.forge else {
                anyhow::bail!("the demo uses the local forge")
            };
            for pr in forge
                .list(StateFilter::Open, &format!("ferry/{env}/"))
                .await?
            {
                merge(&mut ctx, dir, &pr, env).await?;
                writeln!(out, "  reviewer merged #{} \"{}\"", pr.number, pr.title)?;
            }
        }
    }
    hand_edit(&mut ctx, &mut registry, out).await?;
    super::demo_chatops::scene(&mut ctx, dir, out).await?;
    super::demo_revert::scene(&mut ctx, dir, &mut registry, out).await?;
    super::demo_notify::print(&ctx.notifier, out).await?;
    super::demo_ops::scene(&mut ctx, dir, out).await?;
    writeln!(out, "\n── git log of the GitOps repository ──")?;
    for c in ctx.workspace.log(30)? {
        writeln!(out, "{} {}", &c.id[..8], c.summary)?;
        for (k, v) in c
            .trailers
            .iter()
            .filter(|(k, _)| k == "Ferry-Image" || k == "Ferry-Signature")
        {
            writeln!(out, "           {k}: {v}")?;
        }
    }
    for env in ["dev", "staging", "production"] {
        let text = std::fs::read_to_string(
            ctx.workspace
                .root()
                .join(format!("overlays/{env}/kustomization.yaml")),
        )?;
        let images: Vec<String> = crate::kustomize::read_images(&text)?
            .into_iter()
            .map(|e| format!("{}:{}", e.name, e.new_tag.unwrap_or_default()))
            .collect();
        writeln!(out, "\n── overlays/{env}: {}", images.join(", "))?;
    }
    writeln!(out, "\n── pull requests ──")?;
    if let Some(forge) = &ctx.forge {
        for pr in forge.list(StateFilter::All, "ferry/").await? {
            writeln!(
                out,
                "#{} {:?} {} ({})",
                pr.number, pr.state, pr.title, pr.head
            )?;
        }
    }
    Ok(())
}

/// CI pushes an unsigned image and someone with push access commits it to
/// dev by hand: ferry never promotes it, because the gates run on whatever
/// upstream runs, not only on what ferry put there.
async fn hand_edit(
    ctx: &mut crate::runner::Context,
    registry: &mut Registry,
    out: &mut impl Write,
) -> Result<()> {
    let tag = "sha-7e7e7e7";
    writeln!(
        out,
        "\n── a hand edit: CI pushes an unsigned {tag}, someone commits it to dev ──"
    )?;
    registry.push("platform/api", tag, Kind::Unsigned, 5)?;
    let digest = demo_digest("platform/api", tag);
    let update = crate::image::ImageUpdate::parse(&format!("api=*:{tag}@{digest}"))?;
    let message = format!("dev: api {tag} by hand (hotfix)");
    ctx.workspace.apply(
        &Author {
            name: "dana".into(),
            email: "dana@demo.invalid".into(),
        },
        4,
        |root: &Path| {
            crate::kustomize::edit_file(
                &root.join("overlays/dev/kustomization.yaml"),
                std::slice::from_ref(&update),
                false,
            )
            .map(|_| Some(message.clone()))
        },
    )?;
    writeln!(out, "  dana pushed \"{message}\"")?;
    for _ in 0..2 {
        pass(ctx, out).await?;
    }
    Ok(())
}

/// One pass, printed: holds and reasons of the promotion side, commits and
/// pull requests.
pub(super) async fn pass(
    ctx: &mut crate::runner::Context,
    out: &mut impl Write,
) -> Result<crate::promotion::pass::PassReport> {
    let report = ctx.run_pass().await?;
    for e in &report.plan.entries {
        match (&e.action, &e.reason) {
            (_, Some(why)) if e.env == "dev" && why.code == "held" => {
                let tags: Vec<&str> = why.held.iter().map(|h| h.tag.as_str()).collect();
                writeln!(out, "  plan {}/dev: held ({})", e.app, tags.join(", "))?;
            }
            (_, Some(why))
                if e.env != "dev" && !matches!(why.code, "up_to_date" | "awaiting_upstream") =>
            {
                writeln!(
                    out,
                    "  plan {}/{}: {} — {}",
                    e.app, e.env, why.code, why.message
                )?;
            }
            _ => {}
        }
    }
    for (env, outcome) in &report.commits {
        if let Outcome::Pushed { commit, .. } = outcome {
            let summary = ctx
                .workspace
                .log(1)?
                .first()
                .map(|c| c.summary.clone())
                .unwrap_or_default();
            writeln!(
                out,
                "  commit {} to {env}: {summary}",
                &commit.to_string()[..8]
            )?;
        }
    }
    for r in &report.reverts {
        writeln!(
            out,
            "  auto-revert {} to {}: {} back to {} ({}: {})",
            r.commit.get(..8).unwrap_or(&r.commit),
            r.env,
            r.app,
            r.to.tag.as_deref().unwrap_or("the image before"),
            r.check,
            r.seen
        )?;
    }
    for pr in &report.prs {
        writeln!(
            out,
            "  pull request #{} {} for {}/{}",
            pr.number,
            pr.what,
            pr.apps.join("+"),
            pr.env
        )?;
    }
    super::demo_notify::print(&ctx.notifier, out).await?;
    Ok(report)
}

/// What a reviewer's merge does: the PR's image change lands on main (the
/// demo merges the change, not the whole file, as git's three-way merge
/// would), and the forge records the PR as merged.
pub(super) async fn merge(
    ctx: &mut crate::runner::Context,
    dir: &Path,
    pr: &crate::forge::PullRequest,
    env: &str,
) -> Result<()> {
    let file = format!("overlays/{env}/kustomization.yaml");
    let git = git2::Repository::open_bare(dir.join("gitops.git"))?;
    let tip = git.find_commit(git.refname_to_id(&format!("refs/heads/{}", pr.head))?)?;
    let read = |commit: &git2::Commit| -> Result<Vec<crate::kustomize::ImageEntry>> {
        let blob = commit
            .tree()?
            .get_path(Path::new(&file))?
            .to_object(&git)?
            .peel_to_blob()?;
        Ok(crate::kustomize::read_images(std::str::from_utf8(
            blob.content(),
        )?)?)
    };
    let proposed = read(&tip)?;
    let before = read(&tip.parent(0)?)?;
    // Replay what the branch's commit changes for every app (one, or all
    // of a grouped environment's): read from git, as ferry reads it.
    let mut updates = Vec::new();
    for app in &ctx.config.apps {
        let Some(entry) = proposed.iter().find(|e| e.name == app.image) else {
            continue;
        };
        if before.iter().any(|b| b == entry) {
            continue;
        }
        updates.push(crate::image::ImageUpdate::parse(&format!(
            "{}=*:{}@{}",
            app.image,
            entry.new_tag.clone().unwrap_or_default(),
            entry.digest.clone().unwrap_or_default()
        ))?);
    }
    let message = format!(
        "Merge pull request #{} from {}\n\n{}",
        pr.number, pr.head, pr.title
    );
    let landed = ctx.workspace.apply(
        &Author {
            name: "alice".into(),
            email: "alice@demo.invalid".into(),
        },
        4,
        |root: &Path| {
            crate::kustomize::edit_file(&root.join(&file), &updates, false)
                .map(|_| Some(message.clone()))
        },
    )?;
    // The forge records which commit landed the PR, as GitHub's
    // `merge_commit_sha` does.
    let commit = match landed {
        Outcome::Pushed { commit, .. } => Some(commit.to_string()),
        Outcome::NothingToDo => None,
    };
    if let Some(AnyForge::Local(forge)) = &ctx.forge {
        forge.merge_as(pr.number, commit.as_deref()).await?;
    }
    Ok(())
}
