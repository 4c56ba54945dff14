//! Tag policy: which tags of a repository are promotion candidates, and in
//! what order (newest first).
//!
//! A candidate is one (image, tag) pair. Untagged images, cosign artifact tags
//! ([`is_signature_tag`]), tags that break the tag grammar, tags the app's
//! pattern rejects and, under [`Order::Semver`], tags that are not versions
//! are never candidates.

use std::cmp::Ordering;

use time::OffsetDateTime;

use crate::config::{App, Order, TagPattern};
use crate::image::{Digest, Tag};

/// One image of a repository, as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The manifest digest.
    pub digest: Digest,
    /// Every tag pointing at it, as the registry reports them (unvalidated).
    pub tags: Vec<String>,
    /// When it was pushed.
    pub pushed_at: OffsetDateTime,
}

/// One promotable (image, tag) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The image.
    pub digest: Digest,
    /// The tag it is promoted under.
    pub tag: Tag,
    /// When the image was pushed.
    pub pushed_at: OffsetDateTime,
}

/// An app's tag filter and candidate order.
#[derive(Debug, Clone)]
pub struct TagPolicy {
    pattern: Option<regex::Regex>,
    order: Order,
}

impl TagPolicy {
    /// A policy with the app's `tags:` pattern (`None`: every tag) and order.
    /// The pattern is applied as written, so an unanchored one matches any tag
    /// that contains a match; `ferry.yaml` examples anchor with `^...$`.
    pub fn new(pattern: Option<&TagPattern>, order: Order) -> Self {
        TagPolicy {
            pattern: pattern.map(|p| p.0.clone()),
            order,
        }
    }

    /// The policy configured for `app`.
    pub fn for_app(app: &App) -> Self {
        Self::new(app.tags.as_ref(), app.order)
    }

    /// The configured order.
    pub fn order(&self) -> Order {
        self.order
    }

    /// Whether `tag` could name a candidate under this policy: a valid tag,
    /// not a signature tag, matched by the pattern, and a version under
    /// [`Order::Semver`].
    pub fn accepts(&self, tag: &str) -> bool {
        self.accept(tag).is_some()
    }

    fn accept(&self, tag: &str) -> Option<Tag> {
        if is_signature_tag(tag) {
            return None;
        }
        let tag = Tag::parse(tag).ok()?;
        if let Some(pattern) = &self.pattern
            && !pattern.is_match(tag.as_str())
        {
            return None;
        }
        if self.order == Order::Semver && lenient_semver(tag.as_str()).is_none() {
            return None;
        }
        Some(tag)
    }

    /// Every candidate among `images`, newest first (see [`TagPolicy::compare`]).
    /// An image with several accepted tags gives one candidate per tag.
    pub fn candidates(&self, images: &[ImageRecord]) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = images
            .iter()
            .flat_map(|image| {
                image.tags.iter().filter_map(|tag| {
                    self.accept(tag).map(|tag| Candidate {
                        digest: image.digest.clone(),
                        tag,
                        pushed_at: image.pushed_at,
                    })
                })
            })
            .collect();
        out.sort_by(|a, b| self.compare(b, a));
        // A registry listing the same (digest, tag) twice is one candidate.
        out.dedup();
        out
    }

    /// Orders two candidates; the newer one is `Greater`. The order is total,
    /// so sorting is deterministic whatever order the registry listed images in.
    ///
    /// - [`Order::Pushed`]: push time, then tag (higher string is newer).
    /// - [`Order::Semver`]: version precedence (leading `v` allowed, so
    ///   `v1.2.0` and `1.2.0` are equal; `1.2.0-rc.1` < `1.2.0`), then push
    ///   time, then tag. A tag that is not a version is older than any version.
    ///
    /// Ties left after that (same tag on two images) go by digest.
    pub fn compare(&self, a: &Candidate, b: &Candidate) -> Ordering {
        let by_version = match self.order {
            Order::Pushed => Ordering::Equal,
            Order::Semver => match (
                lenient_semver(a.tag.as_str()),
                lenient_semver(b.tag.as_str()),
            ) {
                (Some(va), Some(vb)) => va.cmp_precedence(&vb),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => Ordering::Equal,
            },
        };
        by_version
            .then_with(|| a.pushed_at.cmp(&b.pushed_at))
            .then_with(|| a.tag.cmp(&b.tag))
            .then_with(|| a.digest.cmp(&b.digest))
    }
}

