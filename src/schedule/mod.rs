//! Schedules: promotion windows (cron minutes in an IANA zone or a fixed
//! offset) and the cron schedule of the full registry poll.
//!
//! A foundation module with no crate imports: the config validates these
//! expressions, and the promotion and the intake evaluate them, without
//! either depending on the other.

mod poll;
pub mod window;

pub use poll::PollSchedule;
pub use window::{Window, Windows};
