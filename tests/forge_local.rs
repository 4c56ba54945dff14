//! The local forge: the same behaviours as the GitHub one, on a JSON file
//! that outlives the process, shared safely by several instances; and who
//! is who: ferry's configured login, collaborators' pull requests refused
//! rather than adopted, who closed each one.

use std::time::{Duration, SystemTime};

use ferry::config::{Forge as ForgeConfig, ForgeKind};
use ferry::forge::local::LocalForge;
use ferry::forge::{AnyForge, Forge, ForgeError, PrSpec, PrState, StateFilter};

fn spec(head: &str) -> PrSpec {
    PrSpec {
        head: head.into(),
        base: "main".into(),
        title: "staging: api sha-1 → sha-3".into(),
        body: "evidence".into(),
        labels: vec!["ferry".into(), "env:staging".into()],
        reviewers: vec!["alice".into(), "team:platform".into()],
        draft: false,
    }
}

#[tokio::test]
async fn opens_once_and_a_new_instance_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/forge.json");
    let a = LocalForge::new(&path);
    assert_eq!(a.find_open("ferry/staging/api").await.unwrap(), None);
    assert!(a.list(StateFilter::All, "").await.unwrap().is_empty());

    let pr = a.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(pr.number, 1);
    assert_eq!(pr.state, PrState::Open);
    assert_eq!(pr.labels, ["ferry", "env:staging"]);
    assert_eq!(pr.reviewers, ["alice", "team:platform"]);
    assert_eq!(pr.merged_at, None);
    assert!(pr.url.ends_with("#1"));

    // A restarted process reads the file.
    let b = LocalForge::new(&path);
    assert_eq!(
        b.find_open("ferry/staging/api").await.unwrap(),
        Some(pr.clone())
    );
    assert_eq!(b.get(1).await.unwrap(), pr);
    let again = b.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(again, pr, "the open pull request, not a second one");

    // Numbers continue across instances.
    let other = b.open(&spec("ferry/production/api")).await.unwrap();
    assert_eq!(other.number, 2);
    assert_eq!(a.list(StateFilter::Open, "ferry/").await.unwrap().len(), 2);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["pulls"].as_array().unwrap().len(), 2);
    assert_eq!(json["pulls"][0]["head"], "ferry/staging/api");
    assert_eq!(json["pulls"][0]["state"], "open");
    assert_eq!(json["next_number"], 3);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(leftovers, ["forge.json"], "no lock or temporary file left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_racing_neither_duplicate_nor_lose_pull_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    let open = |head: String| {
        let f = LocalForge::new(&path);
        tokio::spawn(async move { f.open(&spec(&head)).await })
    };
    for round in 0..20 {
        // Two processes open the same promotion while a third opens another.
        let same = format!("ferry/staging/app{round}");
        let (x, y, z) = tokio::join!(
            open(same.clone()),
            open(same),
            open(format!("ferry/production/app{round}")),
        );
        let (x, y, z) = (
            x.unwrap().unwrap(),
            y.unwrap().unwrap(),
            z.unwrap().unwrap(),
        );
        assert_eq!(x.number, y.number);
        assert_ne!(x.number, z.number);
    }
    let all = LocalForge::new(&path)
        .list(StateFilter::All, "ferry/")
        .await
        .unwrap();
    assert_eq!(all.len(), 40, "every pull request was kept, once");
    let numbers: Vec<u64> = all.iter().map(|p| p.number).collect();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
}

