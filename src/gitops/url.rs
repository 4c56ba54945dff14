//! Remote URLs: telling local repositories from network ones, naming the
//! workspace directory, and keeping credentials out of what gets printed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::GitError;

/// A remote as ferry uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteUrl {
    /// What is stored as the workspace's `origin` (local paths made absolute,
    /// so the workspace does not depend on the process's current directory).
    pub(crate) url: String,
    /// The repository's directory when the remote is on this machine.
    pub(crate) local: Option<PathBuf>,
}

impl RemoteUrl {
    /// Parses `url`: `file://` URLs and plain paths are local; anything with a
    /// scheme, or scp-like `[user@]host:path`, is left to git2's transports.
    pub(crate) fn parse(url: &str) -> Result<RemoteUrl, GitError> {
        let invalid = |reason: &'static str| GitError::InvalidUrl {
            url: redact(url),
            reason,
        };
        if url.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if url.contains(['\0', '\n', '\r']) {
            return Err(invalid("it contains a control character"));
        }
        if let Some(rest) = url.strip_prefix("file://") {
            let path = match rest.strip_prefix("localhost") {
                Some(p) if p.starts_with('/') => p,
                _ if rest.starts_with('/') => rest,
                _ => return Err(invalid("a file:// URL must name an absolute local path")),
            };
            let path = percent_decode(path)
                .ok_or_else(|| invalid("it has a malformed %-escape or is not UTF-8"))?;
            return Ok(RemoteUrl {
                url: url.to_string(),
                local: Some(PathBuf::from(path)),
            });
        }
        if url.contains("://") || is_scp_like(url) {
            return Ok(RemoteUrl {
                url: url.to_string(),
                local: None,
            });
        }
        let abs = std::path::absolute(Path::new(url)).map_err(|e| GitError::Io {
            path: PathBuf::from(url),
            source: e,
        })?;
        let url = abs
            .to_str()
            .ok_or_else(|| invalid("the absolute path is not UTF-8"))?
            .to_string();
        Ok(RemoteUrl {
            url,
            local: Some(abs),
        })
    }
}

/// git's rule: a colon before any slash means `[user@]host:path` (ssh).
fn is_scp_like(url: &str) -> bool {
    match url.find(':') {
        Some(colon) => !url[..colon].contains('/'),
        None => false,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The URL without user-info (`https://user:token@host/...`) and query
/// string, so a token embedded in the configured URL never reaches a log
/// or an error.
pub(crate) fn redact(url: &str) -> String {
    crate::redact::url(url)
}

/// The workspace directory's name: a readable slug plus a hash of URL and
/// branch, so several repositories (or branches) share one cache dir.
pub(crate) fn workspace_dir_name(url: &str, branch: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(url.as_bytes());
    hasher.update([0u8]);
    hasher.update(branch.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default();
    let last = last.strip_suffix(".git").unwrap_or(last);
    let slug: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    let slug = slug.trim_start_matches('.');
    if slug.is_empty() {
        format!("repo-{hex}")
    } else {
        format!("{slug}-{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_urls() {
        let https = RemoteUrl::parse("https://github.com/acme/gitops.git").unwrap();
        assert_eq!(https.local, None);
        let scp = RemoteUrl::parse("git@github.com:acme/gitops.git").unwrap();
        assert_eq!(scp.local, None);
        let ssh = RemoteUrl::parse("ssh://git@github.com/acme/gitops.git").unwrap();
        assert_eq!(ssh.local, None);
        let file = RemoteUrl::parse("file:///srv/git/my%20repo.git").unwrap();
        assert_eq!(file.local, Some(PathBuf::from("/srv/git/my repo.git")));
        assert_eq!(file.url, "file:///srv/git/my%20repo.git");
        let host = RemoteUrl::parse("file://localhost/srv/r.git").unwrap();
        assert_eq!(host.local, Some(PathBuf::from("/srv/r.git")));
        let abs = RemoteUrl::parse("/srv/r.git").unwrap();
        assert_eq!(abs.local, Some(PathBuf::from("/srv/r.git")));
        assert_eq!(abs.url, "/srv/r.git");
    }

    #[test]
    fn relative_paths_become_absolute() {
        let rel = RemoteUrl::parse("some/dir/r.git").unwrap();
        let local = rel.local.unwrap();
        assert!(local.is_absolute());
        assert!(local.ends_with("some/dir/r.git"));
        assert_eq!(rel.url, local.to_str().unwrap());
        // A slash before the colon makes it a path, as in git.
        let colon = RemoteUrl::parse("./a:b").unwrap();
        assert!(colon.local.is_some());
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "",
            "  ",
            "file://otherhost/x",
            "file://rel/x",
            "file:///a%zz",
            "a\nb",
        ] {
            assert!(
                matches!(RemoteUrl::parse(bad), Err(GitError::InvalidUrl { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn redacts_user_info() {
        assert_eq!(
            redact("https://x-access-token:ghs_secret@github.com/a/b.git"),
            "https://***@github.com/a/b.git"
        );
        assert_eq!(
            redact("https://github.com/a/b@c.git"),
            "https://github.com/a/b@c.git"
        );
        assert_eq!(redact("git@github.com:a/b.git"), "git@github.com:a/b.git");
        assert_eq!(
            redact("https://github.com/a/b.git?access_token=ghs_1"),
            "https://github.com/a/b.git?<redacted>"
        );
        let err = RemoteUrl::parse("file://user:pw@host/x").unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn dir_names_differ_by_url_and_branch() {
        let a = workspace_dir_name("https://github.com/acme/platform-gitops.git", "main");
        let b = workspace_dir_name("https://github.com/acme/platform-gitops.git", "dev");
        let c = workspace_dir_name("https://github.com/other/platform-gitops.git", "main");
        assert!(a.starts_with("platform-gitops-"), "{a}");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            workspace_dir_name("https://github.com/acme/platform-gitops.git", "main")
        );
        assert!(workspace_dir_name("/", "main").starts_with("repo-"));
        assert!(workspace_dir_name("/x/..", "main").starts_with("repo-"));
    }
}
