//! Failpoints for crash tests.
//!
//! The environment variable [`FAILPOINT_ENV`] (`FERRY_FAILPOINT`) names one
//! or more points (comma-separated) at which the process calls
//! [`std::process::abort`]. A module marks a point with
//! `failpoint::hit("name")`: `gitops` has `after_commit_before_push` (the
//! commit exists locally, the remote has not seen it) and `after_push` (the
//! remote has it, the caller was never told); `atomic` has `mid_write`.
//!
//! `name=pause:MS` instead pauses MS milliseconds there and goes on: a
//! test can then act (send SIGTERM, say) while a pass is really in flight.
//!
//! It is a foundation module, with no crate imports, so that any layer can
//! mark a point without depending on the module that first needed one.

/// The environment variable that arms failpoints (see the module docs).
pub const FAILPOINT_ENV: &str = "FERRY_FAILPOINT";

/// Longest pause a failpoint takes, whatever it asks.
const MAX_PAUSE_MS: u64 = 60_000;

/// Aborts the process when [`FAILPOINT_ENV`] names `name` (a crash at a
/// chosen point, for tests that check ferry converges after a restart), or
/// pauses there for `name=pause:MS`.
pub(crate) fn hit(name: &str) {
    let Ok(armed) = std::env::var(FAILPOINT_ENV) else {
        return;
    };
    for p in armed.split(',').map(str::trim) {
        if p == name {
            eprintln!("ferry: failpoint {name} reached, aborting");
            std::process::abort();
        }
        let pause = p
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix("=pause:"))
            .and_then(|ms| ms.parse::<u64>().ok());
        if let Some(ms) = pause {
            eprintln!("ferry: failpoint {name} reached, pausing {ms} ms");
            std::thread::sleep(std::time::Duration::from_millis(ms.min(MAX_PAUSE_MS)));
        }
    }
}
