use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::config::{Group, Mode, Order, TagPattern};
use crate::gates::{Code, Gate, Verdict};
use crate::image::Digest;
use crate::kustomize::Pin;
use crate::promotion::snapshot::*;
use crate::promotion::snapshot::{OpenPr, Proof, Window};
use crate::registry::policy::{ImageRecord, TagPolicy};

fn d(n: u32) -> Digest {
    Digest::parse(&format!("sha256:{n:064x}")).unwrap()
}

/// An image `n` pushed at minute `n` with `tag`.
fn rec(n: u32, tag: &str) -> ImageRecord {
    rec_at(
        n,
        tag,
        datetime!(2026-11-20 10:00 UTC) + time::Duration::minutes(n as i64),
    )
}

fn rec_at(n: u32, tag: &str, at: OffsetDateTime) -> ImageRecord {
    ImageRecord {
        digest: d(n),
        tags: vec![tag.to_string()],
        pushed_at: at,
    }
}

fn pass(n: u32) -> Verdict {
    Verdict {
        digest: d(n),
        reasons: vec![],
        scan_counts: Some(BTreeMap::new()),
        signature_key: Some("sha256:key".into()),
    }
}

fn hold(n: u32, code: Code) -> Verdict {
    Verdict {
        digest: d(n),
        reasons: vec![Reason {
            gate: Gate::Scan,
            code,
            message: code.as_str().into(),
        }],
        scan_counts: None,
        signature_key: None,
    }
}

/// Candidates by `policy`; those in `holds` are held, the rest pass.
fn judged(policy: &TagPolicy, records: &[ImageRecord], holds: &[(u32, Code)]) -> Vec<Judged> {
    policy
        .candidates(records)
        .into_iter()
        .map(|c| {
            let digest_n = u32::from_str_radix(c.digest.hex(), 16).unwrap();
            let verdict = match holds.iter().find(|(h, _)| *h == digest_n) {
                Some((h, code)) => hold(*h, *code),
                None => pass(digest_n),
            };
            Judged {
                candidate: c,
                verdict: Some(verdict),
            }
        })
        .collect()
}

fn dev(running: Option<(&str, u32)>, pin: Option<Pin>) -> EnvState {
    EnvState {
        env: "dev".into(),
        mode: Mode::Commit,
        after: None,
        group: Group::App,
        running: Ok(running.map(|(t, n)| Running {
            tag: Some(t.into()),
            digest: Some(d(n).to_string()),
        })),
        pin,
        file: None,
        new_name: None,
        proof: None,
        open_pr: None,
        rejected: None,
        window: Window::Open,
        incoming: None,
        foreign_pr: None,
        live: None,
        watch: None,
        analysis: Vec::new(),
    }
}

fn one(candidates: Result<Vec<Judged>, String>, env: EnvState) -> Entry {
    let snap = Snapshot {
        taken_at: datetime!(2026-11-26 00:00 UTC),
        apps: vec![AppState {
            app: "api".into(),
            image: "api".into(),
            candidates,
            records: Default::default(),
            envs: vec![env],
        }],
        proposals: Vec::new(),
        forge_error: None,
    };
    plan(&snap).entries.remove(0)
}

fn pushed() -> TagPolicy {
    TagPolicy::new(None, Order::Pushed)
}

#[test]
fn moves_to_the_newest_candidate_that_passes() {
    let recs = [rec(1, "sha-1"), rec(2, "sha-2"), rec(3, "sha-3")];
    let e = one(
        Ok(judged(&pushed(), &recs, &[])),
        dev(Some(("sha-1", 1)), None),
    );
    assert_eq!(e.action, Action::Commit);
    assert_eq!(
        e.to,
        Some(ImageRef {
            tag: Some("sha-3".into()),
            digest: Some(d(3).to_string())
        })
    );
    assert_eq!(e.from.unwrap().tag.as_deref(), Some("sha-1"));
    assert_eq!(e.signature_key.as_deref(), Some("sha256:key"));
    assert!(e.held.is_empty());
}

