//! deploy/: what a platform team applies to run ferry on EKS, checked with
//! the tools that would reject it: `kubectl kustomize` renders the base and
//! the example overlay; ferry's own `check-config` accepts the config the
//! ConfigMap carries, with exactly the environment the Deployment gives it;
//! the Dockerfile's stages, user and command agree with the Deployment and
//! ferry's CLI; `cfn-lint` passes the CloudFormation template, moto creates
//! the stack, EventBridge delivers ECR and Inspector events to its queue and
//! ferry's SQS intake reads them; the IAM role grants exactly the AWS calls
//! ferry makes, as a recording of those calls shows; and the GitHub App
//! manifest asks for what ferry uses and delivers to ferry's route.
//!
//! cfn-lint and python (with boto3) come from the moto venv that
//! `scripts/install-test-services.sh` builds (beside `$FERRY_MOTO_SERVER`),
//! or `$FERRY_CFN_LINT` and `$FERRY_PYTHON_BOTO3`; without them the tests
//! that need them skip, except under CI, where they fail (tests/support).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ecr::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_ecr::types::ImageIdentifier;
use ferry::config::Severity;
use ferry::gates::signer::Signer;
use ferry::gates::{GatePolicy, Gates, TrustedKey};
use ferry::image::Digest;
use ferry::oci::{self, Auth, OciClient};
use ferry::registry::ImageSource;
use ferry::registry::ecr::EcrRegistry;
use ferry::registry::events::{Trigger, TriggerKind};
use ferry::registry::intake::SqsIntake;
use serde_json::{Value as Json, json};
use support::{Moto, OciRegistry};
use yaml_serde::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every document `kubectl kustomize deploy/…/<rel>` renders.
fn render(rel: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root().join(rel))
        .output()
        .expect("kubectl must be installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {rel} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .collect()
}

fn kinds(docs: &[Value]) -> Vec<&str> {
    docs.iter().map(|d| d["kind"].as_str().unwrap()).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} in {:?}", kinds(docs));
    found[0]
}

fn s<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v:?}"))
}

