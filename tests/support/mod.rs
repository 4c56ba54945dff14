//! Real services for integration tests, each started on loopback by the test
//! that needs it and killed when the handle is dropped.
//!
//! Use it from a file in `tests/` with `mod support;`:
//!
//! ```ignore
//! mod support;
//!
//! #[test]
//! fn something() {
//!     let Some(moto) = support::Moto::start() else { return };
//!     // moto.endpoint is "http://127.0.0.1:PORT"
//! }
//! ```
//!
//! * [`Moto`]: moto's server mode, a fake AWS (ECR, SQS, ...) speaking the
//!   real wire protocols. Each instance is a fresh, empty AWS.
//! * [`OciRegistry`]: Debian's `docker-registry` (CNCF distribution 2.8), a
//!   real OCI distribution registry with filesystem storage in a tempdir,
//!   optionally behind htpasswd (HTTP basic) auth.
//!
//! Where the binaries come from: `scripts/install-test-services.sh` (run by
//! `.ci/run`) installs them; `.ci/run` exports `FERRY_MOTO_SERVER` and
//! `FERRY_DOCKER_REGISTRY`. Without those variables the defaults are
//! `.venv-moto/bin/moto_server` in the repository and
//! `/usr/bin/docker-registry`; `htpasswd` is taken from `FERRY_HTPASSWD` or
//! `/usr/bin/htpasswd`.
//!
//! **Skip rule.** When a binary is missing, `start()` returns `None` after
//! printing `skipping: ...` (to the real stderr, past the harness's capture),
//! so a local `cargo test` without the services installed still passes
//! (those tests then check nothing: run `scripts/install-test-services.sh` to
//! have them run). When the `CI`
//! environment variable is set (CI runs `.ci/run` with `CI=true`), a missing
//! binary is a panic instead: CI must never skip these tests. A variable that
//! is set but names no file is a panic everywhere.
//!
//! Ports: each service is started on port 0 and the port it actually bound is
//! read from its own log, so parallel tests never race for a port. Startup
//! (port announced, then an HTTP probe answering) is bounded by
//! [`START_TIMEOUT`]; on failure the panic message carries the service's log.
//! A killed test process (SIGKILL) leaves its services running: only `Drop`
//! stops them.

#![allow(dead_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a service may take to start answering.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The region [`Moto`] helpers use unless told otherwise.
pub const MOTO_REGION: &str = "us-east-1";

/// moto's default AWS account id (the `registryId` of every repository).
pub const MOTO_ACCOUNT_ID: &str = "123456789012";