#[test]
fn newer_held_images_are_reported_beside_the_target() {
    let recs = [
        rec(1, "sha-1"),
        rec(2, "sha-2"),
        rec(3, "sha-3"),
        rec(4, "sha-4"),
    ];
    let e = one(
        Ok(judged(
            &pushed(),
            &recs,
            &[(4, Code::ScanBudget), (3, Code::Unsigned)],
        )),
        dev(Some(("sha-1", 1)), None),
    );
    assert_eq!(e.to.unwrap().tag.as_deref(), Some("sha-2"));
    let held: Vec<(&str, Code)> = e
        .held
        .iter()
        .map(|h| (h.tag.as_str(), h.reasons[0].code))
        .collect();
    assert_eq!(
        held,
        vec![("sha-4", Code::ScanBudget), ("sha-3", Code::Unsigned)]
    );
}

#[test]
fn up_to_date_and_held() {
    let recs = [rec(1, "sha-1"), rec(2, "sha-2")];
    let e = one(
        Ok(judged(&pushed(), &recs, &[])),
        dev(Some(("sha-2", 2)), None),
    );
    assert_eq!(
        (e.action, e.reason.as_ref().unwrap().code),
        (Action::None, "up_to_date")
    );

    let e = one(
        Ok(judged(&pushed(), &recs, &[(2, Code::ScanPending)])),
        dev(Some(("sha-1", 1)), None),
    );
    let why = e.reason.unwrap();
    assert_eq!(why.code, "held");
    assert_eq!(why.held.len(), 1);
    assert_eq!(why.held[0].tag, "sha-2");
    assert_eq!(why.held[0].reasons[0].code, Code::ScanPending);
}

#[test]
fn never_moves_backwards() {
    // What runs (3) is newer than anything that passes (1, 2).
    let recs = [
        rec(1, "sha-1"),
        rec(2, "sha-2"),
        rec(3, "sha-3"),
        rec(4, "sha-4"),
    ];
    let e = one(
        Ok(judged(&pushed(), &recs, &[(4, Code::Unsigned)])),
        dev(Some(("sha-3", 3)), None),
    );
    let why = e.reason.unwrap();
    assert_eq!(why.code, "held", "sha-4 is newer and held");
    let e = one(
        Ok(judged(&pushed(), &recs[..3], &[])),
        dev(Some(("sha-3", 3)), None),
    );
    assert_eq!(e.reason.unwrap().code, "up_to_date");
}

#[test]
fn pinned_apps_never_move() {
    let recs = [rec(1, "sha-1"), rec(2, "sha-2")];
    let pin = Pin {
        image: "api".into(),
        by: Some("alice".into()),
        at: None,
        reason: Some("incident 42".into()),
        line: 7,
    };
    let e = one(
        Ok(judged(&pushed(), &recs, &[])),
        dev(Some(("sha-1", 1)), Some(pin)),
    );
    let why = e.reason.unwrap();
    assert_eq!(why.code, "pinned");
    assert_eq!(why.message, "pinned by alice (overlay line 7): incident 42");
}

#[test]
fn tag_filter_and_semver_order() {
    let recs = [
        rec(1, "v1.10.0"),
        rec(2, "v1.9.0"),
        rec(3, "nightly"),
        rec(4, "v1.2.0-rc.1"),
    ];
    let semver = TagPolicy::new(None, Order::Semver);
    let e = one(
        Ok(judged(&semver, &recs, &[])),
        dev(Some(("v1.9.0", 2)), None),
    );
    assert_eq!(
        e.to.unwrap().tag.as_deref(),
        Some("v1.10.0"),
        "semver, not push time: 1.10 > 1.9"
    );
    // Under push order the newest push (4, a pre-release) wins, unless the
    // tag filter excludes it.
    let e = one(
        Ok(judged(&pushed(), &recs, &[])),
        dev(Some(("v1.9.0", 2)), None),
    );
    assert_eq!(e.to.unwrap().tag.as_deref(), Some("v1.2.0-rc.1"));
    let filter = TagPattern(regex::Regex::new(r"^v\d+\.\d+\.\d+$").unwrap());
    let e = one(
        Ok(judged(
            &TagPolicy::new(Some(&filter), Order::Pushed),
            &recs,
            &[],
        )),
        dev(Some(("v1.9.0", 2)), None),
    );
    assert_eq!(
        e.reason.unwrap().code,
        "up_to_date",
        "v1.10.0 was pushed before v1.9.0"
    );
}

