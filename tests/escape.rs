//! Nothing escapes the checkout: a pushed commit that turns an overlay (or
//! its kustomization file) into a symbolic link out of the repository
//! holds that app with `overlay_unreadable`; the outside file is neither
//! written nor read into a commit, and the other apps still move. A link
//! that stays inside the repository is followed. And one bad overlay (a
//! value that is not valid for the image grammar) holds only its app.
//! Driven with the `ferry` binary on bare repositories, as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferry::gates::SignatureEvidence;
use ferry::gates::signer::Signer;
use ferry::gitops::{Author, CommitInfo, Credentials, Workspace, init_bare_with};
use ferry::image::Digest;
use git2::{FileMode, Oid, Repository};

const APPS: [&str; 2] = ["api", "web"];

fn digest(app: &str, n: u32) -> Digest {
    ferry::oci::sha256(format!("{app}:{n}").as_bytes())
}

fn overlay(app: &str, n: u32) -> String {
    format!(
        "# {app} dev\nimages:\n  - name: {app}\n    newTag: build-{n}\n    digest: {}\n",
        digest(app, n)
    )
}

fn author() -> Author {
    Author {
        name: "t".into(),
        email: "t@t".into(),
    }
}

/// A GitOps repo with `apps/<app>/dev/kustomization.yaml` for api and web
/// (both at build-0), build-1 of each signed in the registry, and a
/// directory `outside/` beside the repository.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(String, String)> = APPS
            .iter()
            .map(|a| (format!("apps/{a}/dev/kustomization.yaml"), overlay(a, 0)))
            .collect();
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_bytes()))
            .collect();
        init_bare_with(&dir.path().join("gitops.git"), &refs, "main", &author()).unwrap();
        let signer = Signer::generate().unwrap();
        std::fs::create_dir(dir.path().join("sigs")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("ci.pub"), signer.public_pem().unwrap()).unwrap();
        let mut registry = String::from("repositories:\n");
        for (i, a) in APPS.iter().enumerate() {
            registry.push_str(&format!("  team/{a}:\n    images:\n"));
            for n in 0..=1 {
                let d = digest(a, n);
                let SignatureEvidence::SimpleSigning {
                    payload,
                    signature_b64,
                } = signer.sign_simple("x", &d).unwrap()
                else {
                    unreachable!()
                };
                std::fs::write(dir.path().join(format!("sigs/{}", d.hex())), payload).unwrap();
                registry.push_str(&format!(
                    "      - {{digest: {d}, tags: [build-{n}], pushed_at: \"2026-11-26T10:0{i}:0{n}Z\", scan: {{status: COMPLETE}}, signatures: [{{payload: sigs/{}, signature: \"{signature_b64}\"}}]}}\n",
                    d.hex()
                ));
            }
        }
        std::fs::write(dir.path().join("registry.yaml"), registry).unwrap();
        let mut cfg = String::from(
            "gitops: {repo: gitops.git, branch: main}\nregistry: {kind: local, path: registry.yaml}\ngates:\n  scan: {max: {CRITICAL: 0}}\n  signature: {cosign_keys: [ci.pub]}\nenvironments:\n  - {name: dev, mode: commit}\napps:\n",
        );
        for a in APPS {
            cfg.push_str(&format!("  - {{name: {a}, repository: team/{a}, image: {a}, tags: '^build-', overlays: {{dev: apps/{a}/dev}}}}\n"));
        }
        std::fs::write(dir.path().join("ferry.yaml"), cfg).unwrap();
        Setup { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn outside(&self) -> PathBuf {
        self.path().join("outside")
    }

    fn bare(&self) -> Repository {
        Repository::open_bare(self.path().join("gitops.git")).unwrap()
    }

    /// Pushes a commit that replaces whatever is at `path` (a file or a
    /// whole directory) with a symbolic link to `target`, as a
    /// collaborator with push access could.
    fn push_link(&self, path: &str, target: &str) {
        self.push(path, target, FileMode::Link);
    }

    /// Pushes a commit adding `path` as a regular file.
    fn push_file(&self, path: &str, body: &str) {
        self.push(path, body, FileMode::Blob);
    }

    fn push(&self, path: &str, bytes: &str, mode: FileMode) {
        let repo = self.bare();
        let parent = repo.find_commit(self.tip()).unwrap();
        let blob = repo.blob(bytes.as_bytes()).unwrap();
        // Remove first (a directory), then write the entry in its place.
        let mut tree = parent.tree_id();
        if parent.tree().unwrap().get_path(Path::new(path)).is_ok() {
            let mut remove = git2::build::TreeUpdateBuilder::new();
            remove.remove(path);
            tree = remove
                .create_updated(&repo, &parent.tree().unwrap())
                .unwrap();
        }
        let mut update = git2::build::TreeUpdateBuilder::new();
        update.upsert(path, blob, mode);
        let tree = update
            .create_updated(&repo, &repo.find_tree(tree).unwrap())
            .unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            &format!("change {path}\n"),
            &tree,
            &[&parent],
        )
        .unwrap();
    }

    fn tip(&self) -> Oid {
        self.bare().refname_to_id("refs/heads/main").unwrap()
    }

    fn ferry(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .arg("--config")
            .arg(self.path().join("ferry.yaml"))
            .env("FERRY_CACHE_DIR", self.path().join("cache"))
            .env("NO_COLOR", "1")
            .env_remove("FERRY_FAILPOINT")
            .output()
            .unwrap()
    }

    /// `ferry plan --output json`: (action, reason code, reason message) of `app`.
    fn plan(&self, app: &str) -> (String, String, String) {
        let o = self.ferry(&["plan", "--output", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        let e = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["app"] == app)
            .unwrap_or_else(|| panic!("no entry for {app}: {v}"));
        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        (
            s(&e["action"]),
            s(&e["reason"]["code"]),
            s(&e["reason"]["message"]),
        )
    }

    fn run_once(&self) -> Output {
        let o = self.ferry(&["run", "--once"]);
        assert!(
            o.status.code().is_some(),
            "ferry was killed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// The remote's history, newest first, in a checkout of its own.
    fn history(&self) -> Vec<CommitInfo> {
        let url = self.path().join("gitops.git");
        let mut ws = Workspace::open(
            url.to_str().unwrap(),
            "main",
            &self.path().join("check-cache"),
            Credentials::None,
        )
        .unwrap();
        ws.sync().unwrap();
        ws.log(100).unwrap()
    }

    /// The paths commit `id` changes against its parent.
    fn touched(&self, id: &str) -> Vec<String> {
        let repo = self.bare();
        let c = repo.find_commit(Oid::from_str(id).unwrap()).unwrap();
        let parent = c.parent(0).unwrap();
        let diff = repo
            .diff_tree_to_tree(
                Some(&parent.tree().unwrap()),
                Some(&c.tree().unwrap()),
                None,
            )
            .unwrap();
        diff.deltas()
            .map(|d| {
                d.new_file()
                    .path()
                    .or(d.old_file().path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect()
    }

    /// The bytes of `path` at the remote tip, and whether it is a link.
    fn at_tip(&self, path: &str) -> (Vec<u8>, bool) {
        let repo = self.bare();
        let tree = repo.find_commit(self.tip()).unwrap().tree().unwrap();
        let entry = tree.get_path(Path::new(path)).unwrap();
        let blob = repo.find_blob(entry.id()).unwrap();
        (
            blob.content().to_vec(),
            entry.filemode() == i32::from(FileMode::Link),
        )
    }
}

/// Asserts that the commits ferry pushed since `since` (newest first in
/// `history`) moved web and nothing of api.
fn only_web_moved(s: &Setup, history: &[CommitInfo], since: usize) {
    let new = &history[..history.len() - since];
    assert_eq!(new.len(), 1, "one commit for web: {new:#?}");
    let c = &new[0];
    assert!(
        c.summary.starts_with("dev: web build-0→build-1"),
        "{}",
        c.summary
    );
    assert!(!c.message.contains("api"), "no word of api: {}", c.message);
    assert_eq!(
        c.trailer_values("Ferry-App").collect::<Vec<_>>(),
        vec!["web"]
    );
    assert_eq!(
        s.touched(&c.id),
        vec!["apps/web/dev/kustomization.yaml".to_string()]
    );
    assert_eq!(
        s.at_tip("apps/web/dev/kustomization.yaml").0,
        overlay("web", 1).into_bytes()
    );
}

#[test]
fn an_overlay_directory_linked_out_of_the_repository_is_held() {
    let s = Setup::new();
    // The outside overlay looks like api's, so a pass that followed the
    // link would happily edit it.
    let outside = s.outside().join("kustomization.yaml");
    std::fs::write(&outside, overlay("api", 0)).unwrap();
    s.push_link("apps/api/dev", s.outside().to_str().unwrap());
    let before = s.history().len();

    let (action, code, message) = s.plan("api");
    assert_eq!(
        (action.as_str(), code.as_str()),
        ("none", "overlay_unreadable")
    );
    assert!(
        message.contains("apps/api/dev") && message.contains("outside the repository"),
        "names the path: {message}"
    );
    assert_eq!(s.plan("web").0, "commit");

    let o = s.run_once();
    let log = String::from_utf8_lossy(&o.stderr);
    let h = s.history();
    only_web_moved(&s, &h, before);
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        overlay("api", 0),
        "the outside file is byte-identical: {log}"
    );
    assert_eq!(
        std::fs::read_dir(s.outside()).unwrap().count(),
        1,
        "nothing new outside"
    );
    // The link is still the link, with the same target.
    assert_eq!(
        s.at_tip("apps/api/dev"),
        (s.outside().to_str().unwrap().as_bytes().to_vec(), true)
    );
    // A second pass changes nothing.
    s.run_once();
    assert_eq!(s.history().len(), h.len());
}

#[test]
fn a_kustomization_file_linked_out_of_the_repository_is_never_read_into_a_commit() {
    let s = Setup::new();
    // Something secret beside the checkout, shaped like an overlay.
    let secret = s.outside().join("secret.yaml");
    let secret_body = format!("# SECRET-TOKEN-123\n{}", overlay("api", 0));
    std::fs::write(&secret, &secret_body).unwrap();
    // A relative link climbing out of the checkout, as a commit can hold.
    // From apps/api/dev in `<dir>/cache/<checkout>/` up to `<dir>`.
    let link_target = "../../../../../outside/secret.yaml";
    s.push_link("apps/api/dev/kustomization.yaml", link_target);
    let before = s.history().len();

    let (action, code, message) = s.plan("api");
    assert_eq!(
        (action.as_str(), code.as_str()),
        ("none", "overlay_unreadable")
    );
    assert!(
        message.contains("apps/api/dev") && message.contains(link_target),
        "names the path and the link: {message}"
    );

    s.run_once();
    // The link in ferry's checkout really reaches the secret.
    let checkout = std::fs::read_dir(s.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join(".git").exists())
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(checkout.join("apps/api/dev/kustomization.yaml")).unwrap(),
        secret_body
    );
    let h = s.history();
    only_web_moved(&s, &h, before);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_body);
    assert_eq!(
        s.at_tip("apps/api/dev/kustomization.yaml"),
        (link_target.as_bytes().to_vec(), true),
        "the link is still a link"
    );
    for c in &h {
        assert!(!c.message.contains("SECRET"), "{}", c.message);
    }
    // No blob of any pushed tree holds the outside content.
    let repo = s.bare();
    let mut found = false;
    repo.odb()
        .unwrap()
        .foreach(|id| {
            if let Ok(b) = repo.find_blob(*id) {
                found |= String::from_utf8_lossy(b.content()).contains("SECRET-TOKEN");
            }
            true
        })
        .unwrap();
    assert!(!found, "the outside content reached the repository");
}

#[test]
fn links_that_stay_inside_the_repository_still_work() {
    let s = Setup::new();
    // api's dev overlay moves to a shared directory; the old path links to it.
    s.push_file("shared/api-dev/kustomization.yaml", &overlay("api", 0));
    s.push_link("apps/api/dev", "../../shared/api-dev");
    // web's kustomization file is a link to a file elsewhere in the repo.
    s.push_file("shared/web-dev.yaml", &overlay("web", 0));
    s.push_link(
        "apps/web/dev/kustomization.yaml",
        "../../../shared/web-dev.yaml",
    );
    let before = s.history().len();
    assert_eq!(s.plan("api").0, "commit");
    assert_eq!(s.plan("web").0, "commit");

    let o = s.run_once();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h = s.history();
    let new = &h[..h.len() - before];
    assert_eq!(new.len(), 1, "{new:#?}");
    let mut apps: Vec<_> = new[0].trailer_values("Ferry-App").collect();
    apps.sort();
    assert_eq!(apps, vec!["api", "web"]);
    let mut touched = s.touched(&new[0].id);
    touched.sort();
    assert_eq!(
        touched,
        vec!["shared/api-dev/kustomization.yaml", "shared/web-dev.yaml"],
        "the real files changed, the links did not"
    );
    assert_eq!(
        s.at_tip("shared/api-dev/kustomization.yaml").0,
        overlay("api", 1).into_bytes()
    );
    assert_eq!(
        s.at_tip("shared/web-dev.yaml").0,
        overlay("web", 1).into_bytes()
    );
    assert!(s.at_tip("apps/api/dev").1 && s.at_tip("apps/web/dev/kustomization.yaml").1);
    // What runs is read through the links too: nothing left to do.
    assert_eq!(s.plan("api").1, "up_to_date");
    s.run_once();
    assert_eq!(s.history().len(), h.len());
}

/// The commit side on its own: whatever an edit does, a change that adds,
/// replaces or removes a symbolic link is not committed, so a link turned
/// into a regular file (outside content and all) never reaches the remote.
#[test]
fn workspace_refuses_to_commit_link_changes() {
    let s = Setup::new();
    s.push_file("shared/real.yaml", "x: 1\n");
    s.push_link(
        "apps/api/dev/kustomization.yaml",
        "../../../shared/real.yaml",
    );
    let tip = s.tip();
    let url = s.path().join("gitops.git");
    let mut ws = Workspace::open(
        url.to_str().unwrap(),
        "main",
        &s.path().join("ws-cache"),
        Credentials::None,
    )
    .unwrap();
    type Edit = fn(&Path) -> std::io::Result<()>;
    let edits: [(&str, Edit); 3] = [
        ("replaced", |root| {
            // What a rename over the link did: a regular file in its place.
            let link = root.join("apps/api/dev/kustomization.yaml");
            std::fs::write(root.join("tmp"), "outside: content\n")?;
            std::fs::rename(root.join("tmp"), link)
        }),
        ("added", |root| {
            std::os::unix::fs::symlink("/etc", root.join("apps/web/etc"))?;
            std::fs::write(root.join("shared/real.yaml"), "x: 2\n")
        }),
        ("deleted", |root| {
            std::fs::remove_file(root.join("apps/api/dev/kustomization.yaml"))
        }),
    ];
    for (what, edit) in edits {
        let err = ws
            .apply(&author(), 1, |root| {
                edit(root).map(|()| Some(format!("edit: {what}\n")))
            })
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("refusing to commit") && msg.contains(what),
            "{what}: {msg}"
        );
        assert_eq!(s.tip(), tip, "{what}: nothing pushed");
    }
    // An ordinary edit of the link's target still commits.
    ws.apply(&author(), 1, |root| {
        std::fs::write(root.join("shared/real.yaml"), "x: 3\n")
            .map(|()| Some("edit the real file\n".to_string()))
    })
    .unwrap();
    assert_eq!(s.at_tip("shared/real.yaml").0, b"x: 3\n");
    assert!(s.at_tip("apps/api/dev/kustomization.yaml").1);
}

#[test]
fn an_invalid_value_in_one_overlay_holds_only_that_app() {
    // A digest that is not one (multi-byte, to catch byte slicing), and a
    // tag with a newline that would otherwise reach a commit subject.
    let bad = [
        "images:\n  - name: api\n    newTag: build-0\n    digest: sha256:ééééééééééééééééééééé\n",
        "images:\n  - name: api\n    newTag: \"build-0\\nFerry-App: web\"\n    digest: sha256:00\n",
    ];
    for text in bad {
        let s = Setup::new();
        s.push_file("apps/api/dev/kustomization.yaml", text);
        let before = s.history().len();
        let (action, code, message) = s.plan("api");
        assert_eq!(
            (action.as_str(), code.as_str()),
            ("none", "overlay_unreadable"),
            "{message}"
        );
        assert!(
            message.contains("apps/api/dev/kustomization.yaml") && message.contains("not valid"),
            "names the file and the field: {message}"
        );
        assert_eq!(s.plan("web").0, "commit");
        // The table does not panic and shows both apps.
        let o = s.ferry(&["plan"]);
        let table = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            table.contains("overlay_unreadable") && table.contains("web"),
            "{table}"
        );

        let o = s.run_once();
        assert!(
            o.status.success(),
            "the pass succeeds: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let h = s.history();
        only_web_moved(&s, &h, before);
        assert_eq!(
            s.at_tip("apps/api/dev/kustomization.yaml").0,
            text.as_bytes(),
            "the bad overlay is left as it was"
        );
    }
}
