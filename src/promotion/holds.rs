//! Holds a person must hear about: a pure comparison of two plans.
//!
//! Most reasons an app does not move are the normal course of things
//! (`up_to_date`, `soak`, `window`, `pr_open`). Some mean something is
//! wrong and nothing else would tell anyone: an overlay ferry cannot read,
//! a registry it cannot ask, a failing smoke check, an Argo CD it cannot
//! reach, a forge it cannot ask, an image the gates hold. Those are logged
//! at WARN when they start, not on every pass while they last: [`started`]
//! says which holds of the current plan the previous one did not have.

use std::collections::BTreeSet;

use super::plan::{Entry, Plan};

/// One hold worth a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The plan's reason code (`held` also for newer candidates held
    /// while an older one moves).
    pub code: &'static str,
    /// What a person reads.
    pub message: String,
    /// What makes two passes' holds the same hold: for `held`, the digests
    /// held (a newly held image is a new hold); empty otherwise, so a
    /// message that changes wording (another connection error) is not.
    subject: String,
}

impl Hold {
    fn key(&self) -> (&str, &str, &str, &str) {
        (&self.app, &self.env, self.code, &self.subject)
    }
}

/// Codes that always mean something a person should look at.
const WARN_CODES: &[&str] = &[
    "overlay_unreadable",
    "registry_unavailable",
    "smoke",
    "held",
    "forge_unavailable",
];

/// The holds of a plan worth a warning, in plan order.
pub fn holds(plan: &Plan) -> Vec<Hold> {
    plan.entries.iter().filter_map(hold_of).collect()
}

