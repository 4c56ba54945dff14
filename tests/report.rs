//! `ferry report` and `dora::from_workspace` on real repositories: the one
//! `ferry demo --dir` leaves, and a hand-built history with ferry commits,
//! a merged promotion PR, hand edits, a `/ferry revert`, a forged
//! `Ferry-Reverts` and hand reverts inside and outside 24 hours.

use std::path::Path;
use std::process::{Command, Output};

use ferry::gitops::{self, Author, Credentials, Workspace};
use git2::{Oid, Repository, Signature, Time};
use serde_json::Value;
use time::OffsetDateTime;

fn ferry(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env("FERRY_CACHE_DIR", cache)
        .output()
        .unwrap()
}

fn env<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["envs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["env"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

#[test]
fn the_demo_repository_reports_its_story() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let config = dir.path().join("ferry.yaml");
    let config = config.to_str().unwrap();
    let cache = dir.path().join("cache");
    let o = ferry(&["report", "--config", config, "--output", "json"], &cache);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = r["envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["env"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev", "staging", "production"]);

    // dev: sha-2a2a2a2, then sha-5d5d5d5 with web v1.1.0 in one commit,
    // then dana's hand edit to sha-7e7e7e7, then sha-9f9f9f9. The initial
    // commit is none.
    let log = first_parent_log(&dir.path().join("gitops.git"));
    let dev = env(&r, "dev");
    assert_eq!(dev["deployments"], 5, "{dev:#}\n{log}");
    assert_eq!(dev["failures"], 0);
    assert_eq!(dev["change_failure_rate"], 0.0);
    // ferry's commits record the push time of what they bring (the demo's
    // registry says 2026-11-26); the hand edit does not.
    assert!(dev["lead_time_median"].is_u64(), "{dev:#}");
    assert_eq!(
        dev_commits_with_push_time(&dir.path().join("gitops.git")),
        3
    );
    // staging: the two merged PRs (api, web), PR #6 bringing sha-9f9f9f9,
    // and ferry's automatic revert of it, which makes #6 a failure.
    let staging = env(&r, "staging");
    assert_eq!(staging["deployments"], 4, "{staging:#}\n{log}");
    assert_eq!(staging["failures"], 1);
    assert_eq!(staging["change_failure_rate"], 0.25);
    assert!(staging["time_to_restore_median"].is_u64(), "{staging:#}");
    assert!(staging["lead_time_median"].is_u64(), "{staging:#}");
    // production: PR #3 (api and web), oncall's `/ferry revert api
    // production`, PR #5 promoting api again after the unpin. Only PR #3's
    // api was reverted; the unpin commit changes no image.
    let prod = env(&r, "production");
    assert_eq!(prod["deployments"], 4, "{prod:#}\n{log}");
    assert_eq!(prod["failures"], 1);
    assert_eq!(prod["change_failure_rate"], 0.25);
    assert!(prod["time_to_restore_median"].is_u64(), "{prod:#}");
    assert!(prod["lead_time_median"].is_u64(), "{prod:#}");
    // Production deployed the same images as staging, later.
    assert!(prod["lead_time_p90"].as_u64() >= staging["lead_time_p90"].as_u64());
    assert!(prod["per_day"].as_f64().unwrap() > 0.13);

    // One environment, and the text form.
    let o = ferry(
        &[
            "report",
            "--config",
            config,
            "--env",
            "production",
            "--output",
            "json",
        ],
        &cache,
    );
    assert!(o.status.success());
    let one: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(one["envs"].as_array().unwrap().len(), 1);
    assert_eq!(one["envs"][0], *prod);
    let o = ferry(&["report", "--config", config, "--since", "1d"], &cache);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("\nproduction\n  deployments          4 (4.00 a day; band: "),
        "{text}"
    );
    assert!(
        text.contains("change failure rate  25% (1 of 4 reverted)"),
        "{text}"
    );
    assert!(
        text.contains("\ndev\n  deployments          5 (5.00 a day; band: "),
        "{text}"
    );
    assert!(text.contains("  lead time            median "), "{text}");

    // Bad input: exit 2 with a message naming it.
    let o = ferry(&["report", "--config", config, "--env", "nope"], &cache);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("\"nope\" is not an environment"), "{err}");
    assert!(err.contains("dev, staging, production"), "{err}");
    for since in ["3w", "0d", "soon"] {
        let o = ferry(&["report", "--config", config, "--since", since], &cache);
        assert_eq!(o.status.code(), Some(2), "{since}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("--since"),
            "{since}"
        );
    }
}

