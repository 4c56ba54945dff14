//! `ferry.yaml`: loading, typing and validating the configuration.
//!
//! Loading is two passes over the same text: serde (yaml_serde) builds the
//! typed [`Config`] and rejects unknown keys and wrong types; then
//! `validate` checks what types cannot say (references between sections,
//! overlay paths that must stay inside the repository). Every error names
//! the file, line, column and field.

mod model;
mod validate;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};

pub use model::{
    App, ArgoCd, Config, Environment, Forge, ForgeKind, Gates, GitOps, Group, Mode, Order,
    Registry, RegistryKind, ScanGate, Severity, SignatureGate, Smoke,
};
pub use values::{DurationValue, TagPattern};

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
        Some(_) => yaml_serde::from_str(text.body()).map_err(|e| vec![serde_error(&e)])?,
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
