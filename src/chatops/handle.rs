//! Handling one comment: find its `/ferry` lines, react `eyes`, ask the
//! forge for the commenter's role once, run each command the role allows,
//! reply with one comment that quotes every command and says what came of
//! it, and react `+1` (all done) or `confused` (anything refused or
//! failed).

use time::OffsetDateTime;

use super::authz::{Decision, Policy, Role, decide};
use super::commands;
use super::event::CommentEvent;
use super::grammar::{Command, Invocation, ParseError, parse_comment};
use super::report;
use crate::config::{App, Config, Environment};
use crate::forge::{AnyForge, Forge, Reaction, valid_login};
use crate::gates::Gates;
use crate::gitops::{Author, Workspace};
use crate::promotion::Plan;
use crate::promotion::promote::PromotionIo;
use crate::registry::AnyRegistry;

/// At most this many commands of one comment are run; the rest are
/// answered as refused, so one comment cannot keep the runner busy.
pub const MAX_COMMANDS: usize = 10;

/// What a command handler works with: the same adapters a pass uses.
pub struct Io<'a> {
    /// The config.
    pub config: &'a Config,
    /// The checkout (the runner's; commands and passes take turns).
    pub workspace: &'a mut Workspace,
    /// The registry.
    pub registry: &'a AnyRegistry,
    /// The gates with their cache.
    pub gates: &'a Gates,
    /// Argo CD, the forge and soak clocks, as a pass sees them.
    pub promotion: PromotionIo<'a>,
    /// Author of ferry's commits.
    pub author: &'a Author,
    /// The plan of the last pass that succeeded, for `status`.
    pub last_plan: Option<&'a Plan>,
    /// The time commands are stamped with (pins).
    pub now: OffsetDateTime,
}

/// What came of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// Line of the comment it was on, from 1.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// Done, or nothing needed doing.
    pub ok: bool,
    /// The commit it pushed, if any.
    pub commit: Option<String>,
    /// The pull request it opened or updated, if any.
    pub pull_request: Option<String>,
    /// What the reply says about it (markdown).
    pub message: String,
}

/// The result of running one command.
pub(super) struct Done {
    pub ok: bool,
    pub commit: Option<String>,
    pub pull_request: Option<String>,
    pub message: String,
}

impl Done {
    pub(super) fn ok(message: String) -> Done {
        Done {
            ok: true,
            commit: None,
            pull_request: None,
            message,
        }
    }
    pub(super) fn failed(message: String) -> Done {
        Done {
            ok: false,
            commit: None,
            pull_request: None,
            message,
        }
    }
}

/// Who asked, where: what every handler records.
pub(super) struct Request<'a> {
    pub login: &'a str,
    pub comment_url: String,
}

/// The policy `chatops:` configures (default: write everywhere).
pub fn policy(config: &Config) -> Policy {
    let Some(c) = &config.chatops else {
        return Policy::default();
    };
    Policy {
        permission: Role::from_role_name(&c.permission),
        environments: c
            .environments
            .iter()
            .map(|(env, role)| (env.clone(), Role::from_role_name(role)))
            .collect(),
    }
}

