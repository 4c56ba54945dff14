//! Promotion: snapshot → plan (pure) → actions.

pub mod board;
pub mod execute;
pub mod gating;
pub mod holds;
pub mod observe;
pub mod pass;
pub mod plan;
pub mod promote;
pub mod revert;
pub mod snapshot;
pub mod watch;

// Windows are schedule types (the config validates them too); kept here
// under their old path.
pub use crate::schedule::window;

pub use plan::{Action, Entry, Plan, plan};
pub use snapshot::{AppState, EnvState, Judged, OpenPr, Proof, Running, Snapshot, Window};