/// How many first-parent commits carry a `Ferry-Pushed-At` trailer.
fn dev_commits_with_push_time(repo: &Path) -> usize {
    let repo = Repository::open_bare(repo).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.simplify_first_parent().unwrap();
    walk.push_ref("refs/heads/main").unwrap();
    walk.filter(|id| {
        let c = repo.find_commit(*id.as_ref().unwrap()).unwrap();
        gitops::parse_trailers(c.message().unwrap_or_default())
            .iter()
            .any(|(k, _)| k == "Ferry-Pushed-At")
    })
    .count()
}

/// `id time subject` of each first-parent commit, for failure messages.
fn first_parent_log(repo: &Path) -> String {
    let repo = Repository::open_bare(repo).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.simplify_first_parent().unwrap();
    walk.push_ref("refs/heads/main").unwrap();
    walk.map(|id| {
        let c = repo.find_commit(id.unwrap()).unwrap();
        format!(
            "{} {} {}\n",
            c.id(),
            c.time().seconds(),
            c.summary().unwrap_or_default()
        )
    })
    .collect()
}

/// A bare repository whose history is written commit by commit, with
/// chosen times.
struct Repo {
    repo: Repository,
    tip: Oid,
}

const CONFIG: &str = "\
gitops: {repo: gitops.git, branch: main, author_name: ferry, author_email: ferry@example.com}
registry: {kind: local, path: registry.yaml}
environments:
  - {name: dev, mode: commit}
  - {name: staging, mode: pull_request, after: dev}
apps:
  - {name: api, repository: acme/api, image: api, overlays: {dev: overlays/dev, staging: overlays/staging}}
  - {name: web, repository: acme/web, image: web, overlays: {dev: overlays/dev, staging: overlays/staging}}
";

fn kustomization(api: &str, web: &str, pin: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../base]\n\
         images:\n  - name: api{pin}\n    newTag: {api}\n  - name: web\n    newTag: {web}\n"
    )
}

impl Repo {
    fn new(path: &Path, at: i64) -> Repo {
        let author = Author {
            name: "t".into(),
            email: "t@example.com".into(),
        };
        let k = kustomization("v1", "w1", "");
        let files: &[(&str, &[u8])] = &[
            ("overlays/dev/kustomization.yaml", k.as_bytes()),
            ("overlays/staging/kustomization.yaml", k.as_bytes()),
            ("README.md", b"gitops\n"),
        ];
        gitops::init_bare_with(path, files, "main", &author).unwrap();
        let repo = Repository::open_bare(path).unwrap();
        let first = repo.refname_to_id("refs/heads/main").unwrap();
        // Rewrite the first commit with the chosen time.
        let tree = repo.find_commit(first).unwrap().tree_id();
        let sig = sig(at);
        let tip = repo
            .commit(
                None,
                &sig,
                &sig,
                "Initial commit\n",
                &repo.find_tree(tree).unwrap(),
                &[],
            )
            .unwrap();
        repo.reference("refs/heads/main", tip, true, "t").unwrap();
        Repo { repo, tip }
    }

