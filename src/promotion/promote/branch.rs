//! What a promotion branch carries, decided from git alone.
//!
//! ferry pushes exactly one commit on top of the base branch, and that
//! commit changes only `images:` values in the overlays of the PR's
//! environment, byte for byte as the editor writes them. Anything else on
//! the branch (another commit, a rebase, an extra line in a kustomization,
//! another file) means the branch is not ferry's proposal any more: the PR
//! is then rebuilt or closed, never trusted. The PR's title, body and
//! trailers play no part: a collaborator can edit all of them.

use std::path::{Path, PathBuf};

use crate::gitops::BranchFile;
use crate::image::{Digest, ImageUpdate, Tag};
use crate::kustomize;
use crate::promotion::snapshot::Carried;

/// An app a branch may change: its image name and its overlay file in the
/// branch's environment (relative to the repository root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeApp {
    /// The app.
    pub app: String,
    /// `images[].name` in its overlays.
    pub image: String,
    /// Its kustomization file in the environment.
    pub file: PathBuf,
}

/// One file the branch's head commit changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path, relative to the root.
    pub path: PathBuf,
    /// In the head's parent.
    pub before: BranchFile,
    /// In the head.
    pub after: BranchFile,
}

/// The facts about a branch head that decide what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchView {
    /// How many parents the head has.
    pub parents: usize,
    /// Whether the parent is on the base branch (its tip or an ancestor).
    pub parent_on_base: bool,
    /// Every file the head changes against its parent.
    pub changes: Vec<FileChange>,
}

/// The images a branch carries, or why it is not a commit ferry would have
/// produced.
pub fn carried(view: &BranchView, scope: &[ScopeApp]) -> Result<Vec<Carried>, String> {
    if view.parents != 1 {
        return Err(format!(
            "its head has {} parents; ferry pushes one commit on the base branch",
            view.parents
        ));
    }
    if !view.parent_on_base {
        return Err("its head is not built on the base branch".into());
    }
    let mut out = Vec::new();
    for change in &view.changes {
        out.extend(carried_in_file(change, scope)?);
    }
    if out.is_empty() {
        return Err("it changes no image ferry proposes".into());
    }
    Ok(out)
}

fn text<'a>(path: &Path, f: &'a BranchFile, side: &str) -> Result<&'a str, String> {
    match f {
        BranchFile::Blob(b) => {
            std::str::from_utf8(b).map_err(|_| format!("{} is not UTF-8 {side}", path.display()))
        }
        BranchFile::Missing => Err(format!("{} is missing {side}", path.display())),
        BranchFile::Other => Err(format!("{} is not a regular file {side}", path.display())),
    }
}

