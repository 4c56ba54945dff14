use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

/// Every corpus payload: (file name, the event its name carries, payload).
fn corpus() -> Vec<(String, String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/github-webhooks");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            let event = name
                .split_once("X-GitHub-Event=")
                .and_then(|(_, rest)| rest.split_once("_action="))
                .map(|(event, _)| event.to_string())
                .unwrap();
            let payload = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (name, event, payload)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn scope_of(payload: &Value) -> Scope {
    Scope {
        repository: payload["repository"]["full_name"]
            .as_str()
            .unwrap()
            .to_string(),
        base_branch: "main".into(),
        identity: "ferry".into(),
    }
}

#[test]
fn every_corpus_payload_is_classified() {
    let all = corpus();
    assert_eq!(all.len(), 14, "the corpus changed: review the cases");
    for (name, event, payload) in &all {
        let scope = scope_of(payload);
        let got = classify(event, payload, &scope);
        match event.as_str() {
            "issue_comment" => {
                let Intake::Comment(c) = &got else {
                    panic!("{name}: {got:?}")
                };
                assert_eq!(c.login, payload["comment"]["user"]["login"], "{name}");
                assert_eq!(c.number, payload["issue"]["number"], "{name}");
                assert_eq!(c.comment_id, payload["comment"]["id"], "{name}");
            }
            "pull_request" if name.contains("action=closed") => {
                assert_eq!(
                    got,
                    Intake::Pass {
                        reason: "pull request #2 closed unmerged".into()
                    },
                    "{name}"
                );
            }
            "pull_request" => {
                assert_eq!(
                    got,
                    Intake::Ignored("pull request action \"opened\"".into()),
                    "{name}"
                );
            }
            "pull_request_review" => assert_eq!(
                got,
                Intake::Ignored("event \"pull_request_review\" is not one ferry reads".into()),
                "{name}"
            ),
            other => panic!("{name}: no case for event {other}"),
        }
        // The same delivery for another repository asks nothing.
        let elsewhere = Scope {
            repository: "acme/platform-gitops".into(),
            ..scope
        };
        assert!(
            matches!(classify(event, payload, &elsewhere), Intake::Ignored(_)),
            "{name}"
        );
    }
}

#[test]
fn a_merged_pull_request_passes_too() {
    let (_, _, mut payload) = corpus()
        .into_iter()
        .find(|(n, _, _)| n.starts_with("14_"))
        .unwrap();
    payload["pull_request"]["merged"] = json!(true);
    assert_eq!(
        classify("pull_request", &payload, &scope_of(&payload)),
        Intake::Pass {
            reason: "pull request #2 merged".into()
        }
    );
}

#[test]
fn only_a_push_to_the_base_branch_of_the_repository_passes() {
    let scope = Scope {
        repository: "acme/platform-gitops".into(),
        base_branch: "main".into(),
        identity: "ferry".into(),
    };
    let push = |git_ref: &str, repo: &str| json!({"ref": git_ref, "before": "0", "after": "1", "repository": {"full_name": repo}});
    assert_eq!(
        classify(
            "push",
            &push("refs/heads/main", "Acme/Platform-GitOps"),
            &scope
        ),
        Intake::Pass {
            reason: "push to main".into()
        }
    );
    for payload in [
        push("refs/heads/feature", "acme/platform-gitops"),
        push("refs/heads/main2", "acme/platform-gitops"),
        push("refs/tags/main", "acme/platform-gitops"),
        push("main", "acme/platform-gitops"),
        push("refs/heads/main", "acme/other"),
        json!({"repository": {"full_name": "acme/platform-gitops"}}),
        json!({"ref": "refs/heads/main"}),
    ] {
        assert!(
            matches!(classify("push", &payload, &scope), Intake::Ignored(_)),
            "{payload}"
        );
    }
}

#[test]
fn ping_unknown_events_and_odd_json() {
    let scope = Scope {
        repository: "a/b".into(),
        base_branch: "main".into(),
        identity: "ferry".into(),
    };
    assert_eq!(
        classify("ping", &json!({"zen": "hi"}), &scope),
        Intake::Ping
    );
    for event in ["push", "pull_request", "issue_comment", "workflow_run", ""] {
        for payload in [
            Value::Null,
            json!([]),
            json!("x"),
            json!({"action": "closed"}),
        ] {
            assert!(
                matches!(classify(event, &payload, &scope), Intake::Ignored(_)),
                "{event} {payload}"
            );
        }
    }
}
