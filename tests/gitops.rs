//! The gitops workspace against real bare repositories on disk (plain paths
//! and file:// URLs), one served by `git daemon` for git2's network push, and
//! crashes at the failpoints in a child process.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ferry::gitops::{self, Author, Credentials, GitError, Outcome, Workspace};
use git2::{Oid, Repository};
use tempfile::TempDir;

const BRANCH: &str = "main";

fn author() -> Author {
    Author {
        name: "ferry-bot".into(),
        email: "ferry@example.com".into(),
    }
}

fn other_author() -> Author {
    Author {
        name: "someone else".into(),
        email: "other@example.com".into(),
    }
}

/// A bare GitOps repository in a temp dir, with a couple of files.
struct Remote {
    dir: TempDir,
    path: PathBuf,
}

impl Remote {
    fn new() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gitops.git");
        let files: &[(&str, &[u8])] = &[
            ("README.md", b"# gitops\n"),
            (".gitignore", b"*.log\n"),
            ("apps/a.txt", b"a\n"),
            ("lines.txt", b""),
        ];
        gitops::init_bare_with(&path, files, BRANCH, &author()).unwrap();
        Remote { dir, path }
    }

    fn path_url(&self) -> String {
        self.path.to_str().unwrap().to_string()
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    fn repo(&self) -> Repository {
        Repository::open_bare(&self.path).unwrap()
    }

    fn tip(&self) -> Oid {
        self.repo()
            .refname_to_id(&format!("refs/heads/{BRANCH}"))
            .unwrap()
    }

    fn file(&self, name: &str) -> Option<String> {
        let repo = self.repo();
        let tree = repo.find_commit(self.tip()).unwrap().tree().unwrap();
        let entry = tree.get_path(Path::new(name)).ok()?;
        let blob = repo.find_blob(entry.id()).unwrap();
        Some(String::from_utf8(blob.content().to_vec()).unwrap())
    }

    /// Messages along the first-parent chain from the tip, newest first.
    fn messages(&self) -> Vec<String> {
        let repo = self.repo();
        let mut out = Vec::new();
        let mut commit = repo.find_commit(self.tip()).unwrap();
        loop {
            out.push(commit.message().unwrap().to_string());
            match commit.parent(0) {
                Ok(parent) => commit = parent,
                Err(_) => return out,
            }
        }
    }
}

fn open(url: &str, cache: &Path) -> Workspace {
    Workspace::open(url, BRANCH, cache, Credentials::None).unwrap()
}

/// The shape of ferry's edits: append `line` unless it is already there.
fn add_line(root: &Path, line: &str) -> io::Result<Option<String>> {
    let path = root.join("lines.txt");
    let mut text = fs::read_to_string(&path)?;
    if text.lines().any(|l| l == line) {
        return Ok(None);
    }
    text.push_str(line);
    text.push('\n');
    fs::write(&path, text)?;
    Ok(Some(format!("add {line}\n\nFerry-Line: {line}\n")))
}

#[test]
fn clone_and_sync_with_path_and_file_urls() {
    let remote = Remote::new();
    for url in [remote.path_url(), remote.file_url()] {
        let cache = tempfile::tempdir().unwrap();
        let mut ws = open(&url, cache.path());
        assert!(ws.root().starts_with(cache.path()));
        assert_eq!(ws.sync().unwrap(), remote.tip());
        assert_eq!(
            fs::read_to_string(ws.root().join("apps/a.txt")).unwrap(),
            "a\n"
        );
        assert_eq!(ws.branch(), BRANCH);
        let log = ws.log(10).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].id, remote.tip().to_string());
        assert_eq!(log[0].summary, "Initial commit");

        // Reopening finds the same clone.
        let root = ws.root().to_path_buf();
        drop(ws);
        let mut again = open(&url, cache.path());
        assert_eq!(again.root(), root);
        assert_eq!(again.sync().unwrap(), remote.tip());
    }
}

#[test]
fn relative_paths_are_stored_absolute() {
    let remote = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    let cwd = std::env::current_dir().unwrap();
    let rel = pathdiff(&remote.path, &cwd);
    let mut ws = open(rel.to_str().unwrap(), cache.path());
    assert_eq!(ws.sync().unwrap(), remote.tip());
    let origin = Repository::open(ws.root()).unwrap();
    let url = origin
        .find_remote("origin")
        .unwrap()
        .url()
        .unwrap()
        .to_string();
    assert!(Path::new(&url).is_absolute(), "{url}");
}

/// `to` relative to `from` (both absolute), with `..` steps.
fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

#[test]
fn workspaces_share_a_cache_dir() {
    let one = Remote::new();
    let two = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    let a = open(&one.path_url(), cache.path());
    let b = open(&two.path_url(), cache.path());
    let other_branch =
        Workspace::open(&one.path_url(), "other", cache.path(), Credentials::None).unwrap();
    // A second workspace on the same remote in this process gets its own dir.
    let a2 = open(&one.path_url(), cache.path());
    let roots: BTreeSet<_> = [a.root(), b.root(), other_branch.root(), a2.root()]
        .into_iter()
        .collect();
    assert_eq!(roots.len(), 4, "{roots:?}");
}

#[test]
fn reopening_with_another_origin_is_refused() {
    let remote = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    let root = open(&remote.path_url(), cache.path()).root().to_path_buf();
    Repository::open(&root)
        .unwrap()
        .remote_set_url("origin", "/somewhere/else.git")
        .unwrap();
    let err =
        Workspace::open(&remote.path_url(), BRANCH, cache.path(), Credentials::None).unwrap_err();
    assert!(matches!(err, GitError::OriginMismatch { .. }), "{err}");
    assert!(err.to_string().contains("/somewhere/else.git"), "{err}");
}

