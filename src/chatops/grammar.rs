//! The grammar of `/ferry` commands in a GitHub comment.
//!
//! ```text
//! /ferry pin APP ENV [TAG] [-- REASON]
//! /ferry unpin APP ENV
//! /ferry revert APP ENV [to TAG]
//! /ferry promote APP TAG to ENV
//! /ferry status [APP]
//! /ferry help
//! ```
//!
//! Which lines are commands:
//!
//! - A command is one line whose text starts with the word `/ferry`,
//!   followed by whitespace or the end of the line: `/ferryman` and
//!   `/ferry-x` are not commands. `/ferry` is matched exactly (lowercase).
//! - At most three leading spaces are allowed, as in CommonMark: a line
//!   indented by four spaces or a tab can be an indented code block, so it
//!   is never a command.
//! - Lines inside fenced code blocks (three or more backticks or tildes; a
//!   fence left open runs to the end of the comment) are not commands.
//! - Lines of a `>` quote are not commands, nor are the lines that continue
//!   a quoted paragraph lazily (a non-blank line right after a quote line,
//!   up to the next blank line), since GitHub renders them inside the
//!   quote. ferry's own replies quote the command they answer, so they can
//!   never trigger anything.
//! - Everything else in the comment is ignored.
//!
//! Every command of a comment is returned, in the order written, each with
//! its own outcome: a comment may hold several commands, and a malformed
//! one does not hide the others. Whether to run all of them is the caller's
//! decision.
//!
//! Within a command line: CRLF and LF line ends are both accepted; words
//! are separated by any run of Unicode whitespace (spaces, tabs, no-break
//! spaces). The command ends at the end of its line. Words beyond what the
//! verb takes are an error ([`ParseError::ExtraArgument`]) rather than
//! silently dropped, so `/ferry unpin api production now` does nothing
//! instead of something unexpected; the one free-text part is the `pin`
//! reason after a standalone `--`, which runs to the end of the line
//! (trimmed, inner spacing kept). Verbs and the keyword `to` are lowercase.
//!
//! Names are checked for syntax only: an APP or ENV is a letter or digit
//! followed by letters, digits, `-`, `_` or `.` (at most 100 characters);
//! a TAG must be a valid [`Tag`]. Whether they exist in the config is
//! checked later. Input is handled as characters, never sliced at byte
//! offsets, and text echoed back in an error is cut to
//! [`MAX_ECHO_CHARS`] characters.

use std::fmt;

use crate::image::{RefError, Tag};

/// Longest piece of user text an error message repeats back.
pub const MAX_ECHO_CHARS: usize = 64;

/// Longest APP or ENV name the grammar accepts.
const MAX_NAME_CHARS: usize = 100;

/// The word that starts a command.
const PREFIX: &str = "/ferry";

/// Usage of every verb, in the order `help` lists them.
pub const USAGE: &str = "/ferry pin APP ENV [TAG] [-- REASON]\n\
/ferry unpin APP ENV\n\
/ferry revert APP ENV [to TAG]\n\
/ferry promote APP TAG to ENV\n\
/ferry status [APP]\n\
/ferry help";

/// The verb of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `pin`: hold an app in an environment at its image (or at TAG).
    Pin,
    /// `unpin`: let automation move the app again.
    Unpin,
    /// `revert`: go back to the previous image (or to TAG) and pin it.
    Revert,
    /// `promote`: propose TAG for an environment now.
    Promote,
    /// `status`: report where each environment stands.
    Status,
    /// `help`: list the commands.
    Help,
}

impl Verb {
    /// Every verb, in the order `help` lists them.
    pub const ALL: [Verb; 6] = [
        Verb::Pin,
        Verb::Unpin,
        Verb::Revert,
        Verb::Promote,
        Verb::Status,
        Verb::Help,
    ];

    /// The verb as typed after `/ferry`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Pin => "pin",
            Verb::Unpin => "unpin",
            Verb::Revert => "revert",
            Verb::Promote => "promote",
            Verb::Status => "status",
            Verb::Help => "help",
        }
    }

    /// The usage line of the verb.
    pub fn usage(self) -> &'static str {
        match self {
            Verb::Pin => "/ferry pin APP ENV [TAG] [-- REASON]",
            Verb::Unpin => "/ferry unpin APP ENV",
            Verb::Revert => "/ferry revert APP ENV [to TAG]",
            Verb::Promote => "/ferry promote APP TAG to ENV",
            Verb::Status => "/ferry status [APP]",
            Verb::Help => "/ferry help",
        }
    }

    fn from_word(word: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == word)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command, syntactically valid; names are not yet checked against the