#[test]
fn equal_push_times_are_ordered_deterministically() {
    let at = datetime!(2026-11-20 10:00 UTC);
    let recs = [rec_at(1, "sha-a", at), rec_at(2, "sha-b", at)];
    let a = one(Ok(judged(&pushed(), &recs, &[])), dev(None, None));
    let recs_rev = [rec_at(2, "sha-b", at), rec_at(1, "sha-a", at)];
    let b = one(Ok(judged(&pushed(), &recs_rev, &[])), dev(None, None));
    assert_eq!(a.to, b.to, "input order does not matter");
    // Ties go by tag, then digest: the greater one is the newer.
    assert_eq!(a.to.unwrap().tag.as_deref(), Some("sha-b"));
}

#[test]
fn an_overlay_naming_an_image_the_registry_no_longer_has() {
    let recs = [rec(1, "sha-1"), rec(2, "sha-2")];
    let e = one(
        Ok(judged(&pushed(), &recs, &[])),
        dev(Some(("sha-gone", 99)), None),
    );
    assert_eq!(e.action, Action::Commit);
    assert_eq!(e.to.unwrap().tag.as_deref(), Some("sha-2"));
    let e = one(
        Ok(judged(
            &pushed(),
            &recs,
            &[(1, Code::Unsigned), (2, Code::Unsigned)],
        )),
        dev(Some(("sha-gone", 99)), None),
    );
    assert_eq!(e.reason.unwrap().code, "held");
}

#[test]
fn sources_that_fail_do_not_move_anything() {
    let e = one(Err("registry down".into()), dev(Some(("sha-1", 1)), None));
    assert_eq!(
        (e.action, e.reason.unwrap().code),
        (Action::None, "registry_unavailable")
    );
    let mut env = dev(None, None);
    env.running = Err("k8s/dev/kustomization.yaml:3:1: YAML syntax error".into());
    let e = one(Ok(vec![]), env);
    assert_eq!(e.reason.unwrap().code, "overlay_unreadable");
}

#[test]
fn pull_request_environments_wait_for_upstream() {
    let recs = [rec(1, "sha-1")];
    let mut env = dev(None, None);
    env.env = "staging".into();
    env.mode = Mode::PullRequest;
    env.after = Some("dev".into());
    let e = one(Ok(judged(&pushed(), &recs, &[])), env);
    assert_eq!(e.reason.unwrap().code, "awaiting_upstream");
}

#[test]
fn json_shape() {
    let recs = [rec(1, "sha-1"), rec(2, "sha-2")];
    let e = one(
        Ok(judged(&pushed(), &recs, &[(2, Code::ScanBudget)])),
        dev(Some(("sha-1", 1)), None),
    );
    let v = serde_json::to_value(Plan {
        entries: vec![e],
        pull_requests: Vec::new(),
        watch: Vec::new(),
    })
    .unwrap();
    assert_eq!(v["entries"][0]["action"], "none");
    assert_eq!(v["entries"][0]["from"]["tag"], "sha-1");
    assert_eq!(v["entries"][0]["reason"]["code"], "held");
    assert_eq!(
        v["entries"][0]["reason"]["held"][0]["reasons"][0]["code"],
        "scan_budget"
    );
    assert!(v["entries"][0].get("to").is_none());
}

/// dev runs `dev_n` (proven or not), staging runs `staging_n`.
fn promotion(
    dev_n: u32,
    proof: Option<Proof>,
    staging_n: u32,
    open_pr: Option<OpenPr>,
    window: Window,
) -> Entry {
    promotion_snapshot(dev_n, proof, staging_n, open_pr, window, None, None)
}

