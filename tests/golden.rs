//! Golden edits: `fixtures/golden/<case>/before.yaml` edited with the IMAGE
//! arguments in `args` must equal `after.yaml` byte for byte, and
//! `kubectl kustomize` (the oracle for what an overlay means) must render
//! every requested image exactly. `FERRY_BLESS=1` rewrites `after.yaml`.
//!
//! Golden refusals: `ferry set-image` on `fixtures/golden/refused/<case>/before.yaml`
//! with `args` must exit 2 with every line of `error` in its message and
//! leave the file byte-identical; `renders` lists images that `kubectl
//! kustomize` renders from that file, showing what ferry refused to guess.

mod common;

use std::path::{Path, PathBuf};

use ferry::image::ImageUpdate;
use ferry::kustomize::{read_images, set_images};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

fn cases_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("before.yaml").is_file())
        .collect();
    v.sort();
    v
}

fn updates(case: &Path) -> Vec<ImageUpdate> {
    std::fs::read_to_string(case.join("args"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| ImageUpdate::parse(l.trim()).unwrap())
        .collect()
}

/// What `kubectl kustomize` renders for `after`.
fn render(after: &str) -> Vec<String> {
    let deployment = std::fs::read_to_string(golden_dir().join("deployment.yaml")).unwrap();
    common::rendered_images(after, &deployment)
}

#[test]
fn golden_edits_match_and_render_exactly() {
    let bless = std::env::var_os("FERRY_BLESS").is_some();
    let cases = cases_in(&golden_dir());
    assert!(cases.len() >= 24, "golden cases missing");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let before = std::fs::read_to_string(case.join("before.yaml")).unwrap();
        let ups = updates(&case);
        let after = set_images(&before, &ups).unwrap_or_else(|e| panic!("{name}: {e}"));
        let golden = case.join("after.yaml");
        if bless {
            std::fs::write(&golden, &after).unwrap();
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{name}: no after.yaml (run with FERRY_BLESS=1)"));
        assert_eq!(after, want, "{name}: edit differs from the golden file");

        // Editing again with the same arguments changes nothing.
        assert_eq!(
            set_images(&after, &ups).unwrap(),
            after,
            "{name}: not idempotent"
        );

        // kubectl kustomize renders each requested reference exactly.
        let old: Vec<_> = read_images(&before).unwrap();
        let rendered = render(&after);
        for u in &ups {
            let cur = old.iter().find(|e| e.name == u.name.as_str());
            let want = u.rendered(
                cur.and_then(|e| e.new_name.as_deref()),
                cur.and_then(|e| e.new_tag.as_deref()),
                cur.and_then(|e| e.digest.as_deref()),
            );
            // Without a tag or digest, kustomize keeps the resource's tag.
            let r = ferry::image::ImageRef::parse(&want).unwrap();
            let want = if r.tag.is_none() && r.digest.is_none() {
                format!("{want}:1.0")
            } else {
                want
            };
            assert!(
                rendered.contains(&want),
                "{name}: {want} not in rendered {rendered:?}"
            );
        }
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn golden_refusals_leave_the_file_byte_identical() {
    let cases = cases_in(&golden_dir().join("refused"));
    assert!(cases.len() >= 5, "refusal cases missing");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let before = std::fs::read(case.join("before.yaml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kustomization.yaml");
        std::fs::write(&file, &before).unwrap();
        std::fs::copy(
            golden_dir().join("deployment.yaml"),
            dir.path().join("deployment.yaml"),
        )
        .unwrap();

        // What kustomize makes of the file: the reason ferry must not guess.
        let text = String::from_utf8(before.clone()).unwrap();
        let deployment = std::fs::read_to_string(golden_dir().join("deployment.yaml")).unwrap();
        let rendered = common::rendered_images(&text, &deployment);
        for want in lines(&case.join("renders")) {
            assert!(
                rendered.contains(&want),
                "{name}: kustomize renders {rendered:?}, not {want}"
            );
        }

        let args = lines(&case.join("args"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("set-image")
            .arg(&file)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        for want in lines(&case.join("error")) {
            assert!(stderr.contains(&want), "{name}: want {want:?} in {stderr}");
        }
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{name}: the file changed"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "{name}: a file was left behind"
        );
        // The library refuses the same way, and so does the reader.
        let ups: Vec<ImageUpdate> = args
            .iter()
            .map(|a| ImageUpdate::parse(a).unwrap())
            .collect();
        assert!(set_images(&text, &ups).is_err(), "{name}");
        assert!(read_images(&text).is_err(), "{name}");
    }
}
