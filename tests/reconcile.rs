//! The dev loop end to end with the `ferry` binary: bare GitOps repos on
//! disk, a local registry file, passes in several processes at once, and
//! failpoints that abort a process mid-pass.

use std::path::Path;
use std::process::{Command, Output};

use ferry::gates::SignatureEvidence;
use ferry::gates::signer::Signer;
use ferry::gitops::{Author, CommitInfo, Credentials, Workspace, init_bare_with};
use ferry::image::Digest;

fn digest(app: usize, n: u32) -> Digest {
    ferry::oci::sha256(format!("app{app}:{n}").as_bytes())
}

/// A GitOps repo with one dev overlay holding `apps` images, a registry
/// file, a signing key and a config.
struct Setup {
    dir: tempfile::TempDir,
    signer: Signer,
    apps: usize,
    /// (app, registry YAML line) of every image that arrived.
    lines: Vec<(usize, String)>,
}

impl Setup {
    fn new(apps: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut overlay = String::from("# dev overlay\nresources: []\nimages:\n");
        for a in 0..apps {
            overlay.push_str(&format!(
                "  - name: app{a}   # app number {a}\n    newTag: build-0\n    digest: {}\n",
                digest(a, 0)
            ));
        }
        let author = Author {
            name: "t".into(),
            email: "t@t".into(),
        };
        init_bare_with(
            &dir.path().join("gitops.git"),
            &[("dev/kustomization.yaml", overlay.as_bytes())],
            "main",
            &author,
        )
        .unwrap();
        let signer = Signer::generate().unwrap();
        std::fs::create_dir(dir.path().join("sigs")).unwrap();
        std::fs::write(dir.path().join("ci.pub"), signer.public_pem().unwrap()).unwrap();
        let mut cfg = String::from(
            "gitops: {repo: gitops.git, branch: main}\nregistry: {kind: local, path: registry.yaml}\ngates:\n  scan: {max: {CRITICAL: 0}}\n  signature: {cosign_keys: [ci.pub]}\nenvironments:\n  - {name: dev, mode: commit}\napps:\n",
        );
        for a in 0..apps {
            cfg.push_str(&format!("  - {{name: app{a}, repository: team/app{a}, image: app{a}, tags: '^build-', overlays: {{dev: dev}}}}\n"));
        }
        std::fs::write(dir.path().join("ferry.yaml"), cfg).unwrap();
        let mut s = Setup {
            dir,
            signer,
            apps,
            lines: Vec::new(),
        };
        for a in 0..apps {
            s.arrive(a, 0, true);
        }
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Image `n` of `app` arrives (pushed at second `n`), signed or not.
    fn arrive(&mut self, app: usize, n: u32, signed: bool) {
        let d = digest(app, n);
        let sig = if signed {
            let SignatureEvidence::SimpleSigning {
                payload,
                signature_b64,
            } = self.signer.sign_simple("x", &d).unwrap()
            else {
                unreachable!()
            };
            std::fs::write(self.path().join(format!("sigs/{}", d.hex())), payload).unwrap();
            format!(
                "{{payload: sigs/{}, signature: \"{signature_b64}\"}}",
                d.hex()
            )
        } else {
            String::new()
        };
        self.lines.push((
            app,
            format!(
                "      - {{digest: {d}, tags: [build-{n}], pushed_at: \"2026-11-26T10:{:02}:{:02}Z\", scan: {{status: COMPLETE}}, signatures: [{sig}]}}\n",
                n / 60,
                n % 60
            ),
        ));
        let mut out = String::from("repositories:\n");
        for a in 0..self.apps {
            out.push_str(&format!("  team/app{a}:\n    images:\n"));
            for (_, l) in self.lines.iter().filter(|(la, _)| *la == a) {
                out.push_str(l);
            }
        }
        ferry::atomic::write(&self.path().join("registry.yaml"), out.as_bytes()).unwrap();
    }

    fn ferry(&self, cache: &str, args: &[&str], failpoint: Option<&str>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(args)
            .arg("--config")
            .arg(self.path().join("ferry.yaml"))
            .env("FERRY_CACHE_DIR", self.path().join(cache));
        match failpoint {
            Some(f) => c.env("FERRY_FAILPOINT", f),
            None => c.env_remove("FERRY_FAILPOINT"),
        };
        c.output().unwrap()
    }

    fn run_once(&self, cache: &str) -> Output {
        self.ferry(cache, &["run", "--once"], None)
    }

    fn checkout(&self) -> Workspace {
        let url = self.path().join("gitops.git");
        let mut ws = Workspace::open(
            url.to_str().unwrap(),
            "main",
            &self.path().join("check-cache"),
            Credentials::None,
        )
        .unwrap();
        ws.sync().unwrap();
        ws
    }

    /// The remote's history, newest first.
    fn history(&self) -> Vec<CommitInfo> {
        self.checkout().log(100_000).unwrap()
    }

    fn overlay(&self) -> String {
        std::fs::read_to_string(self.checkout().root().join("dev/kustomization.yaml")).unwrap()
    }
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "ferry failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

fn digests_in(history: &[CommitInfo]) -> Vec<String> {
    history
        .iter()
        .flat_map(|c| {
            c.trailer_values("Ferry-Digest")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn run_once_twice_pushes_nothing_the_second_time() {
    let mut s = Setup::new(2);
    s.arrive(0, 1, true);
    s.arrive(1, 1, false);
    ok(&s.run_once("a"));
    let h = s.history();
    assert_eq!(h.len(), 2, "one commit on top of the initial one");
    assert!(
        h[0].summary.starts_with("dev: app0 build-0→build-1"),
        "{}",
        h[0].summary
    );
    assert_eq!(digests_in(&h), vec![digest(0, 1).to_string()]);
    ok(&s.run_once("a"));
    ok(&s.run_once("b"));
    assert_eq!(
        s.history().len(),
        2,
        "no second commit, from the same or another checkout"
    );
    let overlay = s.overlay();
    assert!(
        overlay.contains(&format!(
            "  - name: app0   # app number 0\n    newTag: build-1\n    digest: {}\n",
            digest(0, 1)
        )),
        "{overlay}"
    );
    assert!(
        overlay.contains(&format!("newTag: build-0\n    digest: {}", digest(1, 0))),
        "unsigned app1:build-1 is held\n{overlay}"
    );
}

#[test]
fn plan_prints_reasons_and_writes_nothing() {
    let mut s = Setup::new(2);
    s.arrive(0, 1, true);
    s.arrive(1, 1, false);
    let o = s.ferry("p", &["plan", "--output", "json"], None);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = &v["entries"];
    assert_eq!(e[0]["app"], "app0");
    assert_eq!(e[0]["action"], "commit");
    assert_eq!(e[0]["to"]["tag"], "build-1");
    assert_eq!(e[1]["action"], "none");
    assert_eq!(e[1]["reason"]["code"], "held");
    assert_eq!(e[1]["reason"]["held"][0]["reasons"][0]["code"], "unsigned");
    let text = s.ferry("p", &["plan"], None);
    let t = String::from_utf8(text.stdout).unwrap();
    assert!(
        t.starts_with("APP ")
            && t.contains("app1  dev  none")
            && t.contains("build-1 held (unsigned)"),
        "{t}"
    );
    assert_eq!(s.history().len(), 1, "plan writes nothing");
}

/// Four processes pass at once while 50 images arrive: every commit that
/// a process reports is in the history, no digest lands twice, and the
/// final overlay names the newest image of every app.
#[test]
fn racing_processes_lose_and_duplicate_nothing() {
    const APPS: usize = 10;
    let mut s = Setup::new(APPS);
    let path = s.path().to_path_buf();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            let path = path.clone();
            std::thread::spawn(move || {
                let mut pushed = 0;
                // Pass until told to stop, then once more after the last arrival.
                loop {
                    let stopping = stop.load(std::sync::atomic::Ordering::SeqCst);
                    let o = Command::new(env!("CARGO_BIN_EXE_ferry"))
                        .args(["run", "--once", "--config"])
                        .arg(path.join("ferry.yaml"))
                        .env("FERRY_CACHE_DIR", path.join(format!("cache-{w}")))
                        .env("NO_COLOR", "1")
                        .env_remove("FERRY_FAILPOINT")
                        .output()
                        .unwrap();
                    assert!(
                        o.status.success(),
                        "worker {w}: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                    pushed += String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .filter(|l| l.contains("ferry::runner::task: pushed"))
                        .count();
                    if stopping {
                        break;
                    }
                }
                pushed
            })
        })
        .collect();
    for n in 1..=5u32 {
        for a in 0..APPS {
            s.arrive(a, n, true);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let pushed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    // Converge: a last pass has nothing left to do.
    ok(&s.run_once("final"));
    let h = s.history();
    assert_eq!(
        h.len() - 1,
        pushed,
        "every reported push is in the history, and nothing else"
    );
    let ds = digests_in(&h);
    let mut unique = ds.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ds.len(), "a digest landed twice: {ds:?}");
    let overlay = s.overlay();
    for a in 0..APPS {
        assert!(
            overlay.contains(&format!(
                "  - name: app{a}   # app number {a}\n    newTag: build-5\n    digest: {}\n",
                digest(a, 5)
            )),
            "app{a}:\n{overlay}"
        );
    }
}

/// A process aborted at a failpoint leaves no trace a restart trips on:
/// one pass converges with exactly one commit and an intact overlay.
#[test]
fn crashes_at_failpoints_converge_after_restart() {
    for point in ["mid_write", "after_commit_before_push", "after_push"] {
        let mut s = Setup::new(2);
        s.arrive(0, 1, true);
        let o = s.ferry("a", &["run", "--once"], Some(point));
        assert!(!o.status.success(), "{point}: the process must abort");
        let before = s.history().len();
        assert_eq!(before, if point == "after_push" { 2 } else { 1 }, "{point}");
        ok(&s.run_once("a"));
        let h = s.history();
        assert_eq!(h.len(), 2, "{point}: exactly one commit after the restart");
        assert_eq!(digests_in(&h), vec![digest(0, 1).to_string()], "{point}");
        let overlay = s.overlay();
        assert!(
            overlay.contains(&format!("newTag: build-1\n    digest: {}", digest(0, 1))),
            "{point}: {overlay}"
        );
        assert!(
            overlay.ends_with(&format!("digest: {}\n", digest(1, 0))),
            "{point}: overlay intact"
        );
    }
}

/// The daemon keeps running through failing passes and exits cleanly on
/// SIGTERM after the pass in flight.
#[test]
fn daemon_survives_failing_passes_and_stops_on_sigterm() {
    let s = Setup::new(1);
    // Point the config at a repository that does not exist: every pass fails.
    let cfg = std::fs::read_to_string(s.path().join("ferry.yaml"))
        .unwrap()
        .replace("repo: gitops.git", "repo: missing.git");
    std::fs::write(s.path().join("broken.yaml"), cfg).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["run", "--resync", "1", "--config"])
        .arg(s.path().join("broken.yaml"))
        .env("FERRY_CACHE_DIR", s.path().join("cache-d"))
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon must survive failing passes"
    );
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("pass failed") && log.contains("backing off"),
        "{log}"
    );
    assert!(log.contains("stopping after the pass in flight"), "{log}");
}

/// SIGTERM while a pass is really in flight (paused between its commit and
/// its push): the daemon finishes that pass, pushes its commit, and exits 0.
#[test]
fn sigterm_lets_the_pass_in_flight_finish() {
    use std::io::{BufRead, BufReader};

    let mut s = Setup::new(1);
    s.arrive(0, 1, true);
    let before = s.history().len();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["run", "--resync", "3600", "--config"])
        .arg(s.path().join("ferry.yaml"))
        .env("FERRY_CACHE_DIR", s.path().join("cache-t"))
        .env("FERRY_FAILPOINT", "after_commit_before_push=pause:1500")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the pass has committed and is paused before its push.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !log.contains("failpoint after_commit_before_push reached, pausing") {
        assert!(
            std::time::Instant::now() < deadline,
            "no pass started: {log}"
        );
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("ferry exited early: {log}");
        }
        log.push_str(&line);
    }
    assert_eq!(s.history().len(), before, "paused before the push");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    log.push_str(&rest);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("stopping after the pass in flight"), "{log}");
    let h = s.history();
    assert_eq!(
        h.len(),
        before + 1,
        "the pass in flight pushed its commit: {log}"
    );
    assert!(
        h[0].summary.starts_with("dev: app0 build-0→build-1"),
        "{}",
        h[0].summary
    );
}
