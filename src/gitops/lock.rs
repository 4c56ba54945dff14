//! One process per cache: an exclusive lock on a file beside the checkout.
//!
//! Two processes resetting, committing and fetching in one checkout would
//! corrupt each other's work (and git's own `*.lock` files would make the
//! loser fail at random), so a process holds [`CacheLock`] for as long as it
//! uses the checkout. The lock is the operating system's (`flock`), so it
//! dies with its process and can never go stale; the file only tells the
//! one who waits who holds it (pid, host, command line), and is emptied on
//! release.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::GitError;

/// The environment variable that sets how long to wait for another
/// process's lock, in seconds (default [`DEFAULT_WAIT`]).
pub const LOCK_WAIT_ENV: &str = "FERRY_LOCK_WAIT";

/// How long a second process waits by default: longer than a normal
/// pass, short enough that a stuck one is reported.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// How often a waiting process tries again.
const POLL: Duration = Duration::from_millis(100);

/// Most bytes of holder text read back from a lock file.
const MAX_HOLDER: u64 = 4096;

/// The wait [`LOCK_WAIT_ENV`] asks for, else [`DEFAULT_WAIT`]. A value that
/// is not a number of seconds is an error, not the default.
pub fn wait_from_env() -> Result<Duration, String> {
    match std::env::var(LOCK_WAIT_ENV) {
        Err(_) => Ok(DEFAULT_WAIT),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{LOCK_WAIT_ENV}={v:?}: expected seconds, 0 to 86400")),
    }
}

/// An exclusive lock on a checkout, released on drop.
#[derive(Debug)]
pub struct CacheLock {
    file: File,
    path: PathBuf,
}

impl CacheLock {
    /// Takes the lock on `path` (created when missing), waiting up to
    /// `wait` for another holder to release it; then fails with
    /// [`GitError::Busy`] naming `checkout` and the holder. Writes this
    /// process's pid, host and command line into the file.
    pub fn acquire(path: &Path, checkout: &Path, wait: Duration) -> Result<CacheLock, GitError> {
        let io = |source| GitError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(POLL);
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(GitError::Busy {
                        checkout: checkout.to_path_buf(),
                        holder: holder(&mut file),
                        waited: wait,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let me = format!(
            "pid {} on {}: {}\n",
            std::process::id(),
            hostname(),
            command_line()
        );
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(me.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(CacheLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // Emptied before it is released: a file that names someone names
        // the holder, or one that died holding it.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// What the lock file says about its holder.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let read = file
        .rewind()
        .and_then(|()| file.take(MAX_HOLDER).read_to_string(&mut text));
    match read {
        Ok(_) if !text.trim().is_empty() => text.trim().to_string(),
        _ => "another process (it did not say which)".to_string(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".into())
}

fn command_line() -> String {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_names_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo.lock");
        let checkout = dir.path().join("repo");
        let first = CacheLock::acquire(&path, &checkout, Duration::ZERO).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(&format!("pid {} on ", std::process::id())),
            "{text}"
        );
        let started = Instant::now();
        let err = CacheLock::acquire(&path, &checkout, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        let msg = err.to_string();
        assert!(msg.contains(&checkout.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        assert_eq!(std::fs::read(&path).unwrap(), b"", "emptied on release");
        let again = CacheLock::acquire(&path, &checkout, Duration::ZERO).unwrap();
        assert_eq!(again.path(), path);
    }

    #[test]
    fn a_waiter_gets_the_lock_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo.lock");
        let first = CacheLock::acquire(&path, dir.path(), Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(first);
        });
        let second = CacheLock::acquire(&path, dir.path(), Duration::from_secs(10));
        releaser.join().unwrap();
        assert!(second.is_ok());
    }
}