/// True when running under CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Finds a service binary: `$env` if set (must exist), else the first default
/// that exists, else `None` (or a panic under CI, see the module doc).
fn locate(env: &str, defaults: &[PathBuf], what: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env}={} does not exist", p.display());
        return Some(p);
    }
    if let Some(p) = defaults.iter().find(|p| p.is_file()) {
        return Some(p.clone());
    }
    let tried: Vec<String> = defaults.iter().map(|p| p.display().to_string()).collect();
    let why = format!(
        "{what} not found (${env} unset; tried {}); run scripts/install-test-services.sh",
        tried.join(", ")
    );
    if in_ci() {
        panic!("{why}: CI must have it");
    }
    // Straight to stderr: `eprintln!` would be captured by the test harness
    // and never shown for a passing (skipped) test.
    let _ = writeln!(io::stderr().lock(), "skipping: {why}");
    None
}

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A child process that is killed (SIGKILL) and reaped on drop. Its stdout
/// and stderr go to `log`.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Proc {
        let out = File::create(&log).expect("create service log");
        let err = out.try_clone().expect("clone log handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc { name, child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "{} did not start: {why}\n--- {} ---\n{}",
            self.name,
            self.log.display(),
            self.log_text()
        );
    }

    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            self.fail(&format!("exited with {status}"));
        }
    }

    /// Waits until the log contains `marker` followed by a port number, and
    /// returns that port.
    fn announced_port(&mut self, marker: &str, deadline: Instant) -> u16 {
        loop {
            let text = self.log_text();
            if let Some(i) = text.find(marker) {
                let digits: String = text[i + marker.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                match digits.parse::<u16>() {
                    Ok(port) if port != 0 => return port,
                    _ => {}
                }
            }
            self.check_alive();
            if Instant::now() > deadline {
                self.fail(&format!("no {marker:?} line in its log"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `GET path` until it gets a status in `ok`.
    fn wait_http(&mut self, addr: &str, path: &str, ok: &[u16], deadline: Instant) {
        loop {
            let last = match http(addr, "GET", path, &[], b"") {
                Ok(r) if ok.contains(&r.status) => return,
                Ok(r) => format!("GET {path} answered {}", r.status),
                Err(e) => format!("GET {path}: {e}"),
            };
            self.check_alive();
            if Instant::now() > deadline {
                self.fail(&format!("not ready after {START_TIMEOUT:?}: {last}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A moto server on `127.0.0.1`, empty at start.
///
/// Talk to it with any AWS client pointed at [`Moto::endpoint`] with any
/// credentials; moto routes a request by the service named in the SigV4
/// `Authorization` header's credential scope (see [`fake_sigv4`]) and does
/// not check signatures. `tests/infra_smoke.rs` shows both raw JSON calls and
/// `aws-sdk-ecr` configured for it.
///
/// ECR in moto keeps manifests but no blobs (there is no registry endpoint),
/// and `PutImage` without `imageDigest` gives an image a digest that is *not*
/// the manifest's sha256 (moto hashes the layer digests): pass
/// `imageDigest` (`sha256:` + hex of the exact manifest bytes) to get the
/// real one.
pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    proc: Proc,
    _dir: TempDir,
}

impl Moto {
    /// Starts moto (see the module doc for where the binary comes from and
    /// the skip rule).
    pub fn start() -> Option<Moto> {
        let bin = locate(
            "FERRY_MOTO_SERVER",
            &[repo_path(".venv-moto/bin/moto_server")],
            "moto_server",
        )?;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(&bin);
        cmd.args(["-H", "127.0.0.1", "-p", "0"])
            .env("PYTHONUNBUFFERED", "1")
            // No real AWS or proxy settings may leak into the fake one.
            .env_remove("AWS_PROFILE")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .current_dir(dir.path());
        let mut proc = Proc::spawn("moto_server", cmd, dir.path().join("moto.log"));
        let deadline = Instant::now() + START_TIMEOUT;
        // werkzeug prints " * Running on http://127.0.0.1:PORT" once bound.
        let port = proc.announced_port("Running on http://127.0.0.1:", deadline);
        let addr = format!("127.0.0.1:{port}");
        proc.wait_http(&addr, "/moto-api/", &[200], deadline);
        Some(Moto {
            endpoint: format!("http://{addr}"),
            addr,
            proc,
            _dir: dir,
        })
    }

    /// A blocking request to moto (see [`http`]).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        http(&self.addr, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {} {path}: {e}", self.endpoint))
    }

    /// Calls an AWS JSON-1.1 API action (ECR, SQS's JSON protocol, ...):
    /// `target` is the `X-Amz-Target` value, e.g.
    /// `AmazonEC2ContainerRegistry_V20150921.CreateRepository`; `service` the
    /// SigV4 signing name (`ecr`, `sqs`). Returns the status and the parsed
    /// body (`Null` when empty).
    pub fn aws_json(
        &self,
        service: &str,
        target: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let auth = fake_sigv4(service, MOTO_REGION);
        let body = serde_json::to_vec(body).unwrap();
        let r = self.request(
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", target),
                ("X-Amz-Date", "20260101T000000Z"),
                ("Authorization", &auth),
            ],
            &body,
        );
        (r.status, r.json())
    }

    /// Queues custom ECR scan results in moto, for `DescribeImageScanFindings`.
    ///
    /// `results` is a JSON array; each element is the **exact response body**
    /// that `DescribeImageScanFindings` should return, and must contain at
    /// least `repositoryName` and `imageId` (moto matches on them):
    ///
    /// ```json
    /// [{
    ///   "registryId": "123456789012",
    ///   "repositoryName": "gateway",
    ///   "imageId": {"imageDigest": "sha256:…", "imageTag": "sha-3f2a9c1"},
    ///   "imageScanStatus": {"status": "COMPLETE", "description": "…"},
    ///   "imageScanFindings": {
    ///     "imageScanCompletedAt": 1767225600,
    ///     "findingSeverityCounts": {"CRITICAL": 1, "HIGH": 2},
    ///     "findings": [{"name": "CVE-2026-0001", "severity": "CRITICAL",
    ///                   "uri": "…", "attributes": []}],
    ///     "enhancedFindings": []
    ///   }
    /// }]
    /// ```
    ///
    /// This posts `{"results": RESULTS, "region": REGION, "account_id": ACCOUNT}`
    /// to `POST /moto-api/static/ecr/scan-finding-results` (201, empty body);
    /// `region` defaults to us-east-1 and `account_id` to 123456789012 in
    /// moto. Semantics, from moto 5.2.5's `ecr/models.py`:
    ///
    /// * `DescribeImageScanFindings` first requires a scan: an image never
    ///   scanned gives `ScanNotFoundException`. Call `StartImageScan` (once a
    ///   day per image in moto: a second one gives `LimitExceededException`);
    ///   moto ignores `scanOnPush`.
    /// * A queued result is taken by the first `DescribeImageScanFindings` of an
    ///   image whose repository equals `repositoryName` and whose tag equals
    ///   `imageId.imageTag` or digest equals `imageId.imageDigest` (an
    ///   `imageId` with neither matches any image of the repository).
    /// * Results are queued per image and bound to the request's exact
    ///   `imageId` JSON: the same request (say `{"imageDigest": D}`) then
    ///   always gets the same result, while a request spelled differently
    ///   (`{"imageTag": T}`) takes the *next* queued result, or moto's static
    ///   default (one HIGH finding `CVE-9999-9999`) when none is left.
    /// * The body is returned as given (through moto's serializer for the ECR
    ///   API model: a timestamp may be given as epoch seconds or an ISO-8601
    ///   string and comes out as epoch seconds). moto fills in and checks
    ///   nothing, so the status (`COMPLETE`, `IN_PROGRESS`, `FAILED`, ...)
    ///   and the counts are whatever the test says, consistent or not.
    pub fn set_ecr_scan_findings(&self, results: &serde_json::Value) {
        assert!(results.is_array(), "results must be a JSON array");
        let body = serde_json::json!({
            "results": results,
            "region": MOTO_REGION,
            "account_id": MOTO_ACCOUNT_ID,
        });
        let r = self.request(
            "POST",
            "/moto-api/static/ecr/scan-finding-results",
            &[("Content-Type", "application/json")],
            &serde_json::to_vec(&body).unwrap(),
        );
        assert_eq!(r.status, 201, "scan-finding-results: {}", r.text());
    }

    /// Empties every moto backend (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let r = self.request("POST", "/moto-api/reset", &[], b"");
        assert_eq!(r.status, 200, "moto reset: {}", r.text());
    }

    /// moto's own log so far (requests, tracebacks).
    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}

/// A SigV4 `Authorization` header value that moto accepts (it reads the
/// service and region from the credential scope and ignores the signature).
pub fn fake_sigv4(service: &str, region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/{region}/{service}/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
         Signature=0000000000000000000000000000000000000000000000000000000000000000"
    )
}

/// A CNCF distribution registry (`docker-registry` 2.8) on `127.0.0.1`, with
/// filesystem storage in a tempdir, deletes enabled, and no auth unless
/// started with [`OciRegistry::start_with_htpasswd`].
///
/// It speaks the OCI distribution API (`/v2/`), stores OCI and Docker
/// manifests, and answers `Docker-Content-Digest` headers. Version 2.8 has
/// no referrers API (`/v2/<name>/referrers/<digest>` is a 404): clients must
/// use the referrers tag schema (`sha256-<hex>` tags) against it.
pub struct OciRegistry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The `(user, password)` required by HTTP basic auth, if any.
    pub credentials: Option<(String, String)>,
    /// Where the registry stores blobs and manifests.
    pub root: PathBuf,
    proc: Proc,
    _dir: TempDir,
}

impl OciRegistry {
    /// Starts a registry without auth (see the module doc for where the
    /// binary comes from and the skip rule).
    pub fn start() -> Option<OciRegistry> {
        let bin = registry_bin()?;
        Some(Self::launch(bin, None))
    }

    /// Starts a registry that requires HTTP basic auth with `user`/`pass`
    /// (an htpasswd file with a bcrypt hash, written by `htpasswd -B`).
    /// `GET /v2/` then answers 401 with `WWW-Authenticate: Basic
    /// realm="ferry-test"` without credentials. ECR's own auth looks the same
    /// to a client: basic auth with user `AWS` and the token as password.
    pub fn start_with_htpasswd(user: &str, pass: &str) -> Option<OciRegistry> {
        let bin = registry_bin()?;
        let htpasswd = locate(
            "FERRY_HTPASSWD",
            &[PathBuf::from("/usr/bin/htpasswd")],
            "htpasswd (apache2-utils)",
        )?;
        Some(Self::launch(bin, Some((htpasswd, user, pass))))
    }

    fn launch(bin: PathBuf, auth: Option<(PathBuf, &str, &str)>) -> OciRegistry {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:0\n  secret: ferry-test-secret\n",
            root = root.display()
        );
        let mut credentials = None;
        if let Some((htpasswd, user, pass)) = auth {
            let out = Command::new(&htpasswd)
                .args(["-nbB", user, pass])
                .output()
                .unwrap_or_else(|e| panic!("{}: {e}", htpasswd.display()));
            assert!(
                out.status.success(),
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: ferry-test\n    path: {}\n",
                file.display()
            ));
            credentials = Some((user.to_string(), pass.to_string()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();

        let mut cmd = Command::new(&bin);
        cmd.arg("serve").arg(&config_path).current_dir(dir.path());
        let mut proc = Proc::spawn("docker-registry", cmd, dir.path().join("registry.log"));
        let deadline = Instant::now() + START_TIMEOUT;
        let port = proc.announced_port("listening on 127.0.0.1:", deadline);
        let addr = format!("127.0.0.1:{port}");
        // 401 is "up, and wants credentials".
        proc.wait_http(&addr, "/v2/", &[200, 401], deadline);
        OciRegistry {
            url: format!("http://{addr}"),
            addr,
            credentials,
            root,
            proc,
            _dir: dir,
        }
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}

fn registry_bin() -> Option<PathBuf> {
    locate(
        "FERRY_DOCKER_REGISTRY",
        &[PathBuf::from("/usr/bin/docker-registry")],
        "docker-registry",
    )
}

/// The answer to [`http`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `Null` when empty. Panics on invalid JSON.
    pub fn json(&self) -> serde_json::Value {
        if self.body.is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A minimal blocking HTTP/1.0 client for loopback test services: one
/// request per connection, body read to EOF, 10 s I/O timeouts. Enough for
/// readiness probes and setup calls without an async runtime; the code under
/// test should use its own client.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let sock: SocketAddr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;

    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}
