//! The pure part: does an Argo CD `Application` show that an environment
//! runs ferry's commit and image, synced and healthy?

use serde::{Deserialize, Serialize};

use super::argocd::Application;

/// What ferry expects an environment to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    /// ferry's commit in the GitOps repository (full SHA).
    pub commit: String,
    /// The promoted digest (`sha256:...`), when the overlay pins one.
    pub image_digest: Option<String>,
    /// The promoted tag; looked for only when there is no digest.
    pub image_tag: Option<String>,
    /// The image name as kustomize renders it (`newName`, else `name`).
    pub image_name: String,
}

/// One of the checks of [`assess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The revision Argo CD compared with is ferry's commit or later.
    Revision,
    /// `status.sync.status` is `Synced`.
    Sync,
    /// The last sync operation succeeded.
    Operation,
    /// The controller reconciled after that operation finished.
    Reconciled,
    /// No error condition.
    Conditions,
    /// `status.health.status` is `Healthy`.
    Health,
    /// The live resources run the promoted image.
    Image,
}

impl Check {
    /// The snake_case name, as in JSON and plan reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Revision => "revision",
            Check::Sync => "sync",
            Check::Operation => "operation",
            Check::Reconciled => "reconciled",
            Check::Conditions => "conditions",
            Check::Health => "health",
            Check::Image => "image",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A check that did not pass, and why, for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Which check.
    pub check: Check,
    /// What Argo CD reported instead.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

/// Every check of `app` against `want`, in [`Check`] order; empty means
/// Argo CD shows the environment running it, synced and healthy.
///
/// `is_descendant(rev)` answers whether `rev` is ferry's commit or a
/// descendant of it in the GitOps repository; it must answer `false` for a
/// revision it does not know, so an undecidable check fails. Descendants
/// pass because unrelated commits land on the branch after ferry's.
///
/// For a multi-source application (`status.sync.revisions` non-empty)
/// *every* revision must pass, as the issue specifies: each source has to
/// come from the GitOps repository at or after ferry's commit. An
/// application mixing in another repository or a Helm chart version
/// therefore never passes this check, which holds rather than guesses
/// which source carries the overlay.
pub fn assess(
    app: &Application,
    want: &Expectation,
    is_descendant: impl Fn(&str) -> bool,
) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut fail = |check, message: String| out.push(Failure { check, message });
    let st = &app.status;

    let revisions = app.revisions();
    if revisions.is_empty() {
        fail(Check::Revision, "Argo CD reports no sync revision".into());
    } else {
        let behind: Vec<&str> = revisions
            .iter()
            .copied()
            .filter(|r| !is_descendant(r))
            .collect();
        if !behind.is_empty() {
            fail(
                Check::Revision,
                format!(
                    "revision {} is not {} or a descendant of it",
                    behind.join(", "),
                    want.commit
                ),
            );
        }
    }

    match st.sync.status.as_deref() {
        Some("Synced") => {}
        other => fail(
            Check::Sync,
            format!("sync status is {}, not Synced", shown(other)),
        ),
    }

    let op = st.operation_state.as_ref();
    match op.and_then(|o| o.phase.as_deref()) {
        Some("Succeeded") => {}
        None if op.is_none() => fail(Check::Operation, "no sync operation recorded".into()),
        phase => {
            let msg = op.and_then(|o| o.message.as_deref()).unwrap_or("");
            let tail = if msg.is_empty() {
                String::new()
            } else {
                format!(" ({msg})")
            };
            fail(
                Check::Operation,
                format!(
                    "last sync operation is {}, not Succeeded{tail}",
                    shown(phase)
                ),
            );
        }
    }

    // A reconciliation older than the operation's end has not yet compared
    // the result, so the sync and health it shows may predate the sync.
    match (st.reconciled_at, op.and_then(|o| o.finished_at)) {
        (Some(r), Some(f)) if r >= f => {}
        (Some(r), Some(f)) => fail(
            Check::Reconciled,
            format!(
                "reconciled at {} before the sync finished at {}",
                rfc(r),
                rfc(f)
            ),
        ),
        (None, _) => fail(Check::Reconciled, "no reconciledAt".into()),
        (Some(_), None) => fail(
            Check::Reconciled,
            "no finished sync operation to compare reconciledAt with".into(),
        ),
    }

    let errors: Vec<String> = st
        .conditions
        .iter()
        .filter(|c| c.is_error())
        .map(|c| match c.message.as_deref() {
            Some(m) if !m.is_empty() => format!("{}: {m}", c.kind),
            _ => c.kind.clone(),
        })
        .collect();
    if !errors.is_empty() {
        fail(Check::Conditions, errors.join("; "));
    }

    match st.health.status.as_deref() {
        Some("Healthy") => {}
        other => fail(
            Check::Health,
            format!("health is {}, not Healthy", shown(other)),
        ),
    }

