//! Checks of `environments[].analysis` that serde's types cannot express:
//! unique names, a usable URL and token variable, a query whose only
//! placeholders are `{app}` and `{env}`, a failure limit of at least one.
//! The `success` condition must parse as a [`super::Condition`].

use std::collections::BTreeSet;

use super::model::Environment;
use super::validate::{valid_env_var, web_url};
use super::values::{QUERY_PLACEHOLDERS, placeholders};
use crate::yaml::PathSeg;

type Problems = Vec<(Vec<PathSeg>, String)>;

/// Every problem in the analyses of `env`, the environment at index `i`.
pub(super) fn validate(i: usize, env: &Environment, p: &mut Problems) {
    let mut seen = BTreeSet::new();
    for (j, a) in env.analysis.iter().enumerate() {
        let at = |fields: &[&str]| {
            let mut path = vec![
                PathSeg::Key("environments".into()),
                PathSeg::Index(i),
                PathSeg::Key("analysis".into()),
                PathSeg::Index(j),
            ];
            path.extend(fields.iter().map(|f| PathSeg::Key((*f).to_string())));
            path
        };
        let name = a.name.trim();
        if name.is_empty() {
            p.push((at(&["name"]), "must not be empty".into()));
        } else if name.len() > 100 || name.chars().any(char::is_control) {
            p.push((
                at(&["name"]),
                "at most 100 characters, without control characters".into(),
            ));
        } else if !seen.insert(a.name.as_str()) {
            p.push((
                at(&["name"]),
                format!(
                    "analysis {:?} is defined twice in environment {:?}",
                    a.name, env.name
                ),
            ));
        }
        if let Err(why) = web_url(&a.prometheus.url) {
            p.push((at(&["prometheus", "url"]), why));
        }
        if let Some(var) = &a.prometheus.token_env
            && !valid_env_var(var)
        {
            p.push((
                at(&["prometheus", "token_env"]),
                // Not echoed: a token pasted here by mistake must not
                // reach a terminal or a log.
                "is not an environment variable name (letters, digits and '_', \
                 not starting with a digit); put the variable's name here, not its value"
                    .into(),
            ));
        }
        if a.query.trim().is_empty() {
            p.push((at(&["query"]), "must not be empty".into()));
        }
        let unknown: Vec<String> = placeholders(&a.query)
            .into_iter()
            .filter(|(_, n)| !QUERY_PLACEHOLDERS.contains(n))
            .map(|(_, n)| format!("{{{n}}}"))
            .collect();
        if !unknown.is_empty() {
            p.push((
                at(&["query"]),
                format!(
                    "unknown placeholder {}: only {{app}} and {{env}} are replaced",
                    unknown.join(", ")
                ),
            ));
        }
        if let Err(why) = a.condition() {
            p.push((at(&["success"]), why));
        }
        if a.failure_limit == Some(0) {
            p.push((
                at(&["failure_limit"]),
                "must be at least 1 (failed evaluations in a row)".into(),
            ));
        }
    }
}
