//! `ferry check-config --config FILE`: every check `plan` and `run` make
//! before they touch the network, all reported at once: the config's own
//! rules (types, fields, URLs, names, bounds), then what loading it needs
//! from this machine (key files readable and parseable, the secrets'
//! environment variables set, the local registry and forge files' places),
//! and sections the environments rely on.

use std::path::{Path, PathBuf};

use super::Exit;
use crate::config::{self, Config, ConfigError, ConfigErrors, ForgeKind, Mode};
use crate::gates::GatePolicy;
use crate::gitops::Workspace;
use crate::health::ArgoClient;

/// Arguments of `ferry check-config`.
#[derive(clap::Args)]
pub struct Args {
    /// The ferry.yaml to check.
    #[arg(long)]
    config: PathBuf,
}

/// Runs the command: prints a summary, or every problem with its position.
pub fn run(args: Args) -> Exit {
    let result = config::load(&args.config).and_then(|c| {
        let problems = machine_checks(&c, &args.config);
        if problems.is_empty() {
            return Ok(c);
        }
        let src = std::fs::read_to_string(&args.config).unwrap_or_default();
        Err(ConfigErrors {
            path: args.config.clone(),
            errors: problems
                .into_iter()
                .map(|(field, message)| ConfigError {
                    pos: config::locate(&src, &field),
                    field: Some(field),
                    message,
                })
                .collect(),
        })
    });
    match result {
        Ok(c) => {
            println!(
                "{}: ok ({} environments, {} apps)",
                args.config.display(),
                c.environments.len(),
                c.apps.len()
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("{e}");
            let unreadable = e
                .errors
                .iter()
                .all(|x| x.pos.is_none() && x.field.is_none());
            if unreadable {
                Exit::Failure
            } else {
                Exit::BadInput
            }
        }
    }
}

/// What `plan` and `run` need besides a valid config, as (field, problem),
/// checked the way they load it (`runner::context::load`) but without network.
fn machine_checks(c: &Config, path: &Path) -> Vec<(String, String)> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut p: Vec<(String, String)> = Vec::new();
    let mut push = |field: &str, message: String| p.push((field.to_string(), message));
    let env_set = |var: &str| std::env::var(var).is_ok_and(|v| !v.trim().is_empty());

    match &c.gitops {
        None => push("gitops", "`gitops:` is required by plan and run".into()),
        Some(g) => {
            let repo = if g.repo.contains("://")
                || g.repo.contains('@')
                || Path::new(&g.repo).is_absolute()
            {
                g.repo.clone()
            } else {
                base.join(&g.repo).display().to_string()
            };
            // Only parses: no directory is created, nothing is fetched.
            if let Err(e) = Workspace::dir_for(&repo, &g.branch, Path::new("/")) {
                push("gitops.repo", e.to_string());
            }
            if let Some(var) = &g.token_env
                && !env_set(var)
            {
                push("gitops.token_env", format!("${var} is not set"));
            }
            if let Some(key) = &g.ssh_key
                && let Err(e) = std::fs::File::open(base.join(key))
            {
                push(
                    "gitops.ssh_key",
                    format!("{}: {e}", base.join(key).display()),
                );
            }
        }
    }
    match &c.registry {
        None => push("registry", "`registry:` is required by plan and run".into()),
        Some(r) => {
            if let Some(file) = &r.path
                && r.kind == crate::config::RegistryKind::Local
                && let Err(e) = std::fs::metadata(base.join(file))
            {
                push(
                    "registry.path",
                    format!("{}: {e}", base.join(file).display()),
                );
            }
        }
    }
    if let Err(e) = GatePolicy::load(c.gates.as_ref(), &base) {
        // Loading the policy only reads and parses the cosign keys.
        let field = "gates.signature.cosign_keys";
        let msg = e.to_string();
        let msg = msg.strip_prefix(&format!("{field}: ")).unwrap_or(&msg);
        let has_keys = c.gates.as_ref().is_some_and(|g| g.signature.is_some());
        push(if has_keys { field } else { "gates" }, msg.to_string());
    }
    if let Some(a) = &c.argocd
        && let Err(e) = ArgoClient::from_config(a)
    {
        push("argocd", e.to_string());
    }
    if let Some(f) = &c.forge
        && f.kind == ForgeKind::Github
        && let Err(e) = crate::forge::github::GitHubSettings::from_config(f, &base)
    {
        push("forge", e.to_string());
    }
    for (field, var) in crate::health::analysis::missing_tokens(c, env_set) {
        push(&field, format!("${var} is not set"));
    }
    for (i, env) in c.environments.iter().enumerate() {
        if env.argocd_app.is_some() && c.argocd.is_none() {
            push(
                &format!("environments[{i}].argocd_app"),
                "needs an `argocd:` section to be checked; without it the environment never proves an image".into(),
            );
        }
        if env.mode == Mode::PullRequest && c.forge.is_none() {
            push(
                &format!("environments[{i}].mode"),
                "`pull_request` needs a `forge:` section to open pull requests".into(),
            );
        }
    }
    p
}