#[tokio::test]
async fn update_close_comment_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    let f = LocalForge::new(&path);
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();

    let updated = f
        .update(pr.number, "staging: api sha-1 → sha-4", "newer evidence")
        .await
        .unwrap();
    assert_eq!(updated.title, "staging: api sha-1 → sha-4");
    assert_eq!(updated.body, "newer evidence");
    assert_eq!(updated.labels, pr.labels);
    assert_eq!(
        LocalForge::new(&path).get(pr.number).await.unwrap(),
        updated
    );

    f.comment(pr.number, "waiting for review").await.unwrap();
    let closed = f
        .close(pr.number, "staging already runs sha-4")
        .await
        .unwrap();
    assert_eq!(closed.state, PrState::Closed);
    assert_eq!(closed.merged_at, None);
    let again = f
        .close(pr.number, "staging already runs sha-4")
        .await
        .unwrap();
    assert_eq!(again.state, PrState::Closed);
    let comments: Vec<String> = LocalForge::new(&path)
        .comments(pr.number)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(
        comments,
        ["waiting for review", "staging already runs sha-4"]
    );
    assert_eq!(f.find_open("ferry/staging/api").await.unwrap(), None);
    assert_eq!(
        f.last_closed("ferry/staging/api")
            .await
            .unwrap()
            .map(|p| p.number),
        Some(pr.number)
    );
    assert_eq!(f.last_closed("ferry/staging/web").await.unwrap(), None);
    assert_eq!(
        f.merge(pr.number).await,
        Err(ForgeError::NotOpen(pr.number))
    );

    // Proposed again: a new number, which merges.
    let second = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(second.number, 2);
    let merged = f.merge(second.number).await.unwrap();
    assert_eq!(merged.state, PrState::Merged);
    assert!(merged.merged_at.is_some());
    let read = LocalForge::new(&path).get(second.number).await.unwrap();
    assert_eq!(read.state, PrState::Merged);
    assert_eq!(read.merged_at, merged.merged_at);
    // The newest closed one, merged or not.
    assert_eq!(
        f.last_closed("ferry/staging/api")
            .await
            .unwrap()
            .map(|p| (p.number, p.state)),
        Some((2, PrState::Merged))
    );
    assert_eq!(
        f.close(second.number, "stale").await,
        Err(ForgeError::AlreadyMerged(second.number))
    );
    assert_eq!(
        f.merge(second.number).await,
        Err(ForgeError::AlreadyMerged(second.number))
    );

    let closed = f.list(StateFilter::Closed, "ferry/staging/").await.unwrap();
    assert_eq!(
        closed
            .iter()
            .map(|p| (p.number, p.state))
            .collect::<Vec<_>>(),
        [(1, PrState::Closed), (2, PrState::Merged)]
    );
    assert!(
        f.list(StateFilter::Open, "ferry/")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.list(StateFilter::All, "renovate/")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn errors_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    let f = LocalForge::new(&path);
    assert_eq!(f.get(7).await, Err(ForgeError::NotFound(7)));
    assert_eq!(f.update(7, "t", "b").await, Err(ForgeError::NotFound(7)));
    assert_eq!(f.comment(7, "x").await, Err(ForgeError::NotFound(7)));
    assert_eq!(f.close(7, "x").await, Err(ForgeError::NotFound(7)));
    assert_eq!(f.merge(7).await, Err(ForgeError::NotFound(7)));
    let same = spec("main"); // head = base
    assert!(matches!(
        f.open(&same).await,
        Err(ForgeError::Api { status: 422, .. })
    ));
    assert!(!path.exists(), "nothing written for a refused request");

    // A corrupt file is reported and left alone.
    std::fs::write(&path, "{not json").unwrap();
    match f.open(&spec("ferry/staging/api")).await {
        Err(ForgeError::Local { path: p, .. }) => assert!(p.ends_with("forge.json")),
        other => panic!("expected a local error, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
    assert!(matches!(
        f.list(StateFilter::All, "").await,
        Err(ForgeError::Local { .. })
    ));
}

#[tokio::test]
async fn a_hand_edited_file_is_read_and_numbers_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    // Merged by hand: no counter, no merged_at.
    std::fs::write(
        &path,
        r#"{"pulls": [{"number": 4, "head": "ferry/staging/api", "base": "main",
            "title": "t", "state": "merged",
            "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T11:00:00Z"}]}"#,
    )
    .unwrap();
    let f = LocalForge::new(&path);
    let pr = f.get(4).await.unwrap();
    assert_eq!(pr.state, PrState::Merged);
    // Written before authors were recorded: ferry's own file, ferry's PR.
    assert_eq!(pr.author, "ferry");
    assert_eq!(pr.closed_by, None);
    assert_eq!(
        pr.merged_at.map(|t| t.unix_timestamp()),
        Some(time::macros::datetime!(2026-11-20 11:00 UTC).unix_timestamp())
    );
    assert_eq!(f.open(&spec("ferry/staging/api")).await.unwrap().number, 5);
}

#[tokio::test]
async fn a_stale_lock_from_a_crashed_process_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    let lock = dir.path().join("forge.json.lock");
    let file = std::fs::File::create(&lock).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    let f = LocalForge::new(&path);
    let pr = tokio::time::timeout(Duration::from_secs(5), f.open(&spec("ferry/staging/api")))
        .await
        .expect("not stuck on the stale lock")
        .unwrap();
    assert_eq!(pr.number, 1);
    assert!(!lock.exists());
}