#[test]
fn empty_remote_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.git");
    Repository::init_bare(&path).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(path.to_str().unwrap(), cache.path());
    let err = ws.sync().unwrap_err();
    assert!(matches!(err, GitError::NoSuchBranch { .. }), "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("\"main\"") && shown.contains("empty"),
        "{shown}"
    );
    assert!(matches!(ws.log(5), Err(GitError::NotSynced)));
    let err = ws
        .apply(&author(), 3, |_| Ok::<_, io::Error>(Some("x".into())))
        .unwrap_err();
    assert!(matches!(err, GitError::NoSuchBranch { .. }), "{err}");
}

#[test]
fn invalid_inputs_are_refused() {
    let cache = tempfile::tempdir().unwrap();
    let err = Workspace::open("/x.git", "bad..name", cache.path(), Credentials::None).unwrap_err();
    assert!(matches!(err, GitError::InvalidBranch(_)), "{err}");
    let err = Workspace::open("", BRANCH, cache.path(), Credentials::None).unwrap_err();
    assert!(matches!(err, GitError::InvalidUrl { .. }), "{err}");
}

#[test]
fn apply_pushes_one_commit_with_author_message_and_trailers() {
    let remote = Remote::new();
    let before = remote.tip();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.file_url(), cache.path());
    let outcome = ws
        .apply(&author(), 3, |root| {
            fs::create_dir_all(root.join("k8s/dev"))?;
            fs::write(root.join("k8s/dev/image.txt"), "api:sha-3\n")?;
            fs::write(root.join("apps/a.txt"), "a2\n")?;
            Ok::<_, io::Error>(Some(
                "dev: api sha-1→sha-3\n\nFerry-App: api\nFerry-Env: dev\nFerry-Digest: sha256:abcd"
                    .to_string(),
            ))
        })
        .unwrap();
    let Outcome::Pushed { commit, attempts } = outcome else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!(attempts, 1);
    assert_eq!(remote.tip(), commit);
    assert_eq!(
        remote.file("k8s/dev/image.txt").as_deref(),
        Some("api:sha-3\n")
    );
    assert_eq!(remote.file("apps/a.txt").as_deref(), Some("a2\n"));

    let repo = remote.repo();
    let c = repo.find_commit(commit).unwrap();
    assert_eq!(c.parent_ids().collect::<Vec<_>>(), [before]);
    for sig in [c.author(), c.committer()] {
        assert_eq!(sig.name(), Some("ferry-bot"));
        assert_eq!(sig.email(), Some("ferry@example.com"));
    }
    // The message is stored as git would: with a final newline.
    assert_eq!(
        c.message(),
        Some("dev: api sha-1→sha-3\n\nFerry-App: api\nFerry-Env: dev\nFerry-Digest: sha256:abcd\n")
    );

    let log = ws.log(10).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].id, commit.to_string());
    assert_eq!(log[0].summary, "dev: api sha-1→sha-3");
    assert_eq!(log[0].author, "ferry-bot <ferry@example.com>");
    assert_eq!(
        log[0].trailers,
        [
            ("Ferry-App".to_string(), "api".to_string()),
            ("Ferry-Env".to_string(), "dev".to_string()),
            ("Ferry-Digest".to_string(), "sha256:abcd".to_string()),
        ]
    );
    assert_eq!(
        log[0].trailer_values("ferry-app").collect::<Vec<_>>(),
        ["api"]
    );
    assert!(log[1].trailers.is_empty());
    assert_eq!(ws.log(1).unwrap().len(), 1);
}

#[test]
fn deletions_are_committed() {
    let remote = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.path_url(), cache.path());
    let outcome = ws
        .apply(&author(), 3, |root| {
            fs::remove_file(root.join("apps/a.txt"))?;
            Ok::<_, io::Error>(Some("remove a".into()))
        })
        .unwrap();
    assert!(matches!(outcome, Outcome::Pushed { attempts: 1, .. }));
    assert_eq!(remote.file("apps/a.txt"), None);
    assert_eq!(remote.file("README.md").as_deref(), Some("# gitops\n"));
}

#[test]
fn nothing_to_do_when_not_wanted_or_unchanged() {
    let remote = Remote::new();
    let before = remote.tip();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.path_url(), cache.path());

    let mut calls = 0;
    let outcome = ws
        .apply(&author(), 3, |_| {
            calls += 1;
            Ok::<_, io::Error>(None)
        })
        .unwrap();
    assert_eq!(outcome, Outcome::NothingToDo);
    assert_eq!(calls, 1);

    // Rewriting a file with its own bytes is no change either.
    let outcome = ws
        .apply(&author(), 3, |root| {
            fs::write(root.join("apps/a.txt"), "a\n")?;
            Ok::<_, io::Error>(Some("rewrite a".into()))
        })
        .unwrap();
    assert_eq!(outcome, Outcome::NothingToDo);
    assert_eq!(remote.tip(), before);
}

#[test]
fn same_size_edit_right_after_checkout_is_seen() {
    // The kind of change ferry makes: same length, same second as the sync.
    let remote = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.path_url(), cache.path());
    let outcome = ws
        .apply(&author(), 3, |root| {
            fs::write(root.join("apps/a.txt"), "b\n")?;
            Ok::<_, io::Error>(Some("a -> b".into()))
        })
        .unwrap();
    assert!(matches!(outcome, Outcome::Pushed { .. }), "{outcome:?}");
    assert_eq!(remote.file("apps/a.txt").as_deref(), Some("b\n"));
}

#[test]
fn edit_error_aborts_and_pushes_nothing() {
    let remote = Remote::new();
    let before = remote.tip();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.path_url(), cache.path());
    let err = ws
        .apply(&author(), 3, |root| {
            fs::write(root.join("apps/a.txt"), "half-done\n").unwrap();
            Err::<Option<String>, _>("kustomization.yaml:3:5: not a mapping")
        })
        .unwrap_err();
    assert!(
        matches!(&err, GitError::Edit(m) if m == "kustomization.yaml:3:5: not a mapping"),
        "{err}"
    );
    assert_eq!(remote.tip(), before);
    // The half-made edit is gone at the next sync.
    ws.sync().unwrap();
    assert_eq!(
        fs::read_to_string(ws.root().join("apps/a.txt")).unwrap(),
        "a\n"
    );
}