fn promotion_snapshot(
    dev_n: u32,
    proof: Option<Proof>,
    staging_n: u32,
    open_pr: Option<OpenPr>,
    window: Window,
    forge_error: Option<&str>,
    rejected: Option<OpenPr>,
) -> Entry {
    let recs: Vec<ImageRecord> = (1..=4).map(|n| rec(n, &format!("sha-{n}"))).collect();
    let mut dev_env = dev(Some((&format!("sha-{dev_n}"), dev_n)), None);
    dev_env.proof = proof;
    let mut staging = dev(Some((&format!("sha-{staging_n}"), staging_n)), None);
    staging.env = "staging".into();
    staging.mode = Mode::PullRequest;
    staging.after = Some("dev".into());
    staging.open_pr = open_pr;
    staging.window = window;
    staging.rejected = rejected;
    staging.incoming = Some(Incoming::Image {
        tag: format!("sha-{dev_n}"),
        digest: d(dev_n).to_string(),
        verdict: pass(dev_n),
    });
    let snap = Snapshot {
        taken_at: datetime!(2026-11-26 00:00 UTC),
        apps: vec![AppState {
            app: "api".into(),
            image: "api".into(),
            candidates: Ok(judged(&pushed(), &recs, &[])),
            records: std::sync::Arc::new(recs),
            envs: vec![dev_env, staging],
        }],
        proposals: Vec::new(),
        forge_error: forge_error.map(str::to_string),
    };
    plan(&snap).entries.remove(1)
}

fn proven() -> Option<Proof> {
    Some(Proof::Proven {
        evidence: "Synced, Healthy".into(),
    })
}

#[test]
fn promotes_what_upstream_proved() {
    let e = promotion(3, proven(), 1, None, Window::Open);
    assert_eq!(e.action, Action::PullRequest);
    assert_eq!(e.to.unwrap().digest, Some(d(3).to_string()));
}

#[test]
fn promotion_waits_with_a_reason() {
    let code = |e: Entry| e.reason.unwrap().code;
    let not_yet = |c| {
        Some(Proof::NotYet {
            code: c,
            message: "x".into(),
        })
    };
    assert_eq!(
        code(promotion(3, not_yet("health"), 1, None, Window::Open)),
        "health"
    );
    assert_eq!(
        code(promotion(3, not_yet("smoke"), 1, None, Window::Open)),
        "smoke"
    );
    assert_eq!(
        code(promotion(3, not_yet("soak"), 1, None, Window::Open)),
        "soak"
    );
    assert_eq!(
        code(promotion(3, None, 1, None, Window::Open)),
        "health",
        "no check configured never passes"
    );
    assert_eq!(
        code(promotion(3, proven(), 3, None, Window::Open)),
        "up_to_date"
    );
    assert_eq!(
        code(promotion(2, proven(), 3, None, Window::Open)),
        "up_to_date",
        "never backwards"
    );
    let closed = Window::Closed {
        next: Some("2026-11-27T09:00:00Z".into()),
    };
    let e = promotion(3, proven(), 1, None, closed);
    assert_eq!(e.reason.as_ref().unwrap().code, "window");
    assert!(e.reason.unwrap().message.contains("2026-11-27T09:00:00Z"));
    let pr = OpenPr {
        asked: false,
        number: 7,
        url: "https://example/pr/7".into(),
        digest: Some(d(3).to_string()),
        tag: Some("sha-3".into()),
        intact: true,
        gate: None,
    };
    let e = promotion(3, proven(), 1, Some(pr.clone()), Window::Open);
    assert_eq!(e.reason.as_ref().unwrap().code, "pr_open");
    assert!(e.reason.unwrap().message.contains("https://example/pr/7"));
    // A PR for an older image is superseded: the entry moves again.
    let older = OpenPr {
        digest: Some(d(2).to_string()),
        ..pr
    };
    assert_eq!(
        promotion(3, proven(), 1, Some(older), Window::Open).action,
        Action::PullRequest
    );
}

#[test]
fn no_pull_request_is_opened_blind() {
    let e = promotion_snapshot(3, proven(), 1, None, Window::Open, Some("HTTP 502"), None);
    assert_eq!(e.action, Action::None);
    let why = e.reason.unwrap();
    assert_eq!(why.code, "forge_unavailable");
    assert!(why.message.contains("HTTP 502"), "{}", why.message);
    // Entries that would not move anyway keep their own reason.
    let e = promotion_snapshot(3, proven(), 3, None, Window::Open, Some("HTTP 502"), None);
    assert_eq!(e.reason.unwrap().code, "up_to_date");
}

