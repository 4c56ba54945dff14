//! Helpers shared by the integration tests.

// Each test binary that includes this file uses part of it.
#![allow(dead_code)]

use std::process::Command;

/// Container images of the Deployment that `kubectl kustomize` renders from
/// `kustomization` next to `deployment` (the oracle for what an overlay
/// means).
pub fn rendered_images(kustomization: &str, deployment: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization).unwrap();
    std::fs::write(dir.path().join("deployment.yaml"), deployment).unwrap();
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .expect("kubectl must be installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let doc = yaml_serde::Deserializer::from_str(&stdout)
        .map(|d| <yaml_serde::Value as serde::Deserialize>::deserialize(d).unwrap())
        .find(|d| d["kind"].as_str() == Some("Deployment"))
        .expect("a Deployment");
    doc["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap().to_string())
        .collect()
}

/// A test image: a tag and a valid sha256 digest derived from it.
#[derive(Debug, Clone)]
pub struct Image {
    pub tag: String,
    pub digest: String,
}

impl Image {
    pub fn new(tag: &str) -> Image {
        Image {
            tag: tag.into(),
            digest: ferry::oci::sha256(tag.as_bytes()).to_string(),
        }
    }
}