    /// A commit with `files` changed on top of `parents[0]` (the tip when
    /// empty); the branch moves to it when `main` is true.
    fn commit(
        &mut self,
        parents: &[Oid],
        files: &[(&str, String)],
        msg: &str,
        at: i64,
        main: bool,
    ) -> Oid {
        let parents: Vec<Oid> = if parents.is_empty() {
            vec![self.tip]
        } else {
            parents.to_vec()
        };
        let base = self.repo.find_commit(parents[0]).unwrap().tree().unwrap();
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (path, text) in files {
            let blob = self.repo.blob(text.as_bytes()).unwrap();
            update.upsert(*path, blob, git2::FileMode::Blob);
        }
        let tree = self
            .repo
            .find_tree(update.create_updated(&self.repo, &base).unwrap())
            .unwrap();
        let parents: Vec<git2::Commit> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        let sig = sig(at);
        let id = self
            .repo
            .commit(None, &sig, &sig, msg, &tree, &refs)
            .unwrap();
        if main {
            self.repo
                .reference("refs/heads/main", id, true, "t")
                .unwrap();
            self.tip = id;
        }
        id
    }
}

fn sig(at: i64) -> Signature<'static> {
    Signature::new("t", "t@example.com", &Time::new(at, 0)).unwrap()
}

