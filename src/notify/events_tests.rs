use time::macros::datetime;

use super::*;
use crate::gates::{Code, Gate, Reason};
use crate::promotion::board::{Cell, Next, PinView, PrLink, Row};
use crate::promotion::plan::Why;
use crate::promotion::promote::PrAction;

const SHA: &str = "5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d";
const AT: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

fn config() -> Config {
    crate::config::parse(
        "environments:
  - {name: dev, mode: commit}
  - {name: staging, mode: pull_request, after: dev}
apps:
  - {name: api, repository: platform/api, image: api}
  - {name: web, repository: platform/web, image: web}
",
    )
    .unwrap()
}

fn img(tag: &str) -> ImageRef {
    ImageRef {
        tag: Some(tag.into()),
        digest: Some(format!(
            "sha256:{}",
            tag.replace("sha-", "").repeat(10).get(..64).unwrap()
        )),
    }
}

fn entry(app: &str, env: &str, action: Action, from: &str, to: Option<&str>) -> Entry {
    Entry {
        app: app.into(),
        env: env.into(),
        action,
        from: Some(img(from)),
        to: to.map(img),
        reason: None,
        held: Vec::new(),
        scan: None,
        signature_key: None,
        pushed_at: None,
    }
}

fn held_entry(app: &str, env: &str, from: &str, held: &str) -> Entry {
    let mut e = entry(app, env, Action::None, from, None);
    e.reason = Some(Why {
        code: "held",
        message: "1 newer image(s) held by the gates".into(),
        held: vec![hold(held)],
    });
    e
}

fn hold(tag: &str) -> Held {
    let i = img(tag);
    Held {
        tag: tag.into(),
        digest: i.digest.unwrap(),
        reasons: vec![Reason {
            gate: Gate::Scan,
            code: Code::ScanBudget,
            message: "2 CRITICAL (max 0)".into(),
        }],
    }
}

fn cell(runs: &str, pinned: bool, pr: Option<u64>) -> Option<Cell> {
    Some(Cell {
        running: Some(img(runs)),
        error: None,
        pin: pinned.then(|| PinView {
            by: Some("dana".into()),
            reason: None,
            since: None,
        }),
        pull_request: pr.map(|n| PrLink {
            number: n,
            url: format!("https://github.com/acme/gitops/pull/{n}"),
        }),
        next: Next {
            action: Action::None,
            to: None,
            code: Some("up_to_date"),
            message: String::new(),
        },
    })
}

/// A board where api runs `dev` in dev and `staging` in staging.
fn board(dev: &str, staging: &str, pinned: bool, pr: Option<u64>) -> Board {
    Board {
        taken_at: AT,
        envs: vec!["dev".into(), "staging".into()],
        rows: vec![Row {
            app: "api".into(),
            cells: vec![cell(dev, false, None), cell(staging, pinned, pr)],
        }],
    }
}

