//! Parse + edit + emit time of the image editor on the real-world corpus:
//! one tag edit of the first image of every corpus file per iteration.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferry::image::ImageUpdate;
use ferry::kustomize::{read_images, set_images};

fn corpus() -> Vec<(String, ImageUpdate)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/kustomize");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("corpus") {
        let src = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        let Some(first) = read_images(&src).expect("parses").into_iter().next() else {
            continue;
        };
        let update =
            ImageUpdate::parse(&format!("{}=*:v9.9.9-ferry@*", first.name)).expect("valid");
        out.push((src, update));
    }
    out
}

fn bench(c: &mut Criterion) {
    let files = corpus();
    let mut g = c.benchmark_group("set_images");
    g.throughput(Throughput::Elements(files.len() as u64));
    g.bench_function("corpus_tag_edit", |b| {
        b.iter(|| {
            for (src, update) in &files {
                let out = set_images(std::hint::black_box(src), std::slice::from_ref(update))
                    .expect("edit");
                std::hint::black_box(out);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
