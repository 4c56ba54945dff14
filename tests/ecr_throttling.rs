//! Throttling through the real aws-sdk-ecr client: a loopback HTTP server
//! answers with ECR's `ThrottlingException` payload. The SDK backs off and
//! retries; when throttling outlasts the retries the gate holds with a
//! reason, and nothing crashes or passes. (moto cannot throttle, so this one
//! server is scripted.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_ecr::config::{Credentials, Region, SharedCredentialsProvider};
use ferry::config::Severity;
use ferry::gates::{GatePolicy, Gates, ScanState};
use ferry::image::Digest;
use ferry::registry::ImageSource;
use ferry::registry::ecr::EcrRegistry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;

/// Serves `throttles` throttling errors, then `ok_body` with status 200.
async fn server(throttles: usize, ok_body: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read headers and the body (Content-Length).
                loop {
                    let Ok(n) = sock.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if let Some(h) = text.find("\r\n\r\n") {
                        let len = text[..h]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if got.len() >= h + 4 + len {
                            break;
                        }
                    }
                }
                let n = c.fetch_add(1, Ordering::SeqCst);
                let (status, body) = if n < throttles {
                    ("400 Bad Request", THROTTLED)
                } else {
                    ("200 OK", ok_body)
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

fn registry(endpoint: &str, attempts: u32) -> EcrRegistry {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "a", "b", None, None, "test",
        )))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .build();
    EcrRegistry::from_sdk_config(&config, None)
}

fn digest() -> Digest {
    Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap()
}

const FINDINGS: &str = r#"{"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{"findingSeverityCounts":{"HIGH":2}}}"#;

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_answered() {
    let (endpoint, count) = server(2, FINDINGS).await;
    let reg = registry(&endpoint, 4);
    let state = reg.scan("team/api", &digest()).await.unwrap();
    assert_eq!(
        state,
        ScanState::Complete {
            counts: [(Severity::High, 2)].into_iter().collect(),
            settled: true
        }
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "two throttled attempts, then the answer"
    );
}

#[tokio::test]
async fn persistent_throttling_holds_the_gate() {
    let (endpoint, count) = server(usize::MAX, FINDINGS).await;
    let reg = registry(&endpoint, 3);
    let e = reg.scan("team/api", &digest()).await.unwrap_err();
    assert!(
        matches!(e, ferry::registry::RegistryError::Throttled(_)),
        "{e:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 3, "every attempt was used");
    let gates = Gates::new(GatePolicy {
        scan_max: Some(Default::default()),
        keys: None,
    });
    let v = gates.check(&reg, "team/api", &digest()).await;
    assert!(!v.passes());
    assert_eq!(v.reasons[0].code.as_str(), "scan_unavailable");
    assert!(
        v.reasons[0].message.contains("throttled"),
        "{}",
        v.reasons[0].message
    );
}
