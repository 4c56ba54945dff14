//! The keys of events already sent: a bounded window, newest last, kept in
//! memory and in a small JSON file beside the checkout so that a restart
//! does not announce the same hold again. Most keys could not recur anyway
//! (they hold a commit id); the file matters for those that can (`held`,
//! `pr_updated`). It is a cache: without it, some events are sent once
//! more, never lost.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Keys kept: more than one pass derives even at 1,000 apps with dozens of
/// held builds each (every held app × digest is a key refreshed on each
/// pass; a window smaller than that would forget them and announce them
/// again), few enough to load at once (about 6 MB of JSON at most).
pub const WINDOW: usize = 65_536;

/// The file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    /// Oldest first.
    sent: Vec<String>,
}

/// The window of sent keys.
#[derive(Debug, Default)]
pub struct Seen {
    order: VecDeque<String>,
    set: HashSet<String>,
    file: Option<PathBuf>,
    capacity: usize,
}

impl Seen {
    /// A window that lives in memory only.
    pub fn in_memory() -> Seen {
        Seen {
            capacity: WINDOW,
            ..Seen::default()
        }
    }

    /// A window loaded from `file` (an unreadable or malformed file is
    /// logged and starts an empty window) and saved there.
    pub fn with_file(file: PathBuf) -> Seen {
        let mut seen = Seen::in_memory();
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Stored>(&bytes) {
                Ok(stored) => {
                    for key in stored.sent {
                        seen.insert(key);
                    }
                }
                Err(e) => tracing::warn!(
                    file = %file.display(), error = %e,
                    "notification state unreadable; starting afresh"
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                file = %file.display(), error = %e,
                "notification state unreadable; starting afresh"
            ),
        }
        seen.file = Some(file);
        seen
    }

    /// Whether `key` was sent.
    pub fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    /// Records `key`; true when it is new. A key seen again moves to the
    /// newest end, so a hold that lasts is not pushed out of the window by
    /// newer events and announced again.
    pub fn insert(&mut self, key: String) -> bool {
        if self.set.contains(&key) {
            if let Some(i) = self.order.iter().position(|k| k == &key)
                && let Some(k) = self.order.remove(i)
            {
                self.order.push_back(k);
            }
            return false;
        }
        self.set.insert(key.clone());
        self.order.push_back(key);
        while self.order.len() > self.capacity.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Writes the window to its file, atomically; a failure is logged (the
    /// next save tries again).
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        let stored = Stored {
            sent: self.order.iter().cloned().collect(),
        };
        let result = serde_json::to_vec(&stored)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::atomic::write(file, &bytes));
        if let Err(e) = result {
            tracing::warn!(file = %file.display(), error = %e, "cannot save notification state");
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_new_once_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.notify.json");
        let mut seen = Seen::with_file(file.clone());
        assert!(seen.insert("held:api:sha256:aa".into()));
        assert!(!seen.insert("held:api:sha256:aa".into()));
        seen.save();
        let again = Seen::with_file(file.clone());
        assert!(again.contains("held:api:sha256:aa"));
        std::fs::write(&file, b"not json").unwrap();
        assert!(Seen::with_file(file).is_empty());
    }

    #[test]
    fn the_window_is_bounded_and_refreshed_by_use() {
        let mut seen = Seen::in_memory();
        seen.capacity = 3;
        for k in ["a", "b", "c"] {
            seen.insert(k.into());
        }
        // "a" seen again: "b" is now the oldest.
        assert!(!seen.insert("a".into()));
        assert!(seen.insert("d".into()));
        assert!(seen.contains("a") && !seen.contains("b"));
        assert_eq!(seen.len(), 3);
    }
}