/// `1.2.3`, `v1.2.3`, `1.2.3-rc.1`; not `1.2` or `V1.2.3`. (Build metadata
/// cannot occur: `+` is not allowed in a tag.)
fn lenient_semver(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

/// Whether `tag` is a cosign artifact rather than an image: `sha256-<hex>.sig`,
/// `.att`, `.sbom`, or a bare `sha256-<hex>` (the OCI referrers fallback tag).
/// `sha512-<128 hex>` is recognised the same way; the hex must be lowercase.
pub fn is_signature_tag(tag: &str) -> bool {
    let (algo, rest) = match tag.split_once('-') {
        Some(split) => split,
        None => return false,
    };
    let want = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return false,
    };
    let hex = [".sig", ".att", ".sbom"]
        .iter()
        .find_map(|suffix| rest.strip_suffix(suffix))
        .unwrap_or(rest);
    hex.len() == want && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const HEX: &str = "f98d67af8e53a536502bfc600de3266556b06ed635a32d60aa7a5fe6d7e609d7";

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).expect("digest")
    }

    fn image(n: u8, tags: &[&str], pushed_at: OffsetDateTime) -> ImageRecord {
        ImageRecord {
            digest: digest(n),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at,
        }
    }

    fn policy(pattern: Option<&str>, order: Order) -> TagPolicy {
        let pattern = pattern.map(|p| TagPattern(regex::Regex::new(p).expect("regex")));
        TagPolicy::new(pattern.as_ref(), order)
    }

    fn tags(c: &[Candidate]) -> Vec<&str> {
        c.iter().map(|c| c.tag.as_str()).collect()
    }

    #[test]
    fn signature_tags() {
        for yes in [
            format!("sha256-{HEX}.sig"),
            format!("sha256-{HEX}.att"),
            format!("sha256-{HEX}.sbom"),
            format!("sha256-{HEX}"),
            format!("sha512-{HEX}{HEX}.sig"),
        ] {
            assert!(is_signature_tag(&yes), "{yes}");
        }
        for no in [
            format!("sha256-{}.sig", &HEX[1..]),
            format!("sha256-{HEX}0"),
            format!("sha256-{}.sig", HEX.to_uppercase()),
            format!("sha256-{HEX}.sig.sig"),
            format!("sha256-{HEX}.txt"),
            format!("sha1-{HEX}.sig"),
            format!("sha256_{HEX}.sig"),
            format!("sha512-{HEX}.sig"),
            "sha256-".to_string(),
            "sig".to_string(),
            "sha-3f2a9c1".to_string(),
            "latest".to_string(),
        ] {
            assert!(!is_signature_tag(&no), "{no}");
        }
    }

    #[test]
    fn filters_untagged_signature_invalid_and_unmatched_tags() {
        let t = datetime!(2025-01-01 00:00 UTC);
        let images = [
            image(1, &[], t),
            image(
                2,
                &[&format!("sha256-{HEX}.sig"), &format!("sha256-{HEX}")],
                t,
            ),
            image(3, &["-leading-dash", "has space", "", &"x".repeat(129)], t),
            image(4, &["sha-3f2a9c1", "latest"], t),
        ];
        let all = policy(None, Order::Pushed).candidates(&images);
        assert_eq!(tags(&all), ["sha-3f2a9c1", "latest"]);
        assert!(all.iter().all(|c| c.digest == digest(4)));

        let only_sha = policy(Some("^sha-[0-9a-f]{7,40}$"), Order::Pushed);
        assert_eq!(tags(&only_sha.candidates(&images)), ["sha-3f2a9c1"]);
        assert!(!only_sha.accepts("latest"));
        assert!(only_sha.accepts("sha-3f2a9c1"));
        // The pattern never lets a signature tag through.
        let everything = policy(Some(".*"), Order::Pushed);
        assert!(!everything.accepts(&format!("sha256-{HEX}.sig")));
        // Unanchored patterns match anywhere in the tag, as written.
        assert!(policy(Some("rc"), Order::Pushed).accepts("1.0.0-rc.1"));
    }

    #[test]
    fn pushed_order_newest_first_with_deterministic_ties() {
        let images = [
            image(1, &["a-old"], datetime!(2025-01-01 00:00 UTC)),
            image(2, &["b", "c"], datetime!(2025-01-03 00:00 UTC)),
            image(3, &["z-mid"], datetime!(2025-01-02 00:00 UTC)),
            image(4, &["a"], datetime!(2025-01-03 00:00 UTC)),
        ];
        let p = policy(None, Order::Pushed);
        let got = p.candidates(&images);
        assert_eq!(tags(&got), ["c", "b", "a", "z-mid", "a-old"]);
        assert_eq!(got[2].digest, digest(4));
        // Listing order does not matter.
        let mut reversed = images.to_vec();
        reversed.reverse();
        assert_eq!(p.candidates(&reversed), got);
        assert_eq!(p.compare(&got[0], &got[1]), Ordering::Greater);
        assert_eq!(p.compare(&got[4], &got[3]), Ordering::Less);
        assert_eq!(p.compare(&got[1], &got[1]), Ordering::Equal);
    }

    #[test]
    fn same_tag_on_two_images_ties_by_digest_and_duplicates_collapse() {
        let t = datetime!(2025-01-01 00:00 UTC);
        let images = [image(1, &["x", "x"], t), image(2, &["x"], t)];
        let got = policy(None, Order::Pushed).candidates(&images);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].digest.clone(), got[1].digest.clone()),
            (digest(2), digest(1))
        );
    }

    #[test]
    fn semver_order_ignores_push_time_and_non_versions() {
        let images = [
            image(1, &["v1.10.0"], datetime!(2025-01-01 00:00 UTC)),
            image(
                2,
                &["1.9.3", "latest", "1.9"],
                datetime!(2025-03-01 00:00 UTC),
            ),
            image(
                3,
                &["v2.0.0-rc.1", "V3.0.0"],
                datetime!(2025-02-01 00:00 UTC),
            ),
            image(
                4,
                &["1.2.0", "1.2.0-rc.1", "1.2.0-beta.2"],
                datetime!(2024-12-01 00:00 UTC),
            ),
        ];
        let p = policy(None, Order::Semver);
        assert_eq!(
            tags(&p.candidates(&images)),
            [
                "v2.0.0-rc.1",
                "v1.10.0",
                "1.9.3",
                "1.2.0",
                "1.2.0-rc.1",
                "1.2.0-beta.2"
            ]
        );
        assert!(!p.accepts("latest") && !p.accepts("1.9") && !p.accepts("V3.0.0"));
        // The same tags under push order: newest push first, non-versions kept.
        let pushed = policy(None, Order::Pushed).candidates(&images);
        assert_eq!(pushed[0].tag.as_str(), "latest");
        assert_eq!(pushed.len(), 9);
    }

    #[test]
    fn semver_ties_by_push_time_then_tag() {
        let images = [
            image(1, &["1.0.0"], datetime!(2025-01-01 00:00 UTC)),
            image(2, &["v1.0.0"], datetime!(2025-01-02 00:00 UTC)),
            image(3, &["1.0.0-rc.1"], datetime!(2025-01-03 00:00 UTC)),
            image(4, &["0.9.0"], datetime!(2025-06-01 00:00 UTC)),
            image(5, &["v1.0.0"], datetime!(2025-01-01 00:00 UTC)),
        ];
        let got = policy(None, Order::Semver).candidates(&images);
        // Equal precedence: newer push first, then the higher tag string
        // ("v1.0.0" > "1.0.0"); a build-metadata tag is not a valid tag at all.
        assert_eq!(
            tags(&got),
            ["v1.0.0", "v1.0.0", "1.0.0", "1.0.0-rc.1", "0.9.0"]
        );
        assert_eq!(
            got.iter().map(|c| c.digest.clone()).collect::<Vec<_>>(),
            [digest(2), digest(5), digest(1), digest(3), digest(4)]
        );
        assert!(!policy(None, Order::Semver).accepts("1.0.0+build.1"));
    }

    #[test]
    fn compare_ranks_non_versions_below_versions_under_semver() {
        let t = datetime!(2025-01-01 00:00 UTC);
        let cand = |tag: &str, at| Candidate {
            digest: digest(1),
            tag: Tag::parse(tag).expect("tag"),
            pushed_at: at,
        };
        let p = policy(None, Order::Semver);
        let newer_push = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(
            p.compare(&cand("latest", newer_push), &cand("0.0.1", t)),
            Ordering::Less
        );
        assert_eq!(
            p.compare(&cand("0.0.1", t), &cand("latest", newer_push)),
            Ordering::Greater
        );
        assert_eq!(
            p.compare(&cand("1.2.0-rc.1", newer_push), &cand("1.2.0", t)),
            Ordering::Less
        );
        assert_eq!(
            p.compare(&cand("main", t), &cand("dev", newer_push)),
            Ordering::Less
        );
        assert_eq!(p.order(), Order::Semver);
    }

    #[test]
    fn policy_for_app_uses_its_pattern_and_order() {
        let app: App = yaml_serde::from_str(
            "name: gw\nrepository: gw\nimage: gw\ntags: '^v'\norder: semver\n",
        )
        .expect("app");
        let p = TagPolicy::for_app(&app);
        assert_eq!(p.order(), Order::Semver);
        assert!(p.accepts("v1.0.0"));
        assert!(!p.accepts("1.0.0"));
    }
}
