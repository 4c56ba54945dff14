use time::macros::datetime;

use super::*;
use crate::chatops::{CommandOutcome, CommentEvent};
use crate::notify::events::{Change, from_commands};
use crate::promotion::plan::ImageRef;

const ECR: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com/platform/api";

fn config() -> Config {
    crate::config::parse(
        "forge: {kind: github, repository: acme/gitops, token_env: T}
argocd: {url: 'https://argocd.acme.io'}
environments:
  - {name: dev, mode: commit, argocd_app: platform-dev}
  - {name: production, mode: pull_request, after: dev, argocd_app: '{app}-prod'}
apps:
  - {name: api, repository: platform/api, image: api}
",
    )
    .unwrap()
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn pin_event(text: &str) -> Event {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let comment = CommentEvent {
        repository: "acme/gitops".into(),
        number: 4,
        is_pull_request: false,
        comment_id: 9,
        comment_url: "https://github.com/acme/gitops/issues/4#issuecomment-9".into(),
        login: "dana".into(),
        body: text.into(),
    };
    let outcomes = [CommandOutcome {
        line: 1,
        text: text.into(),
        ok: true,
        commit: Some(sha.into()),
        pull_request: None,
        message: String::new(),
    }];
    let mut events = from_commands(
        &comment,
        &outcomes,
        &[],
        None,
        datetime!(2026-12-01 10:00 UTC),
    );
    events.remove(0)
}

#[test]
fn mrkdwn_control_characters_are_escaped() {
    assert_eq!(
        escape("a & <@channel> <!here|x> >"),
        "a &amp; &lt;@channel&gt; &lt;!here|x&gt; &gt;"
    );
}

#[test]
fn a_pin_reason_from_a_comment_cannot_ping_or_link() {
    let e = pin_event(
        "/ferry pin api production -- <@channel> <!here> see <https://evil.example|docs> & co",
    );
    let m = message(&config(), &e);
    let section = m["blocks"][1]["text"]["text"].as_str().unwrap();
    assert_eq!(m["blocks"][1]["text"]["type"], "mrkdwn");
    assert!(
        section.contains(
            "> &lt;@channel&gt; &lt;!here&gt; see &lt;https://evil.example|docs&gt; &amp; co"
        ),
        "{section}"
    );
    // The command as written, escaped too.
    assert!(
        section.contains("`/ferry pin api production -- &lt;@channel&gt;"),
        "{section}"
    );
    let all = m.to_string();
    for raw in ["<@channel>", "<!here>", "<https://evil.example|docs>"] {
        assert!(!all.contains(raw), "{raw} reached the message: {all}");
    }
    // ferry's own links stay links.
    assert!(
        section.contains(
            "commit <https://github.com/acme/gitops/commit/0123456789abcdef0123456789abcdef01234567|01234567>"
        ),
        "{section}"
    );
    assert!(
        section.contains("<https://github.com/acme/gitops/issues/4#issuecomment-9|comment>"),
        "{section}"
    );
    assert_eq!(m["blocks"][0]["type"], "header");
    assert_eq!(m["blocks"][0]["text"]["text"], "Pinned in production");
    assert_eq!(m["text"], "pinned production: api by dana");
    let context = m["blocks"][2]["elements"][0]["text"].as_str().unwrap();
    assert_eq!(context, "ferry · by dana · 2026-12-01T10:00:00Z");
}

#[test]
fn a_committed_message_links_commit_image_and_argocd() {
    let mut e = pin_event("/ferry unpin api dev");
    // Reuse the shape: a commit to dev moving api.
    e.kind = EventKind::Committed;
    e.who = None;
    e.command = None;
    e.comment_url = None;
    e.changes = vec![Change {
        app: "api".into(),
        from: Some(ImageRef {
            tag: Some("sha-1111111".into()),
            digest: Some(digest('1')),
        }),
        to: Some(ImageRef {
            tag: Some("sha-5d5d5d5".into()),
            digest: Some(digest('5')),
        }),
        image: Some(ECR.into()),
    }];
    let m = message(&config(), &e);
    assert_eq!(m["text"], "committed dev: api sha-1111111 → sha-5d5d5d5");
    assert_eq!(m["blocks"][0]["text"]["text"], "Committed to dev");
    let section = m["blocks"][1]["text"]["text"].as_str().unwrap();
    let first = section.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "*api*  `sha-1111111` → `sha-5d5d5d5`  `sha256:555555555555`  \
             <https://us-west-2.console.aws.amazon.com/ecr/repositories/private/123456789012/platform/api/_/image/{}/details?region=us-west-2|ECR image> · \
             <https://argocd.acme.io/applications/platform-dev|Argo CD platform-dev>",
            digest('5')
        )
    );
    assert!(section.ends_with("|01234567>"), "{section}");
}

#[test]
fn a_local_forge_has_no_commit_link_and_an_unsafe_url_is_no_link() {
    let config = crate::config::parse("forge: {kind: local, path: prs.json}\n").unwrap();
    let mut e = pin_event("/ferry unpin api dev");
    e.comment_url = Some("https://x.example/a|<!channel>".into());
    let m = message(&config, &e);
    let section = m["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.contains("commit `01234567`"), "{section}");
    assert!(section.ends_with(" · comment"), "{section}");
}
