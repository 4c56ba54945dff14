//! The GitHub forge through octocrab against a stateful fake GitHub
//! (`tests/fake_github`): pull requests opened once and found again by any
//! ferry process, updated, closed with a reason, labelled, reviewers and
//! teams requested, merges read back, GitHub App authentication, a GitHub
//! Enterprise base path, rate limits either waited out (bounded) or
//! reported as `RateLimited` without hammering, and who is who: ferry's
//! own login (a token's user, an App's bot), who opened and who closed each
//! pull request, and a collaborator's pull request on a `ferry/` branch
//! refused rather than adopted.

mod fake_github;

use std::time::{Duration, Instant};

use fake_github::FakeGitHub;
use ferry::config::{Forge as ForgeConfig, ForgeKind};
use ferry::forge::github::{GitHubAuth, GitHubForge, GitHubSettings};
use ferry::forge::{AnyForge, Forge, ForgeError, PrSpec, PrState, StateFilter};
use octocrab::secrecy::SecretString;

const REPO: &str = "acme/platform-gitops";
const TOKEN: &str = "ghp_ferrytesttoken";
/// A collaborator with push access: opens and closes pull requests too.
const CAROL: &str = "ghp_caroltoken";

async fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start().await;
    fake.add_repo(REPO);
    fake.add_token(TOKEN, "ferry-bot");
    fake.add_token(CAROL, "carol");
    fake.set_ref(
        REPO,
        "ferry/staging/api",
        "1111111111111111111111111111111111111111",
    );
    fake.set_ref(
        REPO,
        "ferry/production/api",
        "2222222222222222222222222222222222222222",
    );
    fake
}

fn settings(api_url: &str, max_wait: Duration) -> GitHubSettings {
    GitHubSettings {
        api_url: api_url.to_string(),
        owner: "acme".into(),
        repo: "platform-gitops".into(),
        auth: GitHubAuth::Token(SecretString::from(TOKEN)),
        max_rate_limit_wait: max_wait,
    }
}

async fn forge(fake: &FakeGitHub) -> GitHubForge {
    GitHubForge::connect(settings(&fake.url, Duration::from_secs(5)))
        .await
        .unwrap()
}

/// The same repository, as the collaborator.
async fn carol(fake: &FakeGitHub) -> GitHubForge {
    let mut s = settings(&fake.url, Duration::from_secs(5));
    s.auth = GitHubAuth::Token(SecretString::from(CAROL));
    GitHubForge::connect(s).await.unwrap()
}

fn spec(head: &str) -> PrSpec {
    PrSpec {
        head: head.into(),
        base: "main".into(),
        title: "staging: api sha-1 → sha-3".into(),
        body: "| | from | to |\n|---|---|---|\n| tag | sha-1 | sha-3 |".into(),
        labels: vec!["ferry".into(), "env:staging".into()],
        reviewers: vec!["alice".into(), "team:platform".into()],
        draft: false,
    }
}

#[tokio::test]
async fn opens_once_and_every_process_finds_the_same_pull_request() {
    let fake = fake().await;
    let a = forge(&fake).await;
    assert_eq!(a.find_open("ferry/staging/api").await.unwrap(), None);

    let pr = a.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(pr.number, 1);
    assert_eq!(pr.state, PrState::Open);
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str()),
        ("ferry/staging/api", "main")
    );
    assert_eq!(pr.title, "staging: api sha-1 → sha-3");
    assert_eq!(pr.url, "https://github.com/acme/platform-gitops/pull/1");
    assert_eq!(pr.labels, ["ferry", "env:staging"]);
    assert_eq!(pr.reviewers, ["alice", "team:platform"]);
    assert_eq!(pr.merged_at, None);
    assert_eq!(pr.author, "ferry-bot");
    assert_eq!(pr.closed_by, None);
    assert_eq!(
        pr.head_sha.as_deref(),
        Some("1111111111111111111111111111111111111111")
    );

    // What GitHub recorded.
    let stored = fake.pull(REPO, 1);
    assert_eq!(stored.head_sha, "1111111111111111111111111111111111111111");
    assert_eq!(stored.labels, ["ferry", "env:staging"]);
    assert_eq!(stored.reviewers, ["alice"]);
    assert_eq!(stored.teams, ["platform"]);
    assert_eq!(stored.author, "ferry-bot");
    assert!(!stored.draft);

    // A second process (or the same one after a restart) finds it by branch
    // and, asked to open it again, gets the same pull request.
    let b = forge(&fake).await;
    assert_eq!(
        b.find_open("ferry/staging/api").await.unwrap(),
        Some(pr.clone())
    );
    let again = b.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(again.number, 1);
    assert_eq!(again.labels, ["ferry", "env:staging"]);
    assert_eq!(fake.pulls(REPO).len(), 1);

    // Two processes racing to open the same promotion end with one PR.
    let s = spec("ferry/production/api");
    let (x, y) = tokio::join!(a.open(&s), b.open(&s));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.number, y.number);
    assert_eq!(x.number, 2);
    assert_eq!(fake.pulls(REPO).len(), 2);
    // The reviewers were requested once each, not twice.
    assert_eq!(fake.pull(REPO, 2).reviewers, ["alice"]);
}

