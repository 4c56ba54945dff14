use super::*;

fn errors(src: &str) -> Vec<String> {
    parse(src)
        .unwrap_err()
        .into_iter()
        .map(|e| {
            let (l, c) = e.pos.unwrap_or((0, 0));
            format!("{l}:{c} {}: {}", e.field.unwrap_or_default(), e.message)
        })
        .collect()
}

#[test]
fn example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ferry.example.yaml");
    let c = load(&path).unwrap();
    assert_eq!(c.environments.len(), 3);
    assert_eq!(c.environments[2].after.as_deref(), Some("staging"));
    assert_eq!(
        c.apps[0].overlays["production"],
        PathBuf::from("k8s/overlays/prod")
    );
    assert_eq!(c.gates.unwrap().scan.unwrap().max[&Severity::High], 3);
    assert!(c.apps[0].tags.as_ref().unwrap().0.is_match("sha-3f2a9c1"));
    assert_eq!(c.registry.unwrap().kind, RegistryKind::Ecr);
}

#[test]
fn sections_may_be_absent() {
    let c = parse("registry: {kind: local, path: images.yaml}\n").unwrap();
    assert!(c.apps.is_empty() && c.gitops.is_none());
    assert!(parse("").unwrap().apps.is_empty());
    assert!(parse("# nothing yet\n").is_ok());
}

#[test]
fn unknown_keys_name_line_column_and_field() {
    let e = errors("gitops:\n  repo: x\n  brnch: main\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("3:3 gitops: unknown field `brnch`"),
        "{e:?}"
    );
    let e = errors("apps:\n- name: a\n  repository: r\n  image: i\n  overlay: {}\n");
    assert!(
        e[0].starts_with("5:3 apps[0]: unknown field `overlay`"),
        "{e:?}"
    );
}

#[test]
fn wrong_types_and_values() {
    let e = errors("environments:\n- name: dev\n  mode: push\n");
    assert!(
        e[0].starts_with("3:9 environments[0].mode: unknown variant `push`"),
        "{e:?}"
    );
    let e = errors("gates:\n  scan:\n    max: {CRITICAL: 0, SEVERE: 1}\n");
    assert!(e[0].contains("unknown variant `SEVERE`"), "{e:?}");
    let e = errors("environments:\n- {name: dev, mode: commit, soak: 5x}\n");
    assert!(e[0].contains("unknown unit 'x'"), "{e:?}");
    assert!(e[0].starts_with("2:"), "{e:?}");
    let e = errors("apps:\n- {name: a, repository: r, image: i, tags: '(['}\n");
    assert!(e[0].contains("invalid regex"), "{e:?}");
}

#[test]
fn syntax_errors_have_positions() {
    let e = errors("apps:\n  - name: [a\n");
    assert!(e[0].contains("YAML syntax error"), "{e:?}");
    assert!(e[0].starts_with("3:"), "{e:?}");
}

#[test]
fn overlay_paths_stay_inside_the_repository() {
    let src = "environments:\n- {name: dev, mode: commit}\napps:\n- name: a\n  repository: team/a\n  image: a\n  overlays:\n    dev: /etc/passwd\n- name: b\n  repository: team/b\n  image: b\n  overlays:\n    dev: k8s/../../outside\n- name: c\n  repository: team/c\n  image: c\n  overlays:\n    dev: ./k8s/a/../b\n";
    let e = errors(src);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(
        e[0],
        "8:10 apps[0].overlays.dev: overlay path \"/etc/passwd\" must be relative to the repository root"
    );
    assert_eq!(
        e[1],
        "13:10 apps[1].overlays.dev: overlay path \"k8s/../../outside\" leaves the repository"
    );
}