#[test]
fn a_rejected_pull_request_is_not_reopened_for_the_same_image() {
    let rejected = |n: u32| OpenPr {
        asked: false,
        number: 4,
        url: "https://example/pr/4".into(),
        digest: Some(d(n).to_string()),
        tag: Some(format!("sha-{n}")),
        intact: true,
        gate: None,
    };
    let with = |r: Option<OpenPr>| promotion_snapshot(3, proven(), 1, None, Window::Open, None, r);
    let e = with(Some(rejected(3)));
    assert_eq!(e.action, Action::None);
    let why = e.reason.unwrap();
    assert_eq!(why.code, "pr_closed");
    assert!(
        why.message.contains("#4") && why.message.contains("sha-3"),
        "{}",
        why.message
    );
    // A rejection of an older image does not hold a newer one.
    assert_eq!(with(Some(rejected(2))).action, Action::PullRequest);
    assert_eq!(with(None).action, Action::PullRequest);
}

/// dev runs sha-3 (proven), staging runs sha-1 and would receive sha-3;
/// `edit` changes staging before planning.
fn staging_plan(edit: impl FnOnce(&mut EnvState)) -> Plan {
    with_proposals(Vec::new(), edit)
}

fn failing(n: u32) -> Verdict {
    let mut v = hold(n, Code::ScanBudget);
    v.reasons.push(Reason {
        gate: Gate::Signature,
        code: Code::Unsigned,
        message: "no cosign signature found".into(),
    });
    v
}

#[test]
fn what_upstream_runs_passes_the_gates_before_it_is_promoted() {
    // A person put sha-3 into dev by hand; it fails two gates.
    let p = staging_plan(|s| {
        s.incoming = Some(Incoming::Image {
            tag: "sha-3".into(),
            digest: d(3).to_string(),
            verdict: failing(3),
        })
    });
    let e = &p.entries[1];
    assert_eq!(e.action, Action::None);
    let why = e.reason.as_ref().unwrap();
    assert_eq!(why.code, "held");
    let codes: Vec<Code> = why.held[0].reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, [Code::ScanBudget, Code::Unsigned], "every reason");
    assert_eq!(why.held[0].tag, "sha-3");
    assert!(p.pull_requests.is_empty(), "{:?}", p.pull_requests);
    // Not judged, not in the registry, registry down: each holds.
    let code = |i: Option<Incoming>| staging_plan(|s| s.incoming = i).entries[1].clone();
    assert_eq!(code(None).reason.unwrap().code, "held");
    for c in ["not_in_registry", "registry_unavailable", "overlay_invalid"] {
        let e = code(Some(Incoming::Refused {
            code: c,
            message: "x".into(),
        }));
        assert_eq!((e.action, e.reason.unwrap().code), (Action::None, c));
    }
    // A passing image moves, with the verdict as its evidence.
    let e = staging_plan(|_| {}).entries[1].clone();
    assert_eq!(e.action, Action::PullRequest);
    assert_eq!(e.to.as_ref().unwrap().tag.as_deref(), Some("sha-3"));
    assert_eq!(e.signature_key.as_deref(), Some("sha256:key"));
}

#[test]
fn commit_environments_after_another_promote_by_commit() {
    let p = staging_plan(|s| s.mode = Mode::Commit);
    assert_eq!(p.entries[1].action, Action::Commit);
    assert!(p.pull_requests.is_empty());
    // Same proof and gates: a held image does not move by commit either.
    let p = staging_plan(|s| {
        s.mode = Mode::Commit;
        s.incoming = Some(Incoming::Image {
            tag: "sha-3".into(),
            digest: d(3).to_string(),
            verdict: failing(3),
        });
    });
    assert_eq!(p.entries[1].reason.as_ref().unwrap().code, "held");
}

fn open_pr(n: u32, intact: bool, gate: Option<Gated>) -> OpenPr {
    OpenPr {
        asked: false,
        number: 9,
        url: "https://example/pr/9".into(),
        digest: Some(d(n).to_string()),
        tag: Some(format!("sha-{n}")),
        intact,
        gate,
    }
}

fn proposal(carried: u32, tampered: Option<&str>) -> Proposal {
    Proposal {
        head: "ferry/staging/api".into(),
        number: 9,
        url: "https://example/pr/9".into(),
        carried: vec![Carried {
            app: "api".into(),
            tag: Some(format!("sha-{carried}")),
            digest: d(carried).to_string(),
        }],
        tampered: tampered.map(str::to_string),
        stray: false,
        title: "t".into(),
        body: "b".into(),
        asked: Vec::new(),
    }
}

