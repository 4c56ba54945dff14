//! Finding the kustomization file of a directory, and, inside a repository
//! checkout, following symbolic links only while they stay inside it.
//!
//! A checkout's content is whatever was pushed to the GitOps repository, so
//! a link in it is input: `apps/api/dev -> /etc/elsewhere` must not make
//! ferry read or write outside the checkout. [`resolve_in`] resolves a path
//! one component at a time, link by link, and refuses as soon as any step
//! lands outside the root (or in its `.git`), even if a later link would
//! lead back in. Links that stay inside are followed, and the path it
//! returns is the real file with no link left in it: that file is what the
//! editor reads and writes, so a link is never written through and never
//! replaced, and the change a commit carries is the change on that file.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use super::error::{EditError, EditErrorKind};

/// The file names kustomize recognizes, in its order.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Links followed while resolving one path before giving up, as Linux
/// does (`ELOOP`).
const MAX_LINKS: usize = 40;

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
/// Links are followed wherever they lead: this is for a path a person
/// named (`ferry set-image`); inside a checkout use [`resolve_in`].
pub fn resolve(path: &Path) -> Result<PathBuf, EditError> {
    if path.is_dir() {
        find_kustomization(path)
    } else if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(EditError::new(EditErrorKind::Io("no such file or directory".into())).in_file(path))
    }
}

/// The kustomization file that `path`, relative to the checkout at `root`,
/// names: `path` itself when it is a file, else the one kustomization file
/// in the directory. Every symbolic link on the way (the directory, any
/// parent of it, the file itself) is followed only while it stays inside
/// `root`; anything that resolves outside, or into `root/.git`, is refused
/// with an error naming `root/path` and the link. The result is
/// `root.join(real)` where `real` is relative and holds no link, so
/// reading and atomically replacing it touch exactly that file.
pub fn resolve_in(root: &Path, path: &Path) -> Result<PathBuf, EditError> {
    let shown = root.join(path);
    let fail = |kind: EditErrorKind| EditError::new(kind).in_file(&shown);
    let real_root = std::fs::canonicalize(root).map_err(|e| {
        fail(EditErrorKind::Io(format!(
            "cannot resolve the repository root {}: {e}",
            root.display()
        )))
    })?;
    let roots = Roots {
        real: &real_root,
        given: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
    };
    let target = roots.walk(path).map_err(|s| fail(s.into_kind(path)))?;
    let is_dir = std::fs::metadata(real_root.join(&target))
        .map(|m| m.is_dir())
        .map_err(|e| fail(EditErrorKind::Io(format!("cannot read: {e}"))))?;
    if !is_dir {
        return Ok(root.join(target));
    }
    let mut found = Vec::new();
    for name in KUSTOMIZATION_FILE_NAMES {
        let candidate = target.join(name);
        match std::fs::symlink_metadata(real_root.join(&candidate)) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(fail(EditErrorKind::Io(format!("cannot read {name}: {e}")))),
        }
        // A dangling link (inside) or a directory of that name is no
        // kustomization file, as for kustomize; a link out is refused.
        let file = match roots.walk(&candidate) {
            Ok(f) => f,
            Err(Step::Missing) => continue,
            Err(s) => return Err(fail(s.into_kind(&candidate))),
        };
        if real_root.join(&file).is_file() {
            found.push((name, file));
        }
    }
    match found.as_slice() {
        [] => Err(fail(EditErrorKind::NotFound)),
        [(_, one)] => Ok(root.join(one)),
        many => Err(fail(EditErrorKind::Ambiguous(
            many.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        ))),
    }
}

/// Why a walk stopped.
#[derive(Debug)]
enum Step {
    /// A link (relative path) whose target (as written) leaves the root.
    Escapes { link: PathBuf, target: PathBuf },
    /// `..` above the root without any link.
    Above,
    /// The repository's own metadata.
    GitDir,
    /// A component does not exist.
    Missing,
    /// A file where a directory is needed.
    NotADirectory(PathBuf),
    /// Too many links (a loop).
    Loop,
    /// Anything else.
    Io(PathBuf, std::io::Error),
}

impl Step {
    fn into_kind(self, path: &Path) -> EditErrorKind {
        let p = |p: &Path| p.display().to_string();
        match self {
            Step::Escapes { link, target } => EditErrorKind::OutsideRoot(format!(
                "`{}` is a symbolic link to `{}`, which resolves outside the repository",
                p(&link),
                p(&target)
            )),
            Step::Above => {
                EditErrorKind::OutsideRoot(format!("`{}` leaves the repository", p(path)))
            }
            Step::GitDir => EditErrorKind::OutsideRoot(format!(
                "`{}` resolves into the repository's .git directory",
                p(path)
            )),
            Step::Missing => EditErrorKind::Io("no such file or directory".into()),
            Step::NotADirectory(at) => {
                EditErrorKind::Io(format!("`{}` is not a directory", p(&at)))
            }
            Step::Loop => EditErrorKind::Io(format!(
                "more than {MAX_LINKS} symbolic links (a loop?) while resolving `{}`",
                p(path)
            )),
            Step::Io(at, e) => EditErrorKind::Io(format!("cannot read `{}`: {e}", p(&at))),
        }
    }
}

