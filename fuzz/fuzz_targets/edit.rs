//! Fuzzes the kustomization image editor with arbitrary text and a choice
//! of updates. It must never panic; whenever it accepts an edit, the result
//! must read back with the requested entry and be a fixed point.
#![no_main]

use ferry::image::ImageUpdate;
use ferry::kustomize::{read_images, set_images};
use libfuzzer_sys::fuzz_target;

const UPDATES: [&str; 6] = [
    "app:v2",
    "app=*:1.10@sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f",
    "app=mirror.io/app",
    "new:true",
    "app=*:*@*",
    "db@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(src) = std::str::from_utf8(rest) else { return };
    let update = ImageUpdate::parse(UPDATES[pick as usize % UPDATES.len()]).expect("valid");
    let Ok(out) = set_images(src, std::slice::from_ref(&update)) else { return };
    let entries = read_images(&out).expect("an accepted edit reads back");
    assert!(entries.iter().any(|e| e.name == update.name.as_str()));
    assert_eq!(set_images(&out, &[update]).expect("edits again"), out, "not a fixed point");
});
