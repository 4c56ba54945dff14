//! `ferry.yaml`: loading, typing and validating the configuration.
//!
//! Loading is two passes over the same text: serde (yaml_serde) builds the
//! typed [`Config`] and rejects unknown keys and wrong types; then
//! `validate` checks what types cannot say (references between sections,
//! overlay paths that must stay inside the repository). Every error names
//! the file, line, column and field.

mod analysis;
mod model;
mod validate;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};

pub use model::{Analysis, Prometheus};
pub use model::{
    App, ArgoCd, AutoRevert, ChatOps, Config, Environment, Forge, ForgeKind, Gates, GitOps, Group,
    Mode, Order, Registry, RegistryKind, ScanGate, Severity, SignatureGate, Smoke,
};
pub use model::{ByteSize, DEFAULT_MAX_BODY, SecretError, Server};
pub use model::{EventKind, NotifySink, SinkKind};
pub use values::{
    CompareOp, Condition, DurationValue, QUERY_PLACEHOLDERS, TagPattern, placeholders,
};

use crate::yaml::{self, PathSeg, Text};

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line and column, where known.
    pub pos: Option<(usize, usize)>,
    /// The field, as a path like `apps[0].overlays.dev`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Every problem found in one config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file.
    pub path: PathBuf,
    /// The problems, in file order.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:", self.path.display())?;
            if let Some((l, c)) = e.pos {
                write!(f, "{l}:{c}:")?;
            }
            if let Some(field) = &e.field {
                write!(f, " {field}:")?;
            }
            write!(f, " {}", e.message)?;
        }
        Ok(())
    }
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        path: path.to_path_buf(),
        errors,
    };
    let src = std::fs::read_to_string(path).map_err(|e| {
        fail(vec![ConfigError {
            pos: None,
            field: None,
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse(&src).map_err(fail)
}

/// Parses and validates config text.
pub fn parse(src: &str) -> Result<Config, Vec<ConfigError>> {
    let text = Text::new(src);
    // The positioned tree first: it reports syntax errors precisely and
    // later locates the fields that validation complains about.
    let root = yaml::tree::parse(&text).map_err(|e| {
        vec![ConfigError {
            pos: Some(e.pos),
            field: None,
            message: format!("YAML syntax error: {}", e.message),
        }]
    })?;
    let config: Config = match &root {
        None => Config::default(),
        Some(r) => match yaml_serde::from_str(text.body()) {
            Ok(c) => c,
            Err(e) => return Err(more_errors(&text, r, serde_error(&e))),
        },
    };
    let problems = validate::validate(&config);
    if problems.is_empty() {
        return Ok(config);
    }
    Err(problems
        .into_iter()
        .map(|(path, message)| {
            let pos = root
                .as_ref()
                .map(|r| text.line_col(yaml::lookup(r, &path).start));
            ConfigError {
                pos,
                field: Some(path_string(&path)),
                message,
            }
        })
        .collect())
}

/// After a serde error, what else can be reported: each section and each
/// list entry deserialized on its own (an error positioned at its start,
/// except for the one that holds `first`), and user-info in every URL
/// field. Cross-field rules need the whole config and wait for the fix.
fn more_errors(text: &Text, root: &yaml::tree::Node, first: ConfigError) -> Vec<ConfigError> {
    use yaml_serde::Value;
    let Ok(Value::Mapping(top)) = yaml_serde::from_str::<Value>(text.body()) else {
        return vec![first];
    };
    let at = |path: &[PathSeg]| text.line_col(yaml::lookup(root, path).start);
    // (start of the element, its error) for every element that fails alone.
    let mut found: Vec<((usize, usize), ConfigError)> = Vec::new();
    let mut check = |path: Vec<PathSeg>, v: &Value, f: fn(Value) -> Result<(), String>| {
        if let Err(message) = f(v.clone()) {
            let pos = at(&path);
            found.push((
                pos,
                ConfigError {
                    pos: Some(pos),
                    field: Some(path_string(&path)),
                    message,
                },
            ));
        }
    };
    // Through text again, not `from_value`: a scalar then reads exactly as
    // it does in the whole document (`after: 3` is the string "3").
    fn de<T: serde::de::DeserializeOwned>(v: Value) -> Result<(), String> {
        let text = yaml_serde::to_string(&v).map_err(|e| e.to_string())?;
        yaml_serde::from_str::<T>(&text)
            .map(drop)
            .map_err(|e| match serde_error(&e) {
                ConfigError {
                    field: Some(f),
                    message,
                    ..
                } => format!("{f}: {message}"),
                other => other.message,
            })
    }
    for (k, v) in &top {
        let Some(name) = k.as_str() else { continue };
        let here = vec![PathSeg::Key(name.to_string())];
        match (name, v) {
            ("gitops", _) => check(here, v, de::<GitOps>),
            ("registry", _) => check(here, v, de::<Registry>),
            ("gates", _) => check(here, v, de::<Gates>),
            ("argocd", _) => check(here, v, de::<ArgoCd>),
            ("forge", _) => check(here, v, de::<Forge>),
            ("server", _) => check(here, v, de::<Server>),
            ("notify", Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let mut path = here.clone();
                    path.push(PathSeg::Index(i));
                    check(path, item, de::<NotifySink>);
                }
            }
            ("environments" | "apps", Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let mut path = here.clone();
                    path.push(PathSeg::Index(i));
                    let f = if name == "apps" {
                        de::<App>
                    } else {
                        de::<Environment>
                    };
                    check(path, item, f);
                }
            }
            _ => {}
        }
    }
    // The element that holds the first error reported it already.
    if let Some(first_pos) = first.pos
        && let Some(holder) = found
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| *p <= first_pos)
            .max()
    {
        found.retain(|(p, _)| *p != holder);
    }
    let mut errors = vec![first];
    errors.extend(found.into_iter().map(|(_, e)| e));
    for path in url_fields(&top) {
        let Some(Value::String(url)) = value_at(&top, &path) else {
            continue;
        };
        if let Some(why) = validate::user_info(url) {
            errors.push(ConfigError {
                pos: Some(at(&path)),
                field: Some(path_string(&path)),
                message: format!("the URL {why}"),
            });
        }
    }
    errors.sort_by_key(|e| e.pos);
    errors.dedup();
    errors
}

/// Every URL field of a config, as paths into the raw document.
fn url_fields(top: &yaml_serde::Mapping) -> Vec<Vec<PathSeg>> {
    let k = |s: &str| PathSeg::Key(s.to_string());
    let mut paths = vec![
        vec![k("gitops"), k("repo")],
        vec![k("argocd"), k("url")],
        vec![k("forge"), k("api_url")],
        vec![k("registry"), k("endpoint")],
        vec![k("registry"), k("oci_endpoint")],
        vec![k("registry"), k("sqs_queue_url")],
    ];
    if let Some(yaml_serde::Value::Sequence(envs)) = top.get("environments") {
        for (i, env) in envs.iter().enumerate() {
            if let Some(yaml_serde::Value::Sequence(checks)) = env.get("smoke") {
                for j in 0..checks.len() {
                    paths.push(vec![
                        k("environments"),
                        PathSeg::Index(i),
                        k("smoke"),
                        PathSeg::Index(j),
                        k("url"),
                    ]);
                }
            }
            if let Some(yaml_serde::Value::Sequence(checks)) = env.get("analysis") {
                for j in 0..checks.len() {
                    paths.push(vec![
                        k("environments"),
                        PathSeg::Index(i),
                        k("analysis"),
                        PathSeg::Index(j),
                        k("prometheus"),
                        k("url"),
                    ]);
                }
            }
        }
    }
    paths
}

fn value_at<'v>(top: &'v yaml_serde::Mapping, path: &[PathSeg]) -> Option<&'v yaml_serde::Value> {
    let (PathSeg::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let mut v = top.get(first.as_str())?;
    for seg in rest {
        v = match seg {
            PathSeg::Key(k) => v.get(k.as_str())?,
            PathSeg::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

/// The 1-based line and column of `field` (a path like
/// `environments[0].smoke[1].url`, as [`ConfigError::field`] shows it) in
/// config text, or of the deepest part of it that exists.
pub fn locate(src: &str, field: &str) -> Option<(usize, usize)> {
    let text = Text::new(src);
    let root = yaml::tree::parse(&text).ok()??;
    let mut path = Vec::new();
    for part in field.split('.') {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            path.push(PathSeg::Key(name.to_string()));
        }
        for i in indices.split('[') {
            if let Ok(i) = i.trim_end_matches(']').parse::<usize>() {
                path.push(PathSeg::Index(i));
            }
        }
    }
    Some(text.line_col(yaml::lookup(&root, &path).start))
}

/// Splits yaml_serde's "field.path: message at line L column C".
fn serde_error(e: &yaml_serde::Error) -> ConfigError {
    let mut message = e.to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    let (field, message) = match message.split_once(": ") {
        Some((f, m)) if !f.contains(' ') => (Some(f.to_string()), m.to_string()),
        _ => (None, message),
    };
    ConfigError {
        pos: e.location().map(|l| (l.line(), l.column())),
        field,
        message,
    }
}

fn path_string(path: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests;