#[test]
fn empty_message_is_an_edit_error() {
    let remote = Remote::new();
    let before = remote.tip();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.path_url(), cache.path());
    let err = ws
        .apply(&author(), 3, |root| {
            fs::write(root.join("new.txt"), "x\n")?;
            Ok::<_, io::Error>(Some(" \n\n".into()))
        })
        .unwrap_err();
    assert!(matches!(err, GitError::Edit(_)), "{err}");
    assert_eq!(remote.tip(), before);
}

#[test]
fn sync_discards_leftovers_of_a_crashed_pass() {
    let remote = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.path_url(), cache.path());
    ws.sync().unwrap();
    let root = ws.root().to_path_buf();
    fs::write(root.join("apps/a.txt"), "edited\n").unwrap();
    fs::remove_file(root.join("README.md")).unwrap();
    fs::write(root.join("untracked.txt"), "junk").unwrap();
    fs::create_dir_all(root.join("newdir/deeper")).unwrap();
    fs::write(root.join("newdir/deeper/f.yaml"), "junk").unwrap();
    fs::write(root.join(".ferry-partial.tmp"), "junk").unwrap();
    fs::write(root.join("debug.log"), "ignored junk").unwrap();
    // Something staged, and a lock a killed process left behind.
    {
        let repo = Repository::open(&root).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("untracked.txt")).unwrap();
        index.write().unwrap();
    }
    fs::write(root.join(".git/index.lock"), "").unwrap();

    assert_eq!(ws.sync().unwrap(), remote.tip());
    assert_eq!(fs::read_to_string(root.join("apps/a.txt")).unwrap(), "a\n");
    assert_eq!(
        fs::read_to_string(root.join("README.md")).unwrap(),
        "# gitops\n"
    );
    assert!(!root.join("untracked.txt").exists());
    assert!(!root.join("newdir/deeper/f.yaml").exists());
    assert!(!root.join(".ferry-partial.tmp").exists());
    assert!(!root.join("debug.log").exists());
    let statuses = Repository::open(&root)
        .unwrap()
        .statuses(None)
        .unwrap()
        .len();
    assert_eq!(statuses, 0, "the worktree is clean");
}

#[test]
fn sync_follows_a_rewritten_remote() {
    // Someone force-pushed: the workspace follows the remote, not its own past.
    let remote = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.path_url(), cache.path());
    ws.apply(&author(), 3, |root| add_line(root, "one"))
        .unwrap();
    let repo = remote.repo();
    let initial = repo
        .find_commit(remote.tip())
        .unwrap()
        .parent_id(0)
        .unwrap();
    repo.reference("refs/heads/main", initial, true, "rewind")
        .unwrap();
    assert_eq!(ws.sync().unwrap(), initial);
    assert_eq!(fs::read_to_string(ws.root().join("lines.txt")).unwrap(), "");
}

/// Workspace A's edit makes workspace B push first, on the first attempt only.
fn concurrent_writer_is_retried(remote: &Remote, url: &str) {
    let cache_a = tempfile::tempdir().unwrap();
    let cache_b = tempfile::tempdir().unwrap();
    let mut a = open(url, cache_a.path());
    let mut b = open(url, cache_b.path());
    let mut calls = 0;
    let mut b_commit = None;
    let outcome = a
        .apply(&author(), 5, |root| {
            calls += 1;
            if calls == 1 {
                let pushed = b
                    .apply(&other_author(), 1, |r| {
                        fs::write(r.join("b.txt"), "from b\n")?;
                        Ok::<_, io::Error>(Some("b: add b.txt".into()))
                    })
                    .unwrap();
                let Outcome::Pushed { commit, .. } = pushed else {
                    panic!("B did not push: {pushed:?}");
                };
                b_commit = Some(commit);
                assert!(!root.join("b.txt").exists());
            } else {
                // Re-applied on the new tip, which has B's change.
                assert!(root.join("b.txt").exists());
            }
            fs::write(root.join("a.txt"), format!("from a, attempt {calls}\n"))?;
            Ok::<_, io::Error>(Some("a: add a.txt".into()))
        })
        .unwrap();
    let Outcome::Pushed { commit, attempts } = outcome else {
        panic!("A did not push: {outcome:?}");
    };
    assert_eq!(attempts, 2);
    assert_eq!(calls, 2);

    // Both changes are there, A on top of B: nothing lost.
    assert_eq!(remote.tip(), commit);
    a.sync().unwrap();
    let log = a.log(10).unwrap();
    let summaries: Vec<_> = log.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(
        summaries,
        ["a: add a.txt", "b: add b.txt", "Initial commit"]
    );
    assert_eq!(log[0].id, commit.to_string());
    assert_eq!(log[1].id, b_commit.unwrap().to_string());
    assert_eq!(log[1].author, "someone else <other@example.com>");
    assert_eq!(
        fs::read_to_string(a.root().join("a.txt")).unwrap(),
        "from a, attempt 2\n"
    );
    assert_eq!(
        fs::read_to_string(a.root().join("b.txt")).unwrap(),
        "from b\n"
    );
}

#[test]
fn concurrent_writer_local_path() {
    let remote = Remote::new();
    concurrent_writer_is_retried(&remote, &remote.path_url());
}

#[test]
fn concurrent_writer_file_url() {
    let remote = Remote::new();
    concurrent_writer_is_retried(&remote, &remote.file_url());
}