/// One step of a path still to walk.
enum Part {
    Up,
    Name(OsString),
}

/// The root as resolved, and as given (an absolute link may spell either).
struct Roots<'a> {
    real: &'a Path,
    given: PathBuf,
}

impl Roots<'_> {
    /// Walks `path` from the root, link by link; returns the real path
    /// (relative to the root, no link in it). Every intermediate location
    /// is inside the root: a link out is refused even if it leads back.
    fn walk(&self, path: &Path) -> Result<PathBuf, Step> {
        let mut at = PathBuf::new();
        // Parts still to walk, next one last.
        let mut todo: Vec<Part> = Vec::new();
        match self.inside(path) {
            Some(rel) => push_parts(&mut todo, &rel),
            None => return Err(Step::Above),
        }
        let mut links = 0;
        while let Some(part) = todo.pop() {
            let name = match part {
                Part::Up => {
                    if !at.pop() {
                        return Err(Step::Above);
                    }
                    continue;
                }
                Part::Name(n) => n,
            };
            if at.as_os_str().is_empty() && name == ".git" {
                return Err(Step::GitDir);
            }
            let next = at.join(&name);
            let meta = match std::fs::symlink_metadata(self.real.join(&next)) {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(Step::Missing),
                Err(e) => return Err(Step::Io(next, e)),
            };
            if meta.file_type().is_symlink() {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Step::Loop);
                }
                let target = std::fs::read_link(self.real.join(&next))
                    .map_err(|e| Step::Io(next.clone(), e))?;
                let rel = if target.is_absolute() {
                    match self.inside(&target) {
                        Some(rel) => {
                            at = PathBuf::new();
                            rel
                        }
                        None => return Err(Step::Escapes { link: next, target }),
                    }
                } else {
                    target.clone()
                };
                // `..` above the root, through this link, is this link's escape.
                let depth = at.components().count();
                if climbs_above(&rel, depth) {
                    return Err(Step::Escapes { link: next, target });
                }
                push_parts(&mut todo, &rel);
            } else {
                if !todo.is_empty() && !meta.is_dir() {
                    return Err(Step::NotADirectory(next));
                }
                at = next;
            }
        }
        Ok(at)
    }

    /// `path` relative to the root: itself when relative, the rest after
    /// either spelling of the root when absolute; `None` when it is outside.
    fn inside(&self, path: &Path) -> Option<PathBuf> {
        if !path.is_absolute() {
            return Some(path.to_path_buf());
        }
        [self.real, self.given.as_path()]
            .into_iter()
            .find_map(|r| path.strip_prefix(r).ok())
            .map(Path::to_path_buf)
    }
}

