//! The text ferry writes back: the reply to a comment, `help` and
//! `status`. Every command is quoted with `>` and every usage line sits in
//! a code block, so no line of a reply can be read as a command.

use std::collections::HashMap;

use super::authz::{Policy, Role};
use super::grammar::{Command, Verb, parse_comment};
use super::handle::{CommandOutcome, Done, Io};
use crate::config::Config;
use crate::forge::{Forge, StateFilter};
use crate::promotion::observe::read_overlay;
use crate::promotion::promote::{BRANCH_PREFIX, head_for};

/// At most this many rows in a `status` table.
pub const MAX_STATUS_ROWS: usize = 60;

/// Longest reply ferry posts (GitHub refuses comments over 65,536
/// characters).
pub const MAX_REPLY_CHARS: usize = 60_000;

/// The reply comment for every command of one comment: at most
/// [`MAX_REPLY_CHARS`], and no line of it reads as a command, whatever
/// the messages hold (an error text from a remote, a tag).
pub fn reply(login: &str, outcomes: &[CommandOutcome]) -> String {
    let mut parts = Vec::new();
    for o in outcomes {
        let mark = if o.ok { "Done" } else { "Not done" };
        parts.push(format!(
            "> {}\n\n**{mark}.** {}",
            quote(&o.text),
            o.message.trim_end()
        ));
    }
    let mut text = format!("@{login}\n\n{}\n", parts.join("\n\n---\n\n"));
    if let Some((cut, _)) = text.char_indices().nth(MAX_REPLY_CHARS) {
        text.truncate(cut);
        text.push_str("\n\n(The reply is cut here: it was too long.)\n");
    }
    defuse(&text)
}

