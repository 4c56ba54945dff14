//! Finding the kustomization file of a directory.

use std::path::{Path, PathBuf};

use super::error::{EditError, EditErrorKind};

/// The file names kustomize recognizes, in its order.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The kustomization file in `dir`. More than one is an error, as in kustomize.
pub fn find_kustomization(dir: &Path) -> Result<PathBuf, EditError> {
    let found: Vec<PathBuf> = KUSTOMIZATION_FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [] => Err(EditError::new(EditErrorKind::NotFound).in_file(dir)),
        [one] => Ok(one.clone()),
        many => Err(EditError::new(EditErrorKind::Ambiguous(
            many.iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", "),
        ))
        .in_file(dir)),
    }
}

/// `path` itself when it is a file, else the kustomization file inside it.
pub fn resolve(path: &Path) -> Result<PathBuf, EditError> {
    if path.is_dir() {
        find_kustomization(path)
    } else if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(EditError::new(EditErrorKind::Io("no such file or directory".into())).in_file(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            find_kustomization(dir.path()).unwrap_err().kind,
            EditErrorKind::NotFound
        );
        std::fs::write(dir.path().join("Kustomization"), "images: []\n").unwrap();
        assert_eq!(
            find_kustomization(dir.path()).unwrap(),
            dir.path().join("Kustomization")
        );
        assert_eq!(
            resolve(dir.path()).unwrap(),
            dir.path().join("Kustomization")
        );
        std::fs::write(dir.path().join("kustomization.yml"), "images: []\n").unwrap();
        let e = find_kustomization(dir.path()).unwrap_err();
        assert_eq!(
            e.kind,
            EditErrorKind::Ambiguous("kustomization.yml, Kustomization".into())
        );
        assert!(
            e.to_string().contains("more than one kustomization file"),
            "{e}"
        );
    }
}