#[tokio::test]
async fn from_config_resolves_the_path_against_the_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ForgeConfig {
        kind: ForgeKind::Local,
        repository: None,
        api_url: None,
        token_env: None,
        app_id: None,
        private_key_file: None,
        path: Some("forge/prs.json".into()),
        login: None,
    };
    let f = AnyForge::from_config(&cfg, dir.path()).await.unwrap();
    assert_eq!(f.identity(), "ferry");
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(pr.author, "ferry");
    assert_eq!(f.find_open("ferry/staging/api").await.unwrap(), Some(pr));
    assert!(dir.path().join("forge/prs.json").is_file());

    // Another configured login is another author: ferry's pull request above
    // is not this one's to adopt.
    let named = ForgeConfig {
        login: Some("ferry-demo".into()),
        ..cfg.clone()
    };
    let g = AnyForge::from_config(&named, dir.path()).await.unwrap();
    assert_eq!(g.identity(), "ferry-demo");
    assert!(matches!(
        g.open(&spec("ferry/staging/api")).await,
        Err(ForgeError::ForeignPr { number: 1, author }) if author == "ferry"
    ));
    for bad in ["", "two words", "ferry\n"] {
        let invalid = ForgeConfig {
            login: Some(bad.into()),
            ..cfg.clone()
        };
        assert!(matches!(
            AnyForge::from_config(&invalid, dir.path()).await,
            Err(ForgeError::Config(m)) if m.contains("forge.login")
        ));
    }

    let missing = ForgeConfig { path: None, ..cfg };
    assert!(matches!(
        AnyForge::from_config(&missing, dir.path()).await,
        Err(ForgeError::Config(m)) if m.contains("forge.path")
    ));
}

#[tokio::test]
async fn a_collaborators_pull_request_is_refused_not_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    let f = LocalForge::new(&path);
    assert_eq!(f.identity(), "ferry");
    let mut hers = spec("ferry/staging/api");
    hers.labels.clear();
    hers.reviewers.clear();
    let theirs = f.open_as(&hers, "carol").await.unwrap();
    assert_eq!(theirs.author, "carol");
    assert_eq!(theirs.head_sha, None, "the local forge does not track git");
    let before = std::fs::read(&path).unwrap();

    match f.open(&spec("ferry/staging/api")).await {
        Err(ForgeError::ForeignPr { number, author }) => {
            assert_eq!((number, author.as_str()), (theirs.number, "carol"));
        }
        other => panic!("expected ForeignPr, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing written");
    // Carol opening again is hers to adopt.
    assert_eq!(
        f.open_as(&hers, "carol").await.unwrap().number,
        theirs.number
    );

    // Once she closes it, ferry opens its own, and adopts that one again.
    let closed = f
        .close_as(theirs.number, "carol", "never mind")
        .await
        .unwrap();
    assert_eq!(closed.closed_by.as_deref(), Some("carol"));
    let ours = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!((ours.number, ours.author.as_str()), (2, "ferry"));
    let again = LocalForge::new(&path)
        .open(&spec("ferry/staging/api"))
        .await
        .unwrap();
    assert_eq!(again.number, ours.number);
    assert_eq!(again.labels, ["ferry", "env:staging"]);
}

#[tokio::test]
async fn last_closed_says_who_closed_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    let f = LocalForge::new(&path).with_login("ferry-demo");
    assert_eq!(f.identity(), "ferry-demo");

    let first = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(first.author, "ferry-demo");
    assert_eq!(first.closed_by, None);
    let closed = f.close(first.number, "superseded").await.unwrap();
    assert_eq!(closed.closed_by.as_deref(), Some("ferry-demo"));
    let last = f.last_closed("ferry/staging/api").await.unwrap().unwrap();
    assert_eq!(last.closed_by.as_deref(), Some("ferry-demo"));

    // A reviewer rejects the next one; closing it again changes nothing.
    let second = f.open(&spec("ferry/staging/api")).await.unwrap();
    f.close_as(second.number, "alice", "not now").await.unwrap();
    f.close(second.number, "ignored").await.unwrap();
    let last = LocalForge::new(&path)
        .last_closed("ferry/staging/api")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (last.number, last.state, last.closed_by.as_deref()),
        (second.number, PrState::Closed, Some("alice"))
    );
    assert_eq!(last.author, "ferry-demo");
    let comments: Vec<String> = f
        .comments(second.number)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(comments, ["not now"]);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["pulls"][1]["author"], "ferry-demo");
    assert_eq!(json["pulls"][1]["closed_by"], "alice");
}

/// Roles live in the state file beside the pull requests, so a restarted
/// process (or another one) reads the same; no access reads as `none`.
#[tokio::test]
async fn roles_are_kept_in_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prs.json");
    let f = LocalForge::new(&path);
    assert_eq!(f.permission("maya").await.unwrap(), "none");
    f.set_role("maya", "maintain").await.unwrap();
    f.set_role("rita", "read").await.unwrap();
    let again = LocalForge::new(&path);
    assert_eq!(again.permission("maya").await.unwrap(), "maintain");
    assert_eq!(
        again.permission("Maya").await.unwrap(),
        "maintain",
        "logins ignore case"
    );
    assert_eq!(again.permission("rita").await.unwrap(), "read");
    assert_eq!(again.permission("stranger").await.unwrap(), "none");
}