#[test]
fn cross_references_are_checked() {
    let src = "environments:\n- {name: dev, mode: commit, after: prod}\n- {name: prod, mode: pull_request, after: dev}\n- {name: qa, mode: commit, after: nowhere}\n- {name: dev, mode: commit}\n- {name: Bad_Name, mode: commit, smoke: [{url: ftp://x}]}\napps:\n- {name: a, repository: Team/A, image: a, overlays: {staging: k8s/a}}\n- {name: a, repository: team/a, image: 'a b'}\n";
    let e = errors(src);
    let want = [
        "5:10 environments[3].name: environment \"dev\" is defined twice",
        "6:10 environments[4].name: \"Bad_Name\" is not a valid name",
        "6:48 environments[4].smoke[0].url: \"ftp://x\" is not an http:// or https:// URL",
        "2:36 environments[0].after: `after` forms a cycle through \"prod\"",
        "3:43 environments[1].after: `after` forms a cycle through \"dev\"",
        "4:35 environments[2].after: unknown environment \"nowhere\"",
        "8:25 apps[0].repository: invalid image name \"Team/A\"",
        "8:63 apps[0].overlays.staging: unknown environment \"staging\"",
        "9:10 apps[1].name: app \"a\" is defined twice",
        "9:40 apps[1].image: invalid image name \"a b\"",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(got.starts_with(want), "got {got}\nwant {want}");
    }
}

#[test]
fn time_zones_are_checked_where_written() {
    let c = parse("environments:\n- {name: prod, mode: commit, windows: ['* 9-16 * * Mon-Thu'], timezone: Europe/Paris}\n")
        .unwrap();
    assert_eq!(c.environments[0].timezone.as_deref(), Some("Europe/Paris"));
    let e = errors("environments:\n- name: prod\n  mode: commit\n  timezone: Europe/Pariss\n");
    assert!(
        e[0].starts_with("4:13 environments[0].timezone: timezone \"Europe/Pariss\": not an IANA"),
        "{e:?}"
    );
}

#[test]
fn argocd_app_may_name_one_application_per_app() {
    let c =
        parse("environments:\n- {name: dev, mode: commit, argocd_app: \"{app}-dev\"}\n").unwrap();
    assert_eq!(
        c.environments[0].argocd_app_for("api").as_deref(),
        Some("api-dev")
    );
    let c =
        parse("environments:\n- {name: dev, mode: commit, argocd_app: platform-dev}\n").unwrap();
    assert_eq!(
        c.environments[0].argocd_app_for("api").as_deref(),
        Some("platform-dev")
    );
    let e = errors("environments:\n- {name: dev, mode: commit, argocd_app: \"{service}-dev\"}\n");
    assert!(
        e[0].starts_with("2:41 environments[0].argocd_app: ") && e[0].contains("only placeholder"),
        "{e:?}"
    );
}

#[test]
fn grouping_by_environment_loads() {
    let c = parse(
        "environments:\n- {name: dev, mode: commit}\n- {name: staging, mode: pull_request, after: dev, group: environment}\n",
    )
    .unwrap();
    assert_eq!(c.environments[1].group, Group::Environment);
    let e = errors("environments:\n- {name: staging, mode: pull_request, group: everything}\n");
    assert!(e[0].contains("environments[0].group"), "{e:?}");
}

#[test]
fn app_names_must_make_branch_names() {
    for bad in ["_all", "a b", "api..v2", "-api", "api.lock", "ünï", "api/x"] {
        let e = errors(&format!(
            "apps:\n- {{name: {bad:?}, repository: r, image: i}}\n"
        ));
        assert!(
            e.iter()
                .any(|m| m.starts_with("2:10 apps[0].name: ") && m.contains("not a valid name")),
            "{bad}: {e:?}"
        );
    }
    for good in ["api", "gateway-v2", "llm_router", "svc.internal", "9lives"] {
        assert!(
            parse(&format!(
                "apps:\n- {{name: {good}, repository: r, image: i}}\n"
            ))
            .is_ok(),
            "{good}"
        );
    }
}

