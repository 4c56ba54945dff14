//! Errors of the kustomization reader and editor.

use std::fmt;
use std::path::PathBuf;

/// What went wrong, without the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditErrorKind {
    /// The YAML does not parse.
    #[error("YAML syntax error: {0}")]
    Syntax(String),
    /// The file is not valid UTF-8.
    #[error("file is not valid UTF-8")]
    NotUtf8,
    /// More than one YAML document.
    #[error("more than one YAML document; a kustomization is a single document")]
    MultipleDocuments,
    /// The top level is not a block mapping.
    #[error("the top level is not a mapping of kustomization fields")]
    NotAMapping,
    /// `images:` holds something other than a list.
    #[error("`images:` is not a list")]
    ImagesNotAList,
    /// An `images:` entry is an alias.
    #[error("images entry {index} is an alias (*); ferry does not edit through aliases")]
    AliasEntry {
        /// 0-based entry index.
        index: usize,
    },
    /// An `images:` entry uses a merge key.
    #[error("images entry {index} uses a merge key (<<); ferry does not edit merged entries")]
    MergeKey {
        /// 0-based entry index.
        index: usize,
    },
    /// An entry is not a mapping.
    #[error("images entry {index} is not a mapping")]
    EntryNotAMapping {
        /// 0-based entry index.
        index: usize,
    },
    /// An entry has no `name`.
    #[error("images entry {index} has no `name`")]
    EntryWithoutName {
        /// 0-based entry index.
        index: usize,
    },
    /// Two entries share a name, so an edit would be ambiguous.
    #[error(
        "image {name:?} has more than one entry in `images:` (the first at {}:{})",
        first.0,
        first.1
    )]
    DuplicateEntry {
        /// The shared name.
        name: String,
        /// 1-based line and column of the first entry.
        first: (usize, usize),
    },
    /// A mapping holds the same key twice. kustomize reads the last one;
    /// ferry would read and edit the first, so it refuses both.
    #[error(
        "{} has the key `{key}` twice, at {}:{} and at {}:{}; kustomize reads the last one, so ferry refuses to guess",
        entry.map_or("the top level".to_string(), |i| format!("images entry {i}")),
        first.0,
        first.1,
        second.0,
        second.1
    )]
    DuplicateKey {
        /// The 0-based images entry holding the key; `None` for the top level.
        entry: Option<usize>,
        /// The repeated key (boxed to keep every error small).
        key: Box<str>,
        /// 1-based line and column of the first occurrence.
        first: (usize, usize),
        /// 1-based line and column of the second occurrence.
        second: (usize, usize),
    },
    /// Two arguments name the same image.
    #[error("image {name:?} is given more than once")]
    DuplicateUpdate {
        /// The image name.
        name: String,
    },
    /// A value the edit must touch spans several lines.
    #[error(
        "`{field}` of image {image:?} spans several lines; ferry only edits single-line values"
    )]
    MultiLine {
        /// The field.
        field: String,
        /// The entry's image name.
        image: String,
    },
    /// A value the edit must touch carries an anchor.
    #[error(
        "`{field}` of image {image:?} has an anchor (&); editing it would change its aliases too"
    )]
    Anchored {
        /// The field.
        field: String,
        /// The entry's image name.
        image: String,
    },
    /// A key of an entry is not a plain scalar.
    #[error("images entry {index} has a key that is not a plain string")]
    ComplexKey {
        /// 0-based entry index.
        index: usize,
    },
    /// A field holds a list, a mapping, a number or a boolean instead of a
    /// string.
    #[error("`{field}` of image {image:?} is not a string")]
    NotAScalar {
        /// The field.
        field: String,
        /// The entry's image name.
        image: String,
    },
    /// A field read from the file is not valid for the image grammar.
    #[error("`{field}` of image {image:?} is not valid: {why}")]
    InvalidValue {
        /// The field.
        field: String,
        /// The entry's image name.
        image: String,
        /// What the grammar says (boxed to keep every error small).
        why: Box<str>,
    },
    /// No `images:` entry names this image, so there is nothing to pin.
    #[error("no `images:` entry is named {name:?}")]
    NoEntry {
        /// The image asked for.
        name: String,
    },
    /// Layout the editor cannot change without touching other bytes.
    #[error("cannot edit safely: {0}")]
    Unsafe(String),
    /// The edited text did not re-parse to exactly the requested change.
    #[error("internal check failed, nothing was written: {0}")]
    Verify(String),
    /// No kustomization file in a directory.
    #[error(
        "no kustomization file (kustomization.yaml, kustomization.yml or Kustomization) in this directory"
    )]
    NotFound,
    /// More than one kustomization file in a directory.
    #[error("found more than one kustomization file ({0}); keep exactly one")]
    Ambiguous(String),
    /// A path resolves, through a symbolic link or `..`, outside the
    /// repository checkout (or into its `.git`); the text says which link.
    #[error("{0}; ferry reads and writes overlays only inside the repository checkout")]
    OutsideRoot(String),
    /// The file is a symbolic link: writing through it could reach anything,
    /// and replacing it would turn the link into a regular file.
    #[error(
        "is a symbolic link (to {0}); ferry neither writes through a link nor replaces it, edit the file it points to"
    )]
    SymbolicLink(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

/// An error with the file and position it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    /// The file, once known.
    pub path: Option<PathBuf>,
    /// 1-based line and column, where there is one.
    pub pos: Option<(usize, usize)>,
    /// What went wrong.
    pub kind: EditErrorKind,
}

impl EditError {
    pub(crate) fn new(kind: EditErrorKind) -> Self {
        EditError {
            path: None,
            pos: None,
            kind,
        }
    }

    pub(crate) fn at(kind: EditErrorKind, pos: (usize, usize)) -> Self {
        EditError {
            path: None,
            pos: Some(pos),
            kind,
        }
    }

    /// Attaches the file path.
    pub fn in_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// True when the error is about the input (bad YAML, unsafe edit, bad
    /// argument) rather than the environment (I/O).
    pub fn is_input_error(&self) -> bool {
        !matches!(self.kind, EditErrorKind::Io(_))
    }
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}:", p.display())?;
        }
        if let Some((l, c)) = self.pos {
            write!(f, "{l}:{c}:")?;
        }
        if self.path.is_some() || self.pos.is_some() {
            f.write_str(" ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for EditError {}

impl From<crate::yaml::YamlError> for EditError {
    fn from(e: crate::yaml::YamlError) -> Self {
        let kind = if e.multiple_documents {
            EditErrorKind::MultipleDocuments
        } else {
            EditErrorKind::Syntax(e.message)
        };
        EditError::at(kind, e.pos)
    }
}