/// Pushes the parts of `rel` so that the first one is popped first.
fn push_parts(todo: &mut Vec<Part>, rel: &Path) {
    for c in rel.components().rev() {
        match c {
            Component::ParentDir => todo.push(Part::Up),
            Component::Normal(n) => todo.push(Part::Name(n.to_os_string())),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

/// True when walking `rel` from `depth` directories below the root goes
/// above the root at some point (lexically: `..` of a real directory is its
/// parent, and links inside `rel` are checked again when they are reached).
fn climbs_above(rel: &Path, depth: usize) -> bool {
    let mut d = depth as isize;
    for c in rel.components() {
        match c {
            Component::ParentDir => d -= 1,
            Component::Normal(_) => d += 1,
            _ => {}
        }
        if d < 0 {
            return true;
        }
    }
    false
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

#[cfg(test)]
mod resolve_in_tests {
    use std::os::unix::fs::symlink;

    use super::*;

    const K: &str = "images: []\n";

    /// A checkout `repo/` with `real/kustomization.yaml`, beside an
    /// outside directory `out/` holding a kustomization too.
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let out = dir.path().join("out");
        std::fs::create_dir_all(repo.join("real")).unwrap();
        std::fs::create_dir_all(repo.join("apps/api")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(repo.join("real/kustomization.yaml"), K).unwrap();
        std::fs::write(out.join("kustomization.yaml"), K).unwrap();
        (dir, repo, out)
    }

    fn outside(repo: &Path, path: &str) -> String {
        let e = resolve_in(repo, Path::new(path)).unwrap_err();
        assert!(
            matches!(e.kind, EditErrorKind::OutsideRoot(_)),
            "{path}: {e}"
        );
        let shown = e.to_string();
        assert!(shown.contains(path), "names the path: {shown}");
        shown
    }

    #[test]
    fn plain_directories_and_files() {
        let (_d, repo, _) = setup();
        let want = repo.join("real/kustomization.yaml");
        assert_eq!(resolve_in(&repo, Path::new("real")).unwrap(), want);
        assert_eq!(resolve_in(&repo, Path::new("./real/")).unwrap(), want);
        assert_eq!(
            resolve_in(&repo, Path::new("real/kustomization.yaml")).unwrap(),
            want
        );
        let e = resolve_in(&repo, Path::new("apps/api")).unwrap_err();
        assert_eq!(e.kind, EditErrorKind::NotFound);
        let e = resolve_in(&repo, Path::new("apps/none")).unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
        std::fs::write(repo.join("real/Kustomization"), K).unwrap();
        let e = resolve_in(&repo, Path::new("real")).unwrap_err();
        assert!(matches!(e.kind, EditErrorKind::Ambiguous(_)), "{e}");
    }

    #[test]
    fn links_that_stay_inside_are_followed_to_the_real_file() {
        let (_d, repo, _) = setup();
        let want = repo.join("real/kustomization.yaml");
        symlink("../../real", repo.join("apps/api/dev")).unwrap();
        assert_eq!(resolve_in(&repo, Path::new("apps/api/dev")).unwrap(), want);
        // The file itself a link, relative and absolute (either spelling of the root).
        std::fs::create_dir(repo.join("apps/api/staging")).unwrap();
        symlink(
            "../../../real/kustomization.yaml",
            repo.join("apps/api/staging/kustomization.yaml"),
        )
        .unwrap();
        assert_eq!(
            resolve_in(&repo, Path::new("apps/api/staging")).unwrap(),
            want
        );
        symlink(repo.join("real"), repo.join("apps/api/prod")).unwrap();
        assert_eq!(resolve_in(&repo, Path::new("apps/api/prod")).unwrap(), want);
        let real_root = std::fs::canonicalize(&repo).unwrap();
        symlink(real_root.join("real"), repo.join("apps/api/canon")).unwrap();
        assert_eq!(
            resolve_in(&repo, Path::new("apps/api/canon")).unwrap(),
            want
        );
        // A root reached through a link of its own is still the root.
        let alias = repo.parent().unwrap().join("alias");
        symlink(&repo, &alias).unwrap();
        assert_eq!(
            resolve_in(&alias, Path::new("apps/api/dev")).unwrap(),
            alias.join("real/kustomization.yaml")
        );
    }

    #[test]
    fn links_out_of_the_checkout_are_refused() {
        let (_d, repo, out) = setup();
        symlink(&out, repo.join("apps/api/dev")).unwrap();
        let e = outside(&repo, "apps/api/dev");
        assert!(
            e.contains(&out.display().to_string()),
            "names the target: {e}"
        );
        symlink("../../../out", repo.join("apps/api/rel")).unwrap();
        outside(&repo, "apps/api/rel");
        // The kustomization file itself.
        std::fs::create_dir(repo.join("apps/api/file")).unwrap();
        symlink(
            out.join("kustomization.yaml"),
            repo.join("apps/api/file/kustomization.yaml"),
        )
        .unwrap();
        outside(&repo, "apps/api/file");
        // A parent component.
        symlink(&out, repo.join("apps/web")).unwrap();
        std::fs::create_dir(out.join("dev")).unwrap();
        std::fs::write(out.join("dev/kustomization.yaml"), K).unwrap();
        let e = outside(&repo, "apps/web/dev");
        assert!(e.contains("`apps/web`"), "names the link: {e}");
        // Out and back in: the outside hop is refused all the same.
        symlink(repo.join("real"), out.join("back")).unwrap();
        symlink(out.join("back"), repo.join("apps/api/back")).unwrap();
        outside(&repo, "apps/api/back");
        // `..` above the root, and the repository's metadata.
        outside(&repo, "../out");
        std::fs::create_dir_all(repo.join(".git/x")).unwrap();
        std::fs::write(repo.join(".git/x/kustomization.yaml"), K).unwrap();
        symlink("../../.git/x", repo.join("apps/api/meta")).unwrap();
        outside(&repo, "apps/api/meta");
    }

    #[test]
    fn a_link_loop_is_an_error_not_a_hang() {
        let (_d, repo, _) = setup();
        symlink("b", repo.join("a")).unwrap();
        symlink("a", repo.join("b")).unwrap();
        let e = resolve_in(&repo, Path::new("a")).unwrap_err();
        assert!(e.to_string().contains("symbolic links"), "{e}");
    }
}
