//! Promotion: snapshot → plan (pure) → actions.

pub mod execute;
pub mod gating;
pub mod holds;
pub mod observe;
pub mod pass;
pub mod plan;
pub mod promote;
pub mod snapshot;
pub mod window;

pub use plan::{Action, Entry, Plan, plan};
pub use snapshot::{AppState, EnvState, Judged, OpenPr, Proof, Running, Snapshot, Window};