fn seq<'a>(v: &'a Value, what: &str) -> &'a [Value] {
    v.as_sequence()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{what} is not a list: {v:?}"))
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (s(k, "label").to_string(), s(v, "label").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// True when every label of `selector` is in `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// ferry's config as the base's ConfigMap carries it, parsed by ferry.
fn deployed_config(docs: &[Value]) -> (ferry::config::Config, &Value) {
    let cm = one(docs, "ConfigMap");
    let text = s(&cm["data"]["ferry.yaml"], "ConfigMap ferry.yaml");
    let config = ferry::config::parse(text)
        .unwrap_or_else(|e| panic!("the ConfigMap's ferry.yaml is refused: {e:?}"));
    (config, cm)
}

/// A Kubernetes quantity of memory in bytes (the suffixes the base uses).
fn bytes(q: &str) -> u64 {
    let (n, mult) = [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        .iter()
        .find_map(|(suffix, m)| q.strip_suffix(suffix).map(|n| (n, *m)))
        .unwrap_or((q, 1));
    n.parse::<u64>().unwrap_or_else(|_| panic!("quantity {q}")) * mult
}

#[test]
fn kustomize_base_renders_a_hardened_deployment() {
    let docs = render("deploy/kubernetes");
    let got: BTreeSet<&str> = kinds(&docs).into_iter().collect();
    let want: BTreeSet<&str> = [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ]
    .into();
    assert_eq!(
        got, want,
        "the base has no ServiceMonitor: it is a component"
    );
    let ns = s(&one(&docs, "Namespace")["metadata"]["name"], "namespace");
    for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
        assert_eq!(d["metadata"]["namespace"], ns, "{:?}", d["kind"]);
    }
    let (config, cm) = deployed_config(&docs);
    let server = config
        .server
        .as_ref()
        .expect("server: in the deployed config");
    let listen_port = server.listen_addr().unwrap().port();

    let dep = one(&docs, "Deployment");
    assert_eq!(dep["spec"]["replicas"], 2);
    let pod_labels = labels(&dep["spec"]["template"]["metadata"]["labels"]);
    assert!(selects(
        &labels(&dep["spec"]["selector"]["matchLabels"]),
        &pod_labels
    ));
    let pod = &dep["spec"]["template"]["spec"];
    let containers = seq(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // The one port, named, is the config's server.listen port.
    let ports = seq(&c["ports"], "ports");
    assert_eq!(ports.len(), 1);
    let port_name = s(&ports[0]["name"], "port name");
    assert_eq!(ports[0]["containerPort"], u64::from(listen_port));
    assert_eq!(ports[0]["protocol"], "TCP");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], port_name, "{probe} on the server port");
    }

    // Hardening, pod and container.
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    let uid = psc["runAsUser"].as_u64().expect("numeric runAsUser");
    assert_ne!(uid, 0);
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
    let csc = &c["securityContext"];
    assert_eq!(csc["runAsNonRoot"], true);
    assert_eq!(csc["readOnlyRootFilesystem"], true);
    assert_eq!(csc["allowPrivilegeEscalation"], false);
    assert_eq!(csc["capabilities"]["drop"], json_yaml(json!(["ALL"])));
    assert!(csc["capabilities"]["add"].is_null());
    assert_eq!(csc["seccompProfile"]["type"], "RuntimeDefault");
    assert_ne!(pod["hostNetwork"], true);

    // Writable places are emptyDirs: the cache ferry is told to use, and /tmp.
    let env: BTreeMap<&str, &Value> = seq(&c["env"], "env")
        .iter()
        .map(|e| (s(&e["name"], "env name"), e))
        .collect();
    let cache = s(&env["FERRY_CACHE_DIR"]["value"], "FERRY_CACHE_DIR");
    let volumes: BTreeMap<&str, &Value> = seq(&pod["volumes"], "volumes")
        .iter()
        .map(|v| (s(&v["name"], "volume name"), v))
        .collect();
    let mounts: BTreeMap<&str, &Value> = seq(&c["volumeMounts"], "volumeMounts")
        .iter()
        .map(|m| (s(&m["mountPath"], "mountPath"), m))
        .collect();
    for path in [cache, "/tmp"] {
        let m = mounts
            .get(path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        let v = volumes[s(&m["name"], "mount name")];
        assert!(
            v["emptyDir"].is_mapping(),
            "{path} is not an emptyDir: {v:?}"
        );
        assert_ne!(m["readOnly"], true, "{path}");
    }

    // Requests and limits, the memory request above the daemon's peak RSS
    // in benches/README.md (42.9 MiB at 1,000 apps).
    let res = &c["resources"];
    for side in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(!res[side][r].is_null(), "resources.{side}.{r} unset");
        }
    }
    let peak = 43_964 * 1024;
    assert!(bytes(s(&res["requests"]["memory"], "memory")) > peak);
    assert!(
        bytes(s(&res["limits"]["memory"], "memory")) >= bytes(s(&res["requests"]["memory"], "m"))
    );

    // The config: mounted where --config points, the ConfigMap's files and
    // the Secret's key file side by side, as the config names them.
    let args: Vec<&str> = seq(&c["args"], "args")
        .iter()
        .map(|a| s(a, "arg"))
        .collect();
    let at = args
        .iter()
        .position(|a| *a == "--config")
        .expect("--config");
    let config_path = Path::new(args[at + 1]);
    let config_dir = config_path.parent().unwrap().to_str().unwrap();
    let file = config_path.file_name().unwrap().to_str().unwrap();
    let vol = volumes[s(&mounts[config_dir]["name"], "config mount")];
    let mut projected: BTreeMap<String, (String, String)> = BTreeMap::new();
    for src in seq(&vol["projected"]["sources"], "projected sources") {
        let (kind, body) = if src["configMap"].is_mapping() {
            ("configMap", &src["configMap"])
        } else {
            ("secret", &src["secret"])
        };
        for item in seq(&body["items"], "items") {
            projected.insert(
                s(&item["path"], "path").to_string(),
                (kind.to_string(), s(&body["name"], "name").to_string()),
            );
        }
    }
    let cm_name = s(&cm["metadata"]["name"], "ConfigMap name").to_string();
    assert_eq!(
        projected[file],
        ("configMap".to_string(), cm_name.clone()),
        "--config names the ConfigMap's ferry.yaml"
    );
    let signature = config.gates.as_ref().and_then(|g| g.signature.as_ref());
    for key in &signature.expect("the signature gate is on").cosign_keys {
        let key = key.to_str().unwrap();
        assert_eq!(
            projected[key],
            ("configMap".into(), cm_name.clone()),
            "{key}"
        );
        assert!(cm["data"][key].is_string(), "the ConfigMap carries {key}");
    }
    let forge = config.forge.as_ref().expect("forge:");
    assert_eq!(forge.kind, ferry::config::ForgeKind::Github);
    let pem = forge.private_key_file.as_ref().unwrap().to_str().unwrap();
    let (kind, secret) = &projected[pem];
    assert_eq!(kind, "secret", "the App key comes from the Secret");

    // Secret values come from that Secret by reference, never inline.
    let secret_env = [
        server.webhook_secret_env.clone(),
        config.argocd.as_ref().unwrap().token_env.clone().unwrap(),
    ];
    for var in &secret_env {
        let e = env
            .get(var.as_str())
            .unwrap_or_else(|| panic!("the Deployment does not set {var}"));
        assert!(e["value"].is_null(), "{var} inline");
        assert_eq!(e["valueFrom"]["secretKeyRef"]["name"], secret.as_str());
    }
    assert!(
        !kinds(&docs).contains(&"Secret"),
        "the base commits no Secret"
    );

    // The ServiceAccount carries the IRSA role.
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
    let role = s(
        &sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "role-arn",
    );
    let arn = regex::Regex::new(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$").unwrap();
    assert!(arn.is_match(role), "{role}");

    // The Service exposes the server port by name to the pods.
    let svc = one(&docs, "Service");
    assert!(selects(&labels(&svc["spec"]["selector"]), &pod_labels));
    let sports = seq(&svc["spec"]["ports"], "service ports");
    assert_eq!(sports.len(), 1);
    assert_eq!(sports[0]["targetPort"], port_name);
    assert_eq!(sports[0]["name"], port_name);

    // The PDB keeps one of the two.
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert!(selects(
        &labels(&pdb["spec"]["selector"]["matchLabels"]),
        &pod_labels
    ));

    // The NetworkPolicy: in only on the server port; out DNS and 443.
    let np = one(&docs, "NetworkPolicy");
    assert!(selects(
        &labels(&np["spec"]["podSelector"]["matchLabels"]),
        &pod_labels
    ));
    assert_eq!(
        np["spec"]["policyTypes"],
        json_yaml(json!(["Ingress", "Egress"]))
    );
    let port_set = |rules: &Value| -> BTreeSet<String> {
        seq(rules, "rules")
            .iter()
            .flat_map(|r| seq(&r["ports"], "rule ports").iter())
            .map(|p| {
                let port = match &p["port"] {
                    Value::String(name) => name.clone(),
                    other => other.as_u64().unwrap().to_string(),
                };
                format!("{port}/{}", s(&p["protocol"], "protocol"))
            })
            .collect()
    };
    assert_eq!(
        port_set(&np["spec"]["ingress"]),
        BTreeSet::from([format!("{port_name}/TCP")])
    );
    assert_eq!(
        port_set(&np["spec"]["egress"]),
        BTreeSet::from([
            "53/UDP".into(),
            "53/TCP".into(),
            "443/TCP".into(),
            "8080/TCP".to_string()
        ])
    );
    // 8080 only to Argo CD's server in its namespace; only 443 goes
    // anywhere.
    for rule in seq(&np["spec"]["egress"], "egress") {
        let ports = port_set(&json_seq(rule));
        if ports.contains("8080/TCP") {
            let peer = &seq(&rule["to"], "to")[0];
            assert_eq!(
                labels(&peer["namespaceSelector"]["matchLabels"]),
                BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_string(),
                    "argocd".to_string()
                )])
            );
        }
        if rule["to"].is_null() {
            assert_eq!(ports, BTreeSet::from(["443/TCP".to_string()]));
        }
    }
    // Webhooks still reach a replica whose passes fail, and such a replica
    // can be drained.
    assert_eq!(
        one(&docs, "Service")["spec"]["publishNotReadyAddresses"],
        Value::Bool(true)
    );
    assert_eq!(
        one(&docs, "PodDisruptionBudget")["spec"]["unhealthyPodEvictionPolicy"],
        "AlwaysAllow"
    );
    // The DNS peer is CoreDNS, and none of ferry's labels leaked into it.
    let dns = seq(&np["spec"]["egress"], "egress")
        .iter()
        .find(|r| port_set(&json_seq(r)).contains("53/UDP"))
        .unwrap();
    let peer = &seq(&dns["to"], "to")[0];
    assert_eq!(
        labels(&peer["podSelector"]["matchLabels"]),
        BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())])
    );
}

