//! Reading history back: commits and their trailers, which is where ferry's
//! audit log (`Ferry-App:`, `Ferry-Digest:`, ...) lives.

/// One commit, as read by [`Workspace::log`](super::Workspace::log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The full hex object id.
    pub id: String,
    /// The first line of the message.
    pub summary: String,
    /// The whole message.
    pub message: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// `Key: value` trailers from the message's last paragraph, in order.
    pub trailers: Vec<(String, String)>,
}

impl CommitInfo {
    pub(crate) fn from_commit(commit: &git2::Commit<'_>) -> CommitInfo {
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let author = commit.author();
        CommitInfo {
            id: commit.id().to_string(),
            summary: message.lines().next().unwrap_or_default().to_string(),
            trailers: parse_trailers(&message),
            author: format!(
                "{} <{}>",
                String::from_utf8_lossy(author.name_bytes()),
                String::from_utf8_lossy(author.email_bytes())
            ),
            message,
        }
    }

    /// The values of every trailer named `key` (compared case-insensitively,
    /// as git does), in order.
    pub fn trailer_values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.trailers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the trailers of a commit message with git's own rules (libgit2's
/// port of `git interpret-trailers`): the last paragraph, never the subject,
/// made of `Key: value` lines (continuation lines are folded in).
pub fn parse_trailers(message: &str) -> Vec<(String, String)> {
    // A NUL cannot be in a commit message git wrote; such a message has no
    // trailers rather than an error.
    match git2::message_trailers_strs(message) {
        Ok(trailers) => trailers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_the_last_paragraph() {
        let msg = "dev: api sha-1→sha-3\n\nBody text: not a trailer block\nbecause this line is prose.\n\nFerry-App: api\nFerry-Env: dev\nFerry-Digest: sha256:abc\n";
        assert_eq!(
            parse_trailers(msg),
            pairs(&[
                ("Ferry-App", "api"),
                ("Ferry-Env", "dev"),
                ("Ferry-Digest", "sha256:abc")
            ])
        );
    }

    #[test]
    fn subject_alone_has_no_trailers() {
        assert!(parse_trailers("fix: something\n").is_empty());
        assert!(parse_trailers("dev: api\n\nJust a body.\n").is_empty());
        assert!(parse_trailers("").is_empty());
        assert!(parse_trailers("a\0b\n\nK: v\n").is_empty());
    }

    #[test]
    fn trailer_values_match_keys_case_insensitively() {
        let info = CommitInfo {
            id: String::new(),
            summary: String::new(),
            message: String::new(),
            author: String::new(),
            trailers: pairs(&[("Ferry-App", "a"), ("ferry-app", "b"), ("Other", "c")]),
        };
        assert_eq!(
            info.trailer_values("FERRY-APP").collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