/// Handles every command of `event`'s comment. A comment without
/// `/ferry` lines gets no reaction and no reply.
pub async fn handle_comment(io: &mut Io<'_>, event: &CommentEvent) -> Vec<CommandOutcome> {
    let invocations = parse_comment(&event.body);
    if invocations.is_empty() {
        return Vec::new();
    }
    let Some(forge) = io.promotion.forge else {
        tracing::warn!(
            number = event.number,
            "a /ferry command, but no forge is configured to ask for roles and reply"
        );
        return Vec::new();
    };
    // ferry's own comments, whatever the server thought its login was.
    if crate::forge::same_login(&event.login, forge.identity()) {
        return Vec::new();
    }
    // The login goes into commits and replies: only a real one.
    if !valid_login(&event.login) {
        tracing::warn!(number = event.number, "comment by an invalid login ignored");
        return Vec::new();
    }
    // ferry's final reaction says it handled this comment already: a
    // redelivery to another replica or after a restart does nothing. When
    // the reactions cannot be read, the comment is handled (its commands
    // are compare-and-swap edits; most are idempotent).
    match forge.reactions(event.comment_id).await {
        Ok(rs) => {
            let me = forge.identity();
            if rs.iter().any(|(login, content)| {
                crate::forge::same_login(login, me)
                    && (content == Reaction::PlusOne.as_str()
                        || content == Reaction::Confused.as_str())
            }) {
                tracing::info!(
                    comment = event.comment_id,
                    "comment handled before (ferry's reaction is on it); not again"
                );
                return Vec::new();
            }
        }
        Err(e) => tracing::warn!(comment = event.comment_id, error = %e, "cannot read reactions"),
    }
    react(forge, event.comment_id, Reaction::Eyes).await;
    // Asked once per comment, when its commands run; an error is no role.
    let role = match forge.permission(&event.login).await {
        Ok(name) => Some(Role::from_role_name(&name)),
        Err(e) => {
            tracing::warn!(login = %event.login, error = %e, "cannot read the commenter's role; refusing");
            None
        }
    };
    let policy = policy(io.config);
    let request = Request {
        login: &event.login,
        comment_url: safe_url(&event.comment_url),
    };
    let mut outcomes = Vec::new();
    for (i, inv) in invocations.iter().enumerate() {
        let done = if i >= MAX_COMMANDS {
            Done::failed(format!(
                "Not run: a comment may hold at most {MAX_COMMANDS} commands."
            ))
        } else {
            run_one(io, inv, role.as_ref(), &policy, &request).await
        };
        tracing::info!(
            login = %event.login,
            number = event.number,
            command = %inv.text,
            ok = done.ok,
            commit = done.commit.as_deref().unwrap_or(""),
            "command"
        );
        outcomes.push(CommandOutcome {
            line: inv.line,
            text: inv.text.clone(),
            ok: done.ok,
            commit: done.commit,
            pull_request: done.pull_request,
            message: done.message,
        });
    }
    let reply = report::reply(&event.login, &outcomes);
    let posted = match forge.comment(event.number, &reply).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(number = event.number, error = %e, "cannot post the reply");
            false
        }
    };
    // Without its reply the commenter cannot tell what happened.
    let all_ok = posted && outcomes.iter().all(|o| o.ok);
    react(
        forge,
        event.comment_id,
        if all_ok {
            Reaction::PlusOne
        } else {
            Reaction::Confused
        },
    )
    .await;
    outcomes
}

async fn react(forge: &AnyForge, comment: u64, reaction: Reaction) {
    if let Err(e) = forge.react(comment, reaction).await {
        tracing::warn!(comment, reaction = reaction.as_str(), error = %e, "cannot react");
    }
}

/// The comment URL as a trailer value: one line, no spaces, else dropped.
fn safe_url(url: &str) -> String {
    if !url.is_empty() && url.len() <= 2048 && url.chars().all(|c| c.is_ascii_graphic()) {
        url.to_string()
    } else {
        String::new()
    }
}

async fn run_one(
    io: &mut Io<'_>,
    inv: &Invocation,
    role: Option<&Role>,
    policy: &Policy,
    request: &Request<'_>,
) -> Done {
    let command = match &inv.result {
        Ok(c) => c,
        Err(e) => return Done::failed(parse_failure(e)),
    };
    let decision = decide(command, role, policy);
    if let Decision::Refused { .. } = decision {
        return Done::failed(format!("Sorry, @{}: {decision}.", request.login));
    }
    let config = io.config;
    let (app, env) = match check_names(config, command) {
        Ok(found) => found,
        Err(why) => {
            return Done::failed(format!(
                "{why}\n\nUsage:\n```\n{}\n```",
                command.verb().usage()
            ));
        }
    };
    match (command, app, env) {
        (Command::Help, _, _) => Done::ok(report::help(policy, role, config)),
        (Command::Status { .. }, app, _) => report::status(io, app).await,
        (Command::Pin { tag, reason, .. }, Some(app), Some(env)) => {
            commands::pin(io, request, app, env, tag.as_ref(), reason.as_deref()).await
        }
        (Command::Unpin { .. }, Some(app), Some(env)) => commands::unpin(io, request, app, env),
        (Command::Revert { to, .. }, Some(app), Some(env)) => {
            commands::revert(io, request, app, env, to.as_ref()).await
        }
        (Command::Promote { tag, .. }, Some(app), Some(env)) => {
            commands::promote(io, request, app, env, tag).await
        }
        // check_names found an app and an environment for every command
        // that names them.
        _ => Done::failed("This command names no app or environment.".into()),
    }
}