#[test]
fn a_ref_locked_by_another_writer_is_a_rejection() {
    // Another writer holds the branch's lock (mid-update): the push is
    // rejected and retried, never forced past it.
    let remote = Remote::new();
    let lock = remote.path.join("refs/heads/main.lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, "").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&remote.path_url(), cache.path());
    let mut calls = 0;
    let outcome = ws
        .apply(&author(), 3, |root| {
            calls += 1;
            if calls == 2 {
                fs::remove_file(&lock)?;
            }
            add_line(root, "after the lock")
        })
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Pushed { attempts: 2, .. }),
        "{outcome:?}"
    );
    assert_eq!(remote.messages().len(), 2);
}

#[test]
fn conflict_after_max_attempts() {
    let remote = Remote::new();
    let cache_a = tempfile::tempdir().unwrap();
    let cache_b = tempfile::tempdir().unwrap();
    let mut a = open(&remote.path_url(), cache_a.path());
    let mut b = open(&remote.path_url(), cache_b.path());
    let mut calls = 0;
    let err = a
        .apply(&author(), 3, |root| {
            calls += 1;
            // Someone else always gets there first.
            let n = calls;
            b.apply(&other_author(), 1, |r| {
                fs::write(r.join(format!("b{n}.txt")), "b\n")?;
                Ok::<_, io::Error>(Some(format!("b{n}")))
            })
            .unwrap();
            fs::write(root.join("a.txt"), "a\n")?;
            Ok::<_, io::Error>(Some("a".into()))
        })
        .unwrap_err();
    let GitError::Conflict {
        attempts, reason, ..
    } = &err
    else {
        panic!("expected a conflict, got {err}");
    };
    assert_eq!(*attempts, 3);
    assert!(!reason.is_empty());
    assert_eq!(calls, 3);
    assert_eq!(
        remote.messages(),
        ["b3\n", "b2\n", "b1\n", "Initial commit\n"]
    );
    assert_eq!(remote.file("a.txt"), None);
}

#[test]
fn four_threads_each_land_every_change_exactly_once() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 8;
    let remote = Remote::new();
    let url = remote.file_url();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let cache = tempfile::tempdir().unwrap();
                let mut ws = open(&url, cache.path());
                let mut pushes = 0;
                for i in 0..PER_THREAD {
                    let line = format!("t{t}-{i}");
                    let outcome = ws
                        .apply(&author(), 200, |root| {
                            let msg = add_line(root, &line)?;
                            if msg.is_some() {
                                fs::create_dir_all(root.join(format!("t{t}")))?;
                                fs::write(root.join(format!("t{t}/{i}.txt")), &line)?;
                            }
                            Ok::<_, io::Error>(msg)
                        })
                        .unwrap();
                    if matches!(outcome, Outcome::Pushed { .. }) {
                        pushes += 1;
                    }
                }
                pushes
            })
        })
        .collect();
    let pushes: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(pushes, THREADS * PER_THREAD);

    let expected: BTreeSet<String> = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| format!("t{t}-{i}")))
        .collect();
    let text = remote.file("lines.txt").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "each line exactly once");
    assert_eq!(
        lines.iter().map(|l| l.to_string()).collect::<BTreeSet<_>>(),
        expected
    );
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            assert_eq!(
                remote.file(&format!("t{t}/{i}.txt")),
                Some(format!("t{t}-{i}"))
            );
        }
    }
    // One commit per change, none lost or duplicated.
    let messages = remote.messages();
    assert_eq!(messages.len(), expected.len() + 1);
    let trailers: BTreeSet<String> = messages
        .iter()
        .flat_map(|m| gitops::parse_trailers(m))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(trailers, expected);
}

/// `git daemon` serving a directory on a loopback port, killed on drop.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    fn start(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--informative-errors")
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon (git is part of the machine image)");
        let mut daemon = GitDaemon { child, port };
        // Bounded wait for the port to accept connections.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("git daemon exited: {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = daemon.child.kill();
        panic!("git daemon did not listen on port {port}");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn network_transport_retries_after_a_concurrent_writer() {
    let remote = Remote::new();
    let daemon = GitDaemon::start(remote.dir.path());
    let url = format!("git://127.0.0.1:{}/gitops.git", daemon.port);
    concurrent_writer_is_retried(&remote, &url);
    assert_eq!(remote.file("a.txt").as_deref(), Some("from a, attempt 2\n"));
    assert_eq!(remote.file("b.txt").as_deref(), Some("from b\n"));
}

