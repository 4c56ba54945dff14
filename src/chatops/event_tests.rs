use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

fn corpus(prefix: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/github-webhooks");
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no corpus payload {prefix}* in {}", dir.display()));
    serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap()
}

const TOTALLY_RIGHT: &str = "You are totally right! I'll get this fixed right away.";

#[test]
fn every_corpus_comment_is_read() {
    // (file prefix, repository, number, on a PR, comment id, login, body)
    let cases: [(&str, &str, u64, bool, u64, &str, &str); 6] = [
        (
            "01_",
            "Codertocat/Hello-World",
            1,
            false,
            492700400,
            "Codertocat",
            TOTALLY_RIGHT,
        ),
        (
            "02_",
            "Codertocat/Hello-World",
            1,
            false,
            492700400,
            "Codertocat",
            TOTALLY_RIGHT,
        ),
        (
            "03_",
            "runatlantis/atlantis-tests",
            1,
            true,
            396926483,
            "runatlantis",
            "###comment body###",
        ),
        (
            "04_",
            "chhsia0/knative-route-demo",
            3,
            true,
            546616131,
            "chhsia0",
            "/build",
        ),
        (
            "05_",
            "abc/def-ci-webhook-test",
            2,
            true,
            751955664,
            "lts-def",
            "trigger abc",
        ),
        (
            "06_",
            "baxterthehacker/public-repo",
            2,
            false,
            99262140,
            "baxterthehacker",
            TOTALLY_RIGHT,
        ),
    ];
    for (file, repo, number, is_pr, id, login, body) in cases {
        let payload = corpus(file);
        let got = comment_from_payload(&payload, repo, "ferry").unwrap();
        let kind = if is_pr { "pull" } else { "issues" };
        assert_eq!(
            got,
            CommentEvent {
                repository: repo.to_string(),
                number,
                is_pull_request: is_pr,
                comment_id: id,
                comment_url: format!("https://github.com/{repo}/{kind}/{number}#issuecomment-{id}"),
                login: login.to_string(),
                body: body.to_string(),
            },
            "{file}"
        );
        // The configured name matches whatever its case.
        let upper = repo.to_ascii_uppercase();
        assert_eq!(
            comment_from_payload(&payload, &upper, "ferry"),
            Ok(got),
            "{file}"
        );
    }
}

/// A copy of `payload` with the value at `path` replaced (or removed when
/// `value` is `None`).
fn edited(payload: &Value, path: &[&str], value: Option<Value>) -> Value {
    let mut copy = payload.clone();
    let (last, parents) = path.split_last().unwrap();
    let mut at = &mut copy;
    for k in parents {
        at = at.get_mut(*k).unwrap();
    }
    let map = at.as_object_mut().unwrap();
    match value {
        Some(v) => map.insert(last.to_string(), v),
        None => map.remove(*last),
    };
    copy
}

#[test]
fn edits_deletions_other_repositories_bots_and_ferry_are_ignored() {
    let base = corpus("01_");
    let repo = "Codertocat/Hello-World";
    let app = json!({"id": 1, "slug": "some-app", "name": "Some App"});
    let cases: Vec<(Value, Ignored)> = vec![
        (
            edited(&base, &["action"], Some(json!("edited"))),
            Ignored::Action("edited".into()),
        ),
        (
            edited(&base, &["action"], Some(json!("deleted"))),
            Ignored::Action("deleted".into()),
        ),
        (
            edited(
                &base,
                &["repository", "full_name"],
                Some(json!("Codertocat/Other")),
            ),
            Ignored::Repository("Codertocat/Other".into()),
        ),
        (
            edited(&base, &["sender", "type"], Some(json!("Bot"))),
            Ignored::Bot("Codertocat".into()),
        ),
        (
            edited(&base, &["comment", "user", "type"], Some(json!("Bot"))),
            Ignored::Bot("Codertocat".into()),
        ),
        (
            edited(
                &base,
                &["comment", "user", "login"],
                Some(json!("renovate[bot]")),
            ),
            Ignored::Bot("renovate[bot]".into()),
        ),
        (
            edited(&base, &["comment", "performed_via_github_app"], Some(app)),
            Ignored::Bot("Codertocat".into()),
        ),
        (
            edited(&base, &["comment", "user", "login"], Some(json!("FERRY"))),
            Ignored::OwnComment("FERRY".into()),
        ),
    ];
    for (payload, want) in cases {
        let got = comment_from_payload(&payload, repo, "ferry");
        assert_eq!(got, Err(want.clone()));
        assert!(!want.to_string().is_empty());
    }
    // Absent and null `performed_via_github_app` both mean a person.
    let absent = edited(&base, &["comment", "performed_via_github_app"], None);
    assert!(comment_from_payload(&absent, repo, "ferry").is_ok());
    assert_eq!(
        Ignored::Action("edited".into()).to_string(),
        "comment action \"edited\": only new comments are read"
    );
}

#[test]
fn missing_or_mistyped_fields_are_malformed() {
    let base = corpus("03_");
    let repo = "runatlantis/atlantis-tests";
    let cases: [(&[&str], Option<Value>, &str); 12] = [
        (&["action"], None, "action"),
        (&["action"], Some(json!(1)), "action"),
        (&["repository"], Some(json!("x")), "repository.full_name"),
        (&["comment"], None, "comment"),
        (&["comment"], Some(json!([])), "comment"),
        (
            &["comment", "user"],
            Some(Value::Null),
            "comment.user.login",
        ),
        (&["sender"], None, "sender.type"),
        (&["issue"], None, "issue"),
        (&["issue", "number"], Some(json!(-1)), "issue.number"),
        (&["issue", "number"], Some(json!("1")), "issue.number"),
        (&["comment", "id"], Some(json!(1.5)), "comment.id"),
        (&["comment", "body"], Some(Value::Null), "comment.body"),
    ];
    for (path, value, field) in cases {
        let payload = edited(&base, path, value);
        assert_eq!(
            comment_from_payload(&payload, repo, "ferry"),
            Err(Ignored::Malformed(field)),
            "{path:?}"
        );
    }
    let e = Ignored::Malformed("comment.body").to_string();
    assert!(e.contains("comment.body"), "{e}");
}

#[test]
fn any_json_is_answered_without_panicking() {
    let shapes = [
        Value::Null,
        json!(true),
        json!(7),
        json!("created"),
        json!([{"action": "created"}]),
        json!({}),
        json!({"action": "created"}),
        json!({"action": "created", "repository": {"full_name": "a/b"}}),
        json!({"action": "created", "repository": {"full_name": "a/b"}, "comment": {"user": {"login": 3}}}),
        json!({"action": null, "repository": null, "comment": null, "issue": null, "sender": null}),
    ];
    for v in shapes {
        assert!(
            matches!(
                comment_from_payload(&v, "a/b", "ferry"),
                Err(Ignored::Malformed(_))
            ),
            "{v}"
        );
    }
}