/// `text` with every line that would parse as a `/ferry` command indented
/// into a code block (four spaces), which the grammar never reads.
fn defuse(text: &str) -> String {
    let mut text = text.to_string();
    // Indenting a line can only end a command, never start one; a few
    // rounds settle any interplay with fences.
    for _ in 0..4 {
        let lines: std::collections::BTreeSet<usize> =
            parse_comment(&text).iter().map(|i| i.line).collect();
        if lines.is_empty() {
            break;
        }
        text = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| {
                if lines.contains(&(i + 1)) {
                    format!("    {}", l.trim_start())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    text
}

/// One line, safe inside a `>` quote.
fn quote(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `help`: every command with the role it needs here, and the caller's.
pub fn help(policy: &Policy, role: Option<&Role>, config: &Config) -> String {
    let yours = role.map_or("unknown".to_string(), ToString::to_string);
    let mut s = format!("Your role here: **{yours}**.\n\n```\n");
    for verb in Verb::ALL {
        s.push_str(verb.usage());
        s.push('\n');
    }
    s.push_str("```\n\n| command | needs |\n|---|---|\n");
    s.push_str("| status, help | read |\n");
    let mut per_env: Vec<String> = Vec::new();
    for env in &config.environments {
        let needed = policy.needed(&Command::Unpin {
            app: String::new(),
            env: env.name.clone(),
        });
        let may = role.is_some_and(|r| r.satisfies(needed));
        per_env.push(format!(
            "| pin, unpin, revert, promote in {} | {needed}{} |",
            env.name,
            if may { " (you may)" } else { "" }
        ));
    }
    s.push_str(&per_env.join("\n"));
    s.push('\n');
    s
}

/// `status [APP]`: per app and environment the tag, short digest, pin,
/// open pull request and what the last plan says next.
pub(super) async fn status(io: &mut Io<'_>, only: Option<&crate::config::App>) -> Done {
    if let Err(e) = io.workspace.sync() {
        return Done::failed(format!("Cannot read the GitOps repository: {e}."));
    }
    let config = io.config;
    let mut prs: HashMap<String, (u64, String)> = HashMap::new();
    if let Some(forge) = io.promotion.forge {
        match forge.list(StateFilter::Open, BRANCH_PREFIX).await {
            Ok(list) => {
                for pr in list.into_iter().filter(|p| p.opened_by(forge.identity())) {
                    prs.insert(pr.head.clone(), (pr.number, pr.url));
                }
            }
            Err(e) => tracing::warn!(error = %e, "status: cannot list pull requests"),
        }
    }
    let mut rows = Vec::new();
    let mut total = 0;
    for app in config
        .apps
        .iter()
        .filter(|a| only.is_none_or(|o| o.name == a.name))
    {
        for env in &config.environments {
            let Some(dir) = app.overlays.get(&env.name) else {
                continue;
            };
            total += 1;
            if rows.len() >= MAX_STATUS_ROWS {
                continue;
            }
            let (tag, digest, pin) = match read_overlay(io.workspace.root(), dir, &app.image) {
                Ok((r, p)) => (
                    r.as_ref().and_then(|r| r.tag.clone()),
                    r.and_then(|r| r.digest),
                    p,
                ),
                Err(e) => (Some(format!("unreadable: {e}")), None, None),
            };
            let pin = pin.map_or("-".to_string(), |p| {
                let mut s = format!("by {}", p.by.as_deref().unwrap_or("?"));
                if let Some(r) = &p.reason {
                    s.push_str(&format!(": {r}"));
                }
                s
            });
            let pr = prs
                .get(&head_for(env, &app.name))
                .map_or("-".to_string(), |(n, url)| format!("[#{n}]({url})"));
            let next = io
                .last_plan
                .and_then(|p| {
                    p.entries
                        .iter()
                        .find(|e| e.app == app.name && e.env == env.name)
                })
                .map_or("(no pass yet)".to_string(), |e| match (&e.reason, &e.to) {
                    (Some(why), _) => format!("`{}` {}", why.code, why.message),
                    (None, Some(to)) => format!(
                        "moves to {}",
                        to.tag.as_deref().or(to.digest.as_deref()).unwrap_or("?")
                    ),
                    (None, None) => "-".into(),
                });
            rows.push(format!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&app.name),
                cell(&env.name),
                cell(tag.as_deref().unwrap_or("-")),
                digest.as_deref().map_or("-".to_string(), |d| format!(
                    "`{}`",
                    d.get(..19).unwrap_or(d)
                )),
                cell(&pin),
                pr,
                cell(&next),
            ));
        }
    }
    let mut s = String::from(
        "| app | env | tag | digest | pin | PR | next |\n|---|---|---|---|---|---|---|\n",
    );
    s.push_str(&rows.join("\n"));
    s.push('\n');
    if total > rows.len() {
        s.push_str(&format!(
            "\n{} more rows left out; ask `status APP` for one app.\n",
            total - rows.len()
        ));
    }
    Done::ok(s)
}

/// Text safe in a table cell: one line, no pipe.
fn cell(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() || c == '|' { ' ' } else { c })
        .collect();
    match one.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", one.get(..i).unwrap_or(&one)),
        None => one,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(text: &str, ok: bool, message: &str) -> CommandOutcome {
        CommandOutcome {
            line: 1,
            text: text.into(),
            ok,
            commit: None,
            pull_request: None,
            message: message.into(),
        }
    }

    #[test]
    fn a_reply_quotes_each_command_and_never_holds_one() {
        let r = reply(
            "alice",
            &[
                outcome("/ferry pin api dev", true, "Pinned."),
                outcome("/ferry nope", false, "unknown.\n\n```\n/ferry help\n```"),
            ],
        );
        assert!(
            r.starts_with("@alice\n\n> /ferry pin api dev\n\n**Done.** Pinned."),
            "{r}"
        );
        assert!(r.contains("> /ferry nope\n\n**Not done.** unknown."), "{r}");
        // What ferry writes parses to no command.
        assert!(super::super::grammar::parse_comment(&r).is_empty(), "{r}");
    }

    #[test]
    fn help_lists_usage_in_a_code_block_with_the_roles() {
        let config = crate::config::parse(
            "environments:\n  - {name: dev, mode: commit}\n  - {name: production, mode: commit}\n",
        )
        .unwrap();
        let mut policy = Policy::default();
        policy
            .environments
            .insert("production".into(), Role::Maintain);
        let h = help(&policy, Some(&Role::Write), &config);
        assert!(h.starts_with("Your role here: **write**."), "{h}");
        assert!(
            h.contains("| pin, unpin, revert, promote in dev | write (you may) |"),
            "{h}"
        );
        assert!(
            h.contains("| pin, unpin, revert, promote in production | maintain |"),
            "{h}"
        );
        assert!(super::super::grammar::parse_comment(&h).is_empty(), "{h}");
        assert!(help(&policy, None, &config).contains("**unknown**"));
    }

    #[test]
    fn text_from_elsewhere_never_becomes_a_command() {
        // An error text from a remote holding a command line, and a
        // fence that a message left open.
        let r = reply(
            "alice",
            &[
                outcome(
                    "/ferry status",
                    false,
                    "Argo CD says:\n/ferry unpin api production\nbye",
                ),
                outcome("/ferry help", true, "```\n/ferry pin"),
                outcome("/ferry status", false, "\n/ferry revert api production"),
            ],
        );
        assert!(super::super::grammar::parse_comment(&r).is_empty(), "{r}");
        assert!(r.contains("    /ferry unpin api production"), "{r}");
        let long = "x".repeat(MAX_REPLY_CHARS * 2);
        let r = reply("alice", &[outcome("/ferry status", true, &long)]);
        assert!(r.chars().count() < MAX_REPLY_CHARS + 100, "{}", r.len());
        assert!(r.ends_with("(The reply is cut here: it was too long.)\n"));
    }

    #[test]
    fn cells_are_one_line_without_pipes() {
        assert_eq!(cell("a|b\nc"), "a b c");
        assert_eq!(cell(&"é".repeat(300)).chars().count(), 201);
    }
}
