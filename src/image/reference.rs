//! The OCI distribution reference grammar (`name[:tag][@digest]`).

use std::fmt;

/// Why a string is not a valid name, tag, digest or reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// The input was empty where a value is required.
    #[error("{what} is empty")]
    Empty {
        /// Which part was empty ("image name", "tag", ...).
        what: &'static str,
    },
    /// A tag broke the tag grammar.
    #[error("invalid tag {tag:?}: {why}")]
    Tag {
        /// The offending tag.
        tag: String,
        /// What rule it broke.
        why: String,
    },
    /// A digest broke the digest grammar.
    #[error("invalid digest {digest:?}: {why}")]
    Digest {
        /// The offending digest.
        digest: String,
        /// What rule it broke.
        why: String,
    },
    /// A repository name broke the name grammar.
    #[error("invalid image name {name:?}: {why}")]
    Name {
        /// The offending name.
        name: String,
        /// What rule it broke.
        why: String,
    },
}

/// Longest tag the grammar allows.
const MAX_TAG_LEN: usize = 128;
/// Longest repository name (host included) registries accept.
const MAX_NAME_LEN: usize = 255;

/// A validated tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Validates `s` as a tag.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let err = |why: String| RefError::Tag {
            tag: s.to_string(),
            why,
        };
        let Some(first) = s.chars().next() else {
            return Err(RefError::Empty { what: "tag" });
        };
        if s.len() > MAX_TAG_LEN {
            return Err(err(format!(
                "{} characters, at most {MAX_TAG_LEN} allowed",
                s.len()
            )));
        }
        if !(first.is_ascii_alphanumeric() || first == '_') {
            return Err(err(format!(
                "must start with a letter, digit or '_', not {first:?}"
            )));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(err(format!(
                "character {bad:?} is not allowed (only letters, digits, '_', '.' and '-')"
            )));
        }
        Ok(Tag(s.to_string()))
    }

    /// The tag as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated content digest: `sha256:` + 64 or `sha512:` + 128 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Validates `s` as a digest.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let err = |why: String| RefError::Digest {
            digest: s.to_string(),
            why,
        };
        if s.is_empty() {
            return Err(RefError::Empty { what: "digest" });
        }
        let Some((algo, hex)) = s.split_once(':') else {
            return Err(err(
                "expected <algorithm>:<hex>, e.g. sha256:<64 hex digits>".into(),
            ));
        };
        let want = match algo {
            "sha256" => 64,
            "sha512" => 128,
            other => {
                return Err(err(format!(
                    "algorithm {other:?} is not supported (sha256 or sha512)"
                )));
            }
        };
        if let Some(bad) = hex
            .chars()
            .find(|c| !(c.is_ascii_digit() || ('a'..='f').contains(c)))
        {
            return Err(err(format!(
                "character {bad:?} is not a lowercase hex digit"
            )));
        }
        if hex.len() != want {
            return Err(err(format!(
                "{algo} needs {want} hex digits, found {}",
                hex.len()
            )));
        }
        Ok(Digest(s.to_string()))
    }

    /// The digest as written (`sha256:...`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part after the algorithm.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }
}

/// A validated repository name, optionally with a registry host and port:
/// `[host[:port]/]component(/component)*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageName(String);

impl ImageName {
    /// Validates `s` as a repository name.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let err = |why: String| RefError::Name {
            name: s.to_string(),
            why,
        };
        if s.is_empty() {
            return Err(RefError::Empty { what: "image name" });
        }
        if s.len() > MAX_NAME_LEN {
            return Err(err(format!(
                "{} characters, at most {MAX_NAME_LEN} allowed",
                s.len()
            )));
        }
        let (domain, path) = match s.split_once('/') {
            Some((first, rest)) if looks_like_domain(first) => (Some(first), rest),
            _ => (None, s),
        };
        if let Some(domain) = domain {
            check_domain(domain).map_err(&err)?;
        }
        if path.is_empty() {
            return Err(err("repository path is empty".into()));
        }
        for component in path.split('/') {
            check_path_component(component).map_err(&err)?;
        }
        Ok(ImageName(s.to_string()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The first component is a registry host when it could not be a path
/// component: it has a dot, a port, uppercase letters, or is `localhost`
/// (the same rule docker and kustomize use to split a name).
fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.starts_with('[')
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(format!("registry host {domain:?} has an unclosed '['"));
        };
        if v6.is_empty()
            || !v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("registry host [{v6}] is not an IPv6 address"));
        }
        match after {
            "" => (None, None),
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(format!("unexpected {p:?} after registry host [{v6}]")),
            },
        }
    } else {
        match domain.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("registry port {port:?} is not a number"));
    }
    if let Some(host) = host {
        for label in host.split('.') {
            let ok = !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(format!(
                    "registry host {host:?} is not a valid host name (label {label:?})"
                ));
            }
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_path_component(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("empty path component (double or trailing '/')".into());
    }
    if let Some(bad) = c.chars().find(|ch| {
        !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
    }) {
        return Err(format!(
            "path component {c:?}: character {bad:?} is not allowed (lowercase letters, digits, '.', '_', '-')"
        ));
    }
    let bytes = c.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return Err(format!(
            "path component {c:?} must start and end with a lowercase letter or digit"
        ));
    }
    // Separators between alphanumeric runs: '.', '_', '__' or any run of '-'.
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!(
                "path component {c:?}: separator {sep:?} is not allowed ('.', '_', '__' or dashes)"
            ));
        }
    }
    Ok(())
}