/// config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/ferry pin APP ENV [TAG] [-- REASON]`.
    Pin {
        /// The app.
        app: String,
        /// The environment.
        env: String,
        /// The tag to set before pinning; `None` pins the current image.
        tag: Option<Tag>,
        /// Why, as typed after `--` (trimmed, never empty).
        reason: Option<String>,
    },
    /// `/ferry unpin APP ENV`.
    Unpin {
        /// The app.
        app: String,
        /// The environment.
        env: String,
    },
    /// `/ferry revert APP ENV [to TAG]`.
    Revert {
        /// The app.
        app: String,
        /// The environment.
        env: String,
        /// The tag to go back to; `None` means the image before the current one.
        to: Option<Tag>,
    },
    /// `/ferry promote APP TAG to ENV`.
    Promote {
        /// The app.
        app: String,
        /// The tag to propose.
        tag: Tag,
        /// The environment.
        env: String,
    },
    /// `/ferry status [APP]`.
    Status {
        /// Only this app; `None` for every app.
        app: Option<String>,
    },
    /// `/ferry help`.
    Help,
}

impl Command {
    /// The verb of the command.
    pub fn verb(&self) -> Verb {
        match self {
            Command::Pin { .. } => Verb::Pin,
            Command::Unpin { .. } => Verb::Unpin,
            Command::Revert { .. } => Verb::Revert,
            Command::Promote { .. } => Verb::Promote,
            Command::Status { .. } => Verb::Status,
            Command::Help => Verb::Help,
        }
    }

    /// The environment the command changes, if it changes one.
    pub fn environment(&self) -> Option<&str> {
        match self {
            Command::Pin { env, .. }
            | Command::Unpin { env, .. }
            | Command::Revert { env, .. }
            | Command::Promote { env, .. } => Some(env),
            Command::Status { .. } | Command::Help => None,
        }
    }

    /// The app the command names, if any.
    pub fn app(&self) -> Option<&str> {
        match self {
            Command::Pin { app, .. }
            | Command::Unpin { app, .. }
            | Command::Revert { app, .. }
            | Command::Promote { app, .. } => Some(app),
            Command::Status { app } => app.as_deref(),
            Command::Help => None,
        }
    }
}

/// What is wrong with a `/ferry` line. Every error can show the usage
/// ([`ParseError::usage`]) and its message ends with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `/ferry` with nothing after it.
    #[error("no command after /ferry; commands:\n{USAGE}")]
    MissingVerb,
    /// A word after `/ferry` that is not a verb.
    #[error("unknown command {verb:?}; commands:\n{USAGE}")]
    UnknownVerb {
        /// The word as typed (cut to [`MAX_ECHO_CHARS`]).
        verb: String,
    },
    /// The line ended before a required argument.
    #[error("{verb}: missing {what}; usage: {}", verb.usage())]
    MissingArgument {
        /// The verb.
        verb: Verb,
        /// Which argument (`APP`, `ENV`, `TAG`, `REASON`).
        what: &'static str,
    },
    /// A word after the last argument the verb takes.
    #[error("{verb}: unexpected {arg:?}; usage: {}", verb.usage())]
    ExtraArgument {
        /// The verb.
        verb: Verb,
        /// The first extra word (cut to [`MAX_ECHO_CHARS`]).
        arg: String,
    },
    /// A word where the keyword `to` belongs.
    #[error("{verb}: expected \"to\", found {found:?}; usage: {}", verb.usage())]
    ExpectedTo {
        /// The verb.
        verb: Verb,
        /// The word found instead (cut to [`MAX_ECHO_CHARS`]).
        found: String,
    },
    /// A TAG that is not a valid image tag.
    #[error("{verb}: {source}; usage: {}", verb.usage())]
    InvalidTag {
        /// The verb.
        verb: Verb,
        /// Why the tag is invalid.
        source: RefError,
    },
    /// An APP or ENV with characters a name cannot have.
    #[error("{verb}: invalid {what} {name:?}: {why}; usage: {}", verb.usage())]
    InvalidName {
        /// The verb.
        verb: Verb,
        /// `APP` or `ENV`.
        what: &'static str,
        /// The name as typed (cut to [`MAX_ECHO_CHARS`]).
        name: String,
        /// What rule it broke.
        why: String,
    },
}

