//! The `IMAGE` argument grammar of `kustomize edit set image`, which
//! `ferry set-image` shares.
//!
//! ```text
//! name=newName:tag@digest   name=newName:tag   name=newName@digest   name=newName
//! name:tag@digest           name:tag           name@digest
//! ```
//! Any of newName, tag and digest may be `*`: keep what the entry has.
//! A field the argument does not give is removed from the entry.

use super::reference::{Digest, ImageName, RefError, Tag, split_tag};

/// What to do with one field of an `images:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldChange<T> {
    /// `*`: leave the field as it is (present or absent).
    Keep,
    /// Set the field to this value.
    Set(T),
    /// The argument does not give the field: remove it.
    Remove,
}

impl<T> FieldChange<T> {
    /// The value to set, if any.
    pub fn value(&self) -> Option<&T> {
        match self {
            FieldChange::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// One requested change to the `images:` list: the entry whose `name` is
/// `name`, with its three optional fields set, kept or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUpdate {
    /// The image name the entry matches (kustomize's `name`).
    pub name: ImageName,
    /// `newName`.
    pub new_name: FieldChange<ImageName>,
    /// `newTag`.
    pub new_tag: FieldChange<Tag>,
    /// `digest`.
    pub digest: FieldChange<Digest>,
}

/// An `IMAGE` argument that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image argument {arg:?}: {source}")]
pub struct SpecError {
    /// The argument as given.
    pub arg: String,
    /// What is wrong with it.
    #[source]
    pub source: RefError,
}

const KEEP: &str = "*";

impl ImageUpdate {
    /// Parses one `IMAGE` argument.
    pub fn parse(arg: &str) -> Result<Self, SpecError> {
        Self::parse_inner(arg).map_err(|source| SpecError {
            arg: arg.to_string(),
            source,
        })
    }

    fn parse_inner(arg: &str) -> Result<Self, RefError> {
        match arg.split_once('=') {
            Some((name, target)) => {
                let name = ImageName::parse(name)?;
                let (target, digest) = split_digest(target)?;
                let (new_name, tag) = split_tag(target);
                let new_name = match new_name {
                    KEEP => FieldChange::Keep,
                    n => FieldChange::Set(ImageName::parse(n)?),
                };
                Ok(ImageUpdate {
                    name,
                    new_name,
                    new_tag: tag_change(tag)?,
                    digest,
                })
            }
            None => {
                let (rest, digest) = split_digest(arg)?;
                let (name, tag) = split_tag(rest);
                Ok(ImageUpdate {
                    name: ImageName::parse(name)?,
                    new_name: FieldChange::Remove,
                    new_tag: tag_change(tag)?,
                    digest,
                })
            }
        }
    }

    /// The reference this update makes the image render to, given the
    /// entry's current fields (used for `*`).
    pub fn rendered(
        &self,
        current_new_name: Option<&str>,
        current_tag: Option<&str>,
        current_digest: Option<&str>,
    ) -> String {
        let name = match &self.new_name {
            FieldChange::Set(n) => n.as_str(),
            FieldChange::Keep => current_new_name.unwrap_or(self.name.as_str()),
            FieldChange::Remove => self.name.as_str(),
        };
        let tag = match &self.new_tag {
            FieldChange::Set(t) => Some(t.as_str()),
            FieldChange::Keep => current_tag,
            FieldChange::Remove => None,
        };
        let digest = match &self.digest {
            FieldChange::Set(d) => Some(d.as_str()),
            FieldChange::Keep => current_digest,
            FieldChange::Remove => None,
        };
        let mut s = name.to_string();
        if let Some(t) = tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

fn split_digest(s: &str) -> Result<(&str, FieldChange<Digest>), RefError> {
    Ok(match s.split_once('@') {
        Some((rest, KEEP)) => (rest, FieldChange::Keep),
        Some((rest, d)) => (rest, FieldChange::Set(Digest::parse(d)?)),
        None => (s, FieldChange::Remove),
    })
}

fn tag_change(tag: Option<&str>) -> Result<FieldChange<Tag>, RefError> {
    Ok(match tag {
        None => FieldChange::Remove,
        Some(KEEP) => FieldChange::Keep,
        Some(t) => FieldChange::Set(Tag::parse(t)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use FieldChange::{Keep, Remove, Set};

    const D: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";

    fn n(s: &str) -> ImageName {
        ImageName::parse(s).unwrap()
    }
    fn t(s: &str) -> Tag {
        Tag::parse(s).unwrap()
    }
    fn d() -> Digest {
        Digest::parse(D).unwrap()
    }

    #[test]
    fn every_form_of_the_grammar() {
        let cases: Vec<(String, ImageUpdate)> = vec![
            (
                "app=reg.io/app:v2".into(),
                ImageUpdate {
                    name: n("app"),
                    new_name: Set(n("reg.io/app")),
                    new_tag: Set(t("v2")),
                    digest: Remove,
                },
            ),
            (
                format!("app=reg.io/app@{D}"),
                ImageUpdate {
                    name: n("app"),
                    new_name: Set(n("reg.io/app")),
                    new_tag: Remove,
                    digest: Set(d()),
                },
            ),
            (
                "app=reg.io/app".into(),
                ImageUpdate {
                    name: n("app"),
                    new_name: Set(n("reg.io/app")),
                    new_tag: Remove,
                    digest: Remove,
                },
            ),
            (
                "app:v2".into(),
                ImageUpdate {
                    name: n("app"),
                    new_name: Remove,
                    new_tag: Set(t("v2")),
                    digest: Remove,
                },
            ),
            (
                format!("app@{D}"),
                ImageUpdate {
                    name: n("app"),
                    new_name: Remove,
                    new_tag: Remove,
                    digest: Set(d()),
                },
            ),
            (
                format!("app:v2@{D}"),
                ImageUpdate {
                    name: n("app"),
                    new_name: Remove,
                    new_tag: Set(t("v2")),
                    digest: Set(d()),
                },
            ),
            (
                format!("app=localhost:5000/app:v2@{D}"),
                ImageUpdate {
                    name: n("app"),
                    new_name: Set(n("localhost:5000/app")),
                    new_tag: Set(t("v2")),
                    digest: Set(d()),
                },
            ),
            (
                "app=*:v2".into(),
                ImageUpdate {
                    name: n("app"),
                    new_name: Keep,
                    new_tag: Set(t("v2")),
                    digest: Remove,
                },
            ),
            (
                "app=*:*@*".into(),
                ImageUpdate {
                    name: n("app"),
                    new_name: Keep,
                    new_tag: Keep,
                    digest: Keep,
                },
            ),
            (
                "app=x:*".into(),
                ImageUpdate {
                    name: n("app"),
                    new_name: Set(n("x")),
                    new_tag: Keep,
                    digest: Remove,
                },
            ),
        ];
        for (arg, want) in cases {
            assert_eq!(ImageUpdate::parse(&arg).unwrap(), want, "{arg}");
        }
    }

    #[test]
    fn bad_arguments_name_the_problem() {
        for (arg, want) in [
            ("app:v1+x", "invalid tag"),
            ("app@sha256:abc", "needs 64 hex digits"),
            ("=x:v1", "image name is empty"),
            ("app=", "image name is empty"),
            ("App:v1", "invalid image name"),
            ("*:v1", "invalid image name"),
            ("app=x:", "tag is empty"),
        ] {
            let e = ImageUpdate::parse(arg).unwrap_err().to_string();
            assert!(e.contains(want), "{arg}: {e}");
            assert!(e.contains(arg), "{arg}: {e}");
        }
    }

    #[test]
    fn rendered_reference_uses_current_values_for_keep() {
        let u = ImageUpdate::parse("app=*:v2").unwrap();
        assert_eq!(
            u.rendered(Some("reg.io/app"), Some("v1"), Some(D)),
            "reg.io/app:v2"
        );
        assert_eq!(u.rendered(None, None, None), "app:v2");
        let u = ImageUpdate::parse("app=*:*@*").unwrap();
        assert_eq!(u.rendered(None, Some("v1"), Some(D)), format!("app:v1@{D}"));
    }
}