/// A full image reference: `name[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Repository, with registry host if any.
    pub name: ImageName,
    /// Tag, if given.
    pub tag: Option<Tag>,
    /// Digest, if given.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses `name[:tag][@digest]`.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        let (name, tag) = split_tag(rest);
        Ok(ImageRef {
            name: ImageName::parse(name)?,
            tag: tag.map(Tag::parse).transpose()?,
            digest,
        })
    }
}

/// Splits `name:tag` at the last ':' after the last '/', so that a
/// registry port (`host:5000/app`) is not taken for a tag.
pub(crate) fn split_tag(s: &str) -> (&str, Option<&str>) {
    let slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[slash..].rfind(':') {
        Some(i) => (&s[..slash + i], Some(&s[slash + i + 1..])),
        None => (s, None),
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl AsRef<str> for ImageName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D256: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";

    #[test]
    fn valid_references() {
        for (s, name, tag, digest) in [
            ("nginx", "nginx", None, None),
            ("nginx:1.25-alpine", "nginx", Some("1.25-alpine"), None),
            (
                "localhost:5000/app:v1",
                "localhost:5000/app",
                Some("v1"),
                None,
            ),
            (
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/api:sha-3f2a9c1",
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/api",
                Some("sha-3f2a9c1"),
                None,
            ),
            (
                &format!("ghcr.io/a/b@{D256}"),
                "ghcr.io/a/b",
                None,
                Some(D256),
            ),
            (
                &format!("a__b/c--d:_x@{D256}"),
                "a__b/c--d",
                Some("_x"),
                Some(D256),
            ),
            ("[::1]:5000/app", "[::1]:5000/app", None, None),
            ("Registry.Example/app", "Registry.Example/app", None, None),
        ] {
            let r = ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(r.name.as_str(), name, "{s}");
            assert_eq!(r.tag.as_ref().map(Tag::as_str), tag, "{s}");
            assert_eq!(r.digest.as_ref().map(Digest::as_str), digest, "{s}");
            assert_eq!(r.to_string(), s);
        }
    }

    #[test]
    fn invalid_tags_say_why() {
        let long = "a".repeat(129);
        for (t, want) in [
            ("", "tag is empty"),
            (".hidden", "must start with"),
            ("-x", "must start with"),
            ("v1+build", "'+' is not allowed"),
            ("v1/2", "'/' is not allowed"),
            (long.as_str(), "129 characters"),
        ] {
            let e = Tag::parse(t).unwrap_err().to_string();
            assert!(e.contains(want), "{t}: {e}");
        }
        assert!(Tag::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn invalid_digests_say_why() {
        let short = &D256[..D256.len() - 1];
        let upper = D256.to_uppercase().replace("SHA256", "sha256");
        for (d, want) in [
            ("", "digest is empty"),
            ("abc", "expected <algorithm>:<hex>"),
            ("md5:abcd", "\"md5\" is not supported"),
            (short, "needs 64 hex digits, found 63"),
            (upper.as_str(), "not a lowercase hex digit"),
            (&format!("sha512:{}", "a".repeat(64)), "needs 128"),
        ] {
            let e = Digest::parse(d).unwrap_err().to_string();
            assert!(e.contains(want), "{d}: {e}");
        }
        assert!(Digest::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
    }

    #[test]
    fn invalid_names_say_why() {
        for (n, want) in [
            ("", "image name is empty"),
            ("App", "'A' is not allowed"),
            ("app/", "empty path component"),
            ("a//b", "empty path component"),
            ("-app", "must start and end"),
            ("a...b", "separator \"...\""),
            ("a___b", "separator \"___\""),
            ("host:port/app", "port \"port\" is not a number"),
            ("bad_host.com/app", "not a valid host name"),
            ("example.com/", "repository path is empty"),
            ("my app", "' ' is not allowed"),
        ] {
            let e = ImageName::parse(n).unwrap_err().to_string();
            assert!(e.contains(want), "{n}: {e}");
        }
    }

    #[test]
    fn port_is_not_a_tag() {
        assert_eq!(split_tag("host:5000/app"), ("host:5000/app", None));
        assert_eq!(split_tag("host:5000/app:v2"), ("host:5000/app", Some("v2")));
        let e = ImageRef::parse("nginx:").unwrap_err();
        assert_eq!(e, RefError::Empty { what: "tag" });
    }
}