/// [`staging_plan`] with ferry's open PR `p` on `ferry/staging/api`.
fn with_pr(p: Proposal, edit: impl FnOnce(&mut EnvState)) -> Plan {
    with_proposals(vec![p], edit)
}

fn with_proposals(proposals: Vec<Proposal>, edit: impl FnOnce(&mut EnvState)) -> Plan {
    with_envs(proposals, |_| {}, edit)
}

/// [`with_proposals`], with dev (the upstream) edited too.
fn with_envs(
    proposals: Vec<Proposal>,
    edit_dev: impl FnOnce(&mut EnvState),
    edit: impl FnOnce(&mut EnvState),
) -> Plan {
    let recs: Vec<ImageRecord> = (1..=4).map(|n| rec(n, &format!("sha-{n}"))).collect();
    let mut dev_env = dev(Some(("sha-3", 3)), None);
    dev_env.proof = proven();
    edit_dev(&mut dev_env);
    let mut staging = dev(Some(("sha-1", 1)), None);
    staging.env = "staging".into();
    staging.mode = Mode::PullRequest;
    staging.after = Some("dev".into());
    staging.incoming = Some(Incoming::Image {
        tag: "sha-3".into(),
        digest: d(3).to_string(),
        verdict: pass(3),
    });
    edit(&mut staging);
    let snap = Snapshot {
        taken_at: datetime!(2026-11-26 00:00 UTC),
        apps: vec![AppState {
            app: "api".into(),
            image: "api".into(),
            candidates: Ok(judged(&pushed(), &recs, &[])),
            records: std::sync::Arc::new(recs),
            envs: vec![dev_env, staging],
        }],
        proposals,
        forge_error: None,
    };
    plan(&snap)
}

#[test]
fn a_branch_that_is_not_ferrys_commit_is_rebuilt() {
    // Intact and proposing what dev proved: it waits for review.
    let p = with_pr(proposal(3, None), |s| {
        s.open_pr = Some(open_pr(3, true, Some(Gated::Checked(pass(3)))))
    });
    assert_eq!(p.entries[1].reason.as_ref().unwrap().code, "pr_open");
    assert!(p.pull_requests.is_empty());
    // The same PR, its branch changed by someone else: rebuilt in place.
    let p = with_pr(proposal(3, Some("holds other changes")), |s| {
        s.open_pr = Some(open_pr(3, false, None))
    });
    assert_eq!(p.entries[1].action, Action::PullRequest);
    let step = &p.pull_requests[0];
    assert_eq!(
        (step.op, step.why, step.number),
        (PrOp::Update, PrWhy::Rebuilt, Some(9))
    );
    assert_eq!(
        step.carries[0].to.as_ref().unwrap().digest,
        Some(d(3).to_string())
    );
    // An older image is superseded.
    let p = with_pr(proposal(2, None), |s| {
        s.open_pr = Some(open_pr(2, true, Some(Gated::Checked(pass(2)))))
    });
    assert_eq!(
        (p.pull_requests[0].op, p.pull_requests[0].why),
        (PrOp::Update, PrWhy::Newer)
    );
}

#[test]
fn an_open_pr_whose_image_fails_the_gates_now_is_closed() {
    // dev moved on to sha-3, which is held; the PR's sha-2 gained a
    // finding since it was opened.
    let p = with_pr(proposal(2, None), |s| {
        s.incoming = Some(Incoming::Image {
            tag: "sha-3".into(),
            digest: d(3).to_string(),
            verdict: failing(3),
        });
        s.open_pr = Some(open_pr(2, true, Some(Gated::Checked(failing(2)))));
    });
    let step = &p.pull_requests[0];
    assert_eq!((step.op, step.why), (PrOp::Close, PrWhy::GateFailed));
    assert!(
        step.message.contains("scan_budget") && step.message.contains("unsigned"),
        "{}",
        step.message
    );
    // Deleted from the registry: closed too. Registry down: left alone.
    let p = with_pr(proposal(2, None), |s| {
        s.incoming = Some(Incoming::Refused {
            code: "registry_unavailable",
            message: "x".into(),
        });
        s.open_pr = Some(open_pr(2, true, Some(Gated::NotInRegistry)));
    });
    assert_eq!(p.pull_requests[0].why, PrWhy::GateFailed);
    let p = with_pr(proposal(2, None), |s| {
        s.incoming = Some(Incoming::Refused {
            code: "registry_unavailable",
            message: "x".into(),
        });
        s.open_pr = Some(open_pr(2, true, Some(Gated::Unavailable("down".into()))));
    });
    assert!(p.pull_requests.is_empty(), "undecided is not failed");
}