#[test]
fn network_transport_reports_per_ref_rejection() {
    // The server refuses the first push after receiving it (a hook, as a
    // stand-in for losing the race inside receive-pack): only the per-ref
    // status says so, and apply must retry rather than report success.
    let remote = Remote::new();
    let flag = remote.dir.path().join("reject-once");
    fs::write(&flag, "").unwrap();
    let hook = remote.path.join("hooks/pre-receive");
    fs::create_dir_all(hook.parent().unwrap()).unwrap();
    fs::write(
        &hook,
        format!(
            "#!/bin/sh\nif [ -e '{0}' ]; then rm -f '{0}'; echo 'rejected once' >&2; exit 1; fi\nexit 0\n",
            flag.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let daemon = GitDaemon::start(remote.dir.path());
    let url = format!("git://127.0.0.1:{}/gitops.git", daemon.port);
    let cache = tempfile::tempdir().unwrap();
    let mut ws = open(&url, cache.path());
    let mut calls = 0;
    let outcome = ws
        .apply(&author(), 3, |root| {
            calls += 1;
            add_line(root, "over the network")
        })
        .unwrap();
    let Outcome::Pushed { commit, attempts } = outcome else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!(attempts, 2);
    assert_eq!(calls, 2);
    assert!(!flag.exists(), "the hook ran");
    assert_eq!(remote.tip(), commit);
    assert_eq!(
        remote.file("lines.txt").as_deref(),
        Some("over the network\n")
    );
    assert_eq!(remote.messages().len(), 2);
}

const CHILD_URL: &str = "FERRY_TEST_CHILD_URL";
const CHILD_CACHE: &str = "FERRY_TEST_CHILD_CACHE";
const CRASH_LINE: &str = "crash-test";

/// Not a test on its own: the body of the child process that the failpoint
/// tests start (it does nothing unless they set its environment).
#[test]
fn failpoint_child() {
    let (Ok(url), Ok(cache)) = (std::env::var(CHILD_URL), std::env::var(CHILD_CACHE)) else {
        return;
    };
    let mut ws = open(&url, Path::new(&cache));
    ws.apply(&author(), 3, |root| add_line(root, CRASH_LINE))
        .unwrap();
    // Only reached when the failpoint did not fire.
    std::process::exit(42);
}

/// Runs the push of `CRASH_LINE` in a child process armed with `failpoint`
/// and checks that it aborted.
fn crash_child(url: &str, cache: &Path, failpoint: &str) {
    use std::os::unix::process::ExitStatusExt;
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "failpoint_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, url)
        .env(CHILD_CACHE, cache)
        .env(gitops::FAILPOINT_ENV, failpoint)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    const SIGABRT: i32 = 6;
    assert_eq!(
        out.status.signal(),
        Some(SIGABRT),
        "child did not abort: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(failpoint),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn crash_commits(remote: &Remote) -> usize {
    remote
        .messages()
        .iter()
        .filter(|m| m.starts_with(&format!("add {CRASH_LINE}")))
        .count()
}

#[test]
fn crash_after_commit_before_push_then_restart_pushes_once() {
    let remote = Remote::new();
    let before = remote.tip();
    let cache = tempfile::tempdir().unwrap();
    crash_child(&remote.path_url(), cache.path(), "after_commit_before_push");
    assert_eq!(remote.tip(), before, "the remote never saw the commit");
    assert_eq!(crash_commits(&remote), 0);

    // Restart on the same cache: the crashed commit is there locally...
    let mut ws = open(&remote.path_url(), cache.path());
    assert_eq!(
        ws.log(1).unwrap()[0].summary,
        format!("add {CRASH_LINE}"),
        "the child committed before it died"
    );
    // ...and the next pass converges: pushed once, on the remote tip.
    let outcome = ws
        .apply(&author(), 3, |root| add_line(root, CRASH_LINE))
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Pushed { attempts: 1, .. }),
        "{outcome:?}"
    );
    assert_eq!(crash_commits(&remote), 1);
    assert_eq!(remote.messages().len(), 2);
    assert_eq!(
        remote.file("lines.txt").as_deref(),
        Some(format!("{CRASH_LINE}\n").as_str())
    );
}

#[test]
fn crash_after_push_then_restart_does_nothing() {
    let remote = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    crash_child(&remote.file_url(), cache.path(), "after_push");
    assert_eq!(
        crash_commits(&remote),
        1,
        "the push landed before the crash"
    );

    let mut ws = open(&remote.file_url(), cache.path());
    let outcome = ws
        .apply(&author(), 3, |root| add_line(root, CRASH_LINE))
        .unwrap();
    assert_eq!(outcome, Outcome::NothingToDo);
    assert_eq!(crash_commits(&remote), 1);
    assert_eq!(remote.messages().len(), 2);
}

#[test]
fn unarmed_or_other_failpoints_do_not_fire() {
    // The child runs to completion (exit 42) when the variable names
    // another point.
    let remote = Remote::new();
    let cache = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "failpoint_child", "--test-threads=1"])
        .env(CHILD_URL, remote.path_url())
        .env(CHILD_CACHE, cache.path())
        .env(gitops::FAILPOINT_ENV, "mid_write")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(42));
    assert_eq!(crash_commits(&remote), 1);
}

#[test]
fn descendants_of_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let author = ferry::gitops::Author {
        name: "t".into(),
        email: "t@t".into(),
    };
    ferry::gitops::init_bare_with(&dir.path().join("r.git"), &[("a", b"1")], "main", &author)
        .unwrap();
    let mut ws = ferry::gitops::Workspace::open(
        dir.path().join("r.git").to_str().unwrap(),
        "main",
        &dir.path().join("c"),
        ferry::gitops::Credentials::None,
    )
    .unwrap();
    let first = ws.sync().unwrap().to_string();
    let mut commit = |n: &str| match ws
        .apply(&author, 1, |root: &std::path::Path| {
            std::fs::write(root.join(n), n).map(|_| Some(format!("add {n}")))
        })
        .unwrap()
    {
        ferry::gitops::Outcome::Pushed { commit, .. } => commit.to_string(),
        other => panic!("{other:?}"),
    };
    let second = commit("b");
    let third = commit("c");
    assert!(ws.is_descendant_or_equal(&third, &second));
    assert!(ws.is_descendant_or_equal(&third, &first));
    assert!(ws.is_descendant_or_equal(&second, &second));
    assert!(
        !ws.is_descendant_or_equal(&first, &second),
        "an ancestor is not a descendant"
    );
    assert!(
        !ws.is_descendant_or_equal(&"0".repeat(40), &first),
        "unknown revisions never pass"
    );
    assert!(!ws.is_descendant_or_equal("not-a-sha", &first));
}

/// A bare repository whose `main` holds `f` = "base", and a checkout.
fn one_file_repo() -> (tempfile::TempDir, PathBuf, Author, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let author = Author {
        name: "t".into(),
        email: "t@t".into(),
    };
    let bare = dir.path().join("r.git");
    ferry::gitops::init_bare_with(&bare, &[("f", b"base\n")], "main", &author).unwrap();
    let ws = open(bare.to_str().unwrap(), &dir.path().join("c"));
    (dir, bare, author, ws)
}

