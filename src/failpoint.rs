//! Failpoints for crash tests.
//!
//! The environment variable [`FAILPOINT_ENV`] (`FERRY_FAILPOINT`) names one
//! or more points (comma-separated) at which the process calls
//! [`std::process::abort`]. A module marks a point with
//! `failpoint::hit("name")`: `gitops` has `after_commit_before_push` (the
//! commit exists locally, the remote has not seen it) and `after_push` (the
//! remote has it, the caller was never told); `atomic` has `mid_write`.
//!
//! It is a foundation module, with no crate imports, so that any layer can
//! mark a point without depending on the module that first needed one.

/// The environment variable that arms failpoints (see the module docs).
pub const FAILPOINT_ENV: &str = "FERRY_FAILPOINT";

/// Aborts the process when [`FAILPOINT_ENV`] names `name`: a crash at a
/// chosen point, for tests that check ferry converges after a restart.
pub(crate) fn hit(name: &str) {
    let Ok(armed) = std::env::var(FAILPOINT_ENV) else {
        return;
    };
    if armed.split(',').any(|p| p.trim() == name) {
        eprintln!("ferry: failpoint {name} reached, aborting");
        std::process::abort();
    }
}