#[tokio::test]
async fn a_superseding_image_updates_title_and_body() {
    let fake = fake().await;
    let f = forge(&fake).await;
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    fake.set_ref(
        REPO,
        "ferry/staging/api",
        "3333333333333333333333333333333333333333",
    );
    let updated = f
        .update(pr.number, "staging: api sha-1 → sha-4", "new evidence")
        .await
        .unwrap();
    assert_eq!(updated.number, pr.number);
    assert_eq!(updated.title, "staging: api sha-1 → sha-4");
    assert_eq!(updated.body, "new evidence");
    assert_eq!(updated.labels, pr.labels, "labels are kept");

    let stored = fake.pull(REPO, pr.number);
    assert_eq!(stored.title, "staging: api sha-1 → sha-4");
    assert_eq!(stored.body.as_deref(), Some("new evidence"));
    assert_eq!(stored.head_sha, "3333333333333333333333333333333333333333");
    let read = forge(&fake).await.get(pr.number).await.unwrap();
    assert_eq!(read, updated);
    assert_eq!(fake.pulls(REPO).len(), 1);
}

#[tokio::test]
async fn a_stale_pull_request_is_closed_with_a_comment_once() {
    let fake = fake().await;
    let f = forge(&fake).await;
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    f.comment(pr.number, "Waiting for review.").await.unwrap();

    let closed = f
        .close(pr.number, "staging already runs sha-3; closing.")
        .await
        .unwrap();
    assert_eq!(closed.state, PrState::Closed);
    assert_eq!(closed.merged_at, None);
    let comments: Vec<String> = fake
        .pull(REPO, pr.number)
        .comments
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(
        comments,
        [
            "Waiting for review.",
            "staging already runs sha-3; closing."
        ]
    );
    assert!(!fake.pull(REPO, pr.number).open);

    // Closing again (a retried pass) neither fails nor repeats the comment.
    let again = f
        .close(pr.number, "staging already runs sha-3; closing.")
        .await
        .unwrap();
    assert_eq!(again.state, PrState::Closed);
    assert_eq!(fake.pull(REPO, pr.number).comments.len(), 2);

    assert_eq!(f.find_open("ferry/staging/api").await.unwrap(), None);
    let closed_list = f.list(StateFilter::Closed, "ferry/").await.unwrap();
    assert_eq!(
        closed_list.iter().map(|p| p.number).collect::<Vec<_>>(),
        [pr.number]
    );
    assert!(
        f.list(StateFilter::Open, "ferry/")
            .await
            .unwrap()
            .is_empty()
    );

    // The branch can be proposed again: a new pull request, a new number.
    let reopened = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(reopened.number, pr.number + 1);
}

#[tokio::test]
async fn a_merge_on_github_is_read_back() {
    let fake = fake().await;
    let f = forge(&fake).await;
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    let other = f.open(&spec("ferry/production/api")).await.unwrap();
    fake.merge(REPO, pr.number);

    let read = f.get(pr.number).await.unwrap();
    assert_eq!(read.state, PrState::Merged);
    assert!(read.merged_at.is_some());
    // The list endpoint has no `merged` field; merged_at tells.
    let closed = f.list(StateFilter::Closed, "ferry/staging/").await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].state, PrState::Merged);
    assert_eq!(closed[0].merged_at, read.merged_at);
    let all = f.list(StateFilter::All, "ferry/").await.unwrap();
    assert_eq!(
        all.iter().map(|p| (p.number, p.state)).collect::<Vec<_>>(),
        [(pr.number, PrState::Merged), (other.number, PrState::Open)]
    );
    assert_eq!(f.find_open("ferry/staging/api").await.unwrap(), None);

    let before = fake.pull(REPO, pr.number).comments.len();
    assert_eq!(
        f.close(pr.number, "stale").await,
        Err(ForgeError::AlreadyMerged(pr.number))
    );
    assert_eq!(fake.pull(REPO, pr.number).comments.len(), before);
}

#[tokio::test]
async fn pull_requests_from_forks_are_not_ferrys() {
    let fake = fake().await;
    let f = forge(&fake).await;
    let fork = fake.add_fork_pull(
        REPO,
        "mallory/platform-gitops",
        "ferry/staging/api",
        "looks like ferry",
    );
    assert_eq!(f.find_open("ferry/staging/api").await.unwrap(), None);
    assert!(f.list(StateFilter::All, "ferry/").await.unwrap().is_empty());
    // It still exists for anyone who asks by number.
    assert_eq!(f.get(fork).await.unwrap().head, "ferry/staging/api");

    let ours = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_ne!(ours.number, fork);
    assert_eq!(
        f.find_open("ferry/staging/api")
            .await
            .unwrap()
            .map(|p| p.number),
        Some(ours.number)
    );
}

