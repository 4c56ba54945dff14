//! The Slack incoming-webhook message of an event (pure): a `text`
//! fallback for notifications and a Block Kit body: a header, a section
//! per app with its images and links, the reason quoted, and a context
//! line.
//!
//! Text that comes from the repository or a comment (a pin's reason, a
//! command, an error) is escaped for mrkdwn: `&`, `<` and `>` become
//! entities, so `<!channel>` or `<https://evil|docs>` in a reason shows as
//! text and never pings or links.

use serde_json::{Value, json};

use super::events::{Change, Event, EventKind, short_digest, shown};
use super::links;
use crate::config::Config;

/// Longest mrkdwn text of one section (Slack allows 3000 characters).
const MAX_SECTION_CHARS: usize = 2900;

/// `text` safe inside mrkdwn: Slack's three control characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A mrkdwn link, or the label alone when the URL could break out of the
/// link syntax.
fn link(url: &str, label: &str) -> String {
    let safe = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(['|', '<', '>', ' ', '\n']);
    if safe {
        format!("<{}|{}>", escape(url), escape(label))
    } else {
        escape(label)
    }
}

fn title(e: &Event) -> String {
    let env = e.env.as_deref().unwrap_or("");
    match e.kind {
        EventKind::Committed => format!("Committed to {env}"),
        EventKind::PrOpened => format!("Promotion pull request opened for {env}"),
        EventKind::PrUpdated => format!("Promotion pull request updated for {env}"),
        EventKind::Promoted => format!("Promoted to {env}"),
        EventKind::Held => format!("Image held by the gates in {env}"),
        EventKind::Pinned => format!("Pinned in {env}"),
        EventKind::Unpinned => format!("Unpinned in {env}"),
        EventKind::Reverted => format!("Reverted in {env}"),
        EventKind::PassFailing => "ferry passes are failing".to_string(),
        EventKind::PassRecovered => "ferry passes recovered".to_string(),
    }
}

/// `*api*  `sha-1111111` → `sha-5d5d5d5`  ECR · Argo CD`
fn change_line(config: &Config, e: &Event, c: &Change) -> String {
    let code = |r| format!("`{}`", escape(&shown(r)));
    let images = match (e.kind, &c.from, &c.to) {
        (_, None, None) => String::new(),
        (EventKind::Held, _, to) => code(to.as_ref()),
        (_, None, to) => code(to.as_ref()),
        (_, from, to) => format!("{} → {}", code(from.as_ref()), code(to.as_ref())),
    };
    let mut s = format!("*{}*", escape(&c.app));
    if !images.is_empty() {
        s.push_str("  ");
        s.push_str(&images);
    }
    if let Some(d) = c.to.as_ref().and_then(|t| t.digest.as_deref()) {
        s.push_str(&format!("  `{}`", escape(&short_digest(d))));
    }
    let mut extra = Vec::new();
    let digest = c.to.as_ref().and_then(|t| t.digest.as_deref());
    if let Some(url) = links::ecr(c.image.as_deref(), digest) {
        extra.push(link(&url, "ECR image"));
    }
    if let Some(env) = &e.env
        && let Some((name, url)) = links::argocd(config, env, &c.app)
    {
        extra.push(link(&url, &format!("Argo CD {name}")));
    }
    if !extra.is_empty() {
        s.push_str("  ");
        s.push_str(&extra.join(" · "));
    }
    s
}

/// `text` as a mrkdwn quote, escaped, each line quoted.
fn quote(text: &str) -> String {
    text.lines()
        .map(|l| format!("> {}", escape(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn bounded(text: String) -> String {
    if text.chars().count() <= MAX_SECTION_CHARS {
        return text;
    }
    let mut out: String = text.chars().take(MAX_SECTION_CHARS).collect();
    out.push('…');
    out
}

/// The message body Slack's incoming webhook takes for `e`.
pub fn message(config: &Config, e: &Event) -> Value {
    let mut body = Vec::new();
    for c in &e.changes {
        body.push(change_line(config, e, c));
    }
    if let Some(reason) = &e.reason {
        body.push(quote(reason));
    }
    if let Some(command) = &e.command {
        body.push(format!("`{}`", escape(command).replace('`', "'")));
    }
    let mut refs = Vec::new();
    if let Some(sha) = &e.commit {
        let short: String = sha.chars().take(8).collect();
        match links::commit_url(config, sha) {
            Some(url) => refs.push(format!("commit {}", link(&url, &short))),
            None => refs.push(format!("commit `{}`", escape(&short))),
        }
    }
    if let Some(pr) = &e.pull_request {
        let label = pr
            .number
            .map_or_else(|| "pull request".to_string(), |n| format!("#{n}"));
        refs.push(format!("pull request {}", link(&pr.url, &label)));
    }
    if let Some(url) = &e.comment_url {
        refs.push(link(url, "comment"));
    }
    if !refs.is_empty() {
        body.push(refs.join(" · "));
    }
    let mut context = vec!["ferry".to_string()];
    if let Some(who) = &e.who {
        context.push(format!("by {who}"));
    }
    if let Some(n) = e.failures {
        context.push(format!("{n} failed pass(es) in a row"));
    }
    if let Ok(at) = e.at.format(&time::format_description::well_known::Rfc3339) {
        context.push(at);
    }
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": title(e), "emoji": true},
    })];
    if !body.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": bounded(body.join("\n"))},
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": escape(&context.join(" · "))}],
    }));
    json!({
        "text": escape(&e.summary()),
        "blocks": blocks,
    })
}

#[cfg(test)]
#[path = "slack_tests.rs"]
mod tests;
