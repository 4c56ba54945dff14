//! What `ferry::dora::from_workspace` costs on a year of history at scale.
//!
//! ```sh
//! cargo bench --bench dora_report                 # 1,000 apps × 3 environments, 365 days
//! cargo bench --bench dora_report -- APPS DAYS
//! ```
//!
//! Builds (with `git fast-import`) a bare GitOps repository with one
//! overlay per app and environment (`apps/<app>/<env>/kustomization.yaml`)
//! and DAYS days of history: a ferry commit to dev every 30 minutes moving
//! 5 apps, a merged promotion PR (a branch commit and its merge) to staging
//! for every app every 7 days and to production 2 days later, and every
//! 50th production promotion reverted by hand an hour later. Then it syncs
//! a checkout and times `from_workspace` for 30-, 90- and 365-day periods
//! (best and median of 5 runs), printing the deployments found, and a
//! `Reporter` (what the runner keeps): its first call, a call with nothing
//! new, and a call after one more commit.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use ferry::gitops::{Credentials, Workspace};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

const ENVS: [&str; 3] = ["dev", "staging", "production"];
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let apps: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let days: i64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(365);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    // FERRY_BENCH_KEEP=1 leaves the fixture behind, to compare with git.
    if std::env::var_os("FERRY_BENCH_KEEP").is_some() {
        let _ = tmp.keep();
        println!("fixture in {}", dir.display());
    }
    let dir = dir.as_path();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let t = Instant::now();
    let (commits, expected) = build(dir, apps, days, now);
    println!(
        "fixture: {apps} apps × 3 environments, {days} days: {commits} commits \
         ({expected} deployments written) in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    std::fs::write(dir.join("ferry.yaml"), config(apps)).unwrap();
    let config = ferry::config::load(&dir.join("ferry.yaml")).unwrap();
    let repo = dir.join("gitops.git");
    let mut ws = Workspace::open(
        repo.to_str().unwrap(),
        "main",
        &dir.join("cache"),
        Credentials::None,
    )
    .unwrap();
    let t = Instant::now();
    ws.sync().unwrap();
    println!("first sync (clone): {:.1}s", t.elapsed().as_secs_f64());
    let until = OffsetDateTime::from_unix_timestamp(now).unwrap();
    // The walk alone (tree diffs and blob reads, no parsing), whole history.
    let paths: Vec<std::path::PathBuf> = (0..apps)
        .flat_map(|i| ENVS.map(|e| path(&app_name(i), e).into()))
        .collect();
    let t = Instant::now();
    let mut changed = 0usize;
    let end = ws
        .walk_changes(&paths, 0, usize::MAX, |c| changed += c.files.len())
        .unwrap();
    println!(
        "walk_changes alone, whole history: {:.0} ms for {} commits ({changed} file versions)",
        t.elapsed().as_secs_f64() * 1000.0,
        end.commits
    );
    for period in [30, 90, 365] {
        if period > days {
            continue;
        }
        let since = until - time::Duration::days(period);
        let mut times = Vec::new();
        let mut report = None;
        for _ in 0..5 {
            let t = Instant::now();
            report = Some(ferry::dora::read(&config, &ws, since, until).unwrap());
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let r = report.unwrap();
        let figures: Vec<String> = r
            .report
            .envs
            .iter()
            .map(|e| format!("{} {} ({} failed)", e.env, e.deployments, e.failures))
            .collect();
        println!(
            "from_workspace, {period:>3}-day period: best {:.0} ms, median {:.0} ms; \
             {} commits read; {}",
            times[0],
            times[2],
            r.commits,
            figures.join(", ")
        );
    }
    reporter(dir, &config, &mut ws, now);
}

/// The runner's way: a `Reporter` for a 30-day period, called again with
/// nothing new, then after one more commit.
fn reporter(dir: &Path, config: &ferry::config::Config, ws: &mut Workspace, now: i64) {
    let until = OffsetDateTime::from_unix_timestamp(now).unwrap();
    let since = until - time::Duration::days(30.min(1 + (now - first_commit_time(dir)) / DAY));
    let mut rep = ferry::dora::Reporter::default();
    let mut time_it = |what: &str, ws: &Workspace| {
        let t = Instant::now();
        let r = rep.report(config, ws, since, until).unwrap();
        println!(
            "Reporter, 30-day period, {what}: {:.1} ms ({} commits covered)",
            t.elapsed().as_secs_f64() * 1000.0,
            r.commits
        );
    };
    time_it("first call", ws);
    time_it("again, nothing new", ws);
    // One more ferry commit to dev.
    let repo = git2::Repository::open_bare(dir.join("gitops.git")).unwrap();
    let tip = repo
        .find_commit(repo.refname_to_id("refs/heads/main").unwrap())
        .unwrap();
    let name = app_name(0);
    let blob = repo.blob(kustomization(&name, "b-new").as_bytes()).unwrap();
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert(path(&name, "dev"), blob, git2::FileMode::Blob);
    let tree = repo
        .find_tree(update.create_updated(&repo, &tip.tree().unwrap()).unwrap())
        .unwrap();
    let sig =
        git2::Signature::new("ferry", "ferry@example.com", &git2::Time::new(now - 1, 0)).unwrap();
    let c = repo
        .commit(None, &sig, &sig, "dev: one more\n", &tree, &[&tip])
        .unwrap();
    repo.reference("refs/heads/main", c, true, "bench").unwrap();
    ws.sync().unwrap();
    time_it("after one new commit", ws);
}

fn first_commit_time(dir: &Path) -> i64 {
    let repo = git2::Repository::open_bare(dir.join("gitops.git")).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.simplify_first_parent().unwrap();
    walk.push_ref("refs/heads/main").unwrap();
    walk.last()
        .map(|id| repo.find_commit(id.unwrap()).unwrap().time().seconds())
        .unwrap_or(0)
}

fn digest(tag: &str) -> String {
    let h = Sha256::digest(tag.as_bytes());
    let mut s = String::from("sha256:");
    for b in h {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn kustomization(app: &str, tag: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         resources:\n  - ../../base\nimages:\n  - name: {app}\n    newName: 123456789012.dkr.ecr.us-west-2.amazonaws.com/{app}\n    newTag: {tag}\n    digest: {}\n",
        digest(tag)
    )
}

fn app_name(i: usize) -> String {
    format!("app-{i:04}")
}

fn path(app: &str, env: &str) -> String {
    format!("apps/{app}/{env}/kustomization.yaml")
}

fn config(apps: usize) -> String {
    let mut s = String::from(
        "gitops: {repo: gitops.git, branch: main, author_name: ferry, author_email: ferry@example.com}\n\
         registry: {kind: local, path: registry.yaml}\n\
         environments:\n  - {name: dev, mode: commit}\n\
         \x20 - {name: staging, mode: pull_request, after: dev}\n\
         \x20 - {name: production, mode: pull_request, after: staging}\napps:\n",
    );
    for i in 0..apps {
        let a = app_name(i);
        let _ = writeln!(
            s,
            "  - {{name: {a}, repository: {a}, image: {a}, overlays: {{dev: apps/{a}/dev, staging: apps/{a}/staging, production: apps/{a}/production}}}}"
        );
    }
    s
}

/// One commit to write: when, what, which files.
enum Event {
    /// A ferry commit to dev moving these apps to these tags.
    Dev(Vec<(usize, String)>),
    /// A merged PR (branch commit + merge) setting the app's tag in `env`.
    Pr(usize, &'static str, String),
    /// A hand commit in production going back to the app's previous tag.
    Hand(usize),
}

/// Writes the history; returns (commits, deployments written).
fn build(dir: &Path, apps: usize, days: i64, now: i64) -> (usize, usize) {
    let repo = dir.join("gitops.git");
    let ok = Command::new("git")
        .args(["init", "--bare", "-q", "-b", "main"])
        .arg(&repo)
        .status()
        .unwrap();
    assert!(ok.success());
    let start = now - days * DAY - HOUR;
    // Plan the events in time order.
    let mut events: BTreeMap<(i64, usize), Event> = BTreeMap::new();
    let mut seq = 0usize;
    let mut key = |t: i64| {
        seq += 1;
        (t, seq)
    };
    let mut build_no = vec![0u32; apps];
    // Dev: every 30 minutes, 5 apps round robin.
    let mut next_app = 0usize;
    let mut t = start + HOUR;
    // What dev runs per app over time: (time, tag), for promotions.
    let mut dev_runs: Vec<Vec<(i64, String)>> = vec![vec![(start, "b-0".to_string())]; apps];
    while t < now {
        let mut moved = Vec::new();
        for _ in 0..5.min(apps) {
            let a = next_app % apps;
            next_app += 1;
            build_no[a] += 1;
            let tag = format!("b-{}", build_no[a]);
            dev_runs[a].push((t, tag.clone()));
            moved.push((a, tag));
        }
        events.insert(key(t), Event::Dev(moved));
        t += 30 * 60;
    }
    // Staging every 7 days per app (staggered), production 2 days later.
    let mut prod_count = 0usize;
    for (a, runs) in dev_runs.iter().enumerate() {
        let offset = (a as i64 * 7 * DAY) / apps as i64;
        let mut t = start + DAY + offset;
        while t < now {
            let tag = runs
                .iter()
                .rev()
                .find(|(at, _)| *at <= t)
                .map(|(_, tag)| tag.clone())
                .unwrap_or_else(|| "b-0".into());
            events.insert(key(t), Event::Pr(a, "staging", tag.clone()));
            let tp = t + 2 * DAY;
            if tp < now {
                events.insert(key(tp), Event::Pr(a, "production", tag.clone()));
                prod_count += 1;
                if prod_count.is_multiple_of(50) && tp + HOUR < now {
                    events.insert(key(tp + HOUR), Event::Hand(a));
                }
            }
            t += 7 * DAY;
        }
    }
    // The stream.
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&repo)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufWriter::new(child.stdin.take().unwrap());
    let mut mark = 0usize;
    let mut commits = 0usize;
    let mut deployments = 0usize;
    let data = |out: &mut dyn std::io::Write, s: &str| {
        write!(out, "data {}\n{s}\n", s.len()).unwrap();
    };
    let file = |out: &mut dyn std::io::Write, p: &str, content: &str| {
        writeln!(out, "M 100644 inline {p}").unwrap();
        write!(out, "data {}\n{content}\n", content.len()).unwrap();
    };
    // Current tags per app × env (for reverts).
    let mut running: Vec<[String; 3]> = vec![std::array::from_fn(|_| "b-0".to_string()); apps];
    let mut previous: Vec<String> = vec!["b-0".to_string(); apps];
    mark += 1;
    writeln!(
        out,
        "commit refs/heads/main\nmark :{mark}\ncommitter ferry <ferry@example.com> {start} +0000"
    )
    .unwrap();
    data(&mut out, "Initial commit\n");
    for i in 0..apps {
        let a = app_name(i);
        for env in ENVS {
            file(&mut out, &path(&a, env), &kustomization(&a, "b-0"));
        }
    }
    commits += 1;
    let mut main = mark;
    for ((t, _), ev) in events {
        match ev {
            Event::Dev(moved) => {
                let mut msg = String::from("dev: ferry moves\n\n");
                for (a, tag) in &moved {
                    let _ = write!(
                        msg,
                        "Ferry-App: {}\nFerry-Env: dev\nFerry-Image: {}:{tag}\n",
                        app_name(*a),
                        app_name(*a)
                    );
                }
                mark += 1;
                writeln!(out, "commit refs/heads/main\nmark :{mark}\ncommitter ferry <ferry@example.com> {t} +0000").unwrap();
                data(&mut out, &msg);
                writeln!(out, "from :{main}").unwrap();
                for (a, tag) in &moved {
                    let name = app_name(*a);
                    file(&mut out, &path(&name, "dev"), &kustomization(&name, tag));
                    running[*a][0] = tag.clone();
                    deployments += 1;
                }
                main = mark;
                commits += 1;
            }
            Event::Pr(a, env, tag) => {
                let e = if env == "staging" { 1 } else { 2 };
                if running[a][e] == tag {
                    continue;
                }
                let name = app_name(a);
                let content = kustomization(&name, &tag);
                mark += 1;
                let branch = mark;
                writeln!(out, "commit refs/heads/pr\nmark :{branch}\ncommitter ferry <ferry@example.com> {} +0000", t - 60).unwrap();
                data(
                    &mut out,
                    &format!("{env}: {name} → {tag}\n\nFerry-App: {name}\nFerry-Env: {env}\n"),
                );
                writeln!(out, "from :{main}").unwrap();
                file(&mut out, &path(&name, env), &content);
                mark += 1;
                writeln!(out, "commit refs/heads/main\nmark :{mark}\ncommitter reviewer <r@example.com> {t} +0000").unwrap();
                data(
                    &mut out,
                    &format!("Merge pull request from ferry/{env}/{name}\n"),
                );
                writeln!(out, "from :{main}\nmerge :{branch}").unwrap();
                file(&mut out, &path(&name, env), &content);
                main = mark;
                commits += 2;
                if e == 2 {
                    previous[a] = std::mem::replace(&mut running[a][e], tag);
                } else {
                    running[a][e] = tag;
                }
                deployments += 1;
            }
            Event::Hand(a) => {
                let name = app_name(a);
                let back = previous[a].clone();
                mark += 1;
                writeln!(out, "commit refs/heads/main\nmark :{mark}\ncommitter oncall <o@example.com> {t} +0000").unwrap();
                data(&mut out, &format!("production: {name} back to {back}\n"));
                writeln!(out, "from :{main}").unwrap();
                file(
                    &mut out,
                    &path(&name, "production"),
                    &kustomization(&name, &back),
                );
                running[a][2] = back;
                main = mark;
                commits += 1;
                deployments += 1;
            }
        }
    }
    drop(out);
    assert!(child.wait().unwrap().success());
    (commits, deployments)
}
