//! `ferry set-image` and `ferry check-config` as a user runs them: exit
//! codes, messages that point at file:line:col, and files that stay
//! byte-identical whenever ferry refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const D: &str = "sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f";

fn ferry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_kustomization(dir: &Path, body: &[u8]) -> PathBuf {
    let p = dir.join("kustomization.yaml");
    std::fs::write(&p, body).unwrap();
    p
}

/// Runs set-image on `body` and expects a refusal with exit 2, a message
/// containing `want` and the file untouched.
fn refused(body: &str, image: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_kustomization(dir.path(), body.as_bytes());
    let o = ferry(&["set-image", p.to_str().unwrap(), image]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{image} on {body:?}: {err}");
    assert!(err.contains(want), "want {want:?} in: {err}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), body, "file changed");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "a temporary file was left behind");
}

#[test]
fn refuses_what_it_cannot_edit_safely() {
    let path_prefix = "kustomization.yaml:";
    for (body, image, want) in [
        (
            "images:\n- &a {name: app, newTag: v1}\n- *a\n",
            "app:v2",
            "3:3: images entry 1 is an alias",
        ),
        (
            "base: &b {newTag: v1}\nimages:\n- name: app\n  <<: *b\n",
            "app:v2",
            "4:3: images entry 0 uses a merge key",
        ),
        (
            "images:\n  app: v1\n",
            "app:v2",
            "2:3: `images:` is not a list",
        ),
        ("images: app\n", "app:v2", "1:9: `images:` is not a list"),
        (
            "images:\n- name: app\n  newTag: v1\n    continued\n",
            "app:v2",
            "3:3: `newTag` of image \"app\" spans several lines",
        ),
        (
            "images:\n- name: app\n  newTag: [v1\n",
            "app:v2",
            "4:1: YAML syntax error: while parsing a flow sequence",
        ),
        (
            "images: []\n---\nimages: []\n",
            "app:v2",
            "2:1: more than one YAML document",
        ),
        (
            "images:\n- name: app\n  newTag: &t v1\n",
            "app:v2",
            "3:14: `newTag` of image \"app\" has an anchor",
        ),
        (
            "images:\n- name: app\n- name: app\n",
            "app:v2",
            "3:3: image \"app\" has more than one entry",
        ),
        (
            "- a\n- b\n",
            "app:v2",
            "1:1: the top level is not a mapping",
        ),
        (
            "images:\n- newTag: v1\n",
            "app:v2",
            "2:3: images entry 0 has no `name`",
        ),
        (
            "images:\n- name: app\n  newTag: |\n    v1\n",
            "app:v2",
            "3:3: `newTag` of image \"app\" spans several lines",
        ),
    ] {
        refused(body, image, &format!("{path_prefix}{want}"));
    }
}

#[test]
fn refuses_invalid_references_and_writes_nothing() {
    let body = "images:\n- name: app\n  newTag: v1\n";
    let long_tag = format!("app:{}", "a".repeat(129));
    for (image, want) in [
        ("app:-bad", "invalid tag \"-bad\": must start with"),
        ("app:v1+meta", "character '+' is not allowed"),
        (long_tag.as_str(), "129 characters, at most 128"),
        ("app@sha256:abc", "sha256 needs 64 hex digits, found 3"),
        ("app@md5:0123", "algorithm \"md5\" is not supported"),
        (
            &format!("app@{}", D.to_uppercase().replace("SHA256", "sha256")),
            "not a lowercase hex digit",
        ),
        ("App:v1", "invalid image name \"App\""),
        ("app=other/X:v1", "invalid image name \"other/X\""),
        ("app=reg:port/x:v1", "port \"port\" is not a number"),
        ("app=a//b:v1", "empty path component"),
        ("app:", "tag is empty"),
        ("=x:v1", "image name is empty"),
    ] {
        refused(body, image, want);
    }
}

#[test]
fn duplicate_image_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_kustomization(dir.path(), b"images: []\n");
    let o = ferry(&["set-image", p.to_str().unwrap(), "app:v1", "app:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("image \"app\" is given more than once"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "images: []\n");
}

#[test]
fn edits_a_directory_and_reports_changes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_kustomization(dir.path(), b"images:\n- name: app\n  newTag: v1 # note\n");
    let o = ferry(&[
        "set-image",
        dir.path().to_str().unwrap(),
        &format!("app:v2@{D}"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        format!("images:\n- name: app\n  newTag: v2 # note\n  digest: {D}\n")
    );
    // Running it again is a no-op that still succeeds.
    let o = ferry(&[
        "set-image",
        dir.path().to_str().unwrap(),
        &format!("app:v2@{D}"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("already up to date"), "{}", stderr(&o));
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let body = "images:\n- name: app\n  newTag: v1\n";
    let p = write_kustomization(dir.path(), body.as_bytes());
    let o = ferry(&["set-image", "--dry-run", p.to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("-  newTag: v1\n+  newTag: v2\n"), "{out}");
    assert!(out.starts_with("--- a/"), "{out}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), body);
}

#[test]
fn missing_and_ambiguous_kustomizations() {
    let dir = tempfile::tempdir().unwrap();
    let o = ferry(&["set-image", dir.path().to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no kustomization file"),
        "{}",
        stderr(&o)
    );
    std::fs::write(dir.path().join("kustomization.yaml"), "images: []\n").unwrap();
    std::fs::write(dir.path().join("kustomization.yml"), "images: []\n").unwrap();
    let o = ferry(&["set-image", dir.path().to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("more than one kustomization file (kustomization.yaml, kustomization.yml)"),
        "{}",
        stderr(&o)
    );
    let o = ferry(&[
        "set-image",
        dir.path().join("nope.yaml").to_str().unwrap(),
        "app:v2",
    ]);
    assert_eq!(o.status.code(), Some(1), "a missing path is not bad YAML");
}

#[test]
fn non_utf8_file_is_refused_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let body = b"images:\n- name: app\n  newTag: v\xff\n";
    let p = write_kustomization(dir.path(), body);
    let o = ferry(&["set-image", p.to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("kustomization.yaml:3:12: file is not valid UTF-8"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&p).unwrap(), body);
}

#[test]
fn keeps_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = write_kustomization(dir.path(), b"images: []\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = ferry(&["set-image", p.to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// A kustomization file that is a symbolic link is refused, named either
/// way (the file or its directory), with or without `--dry-run`: the link
/// stays a link and its target keeps its bytes. Before, the atomic rename
/// replaced the link with a regular file.
#[test]
fn symlinked_kustomization_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let body = "images:\n- name: app\n  newTag: v1\n";
    let target = dir.path().join("elsewhere.yaml");
    std::fs::write(&target, body).unwrap();
    let overlay = dir.path().join("overlay");
    std::fs::create_dir(&overlay).unwrap();
    let link = overlay.join("kustomization.yaml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for args in [
        vec!["set-image", link.to_str().unwrap(), "app:v2"],
        vec!["set-image", overlay.to_str().unwrap(), "app:v2"],
        vec![
            "set-image",
            "--dry-run",
            overlay.to_str().unwrap(),
            "app:v2",
        ],
    ] {
        let o = ferry(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "{}: is a symbolic link (to {})",
                link.display(),
                target.display()
            )),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "no diff: {args:?}");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{args:?}: the link is still a link"
        );
        assert_eq!(std::fs::read_link(&link).unwrap(), target);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), body, "{args:?}");
        assert_eq!(
            std::fs::read_dir(&overlay).unwrap().count(),
            1,
            "no temporary file"
        );
    }
    // The file it points to is edited as usual.
    let o = ferry(&["set-image", target.to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .contains("newTag: v2")
    );
}

#[test]
fn check_config_exit_codes() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ferry.example.yaml");
    let o = ferry(&["check-config", "--config", example]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ferry.yaml");
    std::fs::write(
        &p,
        "apps:\n- {name: a, repository: r, image: i, overlays: {dev: /abs}}\n",
    )
    .unwrap();
    let o = ferry(&["check-config", "--config", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(
            "ferry.yaml:2:54: apps[0].overlays.dev: overlay path \"/abs\" must be relative"
        ),
        "{}",
        stderr(&o)
    );
    let o = ferry(&[
        "check-config",
        "--config",
        dir.path().join("missing.yaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = ferry(&["set-image"]);
    assert_eq!(o.status.code(), Some(2), "usage errors are bad input");
}