fn rfc3339(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

const DEV: &str = "overlays/dev/kustomization.yaml";
const STAGING: &str = "overlays/staging/kustomization.yaml";
const H: i64 = 3600;

#[test]
fn a_hand_built_history_gives_the_defined_figures() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let t = now - 10 * 24 * H;
    let mut r = Repo::new(&dir.path().join("gitops.git"), t);
    // c1: ferry's dev commit, the image pushed 30 minutes before.
    r.commit(
        &[],
        &[(DEV, kustomization("v2", "w1", ""))],
        &format!(
            "dev: api v1→v2\n\nPromoted by ferry.\n\nFerry-App: api\nFerry-Env: dev\n\
             Ferry-Pushed-At: {}\n",
            rfc3339(t + H / 2)
        ),
        t + H,
        true,
    );
    // c2: a hand edit of web in dev.
    let c2 = r.commit(
        &[],
        &[(DEV, kustomization("v2", "w2", ""))],
        "web w2 by hand\n",
        t + 2 * H,
        true,
    );
    // c3: no overlay changes, with trailers claiming to revert c2 (a real
    // deployment of web in dev): not believed, as c3 deploys nothing.
    r.commit(
        &[],
        &[("README.md", "more\n".into())],
        &format!(
            "docs\n\nFerry-Command: revert\nFerry-App: web\nFerry-Env: dev\nFerry-Reverts: {c2}\n"
        ),
        t + 3 * H,
        true,
    );
    // c4 on ferry's branch, c5 its merge: the merge is the deployment.
    let base = r.tip;
    let c4 = r.commit(
        &[base],
        &[(STAGING, kustomization("v2", "w1", ""))],
        "staging: api v1→v2\n\nFerry-App: api\nFerry-Env: staging\n",
        t + 4 * H,
        false,
    );
    let c5 = r.commit(
        &[base, c4],
        &[(STAGING, kustomization("v2", "w1", ""))],
        "Merge pull request #1 from ferry/staging/api\n",
        t + 5 * H,
        true,
    );
    // c6: `/ferry revert api staging`, pinned, naming the merge.
    r.commit(
        &[],
        &[(
            STAGING,
            kustomization("v1", "w1", "  # ferry:pin by=oncall"),
        )],
        &format!(
            "staging: revert api v2→v1\n\nAsked by oncall with `/ferry revert`.\n\n\
             Ferry-Command: revert\nFerry-Requested-By: oncall\nFerry-App: api\n\
             Ferry-Env: staging\nFerry-Reverts: {c5}\n"
        ),
        t + 6 * H,
        true,
    );
    // c7: a hand edit whose trailers claim to revert c5, which deployed api
    // in staging, not web in dev: not believed.
    r.commit(
        &[],
        &[(DEV, kustomization("v2", "w3", ""))],
        &format!("web w3\n\nFerry-Command: revert\nFerry-Reverts: {c5}\n"),
        t + 7 * H,
        true,
    );
    // c8: a hand revert of c7 an hour later: c7 failed.
    r.commit(
        &[],
        &[(DEV, kustomization("v2", "w2", ""))],
        "back to w2\n",
        t + 8 * H,
        true,
    );
    // c9: api back to v1 in dev, 39 hours after c1: no revert of it.
    r.commit(
        &[],
        &[(DEV, kustomization("v1", "w2", ""))],
        "api v1 again\n",
        t + 40 * H,
        true,
    );

    let (config, ws) = open_checkout(dir.path());
    let config_path = dir.path().join("ferry.yaml");
    let until = OffsetDateTime::from_unix_timestamp(now).unwrap();
    let since = until - time::Duration::days(30);
    let report = ferry::dora::from_workspace(&config, &ws, since, until).unwrap();
    let names: Vec<&str> = report.envs.iter().map(|e| e.env.as_str()).collect();
    assert_eq!(names, ["dev", "staging"]);
    let secs = |s: u64| Some(std::time::Duration::from_secs(s));

    let dev = &report.envs[0];
    // c1, c2, c7, c8, c9; c7 reverted by c8 after an hour.
    assert_eq!(dev.deployments, 5, "{dev:#?}");
    assert_eq!(dev.failures, 1, "{dev:#?}");
    assert_eq!(dev.change_failure_rate, Some(0.2));
    assert_eq!(dev.time_to_restore_median, secs(3600));
    // Only c1 recorded a push time; c8 and c9 bring back images dev ran.
    assert_eq!(dev.lead_time_median, secs(1800));
    assert_eq!(dev.lead_time_p90, secs(1800));

    let staging = &report.envs[1];
    // The merge c5 (not the branch's c4) and the revert c6.
    assert_eq!(staging.deployments, 2, "{staging:#?}");
    assert_eq!(staging.failures, 1);
    assert_eq!(staging.change_failure_rate, Some(0.5));
    assert_eq!(staging.time_to_restore_median, secs(3600));
    // v2 was pushed at t+30m, merged at t+5h; the revert brings back v1.
    assert_eq!(staging.lead_time_median, secs(4 * 3600 + 1800));

    // A later period: c7, c8, c9 in dev; the walk still reads c1 for
    // what dev ran before.
    let since = OffsetDateTime::from_unix_timestamp(t + 3 * H).unwrap();
    let report = ferry::dora::from_workspace(&config, &ws, since, until).unwrap();
    let dev = &report.envs[0];
    assert_eq!((dev.deployments, dev.failures), (3, 1), "{dev:#?}");
    assert_eq!(dev.lead_time_median, None);
    let staging = &report.envs[1];
    assert_eq!(
        (staging.deployments, staging.failures),
        (2, 1),
        "{staging:#?}"
    );

    // An empty period is refused.
    let err = ferry::dora::from_workspace(&config, &ws, until, until).unwrap_err();
    assert!(err.to_string().contains("period is empty"), "{err}");
    drop(ws);

    // The command on the same repository, text form.
    let o = ferry(
        &[
            "report",
            "--config",
            config_path.to_str().unwrap(),
            "--env",
            "staging",
        ],
        &dir.path().join("cache2"),
    );
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!text.contains("\ndev\n"), "{text}");
    // (The band depends on where the weeks and months fall.)
    assert!(
        text.contains("\nstaging\n  deployments          2 (0.07 a day; band: "),
        "{text}"
    );
    assert!(
        text.contains(
            "\n  lead time            median 4h 30m, p90 4h 30m\n  \
             change failure rate  50% (1 of 2 reverted)\n  \
             time to restore      median 1h\n"
        ),
        "{text}"
    );
}

