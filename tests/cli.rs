//! `ferry set-image` and `ferry check-config` as a user runs them: exit
//! codes, messages that point at file:line:col, and files that stay
//! byte-identical whenever ferry refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const D: &str = "sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f";

fn ferry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_kustomization(dir: &Path, body: &[u8]) -> PathBuf {
    let p = dir.join("kustomization.yaml");
    std::fs::write(&p, body).unwrap();
    p
}

/// Runs set-image on `body` and expects a refusal with exit 2, a message
/// containing `want` and the file untouched.
fn refused(body: &str, image: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_kustomization(dir.path(), body.as_bytes());
    let o = ferry(&["set-image", p.to_str().unwrap(), image]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{image} on {body:?}: {err}");
    assert!(err.contains(want), "want {want:?} in: {err}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), body, "file changed");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "a temporary file was left behind");
}

#[test]
fn refuses_what_it_cannot_edit_safely() {
    let path_prefix = "kustomization.yaml:";
    for (body, image, want) in [
        (
            "images:\n- &a {name: app, newTag: v1}\n- *a\n",
            "app:v2",
            "3:3: images entry 1 is an alias",
        ),
        (
            "base: &b {newTag: v1}\nimages:\n- name: app\n  <<: *b\n",
            "app:v2",
            "4:3: images entry 0 uses a merge key",
        ),
        (
            "images:\n  app: v1\n",
            "app:v2",
            "2:3: `images:` is not a list",
        ),
        ("images: app\n", "app:v2", "1:9: `images:` is not a list"),
        (
            "images:\n- name: app\n  newTag: v1\n    continued\n",
            "app:v2",
            "3:3: `newTag` of image \"app\" spans several lines",
        ),
        (
            "images:\n- name: app\n  newTag: [v1\n",
            "app:v2",
            "4:1: YAML syntax error: while parsing a flow sequence",
        ),
        (
            "images: []\n---\nimages: []\n",
            "app:v2",
            "2:1: more than one YAML document",
        ),
        (
            "images:\n- name: app\n  newTag: &t v1\n",
            "app:v2",
            "3:14: `newTag` of image \"app\" has an anchor",
        ),
        (
            "images:\n- name: app\n- name: app\n",
            "app:v2",
            "3:3: image \"app\" has more than one entry",
        ),
        (
            "- a\n- b\n",
            "app:v2",
            "1:1: the top level is not a mapping",
        ),
        (
            "images:\n- newTag: v1\n",
            "app:v2",
            "2:3: images entry 0 has no `name`",
        ),
        (
            "images:\n- name: app\n  newTag: |\n    v1\n",
            "app:v2",
            "3:3: `newTag` of image \"app\" spans several lines",
        ),
    ] {
        refused(body, image, &format!("{path_prefix}{want}"));
    }
}

#[test]
fn refuses_invalid_references_and_writes_nothing() {
    let body = "images:\n- name: app\n  newTag: v1\n";
    let long_tag = format!("app:{}", "a".repeat(129));
    for (image, want) in [
        ("app:-bad", "invalid tag \"-bad\": must start with"),
        ("app:v1+meta", "character '+' is not allowed"),
        (long_tag.as_str(), "129 characters, at most 128"),
        ("app@sha256:abc", "sha256 needs 64 hex digits, found 3"),
        ("app@md5:0123", "algorithm \"md5\" is not supported"),
        (
            &format!("app@{}", D.to_uppercase().replace("SHA256", "sha256")),
            "not a lowercase hex digit",
        ),
        ("App:v1", "invalid image name \"App\""),
        ("app=other/X:v1", "invalid image name \"other/X\""),
        ("app=reg:port/x:v1", "port \"port\" is not a number"),
        ("app=a//b:v1", "empty path component"),
        ("app:", "tag is empty"),
        ("=x:v1", "image name is empty"),
    ] {
        refused(body, image, want);
    }
}

#[test]
fn duplicate_image_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_kustomization(dir.path(), b"images: []\n");
    let o = ferry(&["set-image", p.to_str().unwrap(), "app:v1", "app:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("image \"app\" is given more than once"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "images: []\n");
}

#[test]
fn edits_a_directory_and_reports_changes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_kustomization(dir.path(), b"images:\n- name: app\n  newTag: v1 # note\n");
    let o = ferry(&[
        "set-image",
        dir.path().to_str().unwrap(),
        &format!("app:v2@{D}"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        format!("images:\n- name: app\n  newTag: v2 # note\n  digest: {D}\n")
    );
    // Running it again is a no-op that still succeeds.
    let o = ferry(&[
        "set-image",
        dir.path().to_str().unwrap(),
        &format!("app:v2@{D}"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("already up to date"), "{}", stderr(&o));
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let body = "images:\n- name: app\n  newTag: v1\n";
    let p = write_kustomization(dir.path(), body.as_bytes());
    let o = ferry(&["set-image", "--dry-run", p.to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("-  newTag: v1\n+  newTag: v2\n"), "{out}");
    assert!(out.starts_with("--- a/"), "{out}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), body);
}

#[test]
fn missing_and_ambiguous_kustomizations() {
    let dir = tempfile::tempdir().unwrap();
    let o = ferry(&["set-image", dir.path().to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no kustomization file"),
        "{}",
        stderr(&o)
    );
    std::fs::write(dir.path().join("kustomization.yaml"), "images: []\n").unwrap();
    std::fs::write(dir.path().join("kustomization.yml"), "images: []\n").unwrap();
    let o = ferry(&["set-image", dir.path().to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("more than one kustomization file (kustomization.yaml, kustomization.yml)"),
        "{}",
        stderr(&o)
    );
    let o = ferry(&[
        "set-image",
        dir.path().join("nope.yaml").to_str().unwrap(),
        "app:v2",
    ]);
    assert_eq!(o.status.code(), Some(1), "a missing path is not bad YAML");
}

#[test]
fn non_utf8_file_is_refused_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let body = b"images:\n- name: app\n  newTag: v\xff\n";
    let p = write_kustomization(dir.path(), body);
    let o = ferry(&["set-image", p.to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("kustomization.yaml:3:12: file is not valid UTF-8"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&p).unwrap(), body);
}

#[test]
fn keeps_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = write_kustomization(dir.path(), b"images: []\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = ferry(&["set-image", p.to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// A kustomization file that is a symbolic link is refused, named either
/// way (the file or its directory), with or without `--dry-run`: the link
/// stays a link and its target keeps its bytes. Before, the atomic rename
/// replaced the link with a regular file.
#[test]
fn symlinked_kustomization_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let body = "images:\n- name: app\n  newTag: v1\n";
    let target = dir.path().join("elsewhere.yaml");
    std::fs::write(&target, body).unwrap();
    let overlay = dir.path().join("overlay");
    std::fs::create_dir(&overlay).unwrap();
    let link = overlay.join("kustomization.yaml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for args in [
        vec!["set-image", link.to_str().unwrap(), "app:v2"],
        vec!["set-image", overlay.to_str().unwrap(), "app:v2"],
        vec![
            "set-image",
            "--dry-run",
            overlay.to_str().unwrap(),
            "app:v2",
        ],
    ] {
        let o = ferry(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "{}: is a symbolic link (to {})",
                link.display(),
                target.display()
            )),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "no diff: {args:?}");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{args:?}: the link is still a link"
        );
        assert_eq!(std::fs::read_link(&link).unwrap(), target);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), body, "{args:?}");
        assert_eq!(
            std::fs::read_dir(&overlay).unwrap().count(),
            1,
            "no temporary file"
        );
    }
    // The file it points to is edited as usual.
    let o = ferry(&["set-image", target.to_str().unwrap(), "app:v2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .contains("newTag: v2")
    );
}

#[test]
fn check_config_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ferry.yaml");
    std::fs::write(
        &p,
        "apps:\n- {name: a, repository: r, image: i, overlays: {dev: /abs}}\n",
    )
    .unwrap();
    let o = ferry(&["check-config", "--config", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(
            "ferry.yaml:2:54: apps[0].overlays.dev: overlay path \"/abs\" must be relative"
        ),
        "{}",
        stderr(&o)
    );
    let o = ferry(&[
        "check-config",
        "--config",
        dir.path().join("missing.yaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = ferry(&["set-image"]);
    assert_eq!(o.status.code(), Some(2), "usage errors are bad input");
}

/// A directory with a bare GitOps repository, a registry file and a
/// cosign key, for check-config and plan on configs written from `BASE`.
struct ConfigDir {
    dir: tempfile::TempDir,
}

const BASE: &str = "gitops:
  repo: gitops.git
  branch: main
registry:
  kind: local
  path: registry.yaml
gates:
  signature:
    cosign_keys: [ci.pub]
forge:
  kind: local
  path: prs.json
environments:
  - name: dev
    mode: commit
  - name: staging
    mode: pull_request
    after: dev
apps:
  - name: api
    repository: shop/api
    image: api
    overlays: {dev: overlays/dev, staging: overlays/staging}
";

impl ConfigDir {
    fn new() -> ConfigDir {
        let dir = tempfile::tempdir().unwrap();
        let overlay = format!("images:\n- name: api\n  newTag: v1\n  digest: {D}\n");
        ferry::gitops::init_bare_with(
            &dir.path().join("gitops.git"),
            &[
                ("overlays/dev/kustomization.yaml", overlay.as_bytes()),
                ("overlays/staging/kustomization.yaml", overlay.as_bytes()),
            ],
            "main",
            &ferry::gitops::Author {
                name: "t".into(),
                email: "t@t".into(),
            },
        )
        .unwrap();
        std::fs::write(dir.path().join("registry.yaml"), "repositories: {}\n").unwrap();
        let signer = ferry::gates::signer::Signer::generate().unwrap();
        std::fs::write(dir.path().join("ci.pub"), signer.public_pem().unwrap()).unwrap();
        std::fs::write(dir.path().join("garbage.pub"), "not a key\n").unwrap();
        ConfigDir { dir }
    }

    fn run(&self, config: &str, args: &[&str]) -> Output {
        let p = self.dir.path().join("ferry.yaml");
        std::fs::write(&p, config).unwrap();
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .arg("--config")
            .arg(&p)
            .env("FERRY_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("FERRY_TEST_UNSET_VAR")
            .output()
            .unwrap()
    }
}

/// `BASE` with `from` replaced by `to` (which must occur once).
fn edited(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "{from:?}");
    BASE.replacen(from, to, 1)
}

/// `line:col` (1-based) of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> String {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in {text}"));
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

/// An expected error: the text its position points at, the field, a part
/// of the message.
type Want = (&'static str, &'static str, &'static str);

#[test]
fn check_config_refuses_each_bad_config_with_field_and_position() {
    let d = ConfigDir::new();
    let dev = "    mode: commit\n";
    // (config, [(needle whose position the error names, field, message part)])
    let cases: Vec<(String, Vec<Want>)> = vec![
        (
            edited(
                "repo: gitops.git",
                "repo: 'https://ghp_tok@github.com/a/b.git'",
            ),
            vec![("'https://ghp", "gitops.repo", "carries user-info")],
        ),
        (
            edited("branch: main", "branch: 'a..b'"),
            vec![("'a..b'", "gitops.branch", "not a valid git branch name")],
        ),
        (
            edited("    after: dev\n", ""),
            vec![("pull_request", "environments[1].mode", "needs `after`")],
        ),
        (
            edited(
                dev,
                "    mode: commit\n    smoke: [{url: 'https://u:pw@dev.acme.io/h'}]\n",
            ),
            vec![(
                "'https://u:pw",
                "environments[0].smoke[0].url",
                "carries user-info",
            )],
        ),
        (
            edited(
                dev,
                "    mode: commit\n    smoke: [{url: 'http://127.0.0.1:9/h', retries: 1000}]\n",
            ),
            vec![("1000", "environments[0].smoke[0].retries", "at most 10")],
        ),
        (
            edited(
                dev,
                "    mode: commit\n    smoke: [{url: 'http://127.0.0.1:9/h', timeout: 0s}]\n",
            ),
            vec![("0s", "environments[0].smoke[0].timeout", "more than zero")],
        ),
        (
            edited(
                dev,
                "    mode: commit\n    smoke: [{url: 'http://127.0.0.1:9/h', headers: {'a b': x}}]\n",
            ),
            vec![(
                "{'a b'",
                "environments[0].smoke[0].headers",
                "not a valid header name",
            )],
        ),
        (
            edited(
                dev,
                "    mode: commit\n    smoke: [{url: 'http://127.0.0.1:9/h', body_regex: '(['}]\n",
            ),
            vec![(
                "'(['",
                "environments[0].smoke[0].body_regex",
                "invalid regex",
            )],
        ),
        (
            edited(
                "    after: dev\n",
                "    after: dev\n    reviewers: [alice, 'team:', 'x y']\n",
            ),
            vec![
                (
                    "'team:'",
                    "environments[1].reviewers[1]",
                    "neither a GitHub login",
                ),
                (
                    "'x y'",
                    "environments[1].reviewers[2]",
                    "neither a GitHub login",
                ),
            ],
        ),
        (
            edited("[ci.pub]", "[missing.pub]"),
            vec![(
                "[missing.pub]",
                "gates.signature.cosign_keys",
                "missing.pub",
            )],
        ),
        (
            edited("[ci.pub]", "[garbage.pub]"),
            vec![(
                "[garbage.pub]",
                "gates.signature.cosign_keys",
                "garbage.pub",
            )],
        ),
        (
            edited("  kind: local\n  path: prs.json\n", "  kind: github\n"),
            vec![
                ("kind: github", "forge", "`repository` is required"),
                ("kind: github", "forge", "give `token_env`"),
            ],
        ),
        (
            edited(dev, "    mode: commit\n    argocd_app: shop-dev\n"),
            vec![(
                "shop-dev",
                "environments[0].argocd_app",
                "needs an `argocd:` section",
            )],
        ),
        (
            edited(
                "  branch: main\n",
                "  branch: main\n  token_env: FERRY_TEST_UNSET_VAR\n",
            ),
            vec![("FERRY_TEST_UNSET_VAR", "gitops.token_env", "is not set")],
        ),
        (
            format!("{BASE}argocd: {{url: 'https://admin:pw@argocd.acme.io'}}\n"),
            vec![("'https://admin", "argocd.url", "carries user-info")],
        ),
        // A parse error does not hide the other problems.
        (
            edited(
                dev,
                "    mode: commit\n    colour: blue\n    smoke: [{url: 'https://tok@dev.acme.io/h'}]\n",
            ),
            vec![
                ("colour", "environments[0]", "unknown field `colour`"),
                (
                    "'https://tok",
                    "environments[0].smoke[0].url",
                    "carries user-info",
                ),
            ],
        ),
        (
            edited("    image: api\n", "    image: [api]\n")
                .replace("    mode: commit\n", "    mode: commit\n    soak: {x: 1}\n"),
            vec![
                ("{x: 1}", "environments[0].soak", "invalid type: map"),
                ("name: api", "apps[0]", "image: invalid type: sequence"),
            ],
        ),
    ];
    for (config, wants) in &cases {
        let o = d.run(config, &["check-config"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{config}\n{err}");
        for (needle, field, message) in wants {
            let want = format!("ferry.yaml:{}: {field}: ", position(config, needle));
            assert!(
                err.lines()
                    .any(|l| l.contains(&want) && l.contains(message)),
                "{want:?} with {message:?} not in:\n{err}\nfor:\n{config}"
            );
        }
        assert_eq!(
            err.lines().filter(|l| l.contains("ferry.yaml:")).count(),
            wants.len(),
            "{err}"
        );
        for secret in ["ghp_tok", ":pw@", "tok@"] {
            assert!(!err.contains(secret), "secret echoed: {err}");
        }
    }
}

#[test]
fn every_config_check_config_accepts_plan_accepts() {
    let d = ConfigDir::new();
    let dev = "    mode: commit\n";
    let good = [
        BASE.to_string(),
        format!(
            "{}argocd: {{url: 'http://127.0.0.1:9'}}\n",
            edited(dev, "    mode: commit\n    argocd_app: '{app}-dev'\n")
        ),
        edited(
            dev,
            "    mode: commit\n    smoke: [{url: 'http://127.0.0.1:9/h?x=1', method: head, headers: {X-A: b}, body_regex: 'ok', retries: 10, timeout: 5m}]\n",
        ),
        edited(
            "    after: dev\n",
            "    after: dev\n    reviewers: [alice, 'team:platform', a-b-c]\n",
        ),
        edited("  branch: main\n", "  branch: release/v1.2\n").replace("\"main\"", "x"),
    ];
    // The bad ones of the other test, too: whatever check-config accepts.
    let bad = [
        edited("branch: main", "branch: 'a..b'"),
        edited("    after: dev\n", ""),
        edited("[ci.pub]", "[garbage.pub]"),
    ];
    let mut accepted = 0;
    for config in good.iter().chain(&bad) {
        let check = d.run(config, &["check-config"]);
        if check.status.code() != Some(0) {
            continue;
        }
        accepted += 1;
        let plan = d.run(config, &["plan"]);
        // The branch release/v1.2 does not exist: plan fails to fetch (1), as
        // it must, but never refuses the config (2).
        if config.contains("release/v1.2") {
            assert_eq!(plan.status.code(), Some(1), "{config}\n{}", stderr(&plan));
            assert!(stderr(&plan).contains("no branch"), "{}", stderr(&plan));
            continue;
        }
        assert_eq!(plan.status.code(), Some(0), "{config}\n{}", stderr(&plan));
    }
    assert_eq!(accepted, good.len(), "check-config refused a good config");
}

#[test]
fn the_example_config_passes_with_its_keys_and_secrets() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/ferry.example.yaml"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ferry.yaml");
    std::fs::write(&p, &example).unwrap();
    let check = |env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["check-config", "--config"])
            .arg(&p)
            .env_remove("ARGOCD_TOKEN")
            .env_remove("GITHUB_TOKEN")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    // Without the key file and the tokens, what run would fail on is named.
    let o = check(&[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for field in ["gates.signature.cosign_keys", "argocd", "forge"] {
        assert!(err.contains(&format!(": {field}: ")), "{field}: {err}");
    }
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let signer = ferry::gates::signer::Signer::generate().unwrap();
    std::fs::write(dir.path().join("keys/ci.pub"), signer.public_pem().unwrap()).unwrap();
    let o = check(&[("ARGOCD_TOKEN", "t"), ("GITHUB_TOKEN", "t")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