    if let Some(message) = image_failure(&st.summary.images, want) {
        fail(Check::Image, message);
    }
    out
}

fn image_failure(images: &[String], want: &Expectation) -> Option<String> {
    let (what, found) = match (&want.image_digest, &want.image_tag) {
        (Some(d), _) => (
            format!("{}@{d}", want.image_name),
            images.iter().any(|i| {
                let (name, _, digest) = split_image(i);
                name == want.image_name && digest == Some(d.as_str())
            }),
        ),
        (None, Some(t)) => (
            format!("{}:{t}", want.image_name),
            images.iter().any(|i| {
                let (name, tag, _) = split_image(i);
                name == want.image_name && tag == Some(t.as_str())
            }),
        ),
        (None, None) => return Some("neither a digest nor a tag to look for".into()),
    };
    if found {
        return None;
    }
    let live = if images.is_empty() {
        "none".to_string()
    } else {
        images.join(", ")
    };
    Some(format!("{what} is not among the live images ({live})"))
}

/// `name[:tag][@digest]`; the tag's colon is the last one after the last
/// `/`, so a registry port (`host:5000/app`) stays in the name.
fn split_image(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(c) => (&rest[..slash + c], Some(&rest[slash + c + 1..]), digest),
        None => (rest, None, digest),
    }
}

fn shown(v: Option<&str>) -> &str {
    match v {
        Some(s) if !s.is_empty() => s,
        _ => "missing",
    }
}

fn rfc(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::argocd::{AppStatus, HealthStatus, OperationState, Summary, SyncStatus};
    use time::macros::datetime;

    const OURS: &str = "1111111111111111111111111111111111111111";
    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn good() -> Application {
        Application {
            status: AppStatus {
                sync: SyncStatus {
                    status: Some("Synced".into()),
                    revision: Some(OURS.into()),
                    revisions: vec![],
                },
                health: HealthStatus {
                    status: Some("Healthy".into()),
                    last_transition_time: None,
                },
                operation_state: Some(OperationState {
                    phase: Some("Succeeded".into()),
                    finished_at: Some(datetime!(2026-01-01 10:00 UTC)),
                    ..Default::default()
                }),
                reconciled_at: Some(datetime!(2026-01-01 10:01 UTC)),
                summary: Summary {
                    images: vec![format!("ecr.io/api:sha-1@{DIGEST}")],
                },
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn want() -> Expectation {
        Expectation {
            commit: OURS.into(),
            image_digest: Some(DIGEST.into()),
            image_tag: Some("sha-1".into()),
            image_name: "ecr.io/api".into(),
        }
    }

    fn checks(app: &Application, want: &Expectation) -> Vec<Check> {
        assess(app, want, |r| r == OURS)
            .into_iter()
            .map(|f| f.check)
            .collect()
    }

    #[test]
    fn a_good_application_passes_every_check() {
        assert_eq!(checks(&good(), &want()), vec![]);
    }

    #[test]
    fn an_empty_application_fails_every_check() {
        assert_eq!(
            checks(&Application::default(), &want()),
            vec![
                Check::Revision,
                Check::Sync,
                Check::Operation,
                Check::Reconciled,
                Check::Health,
                Check::Image
            ]
        );
    }

    #[test]
    fn split_image_keeps_registry_ports_in_the_name() {
        assert_eq!(
            split_image("10.42.0.1:30000/test-image:1.0.2"),
            ("10.42.0.1:30000/test-image", Some("1.0.2"), None)
        );
        assert_eq!(
            split_image("host:5000/app@sha256:ab"),
            ("host:5000/app", None, Some("sha256:ab"))
        );
        assert_eq!(
            split_image("app:v1@sha256:ab"),
            ("app", Some("v1"), Some("sha256:ab"))
        );
        assert_eq!(split_image("nginx"), ("nginx", None, None));
    }

    #[test]
    fn image_by_digest_ignores_the_tag_and_needs_the_name() {
        let mut app = good();
        app.status.summary.images = vec![format!("ecr.io/api@{DIGEST}")];
        assert_eq!(checks(&app, &want()), vec![]);
        app.status.summary.images = vec![format!("ecr.io/other:sha-1@{DIGEST}")];
        assert_eq!(checks(&app, &want()), vec![Check::Image]);
    }

    #[test]
    fn nothing_to_look_for_fails_the_image_check() {
        let w = Expectation {
            image_digest: None,
            image_tag: None,
            ..want()
        };
        assert_eq!(checks(&good(), &w), vec![Check::Image]);
    }

    #[test]
    fn check_names_are_snake_case() {
        assert_eq!(
            serde_json::to_string(&Check::Reconciled).unwrap(),
            "\"reconciled\""
        );
        assert_eq!(Check::Conditions.to_string(), "conditions");
    }
}