#[test]
fn registry_kind_needs_its_fields() {
    let e = errors("registry: {kind: ecr}\n");
    assert!(
        e[0].starts_with("1:11 registry: `region` is required"),
        "{e:?}"
    );
    let e = errors("registry: {kind: ecr, region: us-west-2, poll: every minute}\n");
    assert!(e[0].starts_with("1:48 registry.poll: invalid cron expression \"every minute\": The 'Seconds' field does not support"), "{e:?}");
    let e = errors("registry:\n  kind: local\n");
    assert!(e[0].contains("`path` is required"), "{e:?}");
}

#[test]
fn display_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ferry.yaml");
    std::fs::write(&p, "gitops: {repo: x, brnch: y}\n").unwrap();
    let e = load(&p).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:1:", p.display())), "{e}");
    assert!(e.contains("gitops: unknown field `brnch`"), "{e}");
}

#[test]
fn user_info_is_refused_in_every_url() {
    let src = "gitops: {repo: 'https://x-access-token:ghp_secret1@github.com/a/b.git'}
argocd: {url: 'https://admin:secret2@argocd.acme.io'}
forge: {kind: github, repository: a/b, token_env: T, api_url: 'https://secret3@ghe.acme.io/api/v3'}
registry: {kind: ecr, region: us-west-2, endpoint: 'http://u:secret4@127.0.0.1:5000'}
environments:
- {name: dev, mode: commit, smoke: [{url: 'https://secret5@dev.acme.io/health'}]}
";
    let e = errors(src);
    let fields = [
        "1:16 gitops.repo: the URL carries user-info",
        "2:15 argocd.url: the URL carries user-info",
        "3:63 forge.api_url: the URL carries user-info",
        "4:52 registry.endpoint: the URL carries user-info",
        "6:43 environments[0].smoke[0].url: the URL carries user-info",
    ];
    assert_eq!(e.len(), fields.len(), "{e:#?}");
    for (got, want) in e.iter().zip(fields) {
        assert!(got.starts_with(want), "got {got}\nwant {want}");
        assert!(!got.contains("secret"), "a secret was echoed: {got}");
    }
    // An ssh user name is not a secret; a password in any scheme is.
    for ok in [
        "git@github.com:acme/gitops.git",
        "ssh://git@github.com/acme/gitops.git",
        "/srv/gitops.git",
        "https://github.com/acme/gitops.git",
    ] {
        assert!(
            parse(&format!("gitops: {{repo: '{ok}'}}\n")).is_ok(),
            "{ok}"
        );
    }
    for bad in ["ssh://git:pw@github.com/a.git", "git:pw@github.com:a.git"] {
        let e = errors(&format!("gitops: {{repo: '{bad}'}}\n"));
        assert!(
            e[0].contains("gitops.repo: the URL carries user-info"),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn what_run_relies_on_is_checked_at_load() {
    let src = "gitops: {repo: gitops.git, branch: 'a..b'}
argocd: {url: 'argocd.acme.io'}
forge: {kind: github}
environments:
- name: dev
  mode: commit
  smoke:
  - {url: 'http://dev/h', method: 'GE T', headers: {'Bad Header': x, X-Token: \"a\\nb\"}, body_regex: '(', retries: 1000, timeout: 1h}
- {name: staging, mode: pull_request, reviewers: [alice, 'team:platform', 'bad user', '-x']}
";
    let e = errors(src);
    let want = [
        "1:36 gitops.branch: \"a..b\" is not a valid git branch name",
        "2:15 argocd.url: \"argocd.acme.io\" is not a valid URL",
        "3:8 forge: `repository` is required",
        "3:8 forge: give `token_env`, or `app_id` and `private_key_file`",
        "8:35 environments[0].smoke[0].method: \"GE T\" is not an HTTP method",
        "8:52 environments[0].smoke[0].headers: \"Bad Header\" is not a valid header name",
        "8:52 environments[0].smoke[0].headers: the value of header \"X-Token\" is not valid",
        "8:100 environments[0].smoke[0].body_regex: invalid regex",
        "8:114 environments[0].smoke[0].retries: 1000 retries: at most 10",
        "8:129 environments[0].smoke[0].timeout: 3600s: more than zero and at most 300s",
        "9:25 environments[1].mode: `mode: pull_request` needs `after`",
        "9:75 environments[1].reviewers[2]: \"bad user\" is neither a GitHub login nor `team:<slug>`",
        "9:87 environments[1].reviewers[3]: \"-x\" is neither",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(got.starts_with(want), "got {got}\nwant {want}");
    }
    assert!(
        !e.iter().any(|m| m.contains("a\\nb")),
        "header value echoed"
    );
}

#[test]
fn a_parse_error_does_not_hide_the_others() {
    // A wrong type in gitops, an unknown key in one environment and a
    // missing field in an app, plus a token in a smoke URL: all reported.
    let src = "gitops: {repo: x, branch: [main]}
environments:
- {name: dev, mode: commit, smoke: [{url: 'https://tok@dev/h'}]}
- {name: staging, mode: pull_request, after: dev, colour: blue}
apps:
- {name: a, repository: r}
";
    let e = errors(src);
    assert!(
        e[0].starts_with("1:27 gitops.branch: invalid type"),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("3:43 environments[0].smoke[0].url: the URL carries user-info")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("4:3 environments[1]: unknown field `colour`")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("6:3 apps[0]: missing field `image`")),
        "{e:#?}"
    );
    assert_eq!(e.len(), 4, "{e:#?}");
}

#[test]
fn chatops_names_roles_and_environments() {
    let envs =
        "environments:\n  - {name: dev, mode: commit}\n  - {name: production, mode: commit}\n";
    let ok = parse(&format!(
        "{envs}chatops:\n  permission: triage\n  environments: {{production: maintain}}\n"
    ))
    .unwrap();
    let c = ok.chatops.unwrap();
    assert_eq!(c.permission, "triage");
    assert_eq!(c.environments["production"], "maintain");
    // The default minimum is write.
    let c = parse(&format!("{envs}chatops: {{}}\n"))
        .unwrap()
        .chatops
        .unwrap();
    assert_eq!(c.permission, "write");
    let errs = errors(&format!(
        "{envs}chatops:\n  permission: owner\n  environments: {{prod: admin, dev: Write}}\n"
    ));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("5:15 chatops.permission") && e.contains("\"owner\"")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("chatops.environments.prod") && e.contains("not a configured")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("chatops.environments.dev") && e.contains("\"Write\"")),
        "{errs:?}"
    );
    assert!(errors(&format!("{envs}chatops: {{who: me}}\n"))[0].contains("who"));
}

#[test]
fn server_section() {
    let c =
        parse("server:\n  listen: 127.0.0.1:8080\n  webhook_secret_env: FERRY_WEBHOOK_SECRET\nforge: {kind: local, path: f.json, repository: acme/gitops}\n")
            .unwrap();
    let s = c.server.unwrap();
    assert_eq!(s.listen_addr().unwrap().port(), 8080);
    assert_eq!(s.webhook_secret_env, "FERRY_WEBHOOK_SECRET");
    assert_eq!(s.max_body_bytes(), 5 * 1024 * 1024, "the default");
    for (written, bytes) in [
        ("5MiB", 5 << 20),
        ("64KiB", 64 << 10),
        ("512B", 512),
        ("'1 MiB'", 1 << 20),
        ("1048577", 1_048_577),
    ] {
        let c = parse(&format!(
            "server: {{listen: '[::1]:9000', webhook_secret_env: S, max_body: {written}}}\nforge: {{kind: local, path: f.json, repository: acme/gitops}}\n"
        ))
        .unwrap();
        assert_eq!(c.server.unwrap().max_body_bytes(), bytes, "{written}");
    }
}

#[test]
fn server_errors_name_the_field() {
    let e = errors(
        "server:\n  listen: localhost\n  webhook_secret_env: ''\n  max_body: 0\nforge: {kind: local, path: f.json, repository: acme/gitops}\n",
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].starts_with("2:11 server.listen: \"localhost\" is not an address"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("3:23 server.webhook_secret_env: \"\" is not"),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("4:13 server.max_body: must be at least 1 byte"),
        "{e:?}"
    );
    let e = errors("server: {listen: '127.0.0.1:80', webhook_secret_env: S, max_body: 5MB}\n");
    assert!(
        e[0].contains("server.max_body: size \"5MB\": unknown unit \"MB\""),
        "{e:?}"
    );
    let e = errors("server: {listen: '127.0.0.1:80', webhook_secret_env: S, max_body: -1}\n");
    // Deliveries are matched to the forge's repository: it must be named.
    let e2 = errors("server: {listen: '127.0.0.1:80', webhook_secret_env: S}\n");
    assert!(e2[0].contains("server: needs `forge.repository`"), "{e2:?}");
    assert!(e[0].contains("negative"), "{e:?}");
    let e = errors("server: {listen: '127.0.0.1:80', webhook_secret_env: S, port: 80}\n");
    assert!(e[0].contains("server: unknown field `port`"), "{e:?}");
    let e = errors("server: {listen: '127.0.0.1:80'}\n");
    assert!(e[0].contains("missing field `webhook_secret_env`"), "{e:?}");
}

#[test]
fn the_webhook_secret_must_be_set() {
    use std::ffi::OsString;
    let s = parse(
        "server: {listen: '127.0.0.1:80', webhook_secret_env: HOOK_SECRET}\n\
         forge: {kind: local, path: f.json, repository: acme/gitops}\n",
    )
    .unwrap()
    .server
    .unwrap();
    let unset = s.webhook_secret_from(|_| None).unwrap_err();
    assert_eq!(unset, SecretError::Unset("HOOK_SECRET".into()));
    assert!(unset.to_string().contains("HOOK_SECRET"), "{unset}");
    assert_eq!(
        s.webhook_secret_from(|_| Some(OsString::new())),
        Err(SecretError::Unset("HOOK_SECRET".into()))
    );
    let asked = std::cell::Cell::new(String::new());
    let secret = s.webhook_secret_from(|name| {
        asked.set(name.to_string());
        Some("s3cr3t".into())
    });
    assert_eq!(secret.unwrap(), b"s3cr3t");
    assert_eq!(asked.take(), "HOOK_SECRET");
}

#[test]
fn two_environments_never_share_an_overlay() {
    let e = errors(
        "environments:\n  - {name: dev, mode: commit}\n  - {name: prod, mode: commit}\n\
         apps:\n  - {name: api, repository: r, image: api, overlays: {dev: k/shared, prod: ./k/shared/}}\n",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("apps[0].overlays.prod")
                && m.contains("also the overlay of \"dev\"")),
        "{e:?}"
    );
}

#[test]
fn notify_sinks_load() {
    let c = parse(
        "notify:
  - {kind: slack, webhook_url_env: SLACK_WEBHOOK_URL}
  - kind: webhook
    url_env: HOOK_URL
    secret_env: HOOK_SECRET
    events: [committed, held, pass_failing]
",
    )
    .unwrap();
    assert_eq!(c.notify.len(), 2);
    assert_eq!(c.notify[0].kind, SinkKind::Slack);
    assert_eq!(
        c.notify[0].webhook_url_env.as_deref(),
        Some("SLACK_WEBHOOK_URL")
    );
    assert!(EventKind::ALL.iter().all(|k| c.notify[0].wants(*k)));
    let hook = &c.notify[1];
    assert_eq!(hook.kind, SinkKind::Webhook);
    assert_eq!(hook.secret_env.as_deref(), Some("HOOK_SECRET"));
    assert!(hook.wants(EventKind::Held) && hook.wants(EventKind::Committed));
    assert!(!hook.wants(EventKind::PrOpened));
    // pass_failing selects its end too.
    assert!(hook.wants(EventKind::PassRecovered));
    // Every name the README lists is accepted, pass_recovered on its own too.
    let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    let src = format!(
        "notify:\n  - {{kind: slack, webhook_url_env: S, events: [{}]}}\n",
        names.join(", ")
    );
    assert_eq!(
        parse(&src).unwrap().notify[0]
            .events
            .as_ref()
            .unwrap()
            .len(),
        10
    );
    let only = parse("notify:\n  - {kind: slack, webhook_url_env: S, events: [pass_recovered]}\n")
        .unwrap();
    assert!(only.notify[0].wants(EventKind::PassRecovered));
    assert!(!only.notify[0].wants(EventKind::PassFailing));
}

#[test]
fn notify_errors_name_line_column_and_field() {
    let e = errors("notify:\n  - kind: teams\n    webhook_url_env: X\n");
    assert!(
        e[0].starts_with("2:11 notify[0].kind: unknown variant `teams`"),
        "{e:?}"
    );
    let e = errors(
        "notify:\n  - kind: slack\n    webhook_url_env: X\n    events: [committed, merged]\n",
    );
    assert!(e[0].starts_with("4:25 notify[0].events"), "{e:?}");
    assert!(e[0].contains("unknown variant `merged`"), "{e:?}");
    let e = errors("notify:\n  - kind: slack\n    webhook_url_env: X\n    channel: '#ops'\n");
    assert!(
        e[0].starts_with("4:5 notify[0]: unknown field `channel`"),
        "{e:?}"
    );
    // A bad sink does not hide an error in another section.
    let e = errors("gitops: {repo: x, brnch: main}\nnotify:\n  - {kind: slack, webhook_url: X}\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[1].starts_with("3:5 notify[0]"), "{e:?}");
    assert!(e[1].contains("unknown field `webhook_url`"), "{e:?}");
}

#[test]
fn notify_sinks_need_the_variables_of_their_kind() {
    let e = errors(
        "notify:
  - kind: webhook
    url_env: 1BAD
  - kind: slack
    webhook_url_env: SLACK
    secret_env: SECRET
  - {kind: slack, webhook_url_env: SLACK, events: []}
  - {kind: slack}
",
    );
    assert_eq!(
        e,
        vec![
            "3:14 notify[0].url_env: is not an environment variable name (letters, digits \
             and '_', not starting with a digit); put the variable's name here, not its value"
                .to_string(),
            "2:5 notify[0]: `secret_env` is required for kind webhook".to_string(),
            "6:17 notify[1].secret_env: is not a setting of kind slack".to_string(),
            "7:51 notify[2].events: an empty list sends nothing: leave `events` out to send \
             every event"
                .to_string(),
            "8:5 notify[3]: `webhook_url_env` is required for kind slack".to_string(),
        ]
    );
}

#[test]
fn analyses_load_with_their_defaults() {
    let c = parse(
        "environments:
  - name: staging
    mode: commit
    analysis:
      - name: success-rate
        prometheus: {url: 'http://prometheus:9090', token_env: PROM_TOKEN}
        query: sum(rate(x{service=\"{app}\",env=\"{env}\"}[5m]))
        success: \">= 0.95\"
        failure_limit: 3
      - {name: latency, prometheus: {url: 'https://p.acme.io/prom'}, query: up, success: < 0.5}
",
    )
    .unwrap();
    let a = &c.environments[0].analysis;
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].prometheus.token_env.as_deref(), Some("PROM_TOKEN"));
    assert_eq!(a[0].condition(), Condition::parse(">= 0.95"));
    assert_eq!((a[0].limit(), a[1].limit()), (3, 1));
    assert_eq!(a[1].condition().unwrap().op, CompareOp::Lt);
    assert!(
        parse("environments: [{name: dev, mode: commit}]\n")
            .unwrap()
            .environments[0]
            .analysis
            .is_empty()
    );
}

#[test]
fn a_bad_success_condition_is_refused_at_its_position() {
    let src = |success: &str| {
        format!(
            "environments:\n- name: dev\n  mode: commit\n  analysis:\n  - name: a\n    prometheus: {{url: 'http://p:9090'}}\n    query: up\n    success: {success}\n"
        )
    };
    for (bad, says) in [
        ("'=> 0.95'", "an operator"),
        ("'>= lots'", "\"lots\" is not a number"),
        ("'>= NaN'", "finite"),
        ("'0.95'", "an operator"),
    ] {
        let e = errors(&src(bad));
        assert_eq!(e.len(), 1, "{bad}: {e:?}");
        assert!(
            e[0].starts_with("8:14 environments[0].analysis[0].success: ") && e[0].contains(says),
            "{bad}: {e:?}"
        );
    }
    let e = errors(&src("'>= 1'").replace("query: up", "query: up\n    failure_limit: -1"));
    assert!(
        e[0].contains("environments[0].analysis[0].failure_limit"),
        "{e:?}"
    );
}

#[test]
fn analysis_problems_name_their_field() {
    let e = errors(
        "environments:
- name: dev
  mode: commit
  analysis:
  - {name: rate, prometheus: {url: 'ftp://p'}, query: 'up{job=\"{app}\"}', success: '> 1'}
  - {name: rate, prometheus: {url: 'http://p:9090', token_env: 'tok en'}, query: 'x{a=\"{application}\"} + {env}', success: '> 1'}
  - {name: '', prometheus: {url: 'http://u:pw@p:9090'}, query: ' ', success: '> 1', failure_limit: 0}
- name: prod
  mode: commit
  analysis:
  - {name: rate, prometheus: {url: 'http://p:9090'}, query: up, success: '> 1'}
",
    );
    assert_eq!(
        e,
        vec![
            "5:36 environments[0].analysis[0].prometheus.url: \"ftp://p\" is not an http:// or https:// URL",
            "6:12 environments[0].analysis[1].name: analysis \"rate\" is defined twice in environment \"dev\"",
            "6:64 environments[0].analysis[1].prometheus.token_env: is not an environment variable name \
             (letters, digits and '_', not starting with a digit); put the variable's name here, not its value",
            "6:82 environments[0].analysis[1].query: unknown placeholder {application}: only {app} and {env} are replaced",
            "7:12 environments[0].analysis[2].name: must not be empty",
            "7:34 environments[0].analysis[2].prometheus.url: the URL carries user-info (a token or password): \
             give credentials through `token_env` or `ssh_key` instead",
            "7:64 environments[0].analysis[2].query: must not be empty",
            "7:100 environments[0].analysis[2].failure_limit: must be at least 1 (failed evaluations in a row)",
        ]
    );
}

#[test]
fn auto_revert_is_checked_at_its_position() {
    let e = errors(
        "environments:
- {name: dev, mode: commit, auto_revert: {after: 0s, within: 1h}}
- {name: staging, mode: commit, argocd_app: s, auto_revert: {after: 10m, within: 5m}}
- {name: prod, mode: commit, argocd_app: p, auto_revert: {after: 5m, within: 1h}}
- {name: qa, mode: commit, argocd_app: q, auto_revert: {after: 5m, within: 8d}}
",
    );
    assert_eq!(
        e,
        vec![
            "2:50 environments[0].auto_revert.after: `auto_revert` needs `argocd_app`: Argo CD shows when the new image is live",
            "2:50 environments[0].auto_revert.after: must be longer than 0s: one failed look is not a failure that lasts",
            "3:82 environments[1].auto_revert.within: must be longer than `after`: a failure could never last long enough to revert",
            "5:76 environments[3].auto_revert.within: must be at most 7d: ferry keeps what it watches for a week",
        ]
    );
    let e = errors(
        "environments:\n- {name: dev, mode: commit, auto_revert: {after: 5m, within: 1h, every: 1m}}\n",
    );
    assert!(e[0].contains("unknown field `every`"), "{e:?}");
}