impl ParseError {
    /// The verb the error is about, when the verb was recognised.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            ParseError::MissingVerb | ParseError::UnknownVerb { .. } => None,
            ParseError::MissingArgument { verb, .. }
            | ParseError::ExtraArgument { verb, .. }
            | ParseError::ExpectedTo { verb, .. }
            | ParseError::InvalidTag { verb, .. }
            | ParseError::InvalidName { verb, .. } => Some(*verb),
        }
    }

    /// The usage to show with the error: the verb's usage line, or every
    /// verb's ([`USAGE`]) when the verb is missing or unknown.
    pub fn usage(&self) -> &'static str {
        self.verb().map_or(USAGE, Verb::usage)
    }
}

/// One `/ferry` line of a comment and what it parsed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The line number in the comment, from 1.
    pub line: usize,
    /// The line as written, without its indentation and line end.
    pub text: String,
    /// The command, or what is wrong with it.
    pub result: Result<Command, ParseError>,
}

/// Every `/ferry` command of a comment body, in order (see the module
/// documentation for which lines count).
pub fn parse_comment(body: &str) -> Vec<Invocation> {
    let mut out = Vec::new();
    // The fence that is open: its character and length.
    let mut fence: Option<(char, usize)> = None;
    // The previous line belongs to a quoted paragraph, which a following
    // non-blank line continues lazily.
    let mut in_quote = false;
    // Inside an HTML comment, which GitHub does not show: a command there
    // would run unseen.
    let mut in_html_comment = false;
    for (i, raw) in body.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if in_html_comment {
            in_html_comment = !line.contains("-->");
            continue;
        }
        if fence.is_none() && line.trim_start().starts_with("<!--") {
            in_html_comment = !line.contains("-->");
            continue;
        }
        if line.trim().is_empty() {
            in_quote = false;
            continue;
        }
        let Some(text) = unindent(line) else {
            // Indented four or more: code, or the continuation of a
            // paragraph; never a command, never a fence.
            continue;
        };
        if let Some((ch, len)) = fence {
            if closes_fence(text, ch, len) {
                fence = None;
            }
            continue;
        }
        if let Some(rest) = text.strip_prefix('>') {
            in_quote = !rest.trim().is_empty();
            continue;
        }
        if let Some(open) = opens_fence(text) {
            fence = Some(open);
            in_quote = false;
            continue;
        }
        if in_quote {
            continue;
        }
        if let Some(args) = command_args(text) {
            out.push(Invocation {
                line: i + 1,
                text: text.trim_end().to_string(),
                result: parse_args(args),
            });
        }
    }
    out
}

/// Parses one line; `None` when it is not a `/ferry` command. Does not
/// look at fences or quotes.
pub fn parse_line(line: &str) -> Option<Result<Command, ParseError>> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    unindent(line).and_then(command_args).map(parse_args)
}

/// `line` without up to three leading spaces; `None` when it is indented
/// further (four spaces, or a tab within the indentation).
fn unindent(line: &str) -> Option<&str> {
    let mut rest = line;
    for _ in 0..3 {
        match rest.strip_prefix(' ') {
            Some(r) => rest = r,
            None => break,
        }
    }
    if rest.starts_with([' ', '\t']) {
        None
    } else {
        Some(rest)
    }
}

/// The fence `text` opens, if it does: three or more backticks or tildes
/// (a backtick fence's info string may not hold a backtick).
fn opens_fence(text: &str) -> Option<(char, usize)> {
    let ch = text.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let len = text.chars().take_while(|&c| c == ch).count();
    if len < 3 {
        return None;
    }
    let info = text.trim_start_matches(ch);
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some((ch, len))
}

/// Whether `text` closes a fence of `len` × `ch`: at least as many of the
/// same character, then only whitespace.
fn closes_fence(text: &str, ch: char, len: usize) -> bool {
    let run = text.chars().take_while(|&c| c == ch).count();
    run >= len && text.trim_start_matches(ch).trim().is_empty()
}

/// What follows `/ferry` on a command line, or `None` when the line is not
/// a command (`/ferryman`, `/ferry-x`, text before `/ferry`).
fn command_args(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(PREFIX)?;
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c.is_whitespace() => Some(rest),
        Some(_) => None,
    }
}

/// The next whitespace-separated word of `rest` and what follows it.
fn next_word(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start();
    if rest.is_empty() {
        return None;
    }
    Some(rest.split_once(char::is_whitespace).unwrap_or((rest, "")))
}