/// A one-rule list, for `port_set`.
fn json_seq(rule: &Value) -> Value {
    Value::Sequence(vec![rule.clone()])
}

fn json_yaml(v: Json) -> Value {
    yaml_serde::to_value(v).unwrap()
}

#[test]
fn example_overlay_adds_a_service_monitor_on_the_metrics_port() {
    let docs = render("deploy/overlays/example");
    let svc = one(&docs, "Service");
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["metadata"]["namespace"], svc["metadata"]["namespace"]);
    assert!(selects(
        &labels(&sm["spec"]["selector"]["matchLabels"]),
        &labels(&svc["metadata"]["labels"])
    ));
    let endpoints = seq(&sm["spec"]["endpoints"], "endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["path"], "/metrics");
    assert_eq!(endpoints[0]["port"], svc["spec"]["ports"][0]["name"]);
    // The overlay's own values took.
    let dep = one(&docs, "Deployment");
    let image = s(
        &dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "image",
    );
    assert!(
        image.contains(".dkr.ecr.") && image.ends_with(":0.1.0"),
        "{image}"
    );
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/ferry-irsa"
    );
}

/// The environment the Deployment gives ferry: literal values as they are,
/// a Secret reference as a stand-in value.
fn deployment_env(docs: &[Value]) -> Vec<(String, String)> {
    let c = &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    seq(&c["env"], "env")
        .iter()
        .map(|e| {
            let name = s(&e["name"], "env name").to_string();
            let value = match e["value"].as_str() {
                Some(v) => v.to_string(),
                None => format!(
                    "stand-in for {}",
                    s(&e["valueFrom"]["secretKeyRef"]["key"], "k")
                ),
            };
            (name, value)
        })
        .collect()
}

