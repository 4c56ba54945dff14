//! Golden edits: `fixtures/golden/<case>/before.yaml` edited with the IMAGE
//! arguments in `args` must equal `after.yaml` byte for byte, and
//! `kubectl kustomize` (the oracle for what an overlay means) must render
//! every requested image exactly. `FERRY_BLESS=1` rewrites `after.yaml`.

mod common;

use std::path::{Path, PathBuf};

use ferry::image::ImageUpdate;
use ferry::kustomize::{read_images, set_images};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
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
    let cases = cases();
    assert!(cases.len() >= 20, "golden cases missing");
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