/// ChatOps on the local forge: an issue takes a person's command, ferry's
/// answer and reactions; issues and pull requests share the numbering and
/// comment ids are unique across both.
#[tokio::test]
async fn issues_take_comments_and_reactions_like_pull_requests() {
    use ferry::forge::Reaction;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    let f = LocalForge::new(&path);
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    let issue = f.open_issue("pins", "alice").await.unwrap();
    assert_eq!((pr.number, issue), (1, 2), "one numbering for both");

    let cmd = f
        .post_comment(issue, "alice", "/ferry pin api production -- CVE")
        .await
        .unwrap();
    assert_eq!(
        cmd.url,
        format!("local://issues/{issue}#issuecomment-{}", cmd.id)
    );
    f.react(cmd.id, Reaction::Eyes).await.unwrap();
    f.comment(issue, "pinned api in production").await.unwrap();
    f.react(cmd.id, Reaction::PlusOne).await.unwrap();
    // Reacting twice the same way keeps one reaction.
    f.react(cmd.id, Reaction::Eyes).await.unwrap();

    // A command on a pull request works the same way, ids keep counting.
    let on_pr = f
        .post_comment(pr.number, "bob", "/ferry status")
        .await
        .unwrap();
    assert!(on_pr.id > cmd.id);
    f.react(on_pr.id, Reaction::Confused).await.unwrap();

    // A fresh instance reads it all back.
    let g = LocalForge::new(&path);
    let comments = g.issue_comments(issue).await.unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].id, cmd.id);
    assert_eq!(comments[0].author, "alice");
    assert_eq!(comments[0].body, "/ferry pin api production -- CVE");
    assert_eq!(comments[0].reactions, ["eyes", "+1"]);
    assert_eq!(comments[1].author, "ferry", "ferry's identity answers");
    assert_eq!(comments[1].body, "pinned api in production");
    assert!(comments[1].reactions.is_empty());
    assert_ne!(comments[1].id, comments[0].id);

    let pr_comments = g.issue_comments(pr.number).await.unwrap();
    assert_eq!(pr_comments.len(), 1);
    assert_eq!(pr_comments[0].author, "bob");
    assert_eq!(pr_comments[0].reactions, ["confused"]);
    assert_eq!(g.comments(pr.number).await.unwrap(), pr_comments);

    // The next pull request comes after the issue.
    let next = g.open(&spec("ferry/production/api")).await.unwrap();
    assert_eq!(next.number, 3);

    // Nothing to comment on or react to.
    assert_eq!(g.comment(99, "hi").await, Err(ForgeError::NotFound(99)));
    assert!(g.issue_comments(99).await.is_err());
    assert!(matches!(
        g.react(12345, Reaction::Eyes).await,
        Err(ForgeError::Api { status: 404, .. })
    ));
    assert!(g.open_issue("  ", "alice").await.is_err());
}

/// A state file written before issues, comment ids and reactions existed
/// reads, keeps its pull requests and comments, and goes on from there.
#[tokio::test]
async fn a_state_file_from_before_issues_still_reads() {
    use ferry::forge::Reaction;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.json");
    std::fs::write(
        &path,
        r#"{
  "next_number": 2,
  "pulls": [
    {"number": 1, "head": "ferry/staging/api", "base": "main",
     "title": "staging: api sha-1 → sha-3", "body": "b",
     "labels": [], "reviewers": [], "draft": false, "state": "open",
     "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:00:00Z",
     "merged_at": null, "closed_at": null,
     "comments": [{"body": "old", "at": "2026-11-20T10:00:00Z"}]}
  ]
}
"#,
    )
    .unwrap();
    let f = LocalForge::new(&path);
    let old = f.issue_comments(1).await.unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(
        (old[0].id, old[0].author.as_str(), old[0].body.as_str()),
        (0, "ferry", "old")
    );
    assert!(old[0].reactions.is_empty());
    // Id 0 names no comment: nothing to react to.
    assert!(f.react(0, Reaction::Eyes).await.is_err());

    let issue = f.open_issue("pins", "alice").await.unwrap();
    assert_eq!(issue, 2);
    let c = f.post_comment(1, "alice", "/ferry status").await.unwrap();
    assert_eq!(c.id, 1, "ids start at 1");
    f.react(c.id, Reaction::Eyes).await.unwrap();
    let now = f.issue_comments(1).await.unwrap();
    assert_eq!(now.len(), 2);
    assert_eq!(now[0].body, "old");
    assert_eq!(now[1].reactions, ["eyes"]);
    assert_eq!(f.get(1).await.unwrap().title, "staging: api sha-1 → sha-3");
}
