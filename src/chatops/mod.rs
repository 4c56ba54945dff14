//! ChatOps: ferry driven from a comment on the GitOps repository.
//!
//! Besides automatic updates and reviewed promotion pull requests, people
//! steer ferry by commenting on an issue or pull request: an on-call
//! engineer types `/ferry revert api production` and production goes back
//! to the image it ran before, pinned so automation leaves it alone.
//!
//! The grammar, the authorization decision and the event filter are pure:
//!
//! - [`grammar`] turns a comment body into the commands it holds
//!   (syntax only: whether an app, environment or tag exists is checked
//!   later, against the config and the registry);
//! - [`authz`] decides whether a GitHub role may run a command under the
//!   configured policy, failing closed when the role is not known;
//! - [`event`] picks the comments worth reading out of an `issue_comment`
//!   webhook payload: new ones, on the configured repository, by a person
//!   other than ferry.
//!
//! - [`handle`] runs the commands of one comment: reacts, asks the forge
//!   for the commenter's role, runs what the role allows ([`commands`]
//!   writes: pin, unpin, revert, promote) and replies ([`report`]: the
//!   reply, `help`, `status`); [`revert`] picks the image a revert goes
//!   back to from the overlay's history.
//!
//! The webhook server ([`crate::server`]) receives comments and the runner
//! ([`crate::runner`]) calls [`handle_comment`] between passes.

pub mod authz;
mod commands;
pub mod event;
pub mod grammar;
pub mod handle;
pub mod report;
pub use crate::promotion::revert;

pub use authz::{Decision, Policy, Role, decide};
pub use event::{CommentEvent, Ignored, comment_from_payload};
pub use grammar::{Command, Invocation, ParseError, Verb, parse_comment};
pub use handle::{CommandOutcome, Io, handle_comment};