/// Another process holding the proposal branch's lock for a moment
/// (replicas proposing at once) delays the push; a lock that stays is an
/// error, and the branch is untouched.
#[test]
fn propose_waits_for_a_briefly_held_branch_lock() {
    let (_dir, bare, author, mut ws) = one_file_repo();
    let lock = bare.join("refs/heads/ferry/staging/api.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let write = |content: &'static str| {
        move |root: &std::path::Path| {
            std::fs::write(root.join("f"), content).map(|_| Some(format!("set f to {content}")))
        }
    };

    std::fs::write(&lock, "").unwrap();
    let release = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(150));
            std::fs::remove_file(lock).unwrap();
        })
    };
    let pushed = ws
        .propose("ferry/staging/api", &author, write("one\n"))
        .unwrap()
        .unwrap();
    release.join().unwrap();
    let remote = git2::Repository::open_bare(&bare).unwrap();
    assert_eq!(
        remote
            .refname_to_id("refs/heads/ferry/staging/api")
            .unwrap(),
        pushed
    );

    std::fs::write(&lock, "").unwrap();
    let err = ws
        .propose("ferry/staging/api", &author, write("two\n"))
        .unwrap_err();
    assert!(err.to_string().contains("lock"), "{err}");
    assert_eq!(
        remote
            .refname_to_id("refs/heads/ferry/staging/api")
            .unwrap(),
        pushed,
        "a lock that stays leaves the branch as it was"
    );
}

#[test]
fn propose_pushes_a_branch_and_leaves_the_base_alone() {
    let (_dir, bare, author, mut ws) = one_file_repo();
    let base = ws.sync().unwrap();
    let write = |content: &'static str| {
        move |root: &std::path::Path| {
            std::fs::write(root.join("f"), content).map(|_| Some(format!("set f to {content}")))
        }
    };
    let first = ws
        .propose("ferry/staging/api", &author, write("one\n"))
        .unwrap()
        .unwrap();
    let second = ws
        .propose("ferry/staging/api", &author, write("two\n"))
        .unwrap()
        .unwrap();
    let remote = git2::Repository::open_bare(&bare).unwrap();
    assert_eq!(
        remote.refname_to_id("refs/heads/main").unwrap(),
        base,
        "the base branch did not move"
    );
    let head = remote
        .refname_to_id("refs/heads/ferry/staging/api")
        .unwrap();
    assert_eq!(head, second, "a newer proposal replaces the branch");
    assert_ne!(first, second);
    let commit = remote.find_commit(head).unwrap();
    assert_eq!(commit.parent_id(0).unwrap(), base);
    let blob = commit
        .tree()
        .unwrap()
        .get_path(std::path::Path::new("f"))
        .unwrap()
        .to_object(&remote)
        .unwrap();
    assert_eq!(blob.as_blob().unwrap().content(), b"two\n");
    assert_eq!(
        std::fs::read_to_string(ws.root().join("f")).unwrap(),
        "base\n",
        "worktree back at the base"
    );
    assert_eq!(
        ws.propose("ferry/staging/api", &author, |_: &std::path::Path| Ok::<
            _,
            String,
        >(
            None
        ))
        .unwrap(),
        None
    );
    assert_eq!(
        ws.propose("ferry/staging/api", &author, write("base\n"))
            .unwrap(),
        None,
        "no change, no proposal"
    );
}

#[test]
fn last_commit_touching_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let author = ferry::gitops::Author {
        name: "t".into(),
        email: "t@t".into(),
    };
    ferry::gitops::init_bare_with(
        &dir.path().join("r.git"),
        &[("dev/k.yaml", b"1"), ("staging/k.yaml", b"1")],
        "main",
        &author,
    )
    .unwrap();
    let mut ws = ferry::gitops::Workspace::open(
        dir.path().join("r.git").to_str().unwrap(),
        "main",
        &dir.path().join("c"),
        ferry::gitops::Credentials::None,
    )
    .unwrap();
    let first = ws.sync().unwrap().to_string();
    let mut write = |p: &'static str, c: &'static str| match ws
        .apply(&author, 1, |root: &std::path::Path| {
            std::fs::write(root.join(p), c).map(|_| Some(format!("{p}={c}")))
        })
        .unwrap()
    {
        ferry::gitops::Outcome::Pushed { commit, .. } => commit.to_string(),
        other => panic!("{other:?}"),
    };
    let dev = write("dev/k.yaml", "2");
    let staging = write("staging/k.yaml", "2");
    let p = std::path::Path::new;
    assert_eq!(
        ws.last_commit_touching(p("dev/k.yaml")).unwrap(),
        Some(dev.clone()),
        "later commits to other files do not count"
    );
    assert_ne!(
        ws.last_commit_touching(p("staging/k.yaml")).unwrap(),
        Some(first.clone())
    );
    assert_eq!(ws.last_commit_touching(p("nope")).unwrap(), None);
    // One walk for several files finds the same commits, and leaves out
    // files no commit touched.
    let files: Vec<std::path::PathBuf> = ["dev/k.yaml", "staging/k.yaml", "nope", "dev/k.yaml"]
        .iter()
        .map(std::path::PathBuf::from)
        .collect();
    let found = ws.last_commits_touching(&files).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[p("dev/k.yaml")], dev);
    assert_eq!(found[p("staging/k.yaml")], staging);
}

