//! The gates on every promotion. Whatever an upstream environment runs
//! (ferry's commit, a person's hand edit, a merge, a revert) is resolved
//! against the registry and judged by the same gates as a new image in
//! dev, before ferry proposes it anywhere; so is the image of every open
//! promotion PR. Evidence comes from the registry only: never from commit
//! trailers or PR text.

use std::collections::HashMap;
use std::sync::Arc;

use super::snapshot::{AppState, Gated, Incoming, Running, Snapshot};
use crate::config::Config;
use crate::gates::Gates;
use crate::image::{Digest, Tag};
use crate::registry::ImageSource;
use crate::registry::policy::ImageRecord;

/// Sets `incoming` on every environment fed by `after`, and `gate` on every
/// open PR that carries a digest.
pub async fn gate_promotions<S: ImageSource>(
    config: &Config,
    snapshot: &mut Snapshot,
    source: &S,
    gates: &Gates,
) {
    let repositories: HashMap<&str, &str> = config
        .apps
        .iter()
        .map(|a| (a.name.as_str(), a.repository.as_str()))
        .collect();
    for app in &mut snapshot.apps {
        let Some(repository) = repositories.get(app.app.as_str()).map(|r| r.to_string()) else {
            continue;
        };
        let listed = app.candidates.as_ref().err().cloned();
        for i in 0..app.envs.len() {
            let Some(upstream) = app.envs[i].after.clone() else {
                continue;
            };
            let up_running = app
                .envs
                .iter()
                .find(|e| e.env == upstream)
                .map(|e| e.running.clone());
            let resolved = match up_running {
                None => Err((
                    "awaiting_upstream",
                    format!("the app has no overlay in {upstream}"),
                )),
                Some(Err(e)) => Err((
                    "awaiting_upstream",
                    format!("{upstream}'s overlay cannot be read: {e}"),
                )),
                Some(Ok(None)) => Err((
                    "awaiting_upstream",
                    format!("{upstream} runs nothing for this app yet"),
                )),
                Some(Ok(Some(r))) => resolve(app, &upstream, &r, listed.as_deref()),
            };
            let incoming = match resolved {
                Err((code, message)) => Incoming::Refused { code, message },
                Ok((tag, digest)) => Incoming::Image {
                    verdict: gates.check(source, &repository, &digest).await,
                    tag: tag.to_string(),
                    digest: digest.to_string(),
                },
            };
            let pr_digest = app.envs[i].open_pr.as_ref().and_then(|p| p.digest.clone());
            let pr_gate = match pr_digest {
                None => None,
                Some(d) => Some(match &incoming {
                    Incoming::Image {
                        digest, verdict, ..
                    } if *digest == d => Gated::Checked(verdict.clone()),
                    _ => match listed_digest(&app.records, listed.as_deref(), &d) {
                        Ok(dg) => Gated::Checked(gates.check(source, &repository, &dg).await),
                        Err(g) => g,
                    },
                }),
            };
            let env = &mut app.envs[i];
            env.incoming = Some(incoming);
            if let Some(pr) = env.open_pr.as_mut() {
                pr.gate = pr_gate;
            }
        }
    }
}

/// A digest a PR carries, if the registry lists it; else what the gate
/// result is without asking.
fn listed_digest(
    records: &Arc<Vec<ImageRecord>>,
    unlisted: Option<&str>,
    digest: &str,
) -> Result<Digest, Gated> {
    if let Some(e) = unlisted {
        return Err(Gated::Unavailable(e.to_string()));
    }
    let d = Digest::parse(digest).map_err(|_| Gated::NotInRegistry)?;
    if records.iter().any(|r| r.digest == d) {
        Ok(d)
    } else {
        Err(Gated::NotInRegistry)
    }
}