#[test]
fn the_deployed_config_passes_check_config_with_the_deployments_env() {
    let docs = render("deploy/kubernetes");
    let cm = one(&docs, "ConfigMap");
    // The pod's /etc/ferry: the ConfigMap's files and the Secret's key.
    let dir = tempfile::tempdir().unwrap();
    for (k, v) in cm["data"].as_mapping().unwrap() {
        std::fs::write(dir.path().join(s(k, "key")), s(v, "value")).unwrap();
    }
    std::fs::write(
        dir.path().join("github-app.pem"),
        "-----BEGIN RSA PRIVATE KEY-----\nstand-in\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let config = dir.path().join("ferry.yaml");
    let check = |env: &[(String, String)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(["check-config", "--config"])
            .arg(&config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let env = deployment_env(&docs);
    let out = check(&env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check-config refused it: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok (3 environments, 2 apps)"), "{stdout}");
    // The check does read the environment: without the Deployment's, the
    // Argo CD token is missing. (check-config does not look at the webhook
    // secret's variable; `ferry run` refuses to start without it, and the
    // base test checks that the Deployment sets it.)
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ARGOCD_TOKEN"), "{stderr}");
}

/// One `FROM … AS name` stage of a Dockerfile and its instructions, with
/// continuation lines joined and comments dropped.
#[derive(Debug)]
struct Stage {
    name: String,
    from: String,
    instructions: Vec<(String, String)>,
}

fn dockerfile_stages(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        // Comment lines are dropped inside a continued instruction too.
        if t.starts_with('#') || (cur.is_empty() && t.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                logical.push(std::mem::take(&mut cur));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for l in logical {
        let (op, rest) = l.split_once(char::is_whitespace).unwrap_or((&l, ""));
        let op = op.to_ascii_uppercase();
        let rest = rest.trim().to_string();
        if op == "FROM" {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            let name = match parts.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => panic!("stage without a name: FROM {rest}"),
            };
            stages.push(Stage {
                name,
                from: parts[0].to_string(),
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((op, rest));
        }
    }
    stages
}

fn exec_form(arg: &str) -> Vec<String> {
    serde_json::from_str(arg).unwrap_or_else(|e| panic!("not exec form: {arg}: {e}"))
}

#[test]
fn dockerfile_builds_in_one_stage_and_runs_non_root_in_another() {
    let stages = dockerfile_stages(&read("deploy/Dockerfile"));
    assert!(stages.len() >= 2, "{stages:?}");
    let runs = |st: &Stage| -> Vec<String> {
        st.instructions
            .iter()
            .filter(|(op, _)| op == "RUN")
            .map(|(_, r)| r.clone())
            .collect()
    };
    let builder = stages
        .iter()
        .find(|st| {
            runs(st).iter().any(|r| {
                r.contains("cargo build") && r.contains("--release") && r.contains("--locked")
            })
        })
        .expect("a stage runs cargo build --release --locked");
    assert!(builder.from.starts_with("rust:"), "{}", builder.from);
    // The lockfile reaches the builder: copied by name, or with the whole
    // context and not ignored.
    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["Cargo.lock", "Cargo.toml", "src", "fixtures"] {
        assert!(
            !ignored.iter().any(|i| i.trim_end_matches('/') == needed),
            ".dockerignore drops {needed}"
        );
    }
    for dropped in ["target/", ".venv-moto/", ".git"] {
        assert!(ignored.contains(&dropped), ".dockerignore keeps {dropped}");
    }
    assert!(
        builder
            .instructions
            .iter()
            .any(|(op, r)| op == "COPY" && (r.starts_with(". ") || r.contains("Cargo.lock")))
    );

    let last = stages.last().unwrap();
    assert_ne!(
        last.name, builder.name,
        "the final stage is not the builder"
    );
    assert!(!last.from.starts_with("rust:"), "{}", last.from);
    let user = last
        .instructions
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .map(|(_, u)| u.clone())
        .expect("USER in the final stage");
    let uid: u64 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("USER {user} is not numeric"));
    assert_ne!(uid, 0, "USER {user}");
    let certs = runs(last).iter().any(|r| r.contains("ca-certificates"))
        || last
            .instructions
            .iter()
            .any(|(op, r)| op == "COPY" && r.contains("/etc/ssl/certs"));
    assert!(certs, "the final stage has no CA certificates");
    let copy = last
        .instructions
        .iter()
        .find(|(op, r)| op == "COPY" && r.starts_with(&format!("--from={} ", builder.name)))
        .map(|(_, r)| r.clone())
        .expect("the final stage copies from the builder");
    let dest = copy.split_whitespace().last().unwrap();
    assert_eq!(Path::new(dest).file_name().unwrap(), "ferry", "{copy}");

    let entry = last
        .instructions
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .map(|(_, e)| exec_form(e))
        .expect("ENTRYPOINT");
    assert_eq!(entry, ["ferry"]);
    let cmd = last
        .instructions
        .iter()
        .find(|(op, _)| op == "CMD")
        .map(|(_, c)| exec_form(c))
        .expect("CMD");

    // The image and the Deployment agree: user, cache dir, port; and both
    // command lines use only flags `ferry run` has.
    let docs = render("deploy/kubernetes");
    let dep = one(&docs, "Deployment");
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], uid);
    let envs: Vec<&(String, String)> = last
        .instructions
        .iter()
        .filter(|(op, _)| op == "ENV")
        .collect();
    let image_cache = envs
        .iter()
        .find_map(|(_, e)| {
            e.split_whitespace()
                .find_map(|kv| kv.strip_prefix("FERRY_CACHE_DIR="))
        })
        .expect("ENV FERRY_CACHE_DIR");
    let deployed = deployment_env(&docs);
    assert!(deployed.contains(&("FERRY_CACHE_DIR".into(), image_cache.into())));
    let (config, _) = deployed_config(&docs);
    let port = config.server.unwrap().listen_addr().unwrap().port();
    assert!(
        last.instructions
            .iter()
            .any(|(op, r)| op == "EXPOSE" && r == &port.to_string())
    );
    let deploy_args: Vec<String> = seq(&pod["containers"][0]["args"], "args")
        .iter()
        .map(|a| s(a, "arg").to_string())
        .collect();
    let help = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for line in [&cmd, &deploy_args] {
        assert_eq!(line[0], "run", "{line:?}");
        for flag in line.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(&format!("{flag} ")),
                "`ferry run` has no {flag}: {help}"
            );
        }
        assert!(line.contains(&"--config".to_string()));
    }

    docker_build();
}

/// Builds the image where a Docker daemon answers; says so when it cannot.
fn docker_build() {
    let daemon = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !daemon {
        let _ = writeln!(
            std::io::stderr().lock(),
            "skipping the docker build of deploy/Dockerfile: no docker daemon answers"
        );
        return;
    }
    let tag = "ferry-deploy-test:latest";
    let out = Command::new("docker")
        .args(["build", "-q", "-f", "deploy/Dockerfile", "-t", tag, "."])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("docker")
        .args(["run", "--rm", tag, "--version"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ferry "));
}

/// A tool from the moto venv: `$env` if set (must exist), else `name`
/// beside `$FERRY_MOTO_SERVER` (or the repository's .venv-moto); `None`
/// after saying so when absent, a panic under CI.
fn venv_tool(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env}={} does not exist", p.display());
        return Some(p);
    }
    let moto = std::env::var_os("FERRY_MOTO_SERVER")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-moto/bin/moto_server"));
    let p = moto.parent().unwrap().join(name);
    if p.is_file() {
        return Some(p);
    }
    let why = format!(
        "{name} not found (${env} unset, not at {}); run scripts/install-test-services.sh",
        p.display()
    );
    if support::in_ci() {
        panic!("{why}: CI must have it");
    }
    let _ = writeln!(std::io::stderr().lock(), "skipping: {why}");
    None
}

#[test]
fn cloudformation_template_passes_cfn_lint() {
    let Some(lint) = venv_tool("FERRY_CFN_LINT", "cfn-lint") else {
        return;
    };
    let out = Command::new(&lint)
        .arg("deploy/aws/ferry.yaml")
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The template, read as plain YAML (it uses only long-form intrinsics).
fn template() -> Value {
    yaml_serde::from_str(&read("deploy/aws/ferry.yaml")).unwrap()
}

/// `Fn::GetAtt: [X, Arn]` of resource X.
fn get_att_arn(logical: &str) -> Value {
    json_yaml(json!({"Fn::GetAtt": [logical, "Arn"]}))
}

#[test]
fn template_wires_the_queue_the_rules_and_the_irsa_trust() {
    let t = template();
    let res = t["Resources"].as_mapping().unwrap();
    let of_type = |ty: &str| -> Vec<String> {
        res.iter()
            .filter(|(_, r)| r["Type"] == ty)
            .map(|(k, _)| s(k, "logical id").to_string())
            .collect()
    };
    let rules = of_type("AWS::Events::Rule");
    assert_eq!(rules.len(), 3);
    // Each rule targets the event queue and matches what ferry parses.
    let mut shapes = BTreeSet::new();
    for r in &rules {
        let p = &t["Resources"][r.as_str()]["Properties"];
        assert_eq!(p["State"], "ENABLED");
        let targets = seq(&p["Targets"], "Targets");
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0]["Arn"], get_att_arn("EventQueue"));
        let pat = &p["EventPattern"];
        let source = s(&seq(&pat["source"], "source")[0], "source");
        let detail_type = s(&seq(&pat["detail-type"], "detail-type")[0], "detail-type");
        shapes.insert((source.to_string(), detail_type.to_string()));
        if detail_type == "ECR Image Action" {
            assert_eq!(pat["detail"]["action-type"], json_yaml(json!(["PUSH"])));
            assert_eq!(pat["detail"]["result"], json_yaml(json!(["SUCCESS"])));
        }
    }
    let want: BTreeSet<(String, String)> = [
        ("aws.ecr", "ECR Image Action"),
        ("aws.ecr", "ECR Image Scan"),
        ("aws.inspector2", "Inspector2 Scan"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(shapes, want);

    // The queue policy: EventBridge may send, and only from those rules.
    let policies = of_type("AWS::SQS::QueuePolicy");
    assert_eq!(policies.len(), 1);
    let qp = &t["Resources"][policies[0].as_str()]["Properties"];
    assert_eq!(qp["Queues"], json_yaml(json!([{"Ref": "EventQueue"}])));
    let stmts = seq(&qp["PolicyDocument"]["Statement"], "Statement");
    assert_eq!(stmts.len(), 1);
    let st = &stmts[0];
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(
        st["Principal"],
        json_yaml(json!({"Service": "events.amazonaws.com"}))
    );
    assert_eq!(st["Action"], "sqs:SendMessage");
    assert_eq!(st["Resource"], get_att_arn("EventQueue"));
    let sources: BTreeSet<String> = seq(&st["Condition"]["ArnEquals"]["aws:SourceArn"], "arns")
        .iter()
        .map(|a| s(&a["Fn::GetAtt"][0], "rule").to_string())
        .collect();
    assert_eq!(sources, rules.iter().cloned().collect());

    // The dead-letter queue takes what ferry failed to handle.
    let q = &t["Resources"]["EventQueue"]["Properties"];
    assert_eq!(
        q["RedrivePolicy"]["deadLetterTargetArn"],
        get_att_arn("DeadLetterQueue")
    );
    assert!(q["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 2);

    // IRSA: web identity from the cluster's OIDC provider, for exactly the
    // ServiceAccount the Kubernetes base makes (the parameters' defaults).
    let trust_src = s(
        &t["Resources"]["FerryRole"]["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"],
        "trust policy",
    );
    let trust: Json = serde_json::from_str(trust_src).unwrap();
    let st = &trust["Statement"][0];
    assert_eq!(trust["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
    assert!(
        st["Principal"]["Federated"]
            .as_str()
            .unwrap()
            .ends_with(":oidc-provider/${OidcProviderUrl}")
    );
    let cond = &st["Condition"]["StringEquals"];
    assert_eq!(
        cond["${OidcProviderUrl}:sub"],
        "system:serviceaccount:${ServiceAccountNamespace}:${ServiceAccountName}"
    );
    assert_eq!(cond["${OidcProviderUrl}:aud"], "sts.amazonaws.com");
    let docs = render("deploy/kubernetes");
    let sa = one(&docs, "ServiceAccount");
    let params = &t["Parameters"];
    assert_eq!(
        params["ServiceAccountNamespace"]["Default"],
        sa["metadata"]["namespace"]
    );
    assert_eq!(
        params["ServiceAccountName"]["Default"],
        sa["metadata"]["name"]
    );
    let outputs = t["Outputs"].as_mapping().unwrap();
    for o in ["QueueUrl", "RoleArn"] {
        assert!(outputs.contains_key(o), "output {o}");
    }
}

fn sdk_config(moto: &Moto) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new(support::MOTO_REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "ferry-tests",
        )))
        .build()
}

/// Creates the stack in moto with boto3, sends `events` through
/// EventBridge's PutEvents, and reports what moto made, as JSON.
const STACK_SCRIPT: &str = r#"
import ast, json, sys, time
import boto3
endpoint, template, params, events = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
cf = boto3.client("cloudformation", **kw)
cf.create_stack(StackName="ferry", TemplateBody=open(template).read(),
                Capabilities=["CAPABILITY_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
deadline = time.time() + 20
while True:
    stack = cf.describe_stacks(StackName="ferry")["Stacks"][0]
    if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.time() > deadline:
        break
    time.sleep(0.2)
out = {"status": stack["StackStatus"], "reason": stack.get("StackStatusReason"),
       "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
       "resources": [[r.get("LogicalResourceId"), r.get("ResourceType")]
                     for r in cf.describe_stack_resources(StackName="ferry")["StackResources"]]}
ev = boto3.client("events", **kw)
out["rules"] = {r["Name"]: [t["Arn"] for t in ev.list_targets_by_rule(Rule=r["Name"])["Targets"]]
                for r in ev.list_rules()["Rules"]}
put = ev.put_events(Entries=[{"Source": e["source"], "DetailType": e["detail-type"],
                              "Detail": json.dumps(e["detail"]), "Resources": e["resources"]}
                             for e in events])
out["failed_entries"] = put["FailedEntryCount"]
sqs = boto3.client("sqs", **kw)
out["queue"] = sqs.get_queue_attributes(QueueUrl=out["outputs"]["QueueUrl"],
                                        AttributeNames=["All"])["Attributes"]
iam = boto3.client("iam", **kw)
role = out["outputs"]["RoleArn"].rsplit("/", 1)[-1]
doc = iam.get_role_policy(RoleName=role, PolicyName="ferry")["PolicyDocument"]
# moto 5.2.5 keeps an inline policy from CloudFormation as Python's repr.
if isinstance(doc, str):
    try:
        doc = json.loads(doc)
    except ValueError:
        doc = ast.literal_eval(doc)
out["role_policy"] = doc
print(json.dumps(out))
"#;

/// A corpus event with its repository moved to `repo` (name, or ARN in
/// `resources` and the Inspector2 detail) in moto's account and region.
fn corpus_event(file: &str, repo: &str) -> Json {
    let path = root().join("../shared/corpus/ecr-events").join(file);
    let mut e: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let arn = format!(
        "arn:aws:ecr:{}:{}:repository/{repo}",
        support::MOTO_REGION,
        support::MOTO_ACCOUNT_ID
    );
    let by_arn = e["detail"]["repository-name"]
        .as_str()
        .is_some_and(|r| r.starts_with("arn:"));
    e["detail"]["repository-name"] = json!(if by_arn { arn.clone() } else { repo.into() });
    if !e["resources"].as_array().unwrap().is_empty() {
        e["resources"] = json!([arn]);
    }
    e
}

#[tokio::test]
async fn stack_in_moto_delivers_ecr_events_to_ferrys_intake() {
    let Some(python) = venv_tool("FERRY_PYTHON_BOTO3", "python") else {
        return;
    };
    let Some(moto) = Moto::start() else { return };
    let push = "01_ecr-image-action-push_awsdocs-userguide.json";
    let scan = "03_ecr-image-scan-basic_awsdocs-userguide.json";
    let inspector = "05_inspector2-scan-enhanced_awsdocs-userguide.json";
    let mut failed_push = corpus_event(push, "llmplatform/gateway");
    failed_push["detail"]["result"] = json!("FAILURE");
    let events = json!([
        corpus_event(push, "llmplatform/gateway"),
        corpus_event(scan, "llmplatform/gateway"),
        corpus_event(inspector, "llmplatform/billing"),
        // Not for ferry: another team's repositories, a failed push.
        corpus_event(push, "other/app"),
        corpus_event(inspector, "other/app"),
        failed_push,
    ]);
    let params = json!({
        "RepositoryPrefix": "llmplatform/",
        "OidcProviderUrl": "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
    });
    let out = Command::new(&python)
        .args(["-c", STACK_SCRIPT, &moto.endpoint])
        .arg(root().join("deploy/aws/ferry.yaml"))
        .arg(params.to_string())
        .arg(events.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3: {}\n--- moto ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        moto.log()
    );
    let got: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["status"], "CREATE_COMPLETE", "{got}");
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    for r in got["resources"].as_array().unwrap() {
        if let Some(t) = r[1].as_str() {
            *types.entry(t.to_string()).or_default() += 1;
        }
    }
    // moto has no AWS::SQS::QueuePolicy and skips it (the static test checks it).
    assert_eq!(types.get("AWS::SQS::Queue"), Some(&2), "{types:?}");
    assert_eq!(types.get("AWS::Events::Rule"), Some(&3), "{types:?}");
    assert_eq!(types.get("AWS::IAM::Role"), Some(&1), "{types:?}");
    let queue_arn = got["queue"]["QueueArn"].as_str().unwrap();
    assert_eq!(got["outputs"]["QueueArn"], queue_arn);
    let rules = got["rules"].as_object().unwrap();
    assert_eq!(rules.len(), 3);
    for targets in rules.values() {
        assert_eq!(targets, &json!([queue_arn]));
    }
    let redrive: Json =
        serde_json::from_str(got["queue"]["RedrivePolicy"].as_str().unwrap()).unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(":ferry-ecr-events-dlq")
    );
    assert_eq!(got["failed_entries"], 0);
    // What moto's IAM holds is the template's policy.
    let template_policy = &template()["Resources"]["FerryRole"]["Properties"]["Policies"][0];
    let actions = |doc: &Json| -> BTreeSet<String> {
        doc["Statement"]
            .as_array()
            .unwrap_or_else(|| panic!("not a policy: {doc}"))
            .iter()
            // The enhanced-scanning statement is an Fn::If that the stack
            // (EnhancedScanning=false) resolves to nothing (moto leaves a
            // null where CloudFormation drops the entry).
            .filter(|s| s.is_object() && s.get("Fn::If").is_none())
            .flat_map(|s| s["Action"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    let template_policy: Json = serde_json::to_value(&template_policy["PolicyDocument"]).unwrap();
    assert_eq!(actions(&got["role_policy"]), actions(&template_policy));
    // Its resources, resolved: the prefix's repositories and this queue.
    let resources: BTreeMap<&str, &Json> = got["role_policy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st.is_object())
        .map(|st| (st["Sid"].as_str().unwrap(), &st["Resource"]))
        .collect();
    assert_eq!(
        resources["EcrRead"],
        &json!("arn:aws:ecr:us-east-1:123456789012:repository/llmplatform/*")
    );
    assert_eq!(resources["SqsConsume"], &json!(queue_arn));

    // ferry's intake reads what EventBridge delivered: the three events for
    // llmplatform/ repositories, nothing else.
    let queue_url = got["outputs"]["QueueUrl"].as_str().unwrap();
    let mut intake = SqsIntake::from_sdk_config(&sdk_config(&moto), queue_url);
    intake.wait = Duration::from_secs(1);
    let seen: Arc<Mutex<Vec<Trigger>>> = Arc::default();
    let mut received = 0;
    for _ in 0..5 {
        let sink = seen.clone();
        let stats = intake
            .receive_once(|t| async move {
                sink.lock().unwrap().extend(t);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(stats.dropped, 0, "{stats:?}");
        received += stats.received;
        if received >= 3 {
            break;
        }
    }
    intake.wait = Duration::ZERO;
    let stats = intake.receive_once(|_| async { Ok(()) }).await.unwrap();
    assert_eq!(
        stats.received, 0,
        "handled messages are deleted, no others came"
    );
    let mut triggers: Vec<(String, TriggerKind, Option<String>)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t.repository.clone(),
                t.kind,
                t.tag.as_ref().map(|t| t.to_string()),
            )
        })
        .collect();
    triggers.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(
        triggers,
        vec![
            (
                "llmplatform/billing".into(),
                TriggerKind::Scan,
                Some("latest".into())
            ),
            (
                "llmplatform/gateway".into(),
                TriggerKind::Push,
                Some("latest".into())
            ),
            ("llmplatform/gateway".into(), TriggerKind::Scan, None),
        ]
    );
}

/// A loopback HTTP proxy to `upstream` that records every request's method
/// and path: it stands between ferry's OCI client and the registry.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    use axum::body::Body;
    use axum::extract::Request;
    let log: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let client = reqwest::Client::new();
    let seen = log.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let (seen, client, upstream) = (seen.clone(), client.clone(), upstream.clone());
        async move {
            let method = req.method().clone();
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            seen.lock()
                .unwrap()
                .push((method.to_string(), req.uri().path().to_string()));
            let mut rb = client.request(method, format!("{upstream}{target}"));
            for (k, v) in req.headers() {
                if k != axum::http::header::HOST {
                    rb = rb.header(k, v);
                }
            }
            let body = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .unwrap();
            let resp = rb.body(body).send().await.unwrap();
            let mut out = axum::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                if !matches!(k.as_str(), "transfer-encoding" | "connection") {
                    out = out.header(k.as_str(), v.as_bytes());
                }
            }
            let bytes = resp.bytes().await.unwrap();
            out.body(Body::from(bytes)).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

/// The IAM action that authorizes an AWS API operation: the same name,
/// except SQS's batch operations, which IAM authorizes as the single ones.
fn iam_action(service: &str, op: &str) -> String {
    let op = match (service, op) {
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        ("sqs", "SendMessageBatch") => "SendMessage",
        ("sqs", "ChangeMessageVisibilityBatch") => "ChangeMessageVisibility",
        _ => op,
    };
    format!("{service}:{op}")
}

/// The IAM action ECR checks for a registry (OCI distribution) request, per
/// ECR's documentation of the registry API's permissions; a request ferry
/// should never make (a write) has none and fails the test.
fn registry_action(method: &str, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return None; // the version check: authentication only (the token)
    }
    match method {
        "GET" | "HEAD" if rest.contains("/manifests/") || rest.contains("/referrers/") => {
            Some("ecr:BatchGetImage")
        }
        "GET" if rest.contains("/blobs/") => Some("ecr:GetDownloadUrlForLayer"),
        "HEAD" if rest.contains("/blobs/") => Some("ecr:BatchCheckLayerAvailability"),
        "GET" if rest.ends_with("/tags/list") => Some("ecr:ListImages"),
        _ => panic!("ferry made a registry request no read policy covers: {method} {path}"),
    }
}

/// Every `….client.<operation>()` call in the files of src/ that use an
/// AWS SDK crate, as SDK operation names (`describe_images` →
/// `DescribeImages`).
fn sdk_calls_in_source() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    let call = regex::Regex::new(r"\.client\s*\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)").unwrap();
    let mut ops = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if !text.contains("aws_sdk_") {
            continue;
        }
        for c in call.captures_iter(&text) {
            let pascal: String = c[1]
                .split('_')
                .map(|w| {
                    let mut cs = w.chars();
                    cs.next()
                        .map(|h| h.to_ascii_uppercase().to_string() + cs.as_str())
                        .unwrap_or_default()
                })
                .collect();
            ops.insert(pascal);
        }
    }
    ops
}

/// Builds an image in moto's ECR and in the registry, signed with `signer`.
async fn signed_image(
    moto: &Moto,
    ecr: &aws_sdk_ecr::Client,
    registry: &OciClient,
    repo: &str,
    signer: &Signer,
) -> Digest {
    let config = br#"{"seed":"deploy"}"#;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": oci::MANIFEST_V1,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": oci::sha256(config).as_str(), "size": config.len()},
        "layers": []
    })
    .to_string();
    let d = oci::sha256(manifest.as_bytes());
    ecr.create_repository()
        .repository_name(repo)
        .send()
        .await
        .unwrap();
    ecr.put_image()
        .repository_name(repo)
        .image_manifest(&manifest)
        .image_digest(d.as_str())
        .image_tag("sha-3f2a9c1")
        .send()
        .await
        .unwrap();
    ecr.start_image_scan()
        .repository_name(repo)
        .image_id(ImageIdentifier::builder().image_digest(d.as_str()).build())
        .send()
        .await
        .unwrap();
    moto.set_ecr_scan_findings(&json!([{
        "repositoryName": repo,
        "imageId": {"imageDigest": d.as_str()},
        "imageScanStatus": {"status": "COMPLETE", "description": "done"},
        "imageScanFindings": {"findingSeverityCounts": {"LOW": 1}, "findings": []},
    }]));
    registry.put_blob(repo, config).await.unwrap();
    registry
        .put_manifest(repo, d.as_str(), oci::MANIFEST_V1, manifest.as_bytes())
        .await
        .unwrap();
    oci::attach(registry, repo, &d, &signer.sign_simple(repo, &d).unwrap())
        .await
        .unwrap();
    d
}

#[tokio::test]
async fn iam_policy_grants_exactly_the_aws_calls_ferry_makes() {
    let Some(moto) = Moto::start() else { return };
    let config = sdk_config(&moto);
    let token = aws_sdk_ecr::Client::new(&config)
        .get_authorization_token()
        .send()
        .await
        .unwrap();
    let decoded = {
        use base64::Engine;
        let t = token.authorization_data()[0].authorization_token().unwrap();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(t).unwrap()).unwrap()
    };
    let (user, password) = decoded.split_once(':').unwrap();
    let Some(registry) = OciRegistry::start_with_htpasswd(user, password) else {
        return;
    };

    // Set up, unrecorded: a signed, scanned image and an event on a queue.
    let repo = "llmplatform/gateway";
    let ecr = aws_sdk_ecr::Client::new(&config);
    let direct = OciClient::new(
        &registry.url,
        Auth::Basic {
            user: user.into(),
            password: password.into(),
        },
    );
    let signer = Signer::generate().unwrap();
    let digest = signed_image(&moto, &ecr, &direct, repo, &signer).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name("ferry-ecr-events")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let event = corpus_event("01_ecr-image-action-push_awsdocs-userguide.json", repo);
    sqs.send_message()
        .queue_url(&queue)
        .message_body(event.to_string())
        .send()
        .await
        .unwrap();
    let (proxy, registry_log) = recording_proxy(registry.url.clone()).await;

    for step in ["reset-recording", "start-recording"] {
        let r = moto.request("POST", &format!("/moto-api/recorder/{step}"), &[], b"");
        assert_eq!(r.status, 200, "{step}: {}", r.text());
    }
    // ferry's AWS code paths, as a pass and the intake run them: list the
    // repository, judge the image (scan, then signatures with the ECR
    // token over the OCI API), read and delete the queue's events.
    let reg = EcrRegistry::from_sdk_config(&config, Some(proxy.clone()));
    let images = reg.list_images(repo).await.unwrap();
    assert_eq!(images.len(), 1);
    let key = TrustedKey::from_pem("ci.pub", &signer.public_pem().unwrap()).unwrap();
    let gates = Gates::new(GatePolicy {
        scan_max: Some([(Severity::Critical, 0)].into_iter().collect()),
        keys: Some(vec![key]),
    });
    let verdict = gates.check(&reg, repo, &digest).await;
    assert!(verdict.passes(), "{:?}", verdict.reasons);
    assert!(verdict.signature_key.is_some(), "the signature was read");
    let mut intake = SqsIntake::from_sdk_config(&config, &queue);
    intake.wait = Duration::from_secs(1);
    let stats = intake.receive_once(|_| async { Ok(()) }).await.unwrap();
    assert_eq!(stats.handled, 1, "{stats:?}");
    let r = moto.request("POST", "/moto-api/recorder/stop-recording", &[], b"");
    assert_eq!(r.status, 200);
    let recording = moto.request("GET", "/moto-api/recorder/download-recording", &[], b"");
    assert_eq!(recording.status, 200);

    // Recorded AWS API operations, as (service, operation).
    let mut ops: BTreeSet<(String, String)> = BTreeSet::new();
    for line in recording.text().lines().filter(|l| !l.trim().is_empty()) {
        let entry: Json = serde_json::from_str(line).unwrap();
        let url = entry["url"].as_str().unwrap_or_default();
        if url.contains("/moto-api/") {
            continue;
        }
        let headers = entry["headers"].as_object().unwrap();
        let target = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("a request without X-Amz-Target: {line}"));
        let (prefix, op) = target.split_once('.').unwrap();
        let service = match prefix {
            "AmazonEC2ContainerRegistry_V20150921" => "ecr",
            "AmazonSQS" => "sqs",
            other => panic!("ferry called an unexpected AWS API: {other}"),
        };
        ops.insert((service.to_string(), op.to_string()));
    }
    let recorded_ops: BTreeSet<String> = ops.iter().map(|(_, op)| op.clone()).collect();
    // The recording covers every SDK call in the source, and nothing else:
    // a new call in src/ without a path here fails this line.
    assert_eq!(recorded_ops, sdk_calls_in_source(), "recorded vs src/");
    let mut needed: BTreeSet<String> = ops.iter().map(|(s, op)| iam_action(s, op)).collect();
    let registry_requests = registry_log.lock().unwrap().clone();
    assert!(!registry_requests.is_empty());
    for (method, path) in &registry_requests {
        assert!(
            path.starts_with(&format!("/v2/{repo}/")) || path == "/v2/",
            "{path}"
        );
        if let Some(a) = registry_action(method, path) {
            needed.insert(a.to_string());
        }
    }

    eprintln!("recorded: {ops:?}; registry: {registry_requests:?}; needed: {needed:?}");

    // The template's role policy grants exactly those, scoped.
    let t = template();
    let policies = seq(
        &t["Resources"]["FerryRole"]["Properties"]["Policies"],
        "Policies",
    );
    assert_eq!(policies.len(), 1);
    let mut granted = BTreeSet::new();
    let mut enhanced = 0;
    for st in seq(&policies[0]["PolicyDocument"]["Statement"], "Statement") {
        // Only with EnhancedScanning=true: ECR answers the scan findings
        // from Inspector as the caller, which moto does not model.
        if let Some(branches) = st.get("Fn::If") {
            enhanced += 1;
            assert_eq!(branches[0], "EnhancedScanningOn");
            assert_eq!(branches[1]["Action"][0], "inspector2:ListFindings");
            assert_eq!(branches[1]["Action"].as_sequence().map(Vec::len), Some(1));
            assert_eq!(branches[1]["Resource"], "*");
            assert_eq!(branches[2]["Ref"], "AWS::NoValue");
            continue;
        }
        assert_eq!(st["Effect"], "Allow");
        assert!(st["NotAction"].is_null() && st["NotResource"].is_null());
        let actions: Vec<String> = seq(&st["Action"], "Action")
            .iter()
            .map(|a| s(a, "action").to_string())
            .collect();
        for a in &actions {
            assert!(!a.contains('*'), "wildcard action {a}");
            granted.insert(a.clone());
        }
        if st["Resource"] == "*" {
            assert_eq!(
                actions,
                ["ecr:GetAuthorizationToken"],
                "only the token is unscoped"
            );
            continue;
        }
        let resource = serde_json::to_string(&st["Resource"]).unwrap();
        if actions.iter().all(|a| a.starts_with("ecr:")) {
            assert!(
                resource.contains(":ecr:") && resource.contains(":repository/${RepositoryPrefix}"),
                "{resource}"
            );
        } else {
            assert!(actions.iter().all(|a| a.starts_with("sqs:")), "{actions:?}");
            assert_eq!(st["Resource"], get_att_arn("EventQueue"));
        }
    }
    assert_eq!(enhanced, 1);
    assert_eq!(
        granted, needed,
        "granted vs needed; registry requests: {registry_requests:?}"
    );
}

#[test]
fn github_app_manifest_asks_for_what_ferry_uses_and_delivers_to_its_route() {
    let m: Value = yaml_serde::from_str(&read("deploy/github-app.yml")).unwrap();
    let perms: BTreeMap<String, String> = labels(&m["default_permissions"]);
    let want: BTreeMap<String, String> = [
        ("contents", "write"),
        ("pull_requests", "write"),
        ("issues", "write"),
        ("metadata", "read"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(perms, want);
    let events: BTreeSet<&str> = seq(&m["default_events"], "default_events")
        .iter()
        .map(|e| s(e, "event"))
        .collect();
    assert_eq!(
        events,
        BTreeSet::from(["push", "pull_request", "issue_comment"])
    );
    assert_eq!(m["public"], false);
    assert_eq!(m["hook_attributes"]["active"], true);
    let hook = s(&m["hook_attributes"]["url"], "hook url");
    let url = reqwest::Url::parse(hook).unwrap();
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.path(), ferry::server::http::WEBHOOK_PATH);
}