#[test]
fn file_versions_list_what_each_commit_wrote_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let author = author();
    ferry::gitops::init_bare_with(
        &dir.path().join("r.git"),
        &[("dev/k.yaml", b"1"), ("other", b"x")],
        "main",
        &author,
    )
    .unwrap();
    let mut ws = open(
        dir.path().join("r.git").to_str().unwrap(),
        &dir.path().join("c"),
    );
    let mut write = |p: &'static str, c: Option<&'static str>| match ws
        .apply(&author, 1, |root: &std::path::Path| {
            match c {
                Some(c) => std::fs::write(root.join(p), c),
                None => std::fs::remove_file(root.join(p)),
            }
            .map(|_| Some(format!("{p}={c:?}")))
        })
        .unwrap()
    {
        ferry::gitops::Outcome::Pushed { commit, .. } => commit.to_string(),
        other => panic!("{other:?}"),
    };
    let two = write("dev/k.yaml", Some("2"));
    write("other", Some("y"));
    let three = write("dev/k.yaml", Some("3"));
    let gone = write("dev/k.yaml", None);
    let p = std::path::Path::new("dev/k.yaml");
    let v = ws.file_versions(p, 10, 100).unwrap();
    let seen: Vec<(String, Option<&[u8]>)> = v
        .iter()
        .map(|v| (v.commit.clone(), v.content.as_deref()))
        .collect();
    assert_eq!(
        seen.len(),
        4,
        "the commit to `other` is not a version: {seen:?}"
    );
    assert_eq!(seen[0], (gone, None));
    assert_eq!(seen[1], (three, Some(&b"3"[..])));
    assert_eq!(seen[2], (two, Some(&b"2"[..])));
    assert_eq!(seen[3].1, Some(&b"1"[..]), "the first commit wrote it");
    // Bounded both ways.
    assert_eq!(ws.file_versions(p, 2, 100).unwrap().len(), 2);
    // Three commits back: two versions, and the commit to `other`.
    assert_eq!(ws.file_versions(p, 10, 3).unwrap().len(), 2);
}

#[test]
fn file_versions_follow_the_first_parent_line_through_merges() {
    // main: c0 (v1) ── M (merge of a branch that wrote v2, then v3)
    // The branch's commits never ran on main: the merge is the version.
    let dir = tempfile::tempdir().unwrap();
    let author = author();
    let bare = dir.path().join("r.git");
    ferry::gitops::init_bare_with(&bare, &[("k.yaml", b"v1")], "main", &author).unwrap();
    let repo = git2::Repository::open_bare(&bare).unwrap();
    let sig = git2::Signature::now("t", "t@t").unwrap();
    let base = repo
        .find_commit(repo.refname_to_id("refs/heads/main").unwrap())
        .unwrap();
    let commit_with = |content: &[u8], parents: &[&git2::Commit]| {
        let blob = repo.blob(content).unwrap();
        let mut tb = repo.treebuilder(None).unwrap();
        tb.insert("k.yaml", blob, 0o100644).unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        repo.commit(None, &sig, &sig, "c", &tree, parents).unwrap()
    };
    let b1 = repo.find_commit(commit_with(b"v2", &[&base])).unwrap();
    let b2 = repo.find_commit(commit_with(b"v3", &[&b1])).unwrap();
    let merge = commit_with(b"v3", &[&base, &b2]);
    repo.reference("refs/heads/main", merge, true, "merge")
        .unwrap();
    let mut ws = open(bare.to_str().unwrap(), &dir.path().join("c"));
    ws.sync().unwrap();
    let v = ws
        .file_versions(std::path::Path::new("k.yaml"), 10, 100)
        .unwrap();
    let seen: Vec<(String, Option<&[u8]>)> = v
        .iter()
        .map(|v| (v.commit.clone(), v.content.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (merge.to_string(), Some(&b"v3"[..])),
            (base.id().to_string(), Some(&b"v1"[..])),
        ],
        "v2 never ran on main"
    );
}

#[test]
fn walk_changes_stops_after_a_run_of_old_commits_not_at_one_skewed_clock() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("r.git");
    ferry::gitops::init_bare_with(&bare, &[("k/a.yaml", b"0")], "main", &author()).unwrap();
    let repo = Repository::open_bare(&bare).unwrap();
    let mut tip = repo.refname_to_id("refs/heads/main").unwrap();
    let mut n = 0u32;
    let mut commit = |at: i64| {
        n += 1;
        let base = repo.find_commit(tip).unwrap().tree().unwrap();
        let mut update = git2::build::TreeUpdateBuilder::new();
        let blob = repo.blob(format!("{n}").as_bytes()).unwrap();
        update.upsert("k/a.yaml", blob, git2::FileMode::Blob);
        let tree = repo
            .find_tree(update.create_updated(&repo, &base).unwrap())
            .unwrap();
        let sig = git2::Signature::new("t", "t@t", &git2::Time::new(at, 0)).unwrap();
        let parent = repo.find_commit(tip).unwrap();
        tip = repo
            .commit(None, &sig, &sig, "c\n", &tree, &[&parent])
            .unwrap();
    };
    let now = 2_000_000_000;
    // Oldest first: 20 commits before the bound, then one in the period,
    // one whose committer clock was wrong (1970), and three more.
    for i in 0..20 {
        commit(now - 1000 + i);
    }
    commit(now + 45);
    commit(0);
    for i in 0..3 {
        commit(now + 50 + i);
    }
    repo.reference("refs/heads/main", tip, true, "t").unwrap();
    let mut ws = open(bare.to_str().unwrap(), &dir.path().join("c"));
    ws.sync().unwrap();
    let paths = [PathBuf::from("k/a.yaml")];
    let mut times = Vec::new();
    let end = ws
        .walk_changes(&paths, now, 1000, |c| times.push(c.time))
        .unwrap();
    // The skewed commit does not stop the walk: the one behind it is read;
    // the walk then stops at the OLD_RUN-th old commit in a row.
    assert!(times.contains(&(now + 45)), "{times:?}");
    assert!(times.contains(&0));
    let old = times
        .iter()
        .filter(|t| (now - 1000..now).contains(*t))
        .count();
    assert_eq!(old, ferry::gitops::OLD_RUN - 1);
    assert_eq!(end.commits, 5 + ferry::gitops::OLD_RUN - 1);
    assert!(!end.capped);
}

