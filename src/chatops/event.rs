//! Which `issue_comment` deliveries are comments ferry should read: a new
//! comment, on the configured repository, written by a person other than
//! ferry. Edits and deletions are ignored (a command runs once, when it is
//! written), and so is anything a bot or an App wrote, so ferry never
//! answers itself or another bot. Pure: it reads a parsed payload and
//! never panics, whatever the JSON holds.

use std::fmt;

use serde_json::Value;

/// A new comment on an issue or pull request of the configured repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentEvent {
    /// `owner/name`, as the payload spells it.
    pub repository: String,
    /// The issue or pull request number.
    pub number: u64,
    /// The comment is on a pull request (`issue.pull_request` is set).
    pub is_pull_request: bool,
    /// The comment's id, for reactions and replies.
    pub comment_id: u64,
    /// The comment's web page (`comment.html_url`).
    pub comment_url: String,
    /// Who wrote it (`comment.user.login`).
    pub login: String,
    /// What it says, for [`parse_comment`](super::parse_comment).
    pub body: String,
}

/// Why a comment delivery is not a [`CommentEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// The action is not `created` (an edit or a deletion).
    Action(String),
    /// The comment is on another repository than the configured one.
    Repository(String),
    /// A bot or an App wrote it (the login says who).
    Bot(String),
    /// ferry wrote it itself.
    OwnComment(String),
    /// A field is missing or has the wrong type (the field's path).
    Malformed(&'static str),
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::Action(a) => write!(f, "comment action {a:?}: only new comments are read"),
            Ignored::Repository(r) => write!(f, "comment on {r:?}, not the configured repository"),
            Ignored::Bot(login) => write!(f, "comment by bot or app {login:?}"),
            Ignored::OwnComment(login) => write!(f, "comment by ferry itself ({login:?})"),
            Ignored::Malformed(field) => {
                write!(f, "malformed payload: `{field}` missing or wrong type")
            }
        }
    }
}

fn str_at<'v>(v: &'v Value, path: &[&str], field: &'static str) -> Result<&'v str, Ignored> {
    at(v, path)
        .and_then(Value::as_str)
        .ok_or(Ignored::Malformed(field))
}

fn u64_at(v: &Value, path: &[&str], field: &'static str) -> Result<u64, Ignored> {
    at(v, path)
        .and_then(Value::as_u64)
        .ok_or(Ignored::Malformed(field))
}

fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// The comment an `issue_comment` payload carries, if ferry should read
/// it: `repository` is the configured `owner/name` and `identity` ferry's
/// own login, both compared ASCII case-insensitively as GitHub does.
pub fn comment_from_payload(
    payload: &Value,
    repository: &str,
    identity: &str,
) -> Result<CommentEvent, Ignored> {
    let action = str_at(payload, &["action"], "action")?;
    if action != "created" {
        return Err(Ignored::Action(action.to_string()));
    }
    let full_name = str_at(
        payload,
        &["repository", "full_name"],
        "repository.full_name",
    )?;
    if !full_name.eq_ignore_ascii_case(repository) {
        return Err(Ignored::Repository(full_name.to_string()));
    }
    let comment = payload
        .get("comment")
        .filter(|c| c.is_object())
        .ok_or(Ignored::Malformed("comment"))?;
    let login = str_at(comment, &["user", "login"], "comment.user.login")?;
    let sender_type = str_at(payload, &["sender", "type"], "sender.type")?;
    let user_type = at(comment, &["user", "type"]).and_then(Value::as_str);
    let via_app = comment
        .get("performed_via_github_app")
        .is_some_and(|a| !a.is_null());
    if sender_type == "Bot" || user_type == Some("Bot") || login.ends_with("[bot]") || via_app {
        return Err(Ignored::Bot(login.to_string()));
    }
    if login.eq_ignore_ascii_case(identity) {
        return Err(Ignored::OwnComment(login.to_string()));
    }
    let issue = payload
        .get("issue")
        .filter(|i| i.is_object())
        .ok_or(Ignored::Malformed("issue"))?;
    Ok(CommentEvent {
        repository: full_name.to_string(),
        number: u64_at(issue, &["number"], "issue.number")?,
        is_pull_request: issue.get("pull_request").is_some_and(|p| !p.is_null()),
        comment_id: u64_at(comment, &["id"], "comment.id")?,
        comment_url: str_at(comment, &["html_url"], "comment.html_url")?.to_string(),
        login: login.to_string(),
        body: str_at(comment, &["body"], "comment.body")?.to_string(),
    })
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
