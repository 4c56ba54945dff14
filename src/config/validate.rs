//! Checks that serde's types cannot express. Each problem is returned with
//! the path of the field it concerns; the loader turns paths into positions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use super::model::{Config, RegistryKind};
use crate::image::ImageName;
use crate::yaml::PathSeg;

type Problems = Vec<(Vec<PathSeg>, String)>;

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_string())
}

/// Every problem in `config`, in the order of the sections.
pub(super) fn validate(config: &Config) -> Problems {
    let mut p = Problems::new();
    if let Some(g) = &config.gitops {
        if g.repo.trim().is_empty() {
            p.push((vec![key("gitops"), key("repo")], "must not be empty".into()));
        }
        if g.branch.trim().is_empty() {
            p.push((
                vec![key("gitops"), key("branch")],
                "must not be empty".into(),
            ));
        }
    }
    if let Some(r) = &config.registry {
        let missing = |field: &str, p: &mut Problems| {
            p.push((
                vec![key("registry")],
                format!("`{field}` is required for kind {:?}", r.kind),
            ));
        };
        if let Some(poll) = &r.poll {
            if let Err(e) = poll.parse::<crate::registry::intake::PollSchedule>() {
                p.push((vec![key("registry"), key("poll")], e));
            }
        }
        match r.kind {
            RegistryKind::Ecr if r.region.is_none() => missing("region", &mut p),
            RegistryKind::Local if r.path.is_none() => missing("path", &mut p),
            _ => {}
        }
    }
    environments(config, &mut p);
    apps(config, &mut p);
    p
}

fn environments(config: &Config, p: &mut Problems) {
    let at = |i: usize, f: &str| vec![key("environments"), PathSeg::Index(i), key(f)];
    let mut seen = BTreeSet::new();
    for (i, env) in config.environments.iter().enumerate() {
        if !valid_env_name(&env.name) {
            p.push((
                at(i, "name"),
                format!(
                    "{:?} is not a valid name (lowercase letters, digits and '-')",
                    env.name
                ),
            ));
        } else if !seen.insert(env.name.as_str()) {
            p.push((
                at(i, "name"),
                format!("environment {:?} is defined twice", env.name),
            ));
        }
        if let Err(e) =
            crate::promotion::window::Windows::parse(&env.windows, env.timezone.as_deref())
        {
            let field = if e.starts_with("timezone") {
                "timezone"
            } else {
                "windows"
            };
            p.push((at(i, field), e));
        }
        if let Some(a) = &env.argocd_app {
            let rest = a.replace("{app}", "");
            if rest.contains(['{', '}']) || a.trim().is_empty() {
                p.push((
                    at(i, "argocd_app"),
                    format!("{a:?}: a name, where `{{app}}` is the only placeholder"),
                ));
            }
        }
        for (j, s) in env.smoke.iter().enumerate() {
            if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                p.push((
                    vec![
                        key("environments"),
                        PathSeg::Index(i),
                        key("smoke"),
                        PathSeg::Index(j),
                        key("url"),
                    ],
                    format!("{:?} is not an http:// or https:// URL", s.url),
                ));
            }
        }
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in config.environments.iter().enumerate() {
        names.entry(e.name.as_str()).or_insert(i);
    }
    for (i, env) in config.environments.iter().enumerate() {
        let Some(after) = &env.after else { continue };
        if after == &env.name {
            p.push((
                at(i, "after"),
                "an environment cannot come after itself".into(),
            ));
        } else if !names.contains_key(after.as_str()) {
            p.push((at(i, "after"), format!("unknown environment {after:?}")));
        } else if cycle_from(config, i, &names) {
            p.push((
                at(i, "after"),
                format!("`after` forms a cycle through {after:?}"),
            ));
        }
    }
}

/// True when following `after` from environment `start` comes back to it.
fn cycle_from(config: &Config, start: usize, names: &BTreeMap<&str, usize>) -> bool {
    let mut cur = start;
    for _ in 0..config.environments.len() {
        match config.environments[cur]
            .after
            .as_deref()
            .and_then(|a| names.get(a))
        {
            Some(&next) if next == start => return true,
            Some(&next) => cur = next,
            None => return false,
        }
    }
    false
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// App names become branch names (`ferry/<env>/<app>`) and trailers; a
/// leading letter or digit keeps them apart from `_all`, the branch of a
/// grouped environment.
fn valid_app_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !s.contains("..")
        && !s.ends_with(".lock")
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn apps(config: &Config, p: &mut Problems) {
    let at = |i: usize, f: &str| vec![key("apps"), PathSeg::Index(i), key(f)];
    let envs: BTreeSet<&str> = config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for (i, app) in config.apps.iter().enumerate() {
        if !valid_app_name(&app.name) {
            p.push((
                at(i, "name"),
                format!(
                    "{:?} is not a valid name (letters, digits, '-', '_' and '.', \
                     starting with a letter or digit, at most 100)",
                    app.name
                ),
            ));
        } else if !seen.insert(app.name.as_str()) {
            p.push((
                at(i, "name"),
                format!("app {:?} is defined twice", app.name),
            ));
        }
        if let Err(e) = ImageName::parse(&app.repository) {
            p.push((at(i, "repository"), e.to_string()));
        }
        if let Err(e) = ImageName::parse(&app.image) {
            p.push((at(i, "image"), e.to_string()));
        }
        for (env, dir) in &app.overlays {
            let here = vec![key("apps"), PathSeg::Index(i), key("overlays"), key(env)];
            if !envs.is_empty() && !envs.contains(env.as_str()) {
                p.push((here.clone(), format!("unknown environment {env:?}")));
            }
            if let Err(why) = check_overlay_path(dir) {
                p.push((here, why));
            }
        }
    }
}

/// An overlay path must be relative and must not leave the repository.
pub(super) fn check_overlay_path(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err("overlay path is empty".into());
    }
    let mut depth: usize = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("overlay path {shown:?} leaves the repository"))?;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "overlay path {shown:?} must be relative to the repository root"
                ));
            }
        }
    }
    Ok(())
}