/// What upstream runs, as a tag and digest the registry lists. An overlay
/// with only a digest takes the tag the app's policy gives that digest; one
/// with only a tag takes the digest the registry gives that tag.
pub fn resolve(
    app: &AppState,
    upstream: &str,
    running: &Running,
    unlisted: Option<&str>,
) -> Result<(Tag, Digest), (&'static str, String)> {
    let invalid = |what: &str, v: &str| {
        (
            "overlay_invalid",
            format!("{upstream}'s overlay holds {what} {v:?}, which is not valid"),
        )
    };
    let tag = match running.tag.as_deref() {
        Some(t) => Some(Tag::parse(t).map_err(|_| invalid("the tag", t))?),
        None => None,
    };
    let digest = match running.digest.as_deref() {
        Some(d) => Some(Digest::parse(d).map_err(|_| invalid("the digest", d))?),
        None => None,
    };
    if let Some(e) = unlisted {
        return Err((
            "registry_unavailable",
            format!("cannot check what {upstream} runs: {e}"),
        ));
    }
    let candidates = app.candidates.as_deref().unwrap_or_default();
    match (tag, digest) {
        (Some(t), Some(d)) => {
            if app.records.iter().any(|r| r.digest == d) {
                Ok((t, d))
            } else {
                Err((
                    "not_in_registry",
                    format!("{upstream} runs {t}@{d}, which is not in the registry"),
                ))
            }
        }
        (Some(t), None) => app
            .records
            .iter()
            .find(|r| r.tags.iter().any(|rt| rt == t.as_str()))
            .map(|r| (t.clone(), r.digest.clone()))
            .ok_or_else(|| {
                (
                    "not_in_registry",
                    format!(
                        "{upstream} runs tag {t} without a digest, and the registry has no image tagged {t}"
                    ),
                )
            }),
        (None, Some(d)) => candidates
            .iter()
            .find(|j| j.candidate.digest == d)
            .map(|j| (j.candidate.tag.clone(), d.clone()))
            .ok_or_else(|| {
                (
                    "not_in_registry",
                    format!(
                        "{upstream} runs {d} without a tag, and the registry has no tag for it \
                         that the app's tag policy accepts"
                    ),
                )
            }),
        (None, None) => Err((
            "awaiting_upstream",
            format!("{upstream}'s entry for this app sets neither a tag nor a digest"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::config::Order;
    use crate::promotion::snapshot::Judged;
    use crate::registry::policy::TagPolicy;

    fn d(n: u32) -> Digest {
        Digest::parse(&format!("sha256:{n:064x}")).unwrap()
    }

    /// An app whose registry lists sha-1 (d1) and the untagged-by-policy
    /// `latest` (d2).
    fn app() -> AppState {
        let records = vec![
            ImageRecord {
                digest: d(1),
                tags: vec!["sha-1".into()],
                pushed_at: datetime!(2026-11-20 10:00 UTC),
            },
            ImageRecord {
                digest: d(2),
                tags: vec!["latest".into()],
                pushed_at: datetime!(2026-11-20 10:01 UTC),
            },
        ];
        let policy = TagPolicy::new(None, Order::Pushed);
        let candidates = policy
            .candidates(&records)
            .into_iter()
            .filter(|c| c.tag.as_str() != "latest")
            .map(|candidate| Judged {
                candidate,
                verdict: None,
            })
            .collect();
        AppState {
            app: "api".into(),
            image: "api".into(),
            candidates: Ok(candidates),
            records: Arc::new(records),
            envs: Vec::new(),
        }
    }

    fn run(tag: Option<&str>, digest: Option<String>) -> Result<(String, String), &'static str> {
        let r = Running {
            tag: tag.map(str::to_string),
            digest,
        };
        resolve(&app(), "dev", &r, None)
            .map(|(t, d)| (t.to_string(), d.to_string()))
            .map_err(|(code, _)| code)
    }

    #[test]
    fn what_upstream_runs_is_resolved_against_the_registry() {
        let one = d(1).to_string();
        assert_eq!(
            run(Some("sha-1"), Some(one.clone())),
            Ok(("sha-1".into(), one.clone()))
        );
        // A tag alone takes the registry's digest; a digest alone the tag
        // the app's policy gives it.
        assert_eq!(run(Some("sha-1"), None), Ok(("sha-1".into(), one.clone())));
        assert_eq!(run(None, Some(one.clone())), Ok(("sha-1".into(), one)));
        // Nothing the registry lists, or no tag the policy accepts.
        assert_eq!(run(Some("sha-9"), None), Err("not_in_registry"));
        assert_eq!(
            run(Some("sha-9"), Some(d(9).to_string())),
            Err("not_in_registry")
        );
        assert_eq!(run(None, Some(d(2).to_string())), Err("not_in_registry"));
        assert_eq!(run(None, None), Err("awaiting_upstream"));
        // Values outside the grammar are never looked up.
        assert_eq!(run(Some("a b"), None), Err("overlay_invalid"));
        assert_eq!(run(None, Some("sha256:zz".into())), Err("overlay_invalid"));
        // The registry down: undecided, so held.
        let r = Running {
            tag: Some("sha-1".into()),
            digest: None,
        };
        assert_eq!(
            resolve(&app(), "dev", &r, Some("throttled")).map_err(|(c, _)| c),
            Err("registry_unavailable")
        );
    }
}