fn carried_in_file(change: &FileChange, scope: &[ScopeApp]) -> Result<Vec<Carried>, String> {
    let path = &change.path;
    let apps: Vec<&ScopeApp> = scope.iter().filter(|s| &s.file == path).collect();
    if apps.is_empty() {
        return Err(format!(
            "it changes {}, which is not an overlay ferry edits on this branch",
            path.display()
        ));
    }
    let before = text(path, &change.before, "before the change")?;
    let after = text(path, &change.after, "on the branch")?;
    let unreadable = |e: kustomize::EditError| format!("{}: {e}", path.display());
    let old = kustomize::read_images(before).map_err(unreadable)?;
    let new = kustomize::read_images(after).map_err(unreadable)?;
    let mut carried = Vec::new();
    let mut updates = Vec::new();
    for app in apps {
        let was = old.iter().find(|e| e.name == app.image);
        let Some(now) = new.iter().find(|e| e.name == app.image) else {
            continue;
        };
        if let Some(p) = &now.problem {
            return Err(format!(
                "{} sets {} to a value that is not a valid tag and digest ({p})",
                path.display(),
                app.image
            ));
        }
        let same = was.is_some_and(|w| w.new_tag == now.new_tag && w.digest == now.digest);
        if same {
            continue;
        }
        // What ferry writes: a valid tag and a valid digest, both set.
        let (Some(tag), Some(digest)) = (&now.new_tag, &now.digest) else {
            return Err(format!(
                "{} sets {} without both a tag and a digest",
                path.display(),
                app.image
            ));
        };
        let (Ok(tag), Ok(digest)) = (Tag::parse(tag), Digest::parse(digest)) else {
            return Err(format!(
                "{} sets {} to a value that is not a valid tag and digest",
                path.display(),
                app.image
            ));
        };
        let update = ImageUpdate::parse(&format!("{}=*:{tag}@{digest}", app.image))
            .map_err(|e| e.to_string())?;
        updates.push(update);
        carried.push(Carried {
            app: app.app.clone(),
            tag: Some(tag.to_string()),
            digest: digest.to_string(),
        });
    }
    // The branch must hold exactly what the editor makes of the parent.
    let expected = kustomize::set_images(before, &updates).map_err(unreadable)?;
    if expected != after {
        return Err(format!(
            "{} holds changes ferry did not make",
            path.display()
        ));
    }
    Ok(carried)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn scope() -> Vec<ScopeApp> {
        ["api", "web"]
            .iter()
            .map(|a| ScopeApp {
                app: a.to_string(),
                image: a.to_string(),
                file: PathBuf::from("staging/kustomization.yaml"),
            })
            .collect()
    }

    fn overlay(api: (&str, &str), web: (&str, &str)) -> String {
        format!(
            "# staging\nimages:\n- name: api\n  newTag: {}\n  digest: {}\n- name: web\n  newTag: {}\n  digest: {}\n",
            api.0, api.1, web.0, web.1
        )
    }

    fn view(before: &str, after: &str) -> BranchView {
        BranchView {
            parents: 1,
            parent_on_base: true,
            changes: vec![FileChange {
                path: PathBuf::from("staging/kustomization.yaml"),
                before: BranchFile::Blob(before.as_bytes().to_vec()),
                after: BranchFile::Blob(after.as_bytes().to_vec()),
            }],
        }
    }

    #[test]
    fn an_editor_commit_carries_what_it_sets() {
        let before = overlay(("sha-1", D1), ("v1", D1));
        let after = kustomize::set_images(
            &before,
            &[ImageUpdate::parse(&format!("api=*:sha-2@{D2}")).unwrap()],
        )
        .unwrap();
        let got = carried(&view(&before, &after), &scope()).unwrap();
        assert_eq!(
            got,
            [Carried {
                app: "api".into(),
                tag: Some("sha-2".into()),
                digest: D2.into()
            }]
        );
    }

    #[test]
    fn anything_the_editor_would_not_write_is_refused() {
        let before = overlay(("sha-1", D1), ("v1", D1));
        let good = overlay(("sha-2", D2), ("v1", D1));
        // An extra resource in the same file.
        let extra = format!("{good}resources:\n- evil.yaml\n");
        let e = carried(&view(&before, &extra), &scope()).unwrap_err();
        assert!(e.contains("changes ferry did not make"), "{e}");
        // A digest that is not one.
        let bad = overlay(("sha-2", "sha256:zz"), ("v1", D1));
        let e = carried(&view(&before, &bad), &scope()).unwrap_err();
        assert!(e.contains("not a valid tag and digest"), "{e}");
        // Another file.
        let mut v = view(&before, &good);
        v.changes.push(FileChange {
            path: PathBuf::from("prod/kustomization.yaml"),
            before: BranchFile::Missing,
            after: BranchFile::Blob(b"x".to_vec()),
        });
        let e = carried(&v, &scope()).unwrap_err();
        assert!(e.contains("prod/kustomization.yaml"), "{e}");
        // A second commit on top, or a branch not built on the base.
        let mut v = view(&before, &good);
        v.parents = 2;
        assert!(carried(&v, &scope()).is_err());
        let mut v = view(&before, &good);
        v.parent_on_base = false;
        assert!(carried(&v, &scope()).is_err());
        // A symlink where the overlay was.
        let mut v = view(&before, &good);
        v.changes[0].after = BranchFile::Other;
        assert!(carried(&v, &scope()).is_err());
        // No change at all.
        assert!(carried(&view(&before, &before), &scope()).is_err());
        // Out of scope: an app-branch of api may not move web.
        let both = overlay(("sha-2", D2), ("v2", D2));
        let only_api = &scope()[..1];
        let e = carried(&view(&before, &both), only_api).unwrap_err();
        assert!(e.contains("changes ferry did not make"), "{e}");
    }
}
