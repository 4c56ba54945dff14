//! The check after every edit: the new text must parse, and its data must
//! equal the original's with exactly the requested change.

use std::collections::HashMap;

use super::error::{EditError, EditErrorKind};
use super::scalar;
use super::wanted::wanted_fields;
use crate::image::ImageUpdate;
use crate::yaml::Text;
use crate::yaml::{Kind, Node, tree};

/// A YAML value without positions or styles, as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// Text, and whether it reads as a string (`"1.10"`) or not (`1.10`).
    Scalar(String, bool),
    Seq(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Alias,
    Null,
}

fn value(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar { value, style, .. } => Value::Scalar(
            value.clone(),
            scalar::reads_as_string(value, *style, node.tag.as_deref()),
        ),
        Kind::Seq { items, .. } => Value::Seq(items.iter().map(value).collect()),
        Kind::Map { pairs, .. } => {
            Value::Map(pairs.iter().map(|(k, v)| (value(k), value(v))).collect())
        }
        Kind::Alias => Value::Alias,
    }
}

fn string(s: &str) -> Value {
    Value::Scalar(s.to_string(), true)
}

fn scalar_text(v: &Value) -> Option<&str> {
    match v {
        Value::Scalar(s, _) => Some(s),
        _ => None,
    }
}

fn key_is(k: &Value, name: &str) -> bool {
    matches!(k, Value::Scalar(s, _) if s == name)
}

/// Entries of `images:` compared without regard to key order inside an
/// entry: the editor places new keys by kustomize's order, not at the end.
fn normalize(v: &mut Value) {
    if let Value::Map(pairs) = v {
        for (k, val) in pairs.iter_mut() {
            if key_is(k, "images")
                && let Value::Seq(items) = val
            {
                for item in items {
                    if let Value::Map(p) = item {
                        p.sort_by(|a, b| scalar_text(&a.0).cmp(&scalar_text(&b.0)));
                    }
                }
            }
        }
    }
}

/// The original data with `updates` applied the way kustomize would.
fn expected(orig: Option<&Node>, updates: &[ImageUpdate]) -> Value {
    let mut root = orig.map_or(Value::Null, value);
    if root == Value::Null {
        root = Value::Map(Vec::new());
    }
    let Value::Map(pairs) = &mut root else {
        return root;
    };
    let idx = match pairs.iter().position(|(k, _)| key_is(k, "images")) {
        Some(i) => i,
        None => {
            pairs.push((string("images"), Value::Seq(Vec::new())));
            pairs.len() - 1
        }
    };
    if matches!(pairs[idx].1, Value::Scalar(ref s, false) if s.is_empty()) {
        pairs[idx].1 = Value::Seq(Vec::new());
    }
    let Value::Seq(items) = &mut pairs[idx].1 else {
        return root;
    };
    // The entry of each name, found once: looking it up per update would
    // make many updates on a long list quadratic.
    let mut by_name: HashMap<String, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Value::Map(p) = item
            && let Some(name) = p
                .iter()
                .find(|(k, _)| key_is(k, "name"))
                .and_then(|(_, v)| scalar_text(v))
        {
            by_name.entry(name.to_string()).or_insert(i);
        }
    }
    for u in updates {
        let found = by_name
            .get(u.name.as_str())
            .and_then(|&i| match items.get_mut(i) {
                Some(Value::Map(p)) => Some(p),
                _ => None,
            });
        match found {
            Some(p) => {
                let current: Vec<(String, String)> = p
                    .iter()
                    .filter_map(|(k, v)| match (k, v) {
                        (Value::Scalar(k, _), Value::Scalar(v, _)) => Some((k.clone(), v.clone())),
                        _ => None,
                    })
                    .collect();
                let want: Vec<(&str, String)> = wanted_fields(u, |k| {
                    current
                        .iter()
                        .find(|(ck, _)| ck == k)
                        .map(|(_, v)| v.as_str())
                })
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect();
                p.retain(|(k, _)| {
                    let Value::Scalar(k, _) = k else { return true };
                    !super::entries::FIELDS.contains(&k.as_str())
                        || want.iter().any(|(wk, _)| wk == k)
                });
                for (k, v) in want {
                    match p.iter_mut().find(|(pk, _)| key_is(pk, k)) {
                        Some(slot) => slot.1 = string(&v),
                        None => p.push((string(k), string(&v))),
                    }
                }
            }
            None => items.push(Value::Map(
                wanted_fields(u, |_| None)
                    .into_iter()
                    .map(|(k, v)| (string(k), string(v)))
                    .collect(),
            )),
        }
    }
    root
}

/// Refuses `out` unless it parses to the original data plus the change.
pub(crate) fn check(
    orig: Option<&Node>,
    out: &str,
    updates: &[ImageUpdate],
) -> Result<(), EditError> {
    let text = Text::new(out);
    let parsed = tree::parse(&text).map_err(|e| {
        EditError::new(EditErrorKind::Verify(format!(
            "the edited text does not parse: {e}"
        )))
    })?;
    let mut got = parsed.as_ref().map_or(Value::Null, value);
    let mut want = expected(orig, updates);
    normalize(&mut got);
    normalize(&mut want);
    if got != want {
        return Err(EditError::new(EditErrorKind::Verify(
            "the edited text does not read back as the requested change".into(),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orig(src: &str) -> Option<Node> {
        tree::parse(&Text::new(src)).unwrap()
    }

    #[test]
    fn refuses_output_that_is_not_exactly_the_change() {
        let src = "images:\n- name: app\n  newTag: v1\nnamespace: a\n";
        let up = [ImageUpdate::parse("app:1.10").unwrap()];
        let o = orig(src);
        assert!(
            check(
                o.as_ref(),
                "images:\n- name: app\n  newTag: \"1.10\"\nnamespace: a\n",
                &up
            )
            .is_ok()
        );
        for bad in [
            "images:\n- name: app\n  newTag: 1.10\nnamespace: a\n", // a number, not a string
            "images:\n- name: app\n  newTag: \"1.1\"\nnamespace: a\n", // wrong value
            "images:\n- name: app\n  newTag: \"1.10\"\nnamespace: b\n", // something else changed
            "images:\n- name: app\n  newTag: \"1.10\"\n",           // something lost
            "images:\n- name: app\n  newTag: [\"1.10\"\nnamespace: a\n", // does not parse
        ] {
            let e = check(o.as_ref(), bad, &up).unwrap_err();
            assert!(matches!(e.kind, EditErrorKind::Verify(_)), "{bad:?}: {e}");
        }
    }
}
