//! Pin edits on every golden kustomization (`fixtures/golden/*/before.yaml`
//! and `after.yaml`: block and flow lists, comments everywhere, CRLF, BOM,
//! multi-byte text, no final newline): pinning each image changes only
//! comment lines, `kubectl kustomize` renders the same before and after,
//! and removing the pins gives the file back byte for byte. A property
//! test throws arbitrary reasons at the renderer and the editor.

mod common;

use std::path::PathBuf;

use ferry::kustomize::{PinSpec, read_images, read_pins, set_pin};
use proptest::prelude::*;

fn golden_files() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden");
    let mut out = Vec::new();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("before.yaml").is_file())
        .collect();
    cases.sort();
    for case in cases {
        for file in ["before.yaml", "after.yaml"] {
            let name = format!("{}/{file}", case.file_name().unwrap().to_string_lossy());
            out.push((name, std::fs::read_to_string(case.join(file)).unwrap()));
        }
    }
    out
}

fn spec(reason: &str) -> PinSpec {
    PinSpec {
        by: "alice".into(),
        at: "2026-12-01T03:00:00Z".into(),
        reason: reason.into(),
    }
}

/// Lines of `a` not in `b`, as a multiset difference is enough here: every
/// line a pin edit adds or changes holds the marker.
fn changed_lines<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
    let mut rest: Vec<&str> = b.lines().collect();
    a.lines()
        .filter(|l| match rest.iter().position(|r| r == l) {
            Some(i) => {
                rest.remove(i);
                false
            }
            None => true,
        })
        .collect()
}

#[test]
fn pinning_every_golden_image_keeps_the_rendering_and_unpins_back() {
    let deployment = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/deployment.yaml"),
    )
    .unwrap();
    let mut pinned_files = 0;
    for (name, src) in golden_files() {
        let images = read_images(&src).unwrap();
        if images.is_empty() || !read_pins(&src).unwrap().is_empty() {
            continue;
        }
        let mut out = src.clone();
        let mut pinned = Vec::new();
        for e in &images {
            match set_pin(&out, &e.name, Some(&spec("golden \"case\" é"))) {
                Ok(next) => {
                    out = next;
                    pinned.push(e.name.clone());
                }
                // A one-line flow list leaves no line for a pin: refused,
                // never guessed.
                Err(err) => assert!(
                    err.to_string().contains("add the pin comment by hand"),
                    "{name}: {}: {err}",
                    e.name
                ),
            }
        }
        if pinned.is_empty() {
            continue;
        }
        pinned_files += 1;
        for line in changed_lines(&out, &src) {
            assert!(line.contains("# ferry:pin by=alice"), "{name}: {line:?}");
        }
        assert!(changed_lines(&src, &out).is_empty(), "{name}: a line went");
        let pins = read_pins(&out).unwrap();
        assert_eq!(
            pins.iter().map(|p| p.image.clone()).collect::<Vec<_>>(),
            pinned,
            "{name}"
        );
        assert!(
            pins.iter()
                .all(|p| p.reason.as_deref() == Some("golden \"case\" é")),
            "{name}"
        );
        assert_eq!(
            common::rendered_images(&out, &deployment),
            common::rendered_images(&src, &deployment),
            "{name}: kustomize renders differently"
        );
        let mut back = out.clone();
        for image in &pinned {
            back = set_pin(&back, image, None).unwrap();
        }
        assert_eq!(back, src, "{name}: unpinning does not give the file back");
    }
    assert!(
        pinned_files >= 20,
        "only {pinned_files} golden files pinned"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any reason, from anyone: the pin is set as one comment line, reads
    /// back as the reason made safe, is idempotent, and goes away without
    /// a trace.
    #[test]
    fn any_reason_round_trips(
        reason in "\\PC{0,250}|[\"\\\\\n\r\t #=a-zé🚀\u{2028}\u{85}]{0,40}",
        by in "[a-z][a-z0-9-]{0,10}",
        crlf in any::<bool>(),
        trailing in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut src = format!("images:{eol}  - name: api{eol}    newTag: v1{eol}  - name: web{eol}    newTag: v2{eol}");
        if trailing {
            src = src.replace(&format!("newTag: v2{eol}"), &format!("newTag: v2  # ferry:pin by=bob{eol}"));
        }
        let spec = PinSpec { by: by.clone(), at: "2026-12-01T03:00:00Z".into(), reason: reason.clone() };
        for image in ["api", "web"] {
            let out = set_pin(&src, image, Some(&spec)).unwrap();
            prop_assert_eq!(set_pin(&out, image, Some(&spec)).unwrap(), out.clone());
            let pin = read_pins(&out).unwrap().into_iter().find(|p| p.image == image).unwrap();
            let want: String = reason
                .chars()
                .map(|c| if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{feff}' { ' ' } else { c })
                .take(200)
                .collect();
            prop_assert_eq!(pin.reason.as_deref(), Some(want.as_str()));
            prop_assert_eq!(pin.by.as_deref(), Some(by.as_str()));
            // A new own line, unless the pin replaced a trailing one.
            let replaced = image == "web" && trailing;
            prop_assert_eq!(out.matches(eol).count(), src.matches(eol).count() + usize::from(!replaced));
            if crlf {
                prop_assert!(!out.replace("\r\n", "").contains('\n'));
            }
            let removed = set_pin(&out, image, None).unwrap();
            prop_assert!(read_pins(&removed).unwrap().iter().all(|p| p.image != image));
            if !replaced {
                prop_assert_eq!(removed, src.clone());
            }
        }
    }
}