#[test]
fn a_reporter_reads_only_what_is_new_and_agrees_with_a_fresh_read() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let t = now - 5 * 24 * H;
    let mut r = Repo::new(&dir.path().join("gitops.git"), t);
    r.commit(
        &[],
        &[(DEV, kustomization("v2", "w1", ""))],
        "api v2\n",
        t + H,
        true,
    );
    let before = r.commit(
        &[],
        &[(DEV, kustomization("v3", "w1", ""))],
        "api v3\n",
        t + 2 * H,
        true,
    );
    let (config, mut ws) = open_checkout(dir.path());
    let config_path = dir.path().join("ferry.yaml");
    let until = OffsetDateTime::from_unix_timestamp(now).unwrap();
    let since = until - time::Duration::days(30);
    let mut reporter = ferry::dora::Reporter::default();
    let fresh = |ws: &Workspace| ferry::dora::read(&config, ws, since, until).unwrap();

    let first = reporter.report(&config, &ws, since, until).unwrap();
    assert_eq!(first.report, fresh(&ws).report);
    assert_eq!(first.commits, 3);
    assert_eq!(first.report.envs[0].deployments, 2);

    // Nothing new: nothing walked.
    let again = reporter.report(&config, &ws, since, until).unwrap();
    assert_eq!((again.commits, again.report), (3, first.report.clone()));

    // Two new commits, one a hand revert of v3 within the hour: only they
    // are walked, and the revert finds the deployment read before.
    r.commit(
        &[],
        &[(DEV, kustomization("v2", "w1", ""))],
        "back to v2\n",
        t + 3 * H,
        true,
    );
    r.commit(
        &[],
        &[("README.md", "x\n".into())],
        "docs\n",
        t + 4 * H,
        true,
    );
    ws.sync().unwrap();
    let next = reporter.report(&config, &ws, since, until).unwrap();
    assert_eq!(next.commits, 5, "3 read before, 2 now");
    assert_eq!(next.report, fresh(&ws).report);
    let dev = &next.report.envs[0];
    assert_eq!((dev.deployments, dev.failures), (3, 1));

    // History rewritten under it (a force push back to `before`, then
    // another commit): read again from scratch.
    r.tip = before;
    r.commit(
        &[],
        &[(DEV, kustomization("v4", "w1", ""))],
        "api v4\n",
        t + 5 * H,
        true,
    );
    ws.sync().unwrap();
    let rewritten = reporter.report(&config, &ws, since, until).unwrap();
    let f = fresh(&ws);
    assert_eq!(rewritten.report, f.report);
    assert_eq!(rewritten.commits, f.commits);
    assert_eq!(rewritten.report.envs[0].failures, 0, "the revert is gone");

    // Another config (web dropped): read again from scratch too.
    let fewer = CONFIG.replace(
        "  - {name: web, repository: acme/web, image: web, overlays: {dev: overlays/dev, staging: overlays/staging}}\n",
        "",
    );
    std::fs::write(&config_path, fewer).unwrap();
    let config2 = ferry::config::load(&config_path).unwrap();
    let other = reporter.report(&config2, &ws, since, until).unwrap();
    assert_eq!(
        other.report,
        ferry::dora::read(&config2, &ws, since, until)
            .unwrap()
            .report
    );
}

/// The config `CONFIG` written into `dir`, and a synced checkout of
/// `dir/gitops.git` in `dir/cache`.
fn open_checkout(dir: &std::path::Path) -> (ferry::config::Config, Workspace) {
    let config_path = dir.join("ferry.yaml");
    std::fs::write(&config_path, CONFIG).unwrap();
    std::fs::write(dir.join("registry.yaml"), "repositories: {}\n").unwrap();
    let config = ferry::config::load(&config_path).unwrap();
    let repo = dir.join("gitops.git");
    let mut ws = Workspace::open(
        repo.to_str().unwrap(),
        "main",
        &dir.join("cache"),
        Credentials::None,
    )
    .unwrap();
    ws.sync().unwrap();
    (config, ws)
}