/// The message of a parse error, with its usage in a code block (so no
/// line of the reply starts with `/ferry`).
fn parse_failure(e: &ParseError) -> String {
    let text = e.to_string();
    let head = text
        .split("; commands:")
        .next()
        .and_then(|t| t.split("; usage:").next())
        .unwrap_or_default();
    format!("{head}.\n\nUsage:\n```\n{}\n```", e.usage())
}

/// The app and environment the command names, found in the config; the
/// app must have an overlay in the environment.
fn check_names<'c>(
    config: &'c Config,
    command: &Command,
) -> Result<(Option<&'c App>, Option<&'c Environment>), String> {
    let list = |names: Vec<&str>| {
        let n = names.len();
        let mut shown: Vec<String> = names.iter().take(20).map(|s| format!("`{s}`")).collect();
        if n > 20 {
            shown.push(format!("and {} more", n - 20));
        }
        shown.join(", ")
    };
    let app = match command.app() {
        Some(name) => match config.apps.iter().find(|a| a.name == name) {
            Some(a) => Some(a),
            None => {
                return Err(format!(
                    "Unknown app `{name}`; apps: {}.",
                    list(config.apps.iter().map(|a| a.name.as_str()).collect())
                ));
            }
        },
        None => None,
    };
    let mut found_env = None;
    if let Some(env) = command.environment() {
        found_env = config.environments.iter().find(|e| e.name == env);
        if found_env.is_none() {
            return Err(format!(
                "Unknown environment `{env}`; environments: {}.",
                list(
                    config
                        .environments
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect()
                )
            ));
        }
        if let Some(app) = app
            && !app.overlays.contains_key(env)
        {
            return Err(format!("`{}` has no overlay in `{env}`.", app.name));
        }
    }
    Ok((app, found_env))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::parse(
            "environments:\n  - {name: dev, mode: commit}\n  - {name: production, mode: commit}\n\
             apps:\n  - name: api\n    image: api\n    repository: platform/api\n    overlays: {dev: k/dev}\n\
             chatops: {permission: triage, environments: {production: maintain}}\n",
        )
        .unwrap()
    }

    fn cmd(line: &str) -> Command {
        super::super::grammar::parse_line(line).unwrap().unwrap()
    }

    #[test]
    fn names_are_checked_against_the_config() {
        let c = config();
        assert!(check_names(&c, &cmd("/ferry pin api dev")).is_ok());
        let e = check_names(&c, &cmd("/ferry pin web dev")).unwrap_err();
        assert!(e.contains("Unknown app `web`; apps: `api`"), "{e}");
        let e = check_names(&c, &cmd("/ferry unpin api qa")).unwrap_err();
        assert!(
            e.contains("Unknown environment `qa`; environments: `dev`, `production`"),
            "{e}"
        );
        let e = check_names(&c, &cmd("/ferry revert api production")).unwrap_err();
        assert_eq!(e, "`api` has no overlay in `production`.");
        assert!(check_names(&c, &cmd("/ferry status")).is_ok());
        assert!(check_names(&c, &cmd("/ferry status web")).is_err());
    }

    #[test]
    fn the_configured_policy_is_used() {
        let p = policy(&config());
        assert_eq!(p.permission, Role::Triage);
        assert_eq!(p.environments["production"], Role::Maintain);
        assert_eq!(policy(&Config::default()), Policy::default());
    }

    #[test]
    fn parse_failures_show_usage_in_a_code_block() {
        let inv = &parse_comment("/ferry pin api")[0];
        let e = inv.result.clone().unwrap_err();
        let m = parse_failure(&e);
        assert!(
            m.starts_with("pin: missing ENV.\n\nUsage:\n```\n/ferry pin APP ENV"),
            "{m}"
        );
        assert!(
            m.lines()
                .all(|l| !l.starts_with("/ferry") || m.contains("```\n/ferry")),
            "{m}"
        );
        let m = parse_failure(
            &parse_comment("/ferry frobnicate")[0]
                .result
                .clone()
                .unwrap_err(),
        );
        assert!(m.starts_with("unknown command \"frobnicate\".\n"), "{m}");
    }

    #[test]
    fn only_plain_urls_become_trailers() {
        assert_eq!(
            safe_url("https://github.com/o/r/issues/1#issuecomment-2"),
            "https://github.com/o/r/issues/1#issuecomment-2"
        );
        assert_eq!(safe_url("https://x\nFerry-Image: evil"), "");
        assert_eq!(safe_url("a b"), "");
    }
}
