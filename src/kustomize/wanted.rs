//! What an entry should hold after an update: shared by the editor, which
//! writes it, and the verifier, which checks the result against it (so
//! neither module needs the other for it).

use super::entries::FIELDS;
use crate::image::{FieldChange, ImageUpdate};

/// The desired value of one field after an update: `None` = absent.
fn wanted<'a>(u: &'a ImageUpdate, key: &str, current: Option<&'a str>) -> Option<&'a str> {
    fn pick<'a, T: AsRef<str>>(c: &'a FieldChange<T>, current: Option<&'a str>) -> Option<&'a str> {
        match c {
            FieldChange::Keep => current,
            FieldChange::Set(v) => Some(v.as_ref()),
            FieldChange::Remove => None,
        }
    }
    match key {
        "name" => Some(u.name.as_str()),
        "newName" => pick(&u.new_name, current),
        "newTag" => pick(&u.new_tag, current),
        "digest" => pick(&u.digest, current),
        _ => current,
    }
}

/// The fields an entry should have after `u`, in kustomize's order.
pub(crate) fn wanted_fields<'a>(
    u: &'a ImageUpdate,
    current: impl Fn(&str) -> Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    FIELDS
        .iter()
        .filter_map(|k| wanted(u, k, current(k)).map(|v| (*k, v)))
        .collect()
}
