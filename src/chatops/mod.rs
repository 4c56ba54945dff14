//! ChatOps: ferry driven from a comment on the GitOps repository.
//!
//! Besides automatic updates and reviewed promotion pull requests, people
//! steer ferry by commenting on an issue or pull request: an on-call
//! engineer types `/ferry revert api production` and production goes back
//! to the image it ran before, pinned so automation leaves it alone.
//!
//! This module is the pure core of that feature and does no I/O:
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
//! Receiving webhooks, asking GitHub for the commenter's role, running the
//! commands and replying live elsewhere and build on these pieces.

pub mod authz;
pub mod event;
pub mod grammar;

pub use authz::{Decision, Policy, Role, decide};
pub use event::{CommentEvent, Ignored, comment_from_payload};
pub use grammar::{Command, Invocation, ParseError, Verb, parse_comment};