#[tokio::test]
async fn list_filters_by_branch_prefix() {
    let fake = fake().await;
    fake.set_ref(
        REPO,
        "renovate/foo",
        "4444444444444444444444444444444444444444",
    );
    let f = forge(&fake).await;
    let a = f.open(&spec("ferry/staging/api")).await.unwrap();
    let mut other = spec("renovate/foo");
    other.labels.clear();
    other.reviewers.clear();
    f.open(&other).await.unwrap();
    let b = f.open(&spec("ferry/production/api")).await.unwrap();
    let listed = f.list(StateFilter::Open, "ferry/").await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.number).collect::<Vec<_>>(),
        [a.number, b.number]
    );
    let staging = f.list(StateFilter::Open, "ferry/staging/").await.unwrap();
    assert_eq!(staging.len(), 1);
    assert_eq!(staging[0].reviewers, ["alice", "team:platform"]);
}

#[tokio::test]
async fn errors_are_specific() {
    let fake = fake().await;
    let f = forge(&fake).await;
    assert_eq!(f.get(99).await, Err(ForgeError::NotFound(99)));
    assert_eq!(f.update(99, "t", "b").await, Err(ForgeError::NotFound(99)));
    assert_eq!(f.comment(99, "hi").await, Err(ForgeError::NotFound(99)));

    // A branch that was never pushed.
    match f.open(&spec("ferry/dev/nothing")).await {
        Err(ForgeError::Api { status: 422, .. }) => {}
        other => panic!("expected a 422, got {other:?}"),
    }

    // A reviewer GitHub refuses (the author) does not undo the pull request.
    let mut s = spec("ferry/staging/api");
    s.reviewers = vec!["ferry-bot".into()];
    let pr = f.open(&s).await.unwrap();
    assert_eq!(pr.reviewers, Vec::<String>::new());
    assert!(fake.pull(REPO, pr.number).open);

    // A wrong token is refused when ferry asks who it is, at connect.
    let mut bad = settings(&fake.url, Duration::from_secs(1));
    bad.auth = GitHubAuth::Token(SecretString::from("ghp_wrong"));
    assert!(
        !format!("{bad:?}").contains("ghp_"),
        "Debug hides the token"
    );
    match GitHubForge::connect(bad).await {
        Err(ForgeError::Auth(message)) => {
            assert_eq!(message, "Bad credentials");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    // Debug output never shows the token.
    assert!(!format!("{f:?}").contains("ghp_"));
}

#[tokio::test]
async fn a_spent_rate_limit_is_reported_without_hammering() {
    let fake = fake().await;
    let f = forge(&fake).await; // waits at most 5 s
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    fake.set_rate_limit(0, 3600);
    let sent_before = fake.requests().len();

    let started = Instant::now();
    match f.get(pr.number).await {
        Err(ForgeError::RateLimited { retry_in, reset_at }) => {
            assert!(retry_in > Duration::from_secs(3500), "{retry_in:?}");
            assert!(reset_at.is_some());
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no waiting for an hour-long reset"
    );
    assert_eq!(
        fake.requests().len(),
        sent_before + 1,
        "one request, one 403"
    );
    assert_eq!(fake.rate_limited(), 1);

    // Until the reset, ferry does not ask again at all.
    assert!(matches!(
        f.find_open("ferry/staging/api").await,
        Err(ForgeError::RateLimited { .. })
    ));
    assert!(matches!(
        f.update(pr.number, "t", "b").await,
        Err(ForgeError::RateLimited { .. })
    ));
    assert_eq!(fake.requests().len(), sent_before + 1);
    let status = f.rate_limit().expect("a window was seen");
    assert_eq!(status.remaining, 0);
    assert_eq!(status.limit, Some(5000));
}

#[tokio::test]
async fn a_short_reset_is_waited_out() {
    let fake = fake().await;
    let f = forge(&fake).await; // waits at most 5 s
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();

    // The budget runs out with the next answer; the reset is 2 s away.
    fake.set_rate_limit(1, 2);
    f.comment(pr.number, "one").await.unwrap();
    assert_eq!(f.rate_limit().map(|s| s.remaining), Some(0));
    let started = Instant::now();
    f.comment(pr.number, "two").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for the reset"
    );
    assert_eq!(
        fake.rate_limited(),
        0,
        "waited before sending, not after a 403"
    );

    // Refused with a 403 and a reset 2 s away: wait, retry once, succeed.
    fake.set_rate_limit(0, 2);
    let started = Instant::now();
    let read = f.get(pr.number).await.unwrap();
    assert_eq!(read.number, pr.number);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(fake.rate_limited(), 1);

    // A secondary limit with retry-after: 1.
    fake.secondary_limit_once(1);
    let started = Instant::now();
    f.get(pr.number).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(fake.rate_limited(), 2);
    let comments: Vec<String> = fake
        .pull(REPO, pr.number)
        .comments
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(comments, ["one", "two"]);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_bound_fails_fast() {
    let fake = fake().await;
    let f = GitHubForge::connect(settings(&fake.url, Duration::from_secs(1)))
        .await
        .unwrap();
    fake.secondary_limit_once(120);
    let sent_before = fake.requests().len();
    let started = Instant::now();
    match f.find_open("ferry/staging/api").await {
        Err(ForgeError::RateLimited { retry_in, .. }) => {
            assert_eq!(retry_in, Duration::from_secs(120))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(fake.requests().len(), sent_before + 1);
}

#[tokio::test]
async fn a_token_is_its_users_login_asked_once_at_connect() {
    let fake = fake().await;
    let f = forge(&fake).await;
    assert_eq!(f.identity(), "ferry-bot");
    assert_eq!(fake.requests(), ["GET /user"]);
    f.open(&spec("ferry/staging/api")).await.unwrap();
    f.find_open("ferry/staging/api").await.unwrap();
    assert_eq!(f.identity(), "ferry-bot");
    assert_eq!(
        fake.requests().iter().filter(|r| *r == "GET /user").count(),
        1,
        "not asked again"
    );
    assert_eq!(carol(&fake).await.identity(), "carol");
    let any = AnyForge::GitHub(Box::new(forge(&fake).await));
    assert_eq!(any.identity(), "ferry-bot");
}

#[tokio::test]
async fn a_token_connects_while_github_is_limited_and_asks_again_first() {
    let fake = fake().await;
    fake.secondary_limit_once(120); // longer than the 1 s ferry waits
    let f = GitHubForge::connect(settings(&fake.url, Duration::from_secs(1)))
        .await
        .expect("a rate limit at start-up is not a config error");
    assert_eq!(f.identity(), "", "not known yet");
    // The next call asks first; nothing is returned before it is known.
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(f.identity(), "ferry-bot");
    assert_eq!(pr.author, "ferry-bot");
    assert_eq!(
        fake.requests()[..3],
        [
            "GET /user",
            "GET /user",
            "POST /repos/acme/platform-gitops/pulls"
        ]
    );
}

#[tokio::test]
async fn an_installation_token_in_token_env_is_refused_at_connect_with_a_hint() {
    let fake = fake().await;
    // GitHub Actions' GITHUB_TOKEN is an installation token: no user.
    fake.add_scoped_token("ghs_actions", "github-actions[bot]", REPO);
    let mut s = settings(&fake.url, Duration::from_secs(1));
    s.auth = GitHubAuth::Token(SecretString::from("ghs_actions"));
    match GitHubForge::connect(s).await {
        Err(ForgeError::Auth(m)) => {
            assert!(m.contains("GET /user"), "{m}");
            assert!(m.contains("app_id"), "{m}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_collaborators_pull_request_on_a_ferry_branch_is_not_adopted() {
    let fake = fake().await;
    let f = forge(&fake).await;
    let c = carol(&fake).await;
    // Carol pushed to ferry/staging/api and opened a pull request from it.
    let mut hers = spec("ferry/staging/api");
    hers.labels.clear();
    hers.reviewers.clear();
    hers.title = "staging: api → my image".into();
    let theirs = c.open(&hers).await.unwrap();
    assert_eq!(theirs.author, "carol");

    // find_open still shows it (the caller decides), with its author.
    let found = f.find_open("ferry/staging/api").await.unwrap().unwrap();
    assert_eq!(found.number, theirs.number);
    assert!(!found.opened_by(f.identity()));
    assert!(found.opened_by("Carol"), "logins ignore case");

    let before = fake.requests().len();
    match f.open(&spec("ferry/staging/api")).await {
        Err(ForgeError::ForeignPr { number, author }) => {
            assert_eq!(number, theirs.number);
            assert_eq!(author, "carol");
        }
        other => panic!("expected ForeignPr, got {other:?}"),
    }
    // Refused after the 422 and the lookup: no labels, no reviewers, no
    // second pull request.
    let sent: Vec<String> = fake.requests()[before..].to_vec();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].starts_with("POST /repos/acme/platform-gitops/pulls"));
    assert!(sent[1].starts_with("GET /repos/acme/platform-gitops/pulls?state=open"));
    let stored = fake.pull(REPO, theirs.number);
    assert!(stored.labels.is_empty());
    assert!(stored.reviewers.is_empty() && stored.teams.is_empty());
    assert_eq!(stored.title, "staging: api → my image");
    assert_eq!(fake.pulls(REPO).len(), 1);

    // Once she closes it, ferry opens its own.
    c.close(theirs.number, "").await.unwrap();
    let ours = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(ours.author, "ferry-bot");
    assert_ne!(ours.number, theirs.number);
    // And a ferry process adopts ferry's own after the 422.
    let adopted = forge(&fake).await.open(&spec("ferry/staging/api")).await;
    assert_eq!(adopted.unwrap().number, ours.number);
}

#[tokio::test]
async fn last_closed_says_who_closed_it() {
    let fake = fake().await;
    let f = forge(&fake).await;
    let c = carol(&fake).await;

    // Closed by ferry itself.
    let first = f.open(&spec("ferry/staging/api")).await.unwrap();
    f.close(first.number, "superseded").await.unwrap();
    let before = fake.requests().len();
    let last = f.last_closed("ferry/staging/api").await.unwrap().unwrap();
    assert_eq!(last.number, first.number);
    assert_eq!(last.author, "ferry-bot");
    assert_eq!(last.closed_by.as_deref(), Some("ferry-bot"));
    assert_eq!(
        last.head_sha.as_deref(),
        Some("1111111111111111111111111111111111111111")
    );
    // One page of pulls, one issue for the one returned.
    let sent: Vec<String> = fake.requests()[before..].to_vec();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[1],
        format!("GET /repos/acme/platform-gitops/issues/{}", first.number)
    );

    // Rejected by a collaborator through the API.
    let second = f.open(&spec("ferry/staging/api")).await.unwrap();
    c.close(second.number, "not this one").await.unwrap();
    let last = f.last_closed("ferry/staging/api").await.unwrap().unwrap();
    assert_eq!(
        (last.number, last.state, last.closed_by.as_deref()),
        (second.number, PrState::Closed, Some("carol"))
    );

    // Rejected in the web page by another reviewer.
    let third = f.open(&spec("ferry/staging/api")).await.unwrap();
    fake.close_as(REPO, third.number, "dave");
    let last = f.last_closed("ferry/staging/api").await.unwrap().unwrap();
    assert_eq!(last.closed_by.as_deref(), Some("dave"));

    // Merged: GitHub names the one who merged.
    let fourth = f.open(&spec("ferry/staging/api")).await.unwrap();
    fake.merge(REPO, fourth.number);
    let last = f.last_closed("ferry/staging/api").await.unwrap().unwrap();
    assert_eq!(
        (last.number, last.state, last.closed_by.as_deref()),
        (fourth.number, PrState::Merged, Some("acme"))
    );

    // Nothing closed on another branch: no issue asked.
    let before = fake.requests().len();
    assert_eq!(f.last_closed("ferry/production/api").await.unwrap(), None);
    assert_eq!(fake.requests().len(), before + 1);

    // list and get do not ask who closed (no request per pull request).
    let before = fake.requests().len();
    let all = f.list(StateFilter::All, "ferry/").await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|p| p.closed_by.is_none()));
    assert!(all.iter().all(|p| p.author == "ferry-bot"));
    assert_eq!(fake.requests().len(), before + 1);
}

/// A 2048-bit RSA key: (PKCS#8 PEM, PKCS#1 public key DER).
fn app_key() -> (String, Vec<u8>) {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine as _;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der: Pkcs8V1Der = key.as_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    (pem, key.public_key().as_ref().to_vec())
}

#[tokio::test]
async fn a_github_app_on_github_enterprise_uses_an_installation_token() {
    let fake = fake().await;
    let (pem, public) = app_key();
    fake.add_app(4242, &public, 77, &[REPO]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.pem"), &pem).unwrap();
    let cfg = ForgeConfig {
        kind: ForgeKind::Github,
        repository: Some(REPO.into()),
        api_url: Some(format!("{}/api/v3", fake.url)),
        token_env: None,
        app_id: Some(4242),
        private_key_file: Some("app.pem".into()),
        path: None,
        login: None,
    };
    let f = AnyForge::from_config(&cfg, dir.path()).await.unwrap();
    // Asked once, with the JWT: the App's slug, as GitHub names its bot.
    assert_eq!(f.identity(), "ferry-app[bot]");
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert_eq!(pr.number, 1);
    assert_eq!(fake.pull(REPO, 1).author, "ferry-app[bot]");
    assert_eq!(pr.author, "ferry-app[bot]");
    assert_eq!(f.get(1).await.unwrap().title, pr.title);
    // A second ferry process adopts the App's own pull request.
    let again = AnyForge::from_config(&cfg, dir.path()).await.unwrap();
    assert_eq!(
        again.open(&spec("ferry/staging/api")).await.unwrap().number,
        1
    );
    f.close(1, "superseded").await.unwrap();
    assert_eq!(
        f.last_closed("ferry/staging/api")
            .await
            .unwrap()
            .and_then(|p| p.closed_by)
            .as_deref(),
        Some("ferry-app[bot]")
    );

    // One token per process, scoped to the GitOps repository, reused for
    // every call.
    assert_eq!(
        fake.issued_tokens(),
        [
            (77, vec!["platform-gitops".to_string()]),
            (77, vec!["platform-gitops".to_string()])
        ]
    );
    let requests = fake.requests();
    assert!(
        requests.iter().all(|r| r.contains(" /api/v3/")),
        "{requests:?}"
    );
    assert_eq!(
        requests[..3],
        [
            "GET /api/v3/repos/acme/platform-gitops/installation",
            "GET /api/v3/app",
            "POST /api/v3/app/installations/77/access_tokens",
        ]
    );
    assert_eq!(
        requests.iter().filter(|r| *r == "GET /api/v3/app").count(),
        2,
        "once per connect"
    );

    // A key GitHub does not know is refused at connect time.
    let (other_pem, _) = app_key();
    std::fs::write(dir.path().join("app.pem"), &other_pem).unwrap();
    match AnyForge::from_config(&cfg, dir.path()).await {
        Err(ForgeError::Auth(_)) => {}
        other => panic!("expected an auth error, got {other:?}"),
    }
}

#[tokio::test]
async fn config_errors_name_the_field_and_never_the_secret() {
    let base = std::path::Path::new("/nonexistent");
    let mut cfg = ForgeConfig {
        kind: ForgeKind::Github,
        repository: Some(REPO.into()),
        api_url: None,
        token_env: Some("FERRY_TEST_TOKEN_THAT_IS_NOT_SET".into()),
        app_id: None,
        private_key_file: None,
        path: None,
        login: None,
    };
    match AnyForge::from_config(&cfg, base).await {
        Err(ForgeError::Auth(m)) => assert!(m.contains("FERRY_TEST_TOKEN_THAT_IS_NOT_SET"), "{m}"),
        other => panic!("expected an auth error, got {other:?}"),
    }
    cfg.repository = Some("not-a-repository".into());
    assert!(matches!(
        AnyForge::from_config(&cfg, base).await,
        Err(ForgeError::Config(m)) if m.contains("forge.repository")
    ));
    cfg.repository = Some(REPO.into());
    cfg.app_id = Some(1);
    assert!(matches!(
        AnyForge::from_config(&cfg, base).await,
        Err(ForgeError::Config(m)) if m.contains("not both")
    ));
    cfg.token_env = None;
    assert!(matches!(
        AnyForge::from_config(&cfg, base).await,
        Err(ForgeError::Config(m)) if m.contains("private_key_file")
    ));
    cfg.private_key_file = Some("missing.pem".into());
    assert!(matches!(
        AnyForge::from_config(&cfg, base).await,
        Err(ForgeError::Auth(m)) if m.contains("missing.pem")
    ));
    // GitHub says who ferry is; a configured login would only disagree.
    cfg.login = Some("ferry".into());
    assert!(matches!(
        AnyForge::from_config(&cfg, base).await,
        Err(ForgeError::Config(m)) if m.contains("forge.login")
    ));
}

#[tokio::test]
async fn an_absurd_retry_after_is_clamped_not_a_panic() {
    let fake = fake().await;
    let f = forge(&fake).await; // waits at most 5 s
    // `retry-after: 18446744073709551615`: `time` overflowed on it.
    fake.secondary_limit_once(u64::MAX);
    let mark = fake.requests().len();
    let started = Instant::now();
    match f.find_open("ferry/staging/api").await {
        Err(ForgeError::RateLimited { retry_in, reset_at }) => {
            assert_eq!(retry_in, ferry::forge::github::MAX_RESET_WAIT);
            assert!(reset_at.is_some());
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.requests().len() - mark, 1, "one request, no retry");
}

#[tokio::test]
async fn a_reset_beyond_the_calendar_is_clamped_not_a_panic() {
    let fake = fake().await;
    let f = forge(&fake).await;
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    // `x-ratelimit-reset` some 30,000 years away: past `time`'s range.
    fake.set_rate_limit(0, 1_000_000_000_000);
    let sent_before = fake.requests().len();
    for _ in 0..2 {
        match f.get(pr.number).await {
            Err(ForgeError::RateLimited { retry_in, .. }) => {
                assert!(
                    retry_in <= ferry::forge::github::MAX_RESET_WAIT + Duration::from_secs(1),
                    "{retry_in:?}"
                );
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }
    // The second call did not ask: the window is remembered, clamped.
    assert_eq!(fake.requests().len(), sent_before + 1);
    let status = f.rate_limit().expect("a window was recorded");
    assert!(status.reset_at <= time::OffsetDateTime::now_utc() + Duration::from_secs(3601));
}

/// A server that answers every request with `200 OK` and a JSON body that
/// never ends (chunked, 64 KiB a chunk).
async fn endless_json() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                            x-ratelimit-remaining: 4999\r\nx-ratelimit-reset: 9999999999\r\n\
                            transfer-encoding: chunked\r\n\r\n5\r\n[\"x\",\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                while sock.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    url
}

#[tokio::test]
async fn an_endless_answer_is_cut_off_with_a_clear_error() {
    let url = endless_json().await;
    let f = GitHubForge::connect(settings(&url, Duration::from_secs(1)))
        .await
        .unwrap();
    let started = Instant::now();
    match f.get(1).await {
        Err(ForgeError::Transport(m)) => {
            assert!(m.contains("exceeds the limit of 33554432 bytes"), "{m}")
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    // The reset header far in the future was recorded clamped, too.
    let status = f.rate_limit().expect("a window");
    assert!(status.reset_at <= time::OffsetDateTime::now_utc() + Duration::from_secs(3601));
}

/// A git smart-HTTP endpoint that asks for Basic auth and records what it
/// is given; it serves no repository (the fetch then fails with a 404).
async fn git_server_recording_auth() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::{HeaderMap, StatusCode, header};
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let record = record.clone();
        async move {
            match headers.get(header::AUTHORIZATION) {
                None => (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
                ),
                Some(v) => {
                    record.lock().unwrap().push(v.to_str().unwrap().to_string());
                    (
                        StatusCode::NOT_FOUND,
                        [(header::CONTENT_TYPE, "text/plain")],
                    )
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/acme/platform-gitops.git",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

// Two workers: the sync below blocks one, as in `ferry run`; the fakes
// answer on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_gives_git_its_installation_token() {
    use base64::Engine as _;
    let fake = fake().await;
    let (pem, public) = app_key();
    fake.add_app(4242, &public, 77, &[REPO]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.pem"), &pem).unwrap();
    let cfg = ForgeConfig {
        kind: ForgeKind::Github,
        repository: Some(REPO.into()),
        api_url: Some(fake.url.clone()),
        token_env: None,
        app_id: Some(4242),
        private_key_file: Some("app.pem".into()),
        path: None,
        login: None,
    };
    let (remote, seen) = git_server_recording_auth().await;
    let creds = ferry::forge::github::git_credentials(&cfg, dir.path(), &remote)
        .unwrap()
        .expect("credentials for a remote on the forge's host");
    assert!(!format!("{creds:?}").contains("ghs_"), "{creds:?}");
    assert!(fake.issued_tokens().is_empty(), "no token before git asks");

    let cache = tempfile::tempdir().unwrap();
    // Called on a runtime worker, as a pass does: the token request inside
    // libgit2's callback cannot use this runtime (blocking on it from here
    // panics), so it runs on one of its own.
    let mut ws = ferry::gitops::Workspace::open(&remote, "main", cache.path(), creds).unwrap();
    let first = ws.sync().unwrap_err().to_string();
    let second = ws.sync().unwrap_err().to_string();
    assert!(first.contains("404"), "{first}");
    assert!(!second.contains("ghs_"), "{second}");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        2,
        "one authenticated request per fetch: {seen:?}"
    );
    let decode = |h: &str| {
        let b64 = h.strip_prefix("Basic ").expect("basic auth");
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    };
    let (user, token) = decode(&seen[0])
        .split_once(':')
        .map(|(u, t)| (u.to_string(), t.to_string()))
        .unwrap();
    assert_eq!(user, "x-access-token");
    assert_eq!(
        decode(&seen[1]),
        decode(&seen[0]),
        "the token is reused until near expiry"
    );
    // One installation token, scoped to the GitOps repository, minted once.
    assert_eq!(
        fake.issued_tokens(),
        [(77, vec!["platform-gitops".to_string()])]
    );
    // It is a live installation token: the API takes it for the repository.
    // (An installation token is no user: `GET /user` refuses it, so ask
    // the repository's pulls directly.)
    let status = reqwest::Client::new()
        .get(format!("{}/repos/{REPO}/pulls", fake.url))
        .header("authorization", format!("token {token}"))
        .header("user-agent", "ferry-test")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    // Never for a remote elsewhere, nor with a personal token.
    assert!(
        ferry::forge::github::git_credentials(&cfg, dir.path(), "https://gitlab.com/acme/g.git")
            .unwrap()
            .is_none()
    );
    let token_cfg = ForgeConfig {
        app_id: None,
        private_key_file: None,
        token_env: Some("FERRY_TEST_UNSET_TOKEN_FOR_GIT".into()),
        ..cfg
    };
    assert!(
        ferry::forge::github::git_credentials(&token_cfg, dir.path(), &remote)
            .unwrap()
            .is_none()
    );
}

/// A git smart-HTTP endpoint whose ref advertisement is an `ERR` line
/// quoting a credentialed URL, as a misconfigured git server or proxy may.
async fn git_server_echoing_credentials() -> String {
    use axum::http::header;
    fn pkt(line: &str) -> String {
        format!("{:04x}{line}", line.len() + 4)
    }
    let body = format!(
        "{}0000{}",
        pkt("# service=git-upload-pack\n"),
        pkt(
            "ERR access denied for https://x-access-token:ghs_s3cret@127.0.0.1/acme/g.git?token=q_s3cret\n"
        )
    );
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "application/x-git-upload-pack-advertisement",
                )],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/acme/g.git", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_libgit2_error_quoting_a_credentialed_url_is_redacted() {
    let remote = git_server_echoing_credentials().await;
    let cache = tempfile::tempdir().unwrap();
    let mut ws = ferry::gitops::Workspace::open(
        &remote,
        "main",
        cache.path(),
        ferry::gitops::Credentials::None,
    )
    .unwrap();
    let err = ws.sync().unwrap_err();
    let mut chain = format!("{err} | {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&format!(" | {s}"));
        source = s.source();
    }
    // libgit2's own text, redacted: the URL is there, its secrets are not.
    assert!(
        chain.contains(
            "remote error: access denied for https://***@127.0.0.1/acme/g.git?<redacted>"
        ),
        "{chain}"
    );
    assert!(!chain.contains("s3cret"), "{chain}");
}

/// The role of a login, as GitHub's `role_name` reports it: what ChatOps
/// authorizes by. No access reads as `none`; a login that cannot be one is
/// never sent.
#[tokio::test]
async fn the_role_of_a_login_is_githubs_role_name() {
    let fake = fake().await;
    let f = forge(&fake).await;
    fake.set_role(REPO, "maya", "maintain");
    fake.set_role(REPO, "rita", "read");
    fake.set_role(REPO, "cora", "release-captain");
    assert_eq!(f.permission("maya").await.unwrap(), "maintain");
    assert_eq!(f.permission("rita").await.unwrap(), "read");
    assert_eq!(f.permission("cora").await.unwrap(), "release-captain");
    assert_eq!(f.permission("stranger").await.unwrap(), "none");
    let mark = fake.requests().len();
    assert!(f.permission("../../admin").await.is_err());
    assert!(f.permission("..").await.is_err());
    assert!(f.permission("").await.is_err());
    assert_eq!(fake.requests().len(), mark, "nothing sent for a non-login");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r == &format!("GET /repos/{REPO}/collaborators/maya/permission")),
        "{:#?}",
        fake.requests()
    );
}

/// ChatOps on GitHub: ferry reacts on a person's command comment and
/// answers on the same issue, a plain issue as well as a pull request.
#[tokio::test]
async fn reactions_and_comments_on_issues_and_pull_requests() {
    use ferry::forge::Reaction;
    let fake = fake().await;
    let f = forge(&fake).await;
    let issue = fake.add_issue(REPO, "pins", "alice");
    let event = fake.post_comment(REPO, issue, "alice", "/ferry pin api production -- CVE");
    // The webhook payload is GitHub's, for this repository and comment.
    assert_eq!(event["action"], "created");
    assert_eq!(event["repository"]["full_name"], REPO);
    assert_eq!(event["repository"]["name"], "platform-gitops");
    assert_eq!(event["repository"]["owner"]["login"], "acme");
    assert_eq!(event["issue"]["number"], issue);
    assert!(event["issue"].get("pull_request").is_none());
    assert_eq!(event["comment"]["body"], "/ferry pin api production -- CVE");
    assert_eq!(event["comment"]["user"]["login"], "alice");
    assert_eq!(event["sender"]["login"], "alice");
    assert_eq!(event["sender"]["type"], "User");
    let id = event["comment"]["id"].as_u64().unwrap();
    assert_eq!(
        event["comment"]["html_url"],
        format!("https://github.com/{REPO}/issues/{issue}#issuecomment-{id}")
    );

    f.react(id, Reaction::Eyes).await.unwrap();
    f.comment(issue, "pinned api in production").await.unwrap();
    f.react(id, Reaction::PlusOne).await.unwrap();
    // Again the same way: GitHub answers 200 and keeps one reaction.
    f.react(id, Reaction::Eyes).await.unwrap();

    let comments = fake.comments(REPO, issue);
    assert_eq!(comments.len(), 2);
    let reactions: Vec<(&str, &str)> = comments[0]
        .reactions
        .iter()
        .map(|r| (r.user.as_str(), r.content.as_str()))
        .collect();
    assert_eq!(reactions, [("ferry-bot", "eyes"), ("ferry-bot", "+1")]);
    assert_eq!(comments[1].author, "ferry-bot");
    assert_eq!(comments[1].body, "pinned api in production");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r == &format!("POST /repos/{REPO}/issues/comments/{id}/reactions")),
        "{:#?}",
        fake.requests()
    );

    // On a pull request: the payload says so, and the same calls work.
    let pr = f.open(&spec("ferry/staging/api")).await.unwrap();
    assert!(pr.number > issue, "one numbering for issues and pulls");
    let event = fake.post_comment(REPO, pr.number, "carol", "/ferry status");
    assert_eq!(event["issue"]["number"], pr.number);
    assert!(event["issue"]["pull_request"]["url"].is_string());
    let id = event["comment"]["id"].as_u64().unwrap();
    f.react(id, Reaction::Confused).await.unwrap();
    assert_eq!(
        fake.comments(REPO, pr.number)[0].reactions[0].content,
        "confused"
    );

    // A comment that is not there: GitHub's 404, as an API error.
    match f.react(987_654, Reaction::Eyes).await {
        Err(ForgeError::Api { status: 404, .. }) => {}
        other => panic!("expected a 404, got {other:?}"),
    }
    // Refused for the rate limit: the same error as every other call.
    fake.set_rate_limit(0, 3600);
    assert!(matches!(
        f.react(id, Reaction::PlusOne).await,
        Err(ForgeError::RateLimited { .. })
    ));
}
