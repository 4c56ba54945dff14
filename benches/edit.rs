//! Parse + edit + emit time of the image editor: one tag edit of the first
//! image of every corpus file per iteration; one edit of a generated file
//! with 1k, 10k and 40k entries, and a tag edit of every entry of such a
//! file at once (both must grow linearly).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferry::image::ImageUpdate;
use ferry::kustomize::{read_images, set_images};

fn corpus() -> Vec<(String, ImageUpdate)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/kustomize");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("corpus") {
        let src = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        // Files whose values fail the image grammar are refused by the
        // reader; they are not part of the timed edit set.
        let Ok(entries) = read_images(&src) else {
            continue;
        };
        let Some(first) = entries.into_iter().next() else {
            continue;
        };
        let update =
            ImageUpdate::parse(&format!("{}=*:v9.9.9-ferry@*", first.name)).expect("valid");
        out.push((src, update));
    }
    out
}

/// A kustomization with `n` block entries of three fields each.
fn many_entries(n: usize) -> String {
    let mut s = String::from("resources:\n- deployment.yaml\nimages:\n");
    for i in 0..n {
        s.push_str(&format!(
            "- name: team/app-{i}\n  newName: registry.local:5000/team/app-{i}\n  newTag: v1.{i}\n"
        ));
    }
    s.push_str("namePrefix: demo-\n");
    s
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

    // One tag edit of the last entry and one new entry, in files of growing
    // size: time per entry must stay flat.
    let mut g = c.benchmark_group("set_images_entries");
    g.sample_size(10).warm_up_time(Duration::from_secs(1));
    for n in [1_000usize, 10_000, 40_000] {
        let src = many_entries(n);
        let updates = [
            ImageUpdate::parse(&format!("team/app-{}:v9", n - 1)).expect("valid"),
            ImageUpdate::parse("team/new:v1").expect("valid"),
        ];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &src, |b, src| {
            b.iter(|| set_images(std::hint::black_box(src), &updates).expect("edit"))
        });
    }
    g.finish();

    // Every entry retagged in one edit (a promotion of many apps at once).
    let mut g = c.benchmark_group("set_images_every_entry");
    g.sample_size(10).warm_up_time(Duration::from_secs(1));
    for n in [1_000usize, 10_000, 40_000] {
        let src = many_entries(n);
        let updates: Vec<ImageUpdate> = (0..n)
            .map(|i| ImageUpdate::parse(&format!("team/app-{i}=*:v9")).expect("valid"))
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &src, |b, src| {
            b.iter(|| set_images(std::hint::black_box(src), &updates).expect("edit"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