fn report(entries: Vec<Entry>, board: Board) -> PassReport {
    PassReport {
        plan: Plan {
            entries,
            pull_requests: Vec::new(),
            watch: Vec::new(),
        },
        commits: Vec::new(),
        prs: Vec::new(),
        board,
        reverts: Vec::new(),
    }
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn a_pushed_commit_is_committed_with_the_moves_of_its_environment() {
    let mut r = report(
        vec![
            entry(
                "api",
                "dev",
                Action::Commit,
                "sha-1111111",
                Some("sha-5d5d5d5"),
            ),
            entry(
                "web",
                "dev",
                Action::Commit,
                "sha-2222222",
                Some("sha-3333333"),
            ),
            entry("api", "staging", Action::None, "sha-1111111", None),
        ],
        board("sha-1111111", "sha-1111111", false, None),
    );
    r.commits = vec![
        (
            "dev".into(),
            Outcome::Pushed {
                commit: git2::Oid::from_str(SHA).unwrap(),
                attempts: 1,
            },
        ),
        ("other".into(), Outcome::NothingToDo),
    ];
    let events = from_pass(&config(), &r, None, AT);
    assert_eq!(kinds(&events), vec![EventKind::Committed]);
    let e = &events[0];
    assert_eq!(e.key(), format!("committed:{SHA}"));
    assert_eq!(e.env.as_deref(), Some("dev"));
    assert_eq!(e.commit.as_deref(), Some(SHA));
    let apps: Vec<&str> = e.changes.iter().map(|c| c.app.as_str()).collect();
    assert_eq!(apps, ["api", "web"]);
    assert_eq!(
        e.summary(),
        "committed dev: api sha-1111111 → sha-5d5d5d5, web sha-2222222 → sha-3333333"
    );
}

#[test]
fn pull_requests_opened_and_updated_carry_their_images() {
    let mut r = report(
        vec![
            entry("api", "dev", Action::None, "sha-5d5d5d5", None),
            entry(
                "api",
                "staging",
                Action::PullRequest,
                "sha-1111111",
                Some("sha-5d5d5d5"),
            ),
        ],
        board("sha-5d5d5d5", "sha-1111111", false, None),
    );
    let pr = |what, number| PrAction {
        env: "staging".into(),
        apps: vec!["api".into()],
        number,
        url: format!("https://github.com/acme/gitops/pull/{number}"),
        what,
    };
    r.prs = vec![pr("opened", 7), pr("updated", 8), pr("closed", 9)];
    let events = from_pass(&config(), &r, None, AT);
    assert_eq!(
        kinds(&events),
        vec![EventKind::PrOpened, EventKind::PrUpdated]
    );
    assert_eq!(events[0].key(), "pr_opened:7");
    // The digests it carries, hashed: the key stays short however many
    // apps a grouped PR carries, and changes when any digest does.
    let digest = img("sha-5d5d5d5").digest.unwrap();
    let hash = crate::oci::sha256(digest.as_bytes()).to_string();
    assert_eq!(
        events[1].key(),
        format!(
            "pr_updated:8:{}",
            &hash.strip_prefix("sha256:").unwrap()[..16]
        )
    );
    let mut other = r.clone();
    other.plan.entries[1].to = Some(crate::promotion::plan::ImageRef {
        tag: Some("sha-6e6e6e6".into()),
        digest: img("sha-6e6e6e6").digest,
    });
    let again = from_pass(&config(), &other, None, AT);
    assert_ne!(again[1].key(), events[1].key());
    assert!(events[1].key().len() < 40);
    assert_eq!(events[0].changes[0].to, Some(img("sha-5d5d5d5")));
    assert_eq!(
        events[0].pull_request.as_ref().unwrap().url,
        "https://github.com/acme/gitops/pull/7"
    );
}

#[test]
fn promoted_needs_a_previous_pass_and_a_new_image() {
    let cfg = config();
    let before = board("sha-5d5d5d5", "sha-1111111", false, Some(7));
    let after = board("sha-5d5d5d5", "sha-5d5d5d5", false, None);
    let r = report(Vec::new(), after.clone());
    // The first pass after a start: nothing to compare with, nothing sent.
    assert!(from_pass(&cfg, &r, None, AT).is_empty());
    let events = from_pass(&cfg, &r, Some(&before), AT);
    assert_eq!(kinds(&events), vec![EventKind::Promoted]);
    let e = &events[0];
    assert_eq!(e.env.as_deref(), Some("staging"));
    assert_eq!(e.changes[0].from, Some(img("sha-1111111")));
    assert_eq!(e.changes[0].to, Some(img("sha-5d5d5d5")));
    assert_eq!(e.pull_request.as_ref().and_then(|p| p.number), Some(7));
    // Same board twice: nothing moved.
    assert!(from_pass(&cfg, &r, Some(&after), AT).is_empty());
    // A commit environment that moves is `committed`, not `promoted`.
    let dev_moved = board("sha-9999999", "sha-5d5d5d5", false, None);
    assert!(from_pass(&cfg, &report(Vec::new(), dev_moved), Some(&after), AT).is_empty());
    // A pinned cell was moved by a pin or a revert, which say so.
    let reverted = board("sha-5d5d5d5", "sha-1111111", true, None);
    assert!(from_pass(&cfg, &report(Vec::new(), reverted), Some(&after), AT).is_empty());
}

#[test]
fn held_images_are_one_event_per_app_and_digest() {
    let mut moving = entry(
        "api",
        "dev",
        Action::Commit,
        "sha-1111111",
        Some("sha-2a2a2a2"),
    );
    moving.held = vec![hold("sha-4c4c4c4")];
    let r = report(
        vec![
            moving,
            held_entry("web", "dev", "sha-2222222", "sha-3b3b3b3"),
            // The same image held again elsewhere: still one event.
            held_entry("web", "staging", "sha-2222222", "sha-3b3b3b3"),
            // `held` without a digest (not judged) has nothing to name.
            {
                let mut e = entry("api", "staging", Action::None, "sha-1111111", None);
                e.reason = Some(Why {
                    code: "held",
                    message: "the gates have not judged what dev runs".into(),
                    held: Vec::new(),
                });
                e
            },
        ],
        board("sha-1111111", "sha-1111111", false, None),
    );
    let events = from_pass(&config(), &r, None, AT);
    assert_eq!(kinds(&events), vec![EventKind::Held, EventKind::Held]);
    let d = |t: &str| img(t).digest.unwrap();
    assert_eq!(events[0].key(), format!("held:api:{}", d("sha-4c4c4c4")));
    assert_eq!(events[1].key(), format!("held:web:{}", d("sha-3b3b3b3")));
    assert_eq!(
        events[1].reason.as_deref(),
        Some("scan_budget: 2 CRITICAL (max 0)")
    );
    assert_eq!(events[1].summary(), "held dev: web sha-3b3b3b3");
    // The next pass derives the same keys: the dispatcher drops them.
    let again = from_pass(&config(), &r, None, AT);
    let keys: Vec<String> = again.iter().map(Event::key).collect();
    assert_eq!(keys, events.iter().map(Event::key).collect::<Vec<_>>());
}

fn comment(body: &str) -> CommentEvent {
    CommentEvent {
        repository: "acme/gitops".into(),
        number: 4,
        is_pull_request: false,
        comment_id: 9,
        comment_url: "https://github.com/acme/gitops/issues/4#issuecomment-9".into(),
        login: "dana".into(),
        body: body.into(),
    }
}

fn outcome(line: usize, text: &str, ok: bool, commit: Option<&str>) -> CommandOutcome {
    CommandOutcome {
        line,
        text: text.into(),
        ok,
        commit: commit.map(str::to_string),
        pull_request: None,
        message: String::new(),
    }
}

#[test]
fn commands_that_pushed_are_pinned_unpinned_and_reverted() {
    let body = "/ferry revert api staging\n/ferry pin web staging -- <!channel> incident 42\n/ferry unpin api dev\n/ferry status\n/ferry pin api dev";
    let shas = ["a".repeat(40), "b".repeat(40), "c".repeat(40)];
    let outcomes = vec![
        outcome(1, "/ferry revert api staging", true, Some(&shas[0])),
        outcome(
            2,
            "/ferry pin web staging -- <!channel> incident 42",
            true,
            Some(&shas[1]),
        ),
        outcome(3, "/ferry unpin api dev", true, Some(&shas[2])),
        outcome(4, "/ferry status", true, None),
        // Refused: nothing was written, nothing to announce.
        outcome(5, "/ferry pin api dev", false, None),
    ];
    let reverted_to = img("sha-1111111");
    let commits = vec![CommitInfo {
        id: shas[0].clone(),
        summary: "staging: revert api".into(),
        message: String::new(),
        author: "ferry <ferry@localhost>".into(),
        trailers: vec![(
            "Ferry-Image".into(),
            format!(
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/platform/api:sha-1111111@{}",
                reverted_to.digest.clone().unwrap()
            ),
        )],
    }];
    let previous = Plan {
        entries: vec![entry("api", "staging", Action::None, "sha-5d5d5d5", None)],
        pull_requests: Vec::new(),
        watch: Vec::new(),
    };
    let events = from_commands(&comment(body), &outcomes, &commits, Some(&previous), AT);
    assert_eq!(
        kinds(&events),
        vec![EventKind::Reverted, EventKind::Pinned, EventKind::Unpinned]
    );
    let revert = &events[0];
    assert_eq!(revert.key(), format!("reverted:{}", shas[0]));
    assert_eq!(revert.who.as_deref(), Some("dana"));
    assert_eq!(revert.env.as_deref(), Some("staging"));
    assert_eq!(revert.changes[0].from, Some(img("sha-5d5d5d5")));
    assert_eq!(revert.changes[0].to, Some(reverted_to));
    assert_eq!(
        revert.changes[0].image.as_deref(),
        Some("123456789012.dkr.ecr.us-west-2.amazonaws.com/platform/api")
    );
    assert_eq!(
        revert.summary(),
        "reverted staging: api sha-5d5d5d5 → sha-1111111 by dana"
    );
    let pin = &events[1];
    assert_eq!(pin.reason.as_deref(), Some("<!channel> incident 42"));
    assert_eq!(
        pin.comment_url.as_deref(),
        Some("https://github.com/acme/gitops/issues/4#issuecomment-9")
    );
    assert_eq!(events[2].key(), format!("unpinned:{}", shas[2]));
}

#[test]
fn pass_failing_at_three_once_per_streak_then_recovered() {
    let mut s = Streak::default();
    assert!(s.succeeded(AT).is_none(), "no streak, nothing recovered");
    assert!(s.failed("git: fetch", AT).is_none());
    assert!(s.failed("git: fetch", AT).is_none());
    let failing = s.failed("git: fetch: remote gone", AT).expect("the third");
    assert_eq!(failing.kind, EventKind::PassFailing);
    assert_eq!(failing.failures, Some(3));
    assert_eq!(failing.reason.as_deref(), Some("git: fetch: remote gone"));
    assert!(s.failed("git: fetch", AT).is_none(), "once per streak");
    assert!(s.failed("git: fetch", AT).is_none());
    let recovered = s
        .succeeded(datetime!(2026-12-01 10:05 UTC))
        .expect("recovered");
    assert_eq!(recovered.kind, EventKind::PassRecovered);
    assert_eq!(recovered.failures, Some(5));
    assert_eq!(
        recovered.key().split_once(':').unwrap().1,
        failing.key().split_once(':').unwrap().1,
        "both name the same streak"
    );
    assert!(s.succeeded(AT).is_none());
    // Two failures then a success: no streak was announced.
    s.failed("x", AT);
    s.failed("x", AT);
    assert!(s.succeeded(AT).is_none());
    // A new streak is a new event.
    let later = datetime!(2026-12-01 11:00 UTC);
    for _ in 0..2 {
        s.failed("x", later);
    }
    let again = s.failed("x", later).unwrap();
    assert_ne!(again.key(), failing.key());
}

/// An automatic revert is told as `reverted`, once per revert commit, with
/// the check that failed and the promotion PR it undid.
#[test]
fn an_automatic_revert_is_reverted_with_its_reason() {
    use crate::promotion::watch::execute::Reverted;
    let mut r = report(Vec::new(), board("sha-1111111", "sha-1111111", true, None));
    r.reverts.push(Reverted {
        app: "api".into(),
        env: "staging".into(),
        commit: "b".repeat(40),
        reverts: "a".repeat(40),
        from: ImageRef {
            tag: Some("v2".into()),
            digest: None,
        },
        to: ImageRef {
            tag: Some("v1".into()),
            digest: None,
        },
        check: "smoke".into(),
        seen: "http://api/healthz: expected HTTP 200, got 500".into(),
        pull_request: Some((4, "https://example.invalid/pull/4".into())),
    });
    let events = from_pass(&config(), &r, None, AT);
    assert_eq!(kinds(&events), vec![EventKind::Reverted]);
    let e = &events[0];
    assert_eq!(e.key(), format!("reverted:{}", "b".repeat(40)));
    assert_eq!(e.env.as_deref(), Some("staging"));
    assert!(
        e.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("auto-revert: smoke: http://api/healthz")),
        "{:?}",
        e.reason
    );
    assert_eq!(e.pull_request.as_ref().and_then(|p| p.number), Some(4));
    assert_eq!(
        e.changes[0].to.as_ref().and_then(|t| t.tag.as_deref()),
        Some("v1")
    );
}