/// At most [`MAX_ECHO_CHARS`] characters of `s`, to repeat back.
fn echo(s: &str) -> String {
    let mut chars = s.chars();
    let mut out: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// The words of one command, consumed left to right.
struct Words<'a> {
    verb: Verb,
    rest: &'a str,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let (word, rest) = next_word(self.rest)?;
        self.rest = rest;
        Some(word)
    }

    fn peek(&self) -> Option<&'a str> {
        next_word(self.rest).map(|(w, _)| w)
    }

    fn required(&mut self, what: &'static str) -> Result<&'a str, ParseError> {
        self.next().ok_or(ParseError::MissingArgument {
            verb: self.verb,
            what,
        })
    }

    fn name(&mut self, what: &'static str) -> Result<String, ParseError> {
        let word = self.required(what)?;
        self.check_name(what, word)
    }

    fn check_name(&self, what: &'static str, word: &str) -> Result<String, ParseError> {
        let why = name_problem(word);
        match why {
            None => Ok(word.to_string()),
            Some(why) => Err(ParseError::InvalidName {
                verb: self.verb,
                what,
                name: echo(word),
                why,
            }),
        }
    }

    fn tag(&mut self) -> Result<Tag, ParseError> {
        let word = self.required("TAG")?;
        self.check_tag(word)
    }

    fn check_tag(&self, word: &str) -> Result<Tag, ParseError> {
        Tag::parse(word).map_err(|e| ParseError::InvalidTag {
            verb: self.verb,
            source: match e {
                RefError::Tag { tag, why } => RefError::Tag {
                    tag: echo(&tag),
                    why,
                },
                other => other,
            },
        })
    }

    fn keyword_to(&mut self) -> Result<(), ParseError> {
        match self.next() {
            Some("to") => Ok(()),
            Some(found) => Err(ParseError::ExpectedTo {
                verb: self.verb,
                found: echo(found),
            }),
            None => Err(ParseError::MissingArgument {
                verb: self.verb,
                what: "\"to\"",
            }),
        }
    }

    fn end(&mut self) -> Result<(), ParseError> {
        match self.next() {
            None => Ok(()),
            Some(arg) => Err(ParseError::ExtraArgument {
                verb: self.verb,
                arg: echo(arg),
            }),
        }
    }
}

/// Why `s` is not a valid APP or ENV name, if it is not.
fn name_problem(s: &str) -> Option<String> {
    let first = s.chars().next()?;
    if !first.is_ascii_alphanumeric() {
        return Some(format!("must start with a letter or digit, not {first:?}"));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!(
            "character {bad:?} is not allowed (only letters, digits, '-', '_' and '.')"
        ));
    }
    let n = s.chars().count();
    if n > MAX_NAME_CHARS {
        return Some(format!("{n} characters, at most {MAX_NAME_CHARS} allowed"));
    }
    None
}

/// Parses what follows `/ferry`.
fn parse_args(args: &str) -> Result<Command, ParseError> {
    let Some((word, rest)) = next_word(args) else {
        return Err(ParseError::MissingVerb);
    };
    let verb = Verb::from_word(word).ok_or_else(|| ParseError::UnknownVerb { verb: echo(word) })?;
    let mut w = Words { verb, rest };
    let command = match verb {
        Verb::Pin => {
            let app = w.name("APP")?;
            let env = w.name("ENV")?;
            let tag = match w.peek() {
                Some(word) if word != "--" => {
                    w.next();
                    Some(w.check_tag(word)?)
                }
                _ => None,
            };
            let reason = match w.next() {
                None => None,
                Some("--") => {
                    let reason = w.rest.trim();
                    if reason.is_empty() {
                        return Err(ParseError::MissingArgument {
                            verb,
                            what: "REASON",
                        });
                    }
                    w.rest = "";
                    Some(reason.to_string())
                }
                Some(arg) => {
                    return Err(ParseError::ExtraArgument {
                        verb,
                        arg: echo(arg),
                    });
                }
            };
            Command::Pin {
                app,
                env,
                tag,
                reason,
            }
        }
        Verb::Unpin => Command::Unpin {
            app: w.name("APP")?,
            env: w.name("ENV")?,
        },
        Verb::Revert => {
            let app = w.name("APP")?;
            let env = w.name("ENV")?;
            let to = match w.peek() {
                None => None,
                Some(_) => {
                    w.keyword_to()?;
                    Some(w.tag()?)
                }
            };
            Command::Revert { app, env, to }
        }
        Verb::Promote => {
            let app = w.name("APP")?;
            let tag = w.tag()?;
            w.keyword_to()?;
            let env = w.name("ENV")?;
            Command::Promote { app, tag, env }
        }
        Verb::Status => {
            let app = match w.next() {
                None => None,
                Some(word) => Some(w.check_name("APP", word)?),
            };
            Command::Status { app }
        }
        Verb::Help => Command::Help,
    };
    w.end()?;
    Ok(command)
}

#[cfg(test)]
#[path = "grammar_tests.rs"]
mod tests;