fn hold_of(e: &Entry) -> Option<Hold> {
    let hold = |code, message: String, subject| Hold {
        app: e.app.clone(),
        env: e.env.clone(),
        code,
        message,
        subject,
    };
    let held = match &e.reason {
        Some(why) if !why.held.is_empty() => &why.held,
        _ => &e.held,
    };
    let held_subject = || {
        let digests: BTreeSet<&str> = held.iter().map(|h| h.digest.as_str()).collect();
        digests.into_iter().collect::<Vec<_>>().join(",")
    };
    let held_message = || {
        held.iter()
            .map(|h| {
                let codes: Vec<&str> = h.reasons.iter().map(|r| r.code.as_str()).collect();
                format!("{} held ({})", h.tag, codes.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match &e.reason {
        Some(why) if why.code == "held" => {
            let message = match held_message() {
                m if m.is_empty() => why.message.clone(),
                m => format!("{}: {m}", why.message),
            };
            Some(hold("held", message, held_subject()))
        }
        Some(why) if WARN_CODES.contains(&why.code) => {
            Some(hold(why.code, why.message.clone(), String::new()))
        }
        // Argo CD down is a `health` reason among normal ones (not synced
        // yet, not healthy yet); only "cannot be asked" is a failure.
        Some(why) if why.code == "health" && why.message.contains("cannot be asked") => {
            Some(hold("health", why.message.clone(), String::new()))
        }
        // An entry that moves (or waits) while newer candidates are held.
        _ if !held.is_empty() => Some(hold("held", held_message(), held_subject())),
        _ => None,
    }
}

/// The holds of `current` that `previous` did not have (all of them when
/// there is no previous plan: the first pass of a process).
pub fn started(previous: Option<&Plan>, current: &Plan) -> Vec<Hold> {
    let before = previous.map(holds).unwrap_or_default();
    let before: BTreeSet<_> = before.iter().map(Hold::key).collect();
    holds(current)
        .into_iter()
        .filter(|h| !before.contains(&h.key()))
        .collect()
}

/// The holds of `previous` that `current` no longer has.
pub fn ended(previous: Option<&Plan>, current: &Plan) -> Vec<Hold> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    let now = holds(current);
    let now: BTreeSet<_> = now.iter().map(Hold::key).collect();
    holds(previous)
        .into_iter()
        .filter(|h| !now.contains(&h.key()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::{Code, Gate, Reason};
    use crate::promotion::plan::{Action, Held, Why};

    fn entry(app: &str, code: &'static str, message: &str) -> Entry {
        Entry {
            app: app.into(),
            env: "dev".into(),
            action: Action::None,
            from: None,
            to: None,
            reason: Some(Why {
                code,
                message: message.into(),
                held: Vec::new(),
            }),
            held: Vec::new(),
            scan: None,
            signature_key: None,
            pushed_at: None,
        }
    }

    fn held(tag: &str, digest: &str) -> Held {
        Held {
            tag: tag.into(),
            digest: digest.into(),
            reasons: vec![Reason {
                gate: Gate::Scan,
                code: Code::ScanBudget,
                message: "1 CRITICAL".into(),
            }],
        }
    }

    fn plan(entries: Vec<Entry>) -> Plan {
        Plan {
            entries,
            pull_requests: Vec::new(),
            watch: Vec::new(),
        }
    }

    fn codes(holds: &[Hold]) -> Vec<(&str, &str)> {
        holds.iter().map(|h| (h.app.as_str(), h.code)).collect()
    }

    #[test]
    fn only_failures_are_holds() {
        let mut gate = entry("e", "held", "every newer image is held");
        gate.reason.as_mut().unwrap().held = vec![held("v2", "sha256:22")];
        let p = plan(vec![
            entry("a", "overlay_unreadable", "apps/a/dev: not a directory"),
            entry("b", "registry_unavailable", "throttled"),
            entry("c", "smoke", "http://x/health: expected HTTP 200, got 503"),
            entry("d", "health", "Argo CD cannot be asked: connection refused"),
            gate,
            entry("f", "forge_unavailable", "cannot list pull requests"),
            entry("n", "health", "dev: not synced yet"),
            entry("n", "up_to_date", "runs the newest"),
            entry("n", "soak", "30s of soak left"),
            entry("n", "window", "closed"),
        ]);
        assert_eq!(
            codes(&holds(&p)),
            [
                ("a", "overlay_unreadable"),
                ("b", "registry_unavailable"),
                ("c", "smoke"),
                ("d", "health"),
                ("e", "held"),
                ("f", "forge_unavailable"),
            ]
        );
        let gate = &holds(&p)[4];
        assert!(gate.message.contains("v2 held (scan_budget)"), "{gate:?}");
    }

    #[test]
    fn a_hold_starts_once_while_it_lasts() {
        let first = plan(vec![entry("a", "smoke", "503")]);
        assert_eq!(codes(&started(None, &first)), [("a", "smoke")]);
        // Same hold, other wording: not new.
        let second = plan(vec![entry("a", "smoke", "timed out")]);
        assert!(started(Some(&first), &second).is_empty());
        assert!(ended(Some(&first), &second).is_empty());
        // It ends, then starts again.
        let fine = plan(vec![entry("a", "up_to_date", "")]);
        assert!(started(Some(&second), &fine).is_empty());
        assert_eq!(codes(&ended(Some(&second), &fine)), [("a", "smoke")]);
        assert_eq!(codes(&started(Some(&fine), &first)), [("a", "smoke")]);
        // Another class on the same entry is a new hold.
        let other = plan(vec![entry("a", "registry_unavailable", "down")]);
        assert_eq!(
            codes(&started(Some(&first), &other)),
            [("a", "registry_unavailable")]
        );
    }

    #[test]
    fn a_newly_held_image_is_a_new_hold() {
        let mut moving = entry("a", "up_to_date", "");
        moving.reason = None;
        moving.action = Action::Commit;
        moving.held = vec![held("v3", "sha256:33")];
        let one = plan(vec![moving.clone()]);
        assert_eq!(codes(&started(None, &one)), [("a", "held")]);
        assert!(started(Some(&one), &one).is_empty());
        moving.held.push(held("v4", "sha256:44"));
        let two = plan(vec![moving]);
        let s = started(Some(&one), &two);
        assert_eq!(codes(&s), [("a", "held")]);
        assert!(s[0].message.contains("v4 held"), "{s:?}");
    }
}
