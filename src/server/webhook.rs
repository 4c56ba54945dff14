//! What a verified GitHub delivery asks of ferry. Pure: the event name
//! (`X-GitHub-Event`) and the parsed payload in, an [`Intake`] out.
//!
//! Events only say "look now" (a pass reads everything again), so only
//! those that can change what a pass sees are passed on: a push to the
//! base branch, a pull request closed (merged or not: a person's "no"
//! matters too), and new comments, which may hold `/ferry` commands.

use serde_json::Value;

use crate::chatops::{CommentEvent, comment_from_payload};

/// What ferry listens to: the GitOps repository, its base branch, and its
/// own login (never answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `owner/name` of the GitOps repository.
    pub repository: String,
    /// The branch ferry commits to and opens pull requests against.
    pub base_branch: String,
    /// ferry's own login on GitHub.
    pub identity: String,
}

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// GitHub's `ping` when a hook is created: nothing to do.
    Ping,
    /// Run a pass soon; `reason` says what happened, for logs.
    Pass {
        /// What happened, e.g. `push to main`.
        reason: String,
    },
    /// A new comment to read for commands.
    Comment(CommentEvent),
    /// Nothing to do, and why.
    Ignored(String),
}

fn on_repository(payload: &Value, scope: &Scope) -> Result<(), String> {
    let full_name = payload
        .get("repository")
        .and_then(|r| r.get("full_name"))
        .and_then(Value::as_str)
        .ok_or("malformed payload: `repository.full_name` missing or wrong type")?;
    if full_name.eq_ignore_ascii_case(&scope.repository) {
        Ok(())
    } else {
        Err(format!("{full_name:?} is not the configured repository"))
    }
}

/// Classifies one delivery of event `event` (the `X-GitHub-Event` header).
pub fn classify(event: &str, payload: &Value, scope: &Scope) -> Intake {
    let outcome = match event {
        "ping" => return Intake::Ping,
        "push" => push(payload, scope),
        "pull_request" => pull_request(payload, scope),
        "issue_comment" => {
            return match comment_from_payload(payload, &scope.repository, &scope.identity) {
                Ok(c) => Intake::Comment(c),
                Err(why) => Intake::Ignored(why.to_string()),
            };
        }
        other => Err(format!("event {other:?} is not one ferry reads")),
    };
    match outcome {
        Ok(reason) => Intake::Pass { reason },
        Err(why) => Intake::Ignored(why),
    }
}

fn push(payload: &Value, scope: &Scope) -> Result<String, String> {
    on_repository(payload, scope)?;
    let git_ref = payload
        .get("ref")
        .and_then(Value::as_str)
        .ok_or("malformed payload: `ref` missing or wrong type")?;
    if git_ref.strip_prefix("refs/heads/") == Some(scope.base_branch.as_str()) {
        Ok(format!("push to {}", scope.base_branch))
    } else {
        Err(format!("push to {git_ref:?}, not the base branch"))
    }
}

fn pull_request(payload: &Value, scope: &Scope) -> Result<String, String> {
    on_repository(payload, scope)?;
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .ok_or("malformed payload: `action` missing or wrong type")?;
    if action != "closed" {
        return Err(format!("pull request action {action:?}"));
    }
    let pr = payload.get("pull_request");
    let number = pr
        .and_then(|p| p.get("number"))
        .and_then(Value::as_u64)
        .ok_or("malformed payload: `pull_request.number` missing or wrong type")?;
    let merged = pr.and_then(|p| p.get("merged")).and_then(Value::as_bool);
    let how = if merged == Some(true) {
        "merged"
    } else {
        "closed unmerged"
    };
    Ok(format!("pull request #{number} {how}"))
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
