//! Which image a revert goes back to, read from an overlay's history.
//! Pure: the history comes in as data, newest first.

/// What one version of an overlay set for the app's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// The commit that wrote this version.
    pub commit: String,
    /// `newTag`.
    pub tag: Option<String>,
    /// `digest`.
    pub digest: Option<String>,
}

impl Deployed {
    fn same_image(&self, other: &Deployed) -> bool {
        self.tag == other.tag && self.digest == other.digest
    }

    /// The tag, else the short digest: for commit subjects.
    pub fn short(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => d.get(..19).unwrap_or(d).to_string(),
            (None, None) => "(no image)".into(),
        }
    }

    /// `sha-1 (sha256:abcd…)`, `sha-1` or the digest, for replies.
    pub fn describe(&self) -> String {
        let short = |d: &str| d.get(..19).unwrap_or(d).to_string();
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => format!("{t} ({}…)", short(d)),
            (Some(t), None) => t.clone(),
            (None, Some(d)) => short(d),
            (None, None) => "(no image)".into(),
        }
    }
}

/// The image to go back to, and the deployment it undoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertTarget<'a> {
    /// The version to restore.
    pub to: &'a Deployed,
    /// The commit that brought the current image (what is reverted).
    pub reverts: &'a Deployed,
}

/// Why there is nothing to revert to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevertError {
    /// The history holds no version of the image at all.
    #[error("the overlay's history has no image for this app")]
    NoHistory,
    /// Every version in the history reviewed runs the current image.
    #[error("no earlier image in the last {0} changes of the overlay")]
    NothingEarlier(usize),
    /// `to TAG` names what runs now.
    #[error("{0} runs already")]
    AlreadyRuns(String),
    /// `to TAG` names a tag the environment never ran (as far as read).
    #[error("the environment has not run {tag} in the last {read} changes of the overlay")]
    NeverRan {
        /// The tag asked for.
        tag: String,
        /// How many versions were read.
        read: usize,
    },
}

/// Picks the revert target from `history` (newest first; the first entry
/// is what runs now). Without `to_tag`: the newest version whose image
/// differs from the current one. With it: the newest earlier version with
/// that tag.
pub fn pick<'a>(
    history: &'a [Deployed],
    to_tag: Option<&str>,
) -> Result<RevertTarget<'a>, RevertError> {
    let current = history.first().ok_or(RevertError::NoHistory)?;
    // The current image came with the oldest of the newest run of versions
    // that set it.
    let run = history.iter().take_while(|d| d.same_image(current)).count();
    // `run` is at least 1: the current version matches itself.
    let reverts = history.get(run.saturating_sub(1)).unwrap_or(current);
    let earlier = history.get(run..).unwrap_or_default();
    if let Some(tag) = to_tag {
        if current.tag.as_deref() == Some(tag) {
            return Err(RevertError::AlreadyRuns(tag.to_string()));
        }
        return earlier
            .iter()
            .find(|d| d.tag.as_deref() == Some(tag))
            .map(|to| RevertTarget { to, reverts })
            .ok_or_else(|| RevertError::NeverRan {
                tag: tag.to_string(),
                read: history.len(),
            });
    }
    earlier
        .iter()
        .find(|d| d.tag.is_some() || d.digest.is_some())
        .map(|to| RevertTarget { to, reverts })
        .ok_or(RevertError::NothingEarlier(history.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(commit: &str, tag: Option<&str>, digest: Option<&str>) -> Deployed {
        Deployed {
            commit: commit.into(),
            tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        }
    }

    #[test]
    fn the_image_before_the_current_one() {
        // c4 only reformatted the file: same image as c3.
        let h = [
            d("c4", Some("v3"), Some("sha256:3")),
            d("c3", Some("v3"), Some("sha256:3")),
            d("c2", Some("v2"), Some("sha256:2")),
            d("c1", Some("v1"), Some("sha256:1")),
        ];
        let t = pick(&h, None).unwrap();
        assert_eq!(t.to.commit, "c2");
        assert_eq!(t.reverts.commit, "c3", "c3 brought v3");
        let t = pick(&h, Some("v1")).unwrap();
        assert_eq!(
            (t.to.commit.as_str(), t.reverts.commit.as_str()),
            ("c1", "c3")
        );
    }

    #[test]
    fn a_digest_change_under_the_same_tag_is_a_change() {
        let h = [
            d("c2", Some("latest"), Some("sha256:b")),
            d("c1", Some("latest"), Some("sha256:a")),
        ];
        assert_eq!(
            pick(&h, None).unwrap().to.digest.as_deref(),
            Some("sha256:a")
        );
    }

    #[test]
    fn versions_without_the_image_are_skipped() {
        let h = [
            d("c3", Some("v2"), None),
            d("c2", None, None),
            d("c1", Some("v1"), None),
        ];
        assert_eq!(pick(&h, None).unwrap().to.commit, "c1");
    }

    #[test]
    fn nothing_to_go_back_to() {
        assert_eq!(pick(&[], None), Err(RevertError::NoHistory));
        let h = [d("c1", Some("v1"), None)];
        assert_eq!(pick(&h, None), Err(RevertError::NothingEarlier(1)));
        assert_eq!(
            pick(&h, Some("v1")),
            Err(RevertError::AlreadyRuns("v1".into()))
        );
        assert_eq!(
            pick(&h, Some("v0")),
            Err(RevertError::NeverRan {
                tag: "v0".into(),
                read: 1
            })
        );
    }

    #[test]
    fn describe_shortens_the_digest_without_slicing_bytes() {
        let long = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            d("c", Some("v1"), Some(&long)).describe(),
            "v1 (sha256:aaaaaaaaaaaa…)"
        );
        assert_eq!(d("c", None, Some("sha256:é")).describe(), "sha256:é");
    }
}
