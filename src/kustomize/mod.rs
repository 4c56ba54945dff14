//! Kustomization files: finding them, reading their `images:` entries and
//! editing those entries without changing any other byte.
//!
//! The editor works on the text, not on a re-serialized tree: yaml-rust2's
//! event stream gives the position of every scalar ([`crate::yaml`]), the editor
//! computes byte splices for exactly the values it changes (`edit`), and
//! the result is re-parsed and compared with the requested change before
//! anything is written (`verify`). Files are replaced atomically.

mod edit;
mod entries;
mod error;
mod locate;
mod pins;
mod scalar;
mod verify;
mod wanted;

use std::path::{Path, PathBuf};

pub use edit::set_images;
pub use error::{EditError, EditErrorKind};
pub use locate::{KUSTOMIZATION_FILE_NAMES, find_kustomization, resolve, resolve_in};
pub use pins::{MAX_REASON, PIN_MARKER, Pin, PinSpec, pin_file, read_pins, render_pin, set_pin};

use crate::atomic;
use crate::image::ImageUpdate;
use crate::yaml::{self, Text};

/// One `images:` entry as read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// `name`: the image the entry applies to.
    pub name: String,
    /// `newName`, if set.
    pub new_name: Option<String>,
    /// `newTag`, if set.
    pub new_tag: Option<String>,
    /// `digest`, if set.
    pub digest: Option<String>,
    /// 1-based line of the entry.
    pub line: usize,
    /// Why the entry's values cannot be used (a value outside the image
    /// grammar, a number where kustomize wants a string), with its
    /// position; the value fields are then `None`. Other entries of the
    /// file are unaffected.
    pub problem: Option<EditError>,
}

/// Reads the `images:` entries of a kustomization text. Every value given
/// has passed the image grammar; a null or empty one reads as absent; an
/// entry with a value that does not pass carries it as `problem` instead.
/// Structural faults (a syntax error, duplicate keys) fail the whole file.
pub fn read_images(src: &str) -> Result<Vec<ImageEntry>, EditError> {
    let text = Text::new(src);
    let root = yaml::tree::parse(&text)?;
    entries::read(&text, root.as_ref())
}

/// The name `image` renders as in a kustomization text: its entry's
/// `newName`, else `image` itself (also when the text does not read).
pub fn rendered_name(src: &str, image: &str) -> String {
    read_images(src)
        .ok()
        .and_then(|es| es.into_iter().find(|e| e.name == image))
        .and_then(|e| e.new_name)
        .unwrap_or_else(|| image.to_string())
}

/// The result of editing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The kustomization file.
    pub path: PathBuf,
    /// Its text before.
    pub before: String,
    /// Its text after (equal to `before` when nothing changed).
    pub after: String,
}

impl FileEdit {
    /// True when the edit changed the file.
    pub fn changed(&self) -> bool {
        self.before != self.after
    }

    /// A unified diff of the change (empty when nothing changed).
    pub fn unified_diff(&self) -> String {
        if !self.changed() {
            return String::new();
        }
        let name = self.path.display().to_string();
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{name}"), &format!("b/{name}"))
            .to_string()
    }
}

/// Reads the kustomization at `path` (a file, or a directory holding one),
/// applies `updates`, and writes the result atomically unless `dry_run`.
/// On any error the file is left as it was.
///
/// A kustomization file that is itself a symbolic link is refused before
/// it is read: an atomic replacement would turn the link into a regular
/// file, and writing through it could reach anything. (A directory named
/// through a link is used as named; for paths inside a checkout, resolve
/// them with [`resolve_in`] first, which leaves no link to follow.)
pub fn edit_file(
    path: &Path,
    updates: &[ImageUpdate],
    dry_run: bool,
) -> Result<FileEdit, EditError> {
    let (file, before) = read_file(path)?;
    let after = set_images(&before, updates).map_err(|e| e.in_file(&file))?;
    let edit = FileEdit {
        path: file,
        before,
        after,
    };
    if edit.changed() && !dry_run {
        atomic::write(&edit.path, edit.after.as_bytes()).map_err(|e| {
            EditError::new(EditErrorKind::Io(format!("cannot write: {e}"))).in_file(&edit.path)
        })?;
    }
    Ok(edit)
}

/// The kustomization file at `path` (a file, or a directory holding one)
/// and its text; a symbolic link or a text that is not UTF-8 is refused.
fn read_file(path: &Path) -> Result<(PathBuf, String), EditError> {
    let file = resolve(path)?;
    refuse_link(&file)?;
    let bytes = std::fs::read(&file).map_err(|e| {
        EditError::new(EditErrorKind::Io(format!("cannot read: {e}"))).in_file(&file)
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let src = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        let t = Text::new(&src);
        EditError::at(EditErrorKind::NotUtf8, t.line_col(valid)).in_file(&file)
    })?;
    Ok((file, text))
}

/// Refuses `file` when it is a symbolic link, naming what it points to.
fn refuse_link(file: &Path) -> Result<(), EditError> {
    let meta = std::fs::symlink_metadata(file).map_err(|e| {
        EditError::new(EditErrorKind::Io(format!("cannot read: {e}"))).in_file(file)
    })?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(file)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "an unreadable target".into());
        return Err(EditError::new(EditErrorKind::SymbolicLink(target)).in_file(file));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_renders_as_its_new_name_or_itself() {
        let text = "images:\n- name: api\n  newName: 123.dkr.ecr.us-west-2.amazonaws.com/api\n- name: web\n  newTag: v1\n";
        assert_eq!(
            rendered_name(text, "api"),
            "123.dkr.ecr.us-west-2.amazonaws.com/api"
        );
        assert_eq!(rendered_name(text, "web"), "web");
        assert_eq!(rendered_name("images: [", "api"), "api", "unreadable text");
    }

    fn up(s: &str) -> ImageUpdate {
        ImageUpdate::parse(s).unwrap()
    }

    /// Inputs the fuzzer found; each once panicked.
    #[test]
    fn fuzz_regressions() {
        let out = set_images("\u{feff}", &[up("app:v2")]).unwrap();
        assert!(out.starts_with('\u{feff}'));
        assert_eq!(read_images(&out).unwrap()[0].new_tag.as_deref(), Some("v2"));
    }

    #[test]
    fn read_images_reports_lines() {
        let d = "sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f";
        let src = format!("# c\nimages:\n- name: a\n  newTag: '1'\n- {{name: b, digest: {d}}}\n");
        let got = read_images(&src).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].line, got[0].new_tag.as_deref()), (3, Some("1")));
        assert_eq!((got[1].line, got[1].digest.as_deref()), (5, Some(d)));
        assert!(read_images("resources: []\n").unwrap().is_empty());
    }
}