#[test]
fn a_collaborators_pr_on_the_branch_holds() {
    let p = staging_plan(|s| s.foreign_pr = Some(open_pr(3, true, None)));
    let why = p.entries[1].reason.clone().unwrap();
    assert_eq!(why.code, "pr_foreign");
    assert!(why.message.contains("#9"), "{}", why.message);
    assert!(p.pull_requests.is_empty());
}

#[test]
fn a_pr_someone_asked_for_stays_until_the_environment_runs_it() {
    // staging runs what dev runs (sha-3); the open PR proposes sha-4.
    let at = |asked: bool| {
        let mut prop = proposal(4, None);
        if asked {
            prop.asked = vec!["api".into()];
        }
        with_pr(prop, |s| {
            s.running = Ok(Some(crate::promotion::Running {
                tag: Some("sha-3".into()),
                digest: Some(d(3).to_string()),
            }));
            let mut pr = open_pr(4, true, Some(Gated::Checked(pass(4))));
            pr.asked = asked;
            s.open_pr = Some(pr);
        })
    };
    // ferry proposed sha-4 because dev ran it then; dev went back: done.
    let p = at(false);
    assert_eq!(p.entries[1].reason.as_ref().unwrap().code, "up_to_date");
    assert_eq!(
        (p.pull_requests[0].op, p.pull_requests[0].why),
        (PrOp::Close, PrWhy::Promoted)
    );
    // Someone asked for sha-4 (dev never ran it): it stays open.
    assert!(at(true).pull_requests.is_empty());
}

/// dev ran sha-2 and ferry reverted it there automatically: staging's
/// open PR proposing sha-2 is closed, not left for a reviewer to merge.
#[test]
fn an_open_pr_whose_image_was_reverted_upstream_is_closed() {
    use crate::promotion::watch::{Live, Via, Watched};
    let reverted = |digest: String| Watched {
        commit: "c2".into(),
        digest: Some(digest),
        via: Via::Commit,
        landed_at: datetime!(2026-11-25 23:30 UTC),
        within: std::time::Duration::from_secs(3600),
        after: std::time::Duration::from_secs(60),
        live: Live::Healthy,
        failing: None,
        back_to: Err("reverted already".into()),
        pinned: true,
        reverted_by: Some("r".repeat(40)),
    };
    let settle = |s: &mut EnvState| {
        s.open_pr = Some(open_pr(2, true, Some(Gated::Checked(pass(2)))));
    };
    let p = with_envs(
        vec![proposal(2, None)],
        |dev| {
            dev.proof = Some(Proof::NotYet {
                code: "soak",
                message: "not proven yet".into(),
            });
            dev.watch = Some(reverted(d(2).to_string()));
        },
        settle,
    );
    let step = &p.pull_requests[0];
    assert_eq!((step.op, step.why), (PrOp::Close, PrWhy::Reverted));
    assert!(
        step.message.contains("failed its health in dev") && step.message.contains("rrrrrrrrrrrr"),
        "{}",
        step.message
    );
    // dev runs sha-2 again (a person put it back): not a refusal.
    let p = with_envs(
        vec![proposal(2, None)],
        |dev| {
            dev.proof = Some(Proof::NotYet {
                code: "soak",
                message: "not proven yet".into(),
            });
            dev.running = Ok(Some(Running {
                tag: Some("sha-2".into()),
                digest: Some(d(2).to_string()),
            }));
            dev.watch = Some(reverted(d(2).to_string()));
        },
        settle,
    );
    assert!(p.pull_requests.is_empty(), "{:?}", p.pull_requests);
    // Another image reverted upstream leaves the PR alone.
    let p = with_envs(
        vec![proposal(2, None)],
        |dev| {
            dev.proof = Some(Proof::NotYet {
                code: "soak",
                message: "not proven yet".into(),
            });
            dev.watch = Some(reverted(d(4).to_string()));
        },
        settle,
    );
    assert!(p.pull_requests.is_empty(), "{:?}", p.pull_requests);
}