#[test]
fn walk_changes_reads_watched_files_once_per_commit_along_the_first_parent_line() {
    // main: c0 (a=1, b=1) ─ c1 (a=2) ─ c2 (other) ─ M (merge of a branch that
    // wrote b=2 then b=3) ─ c4 (a and b removed... a deleted, b=4, trailers)
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("r.git");
    let author = author();
    ferry::gitops::init_bare_with(
        &bare,
        &[("k/a.yaml", b"1"), ("k/b.yaml", b"1"), ("other", b"x")],
        "main",
        &author,
    )
    .unwrap();
    let repo = Repository::open_bare(&bare).unwrap();
    let c0 = repo.refname_to_id("refs/heads/main").unwrap();
    let commit = |parents: &[Oid], files: &[(&str, Option<&[u8]>)], msg: &str, at: i64| {
        let base = repo.find_commit(parents[0]).unwrap().tree().unwrap();
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (path, content) in files {
            match content {
                Some(c) => update.upsert(*path, repo.blob(c).unwrap(), git2::FileMode::Blob),
                None => update.remove(*path),
            };
        }
        let tree = repo
            .find_tree(update.create_updated(&repo, &base).unwrap())
            .unwrap();
        let sig = git2::Signature::new("t", "t@t", &git2::Time::new(at, 0)).unwrap();
        let ps: Vec<git2::Commit> = parents
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit> = ps.iter().collect();
        repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
    };
    let now = 2_000_000_000;
    let c1 = commit(&[c0], &[("k/a.yaml", Some(b"2"))], "a2\n", now + 10);
    let c2 = commit(&[c1], &[("other", Some(b"y"))], "other\n", now + 20);
    let b1 = commit(&[c2], &[("k/b.yaml", Some(b"2"))], "b2\n", now + 25);
    let b2 = commit(&[b1], &[("k/b.yaml", Some(b"3"))], "b3\n", now + 26);
    let m = commit(&[c2, b2], &[("k/b.yaml", Some(b"3"))], "Merge\n", now + 30);
    let c4 = commit(
        &[m],
        &[("k/a.yaml", None), ("k/b.yaml", Some(b"4"))],
        "both\n\nFerry-App: api\nFerry-Env: dev\n",
        now + 40,
    );
    repo.reference("refs/heads/main", c4, true, "t").unwrap();
    let mut ws = open(bare.to_str().unwrap(), &dir.path().join("c"));
    ws.sync().unwrap();
    let paths = [PathBuf::from("k/a.yaml"), PathBuf::from("k/b.yaml")];
    let mut seen = Vec::new();
    let end = ws.walk_changes(&paths, 0, 100, |c| seen.push(c)).unwrap();
    assert_eq!(
        end.commits, 5,
        "c4, M, c2, c1, c0: the branch's commits are not walked"
    );
    assert!(!end.capped);
    let ids: Vec<String> = seen.iter().map(|c| c.info.id.clone()).collect();
    assert_eq!(
        ids,
        [
            c4.to_string(),
            m.to_string(),
            c1.to_string(),
            c0.to_string()
        ],
        "c2 changed no watched file"
    );
    let content = |b: &Option<gitops::Blob>| b.as_ref().map(|b| b.content.clone());
    // c4: a deleted, b 3 → 4, in path order, with the commit's trailers.
    type Seen<'a> = (&'a str, Option<Vec<u8>>, Option<Vec<u8>>);
    let files: Vec<Seen> = seen[0]
        .files
        .iter()
        .map(|f| {
            (
                f.path.to_str().unwrap(),
                content(&f.before),
                content(&f.after),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("k/a.yaml", Some(b"2".to_vec()), None),
            ("k/b.yaml", Some(b"3".to_vec()), Some(b"4".to_vec()))
        ]
    );
    assert_eq!(seen[0].time, now + 40);
    assert_eq!(
        seen[0].info.trailer_values("Ferry-App").collect::<Vec<_>>(),
        ["api"]
    );
    // The merge against its first parent: b 1 → 3 (b2 never ran on main).
    assert_eq!(seen[1].files.len(), 1);
    assert_eq!(content(&seen[1].files[0].before), Some(b"1".to_vec()));
    assert_eq!(content(&seen[1].files[0].after), Some(b"3".to_vec()));
    // The first commit wrote both; it has no parent.
    assert!(seen[3].root && !seen[0].root);
    assert_eq!(seen[3].files.len(), 2);
    assert!(seen[3].files.iter().all(|f| f.before.is_none()));
    // Equal bytes, equal blob ids: a reader can parse each version once.
    assert_eq!(
        seen[0].files[1].before.as_ref().unwrap().id,
        seen[1].files[0].after.as_ref().unwrap().id
    );

    // Bounded by time, with a slop: two commits older than the bound (c1,
    // c0) are fewer than OLD_RUN, so they are read too.
    let mut n = 0;
    let end = ws.walk_changes(&paths, now + 20, 100, |_| n += 1).unwrap();
    assert_eq!(
        (end.commits, end.capped, n),
        (5, false, 4),
        "c4, M, c2, c1, c0"
    );
    // Bounded by count.
    let mut n = 0;
    let end = ws.walk_changes(&paths, 0, 2, |_| n += 1).unwrap();
    assert_eq!((end.commits, end.capped, n), (2, true, 2));
    // Nothing watched, nothing walked.
    let end = ws.walk_changes(&[], 0, 100, |_| panic!()).unwrap();
    assert_eq!(end.commits, 0);
    // Up to a HEAD read before: only what came since.
    let mut n = 0;
    let end = ws
        .walk_changes_to(&paths, Some(&m.to_string()), 0, 100, |_| n += 1)
        .unwrap();
    assert_eq!((end.commits, end.reached_known, n), (1, true, 1));
    assert_eq!(end.head, Some(c4.to_string()));
    let end = ws
        .walk_changes_to(&paths, Some(&c4.to_string()), 0, 100, |_| panic!())
        .unwrap();
    assert_eq!((end.commits, end.reached_known), (0, true));
    // A commit not on the line: the walk goes all the way.
    let end = ws
        .walk_changes_to(&paths, Some(&b1.to_string()), 0, 100, |_| {})
        .unwrap();
    assert_eq!((end.commits, end.reached_known), (5, false));
}
