//! Verdicts on one image digest: does it pass the scan budget and carry a
//! trusted cosign signature?
//!
//! A verdict is `pass` or `hold` with *every* reason that applies, each a
//! machine-readable code and a human message. A gate that cannot reach its
//! source holds; nothing passes by default. Facts that cannot change (a
//! verified signature, a settled scan) are cached per digest; the rest is
//! asked again on every check.

pub mod cosign;
mod scan;
pub mod signer;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

pub use cosign::{SignatureOutcome, TrustedKey};
pub use scan::{format_counts, over_budget};
// What a registry reports lives below the gates that judge it; kept here
// under its old paths.
pub use crate::evidence::{ScanState, SignatureEvidence, severity, severity_name};

use crate::config::{Gates as GatesConfig, Severity};
use crate::image::Digest;
use crate::registry::ImageSource;

/// Which gate a reason comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// The vulnerability scan.
    Scan,
    /// The cosign signature.
    Signature,
}

/// Why a digest is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// No scan exists.
    ScanMissing,
    /// The scan is in progress.
    ScanPending,
    /// The scan failed, is unsupported or expired.
    ScanFailed,
    /// Findings exceed `gates.scan.max`.
    ScanBudget,
    /// The registry could not be asked about the scan.
    ScanUnavailable,
    /// No signature found.
    Unsigned,
    /// Signatures exist and none verifies with a configured key.
    SignatureUntrusted,
    /// A trusted signature signs another digest.
    SignatureDigestMismatch,
    /// The registry could not be asked for signatures.
    SignatureUnavailable,
}

impl Code {
    /// The code as it appears in JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ScanMissing => "scan_missing",
            Code::ScanPending => "scan_pending",
            Code::ScanFailed => "scan_failed",
            Code::ScanBudget => "scan_budget",
            Code::ScanUnavailable => "scan_unavailable",
            Code::Unsigned => "unsigned",
            Code::SignatureUntrusted => "signature_untrusted",
            Code::SignatureDigestMismatch => "signature_digest_mismatch",
            Code::SignatureUnavailable => "signature_unavailable",
        }
    }
}

/// One reason a digest is held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reason {
    /// The gate.
    pub gate: Gate,
    /// Machine-readable code.
    pub code: Code,
    /// What a person reads.
    pub message: String,
}

/// The verdict on one digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The digest judged.
    pub digest: Digest,
    /// Empty when the digest passes.
    pub reasons: Vec<Reason>,
    /// Finding counts, when the scan completed.
    pub scan_counts: Option<BTreeMap<Severity, u32>>,
    /// Fingerprint of the key whose signature verified.
    pub signature_key: Option<String>,
}

impl Verdict {
    /// True when no gate holds the digest.
    pub fn passes(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// What the gates require, built from `gates:` in the config. A gate whose
/// section is absent is not applied.
#[derive(Debug, Clone, Default)]
pub struct GatePolicy {
    /// `gates.scan.max`, when the scan gate is on.
    pub scan_max: Option<BTreeMap<Severity, u32>>,
    /// Trusted keys, when the signature gate is on.
    pub keys: Option<Vec<TrustedKey>>,
}

/// A problem loading the gate policy (a key file).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl GatePolicy {
    /// Builds the policy, reading key files relative to `base` (the
    /// config file's directory).
    pub fn load(config: Option<&GatesConfig>, base: &Path) -> Result<Self, PolicyError> {
        let Some(g) = config else {
            return Ok(GatePolicy::default());
        };
        let keys = match &g.signature {
            None => None,
            Some(sig) => {
                let mut keys = Vec::new();
                for p in &sig.cosign_keys {
                    let path = base.join(p);
                    let pem = std::fs::read_to_string(&path).map_err(|e| {
                        PolicyError(format!(
                            "gates.signature.cosign_keys: {}: {e}",
                            path.display()
                        ))
                    })?;
                    keys.push(
                        TrustedKey::from_pem(&p.display().to_string(), &pem)
                            .map_err(|e| PolicyError(e.to_string()))?,
                    );
                }
                if keys.is_empty() {
                    return Err(PolicyError(
                        "gates.signature.cosign_keys: at least one key is required".into(),
                    ));
                }
                Some(keys)
            }
        };
        Ok(GatePolicy {
            scan_max: g.scan.as_ref().map(|s| s.max.clone()),
            keys,
        })
    }
}

/// Facts about a digest that cannot change, kept between checks.
#[derive(Debug, Clone, Default)]
struct Settled {
    scan: Option<BTreeMap<Severity, u32>>,
    signature_key: Option<String>,
}

/// The gates with their per-digest cache.
#[derive(Debug, Default)]
pub struct Gates {
    policy: GatePolicy,
    // Keyed by repository and digest: signatures live in a repository.
    cache: Mutex<HashMap<(String, Digest), Settled>>,
}

impl Gates {
    /// Gates applying `policy`.
    pub fn new(policy: GatePolicy) -> Self {
        Gates {
            policy,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// How many digests have cached facts.
    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn settled(&self, repository: &str, digest: &Digest) -> Settled {
        self.cache
            .lock()
            .ok()
            .and_then(|c| c.get(&(repository.to_string(), digest.clone())).cloned())
            .unwrap_or_default()
    }

    fn remember(&self, repository: &str, digest: &Digest, f: impl FnOnce(&mut Settled)) {
        if let Ok(mut c) = self.cache.lock() {
            f(c.entry((repository.to_string(), digest.clone()))
                .or_default());
        }
    }

    /// The verdict on `digest` of `repository`, with every reason.
    pub async fn check<S: ImageSource>(
        &self,
        source: &S,
        repository: &str,
        digest: &Digest,
    ) -> Verdict {
        let known = self.settled(repository, digest);
        let mut v = Verdict {
            digest: digest.clone(),
            reasons: Vec::new(),
            scan_counts: None,
            signature_key: None,
        };
        if let Some(max) = &self.policy.scan_max {
            let state = match known.scan {
                Some(counts) => Ok(ScanState::Complete {
                    counts,
                    settled: true,
                }),
                None => source.scan(repository, digest).await,
            };
            self.judge_scan(repository, &mut v, state, max);
        }
        if let Some(keys) = &self.policy.keys {
            match known.signature_key {
                Some(key) => v.signature_key = Some(key),
                None => {
                    let outcome = source.signatures(repository, digest).await;
                    self.judge_signature(repository, &mut v, outcome, keys);
                }
            }
        }
        v
    }

    fn judge_scan(
        &self,
        repository: &str,
        v: &mut Verdict,
        state: Result<ScanState, crate::registry::RegistryError>,
        max: &BTreeMap<Severity, u32>,
    ) {
        let mut hold = |code, message: String| {
            v.reasons.push(Reason {
                gate: Gate::Scan,
                code,
                message,
            });
        };
        match state {
            Err(e) => hold(Code::ScanUnavailable, format!("cannot read the scan: {e}")),
            Ok(ScanState::Missing) => {
                hold(Code::ScanMissing, "no scan exists for this image".into())
            }
            Ok(ScanState::Pending { status }) => {
                hold(Code::ScanPending, format!("scan is {status}"))
            }
            Ok(ScanState::Failed {
                status,
                description,
            }) => hold(
                Code::ScanFailed,
                match description {
                    Some(d) => format!("scan status {status}: {d}"),
                    None => format!("scan status {status}"),
                },
            ),
            Ok(ScanState::Complete { counts, settled }) => {
                let over = over_budget(&counts, max);
                if !over.is_empty() {
                    hold(
                        Code::ScanBudget,
                        format!(
                            "findings over budget: {} (found {})",
                            over.join(", "),
                            format_counts(&counts)
                        ),
                    );
                }
                if settled {
                    self.remember(repository, &v.digest, |s| s.scan = Some(counts.clone()));
                }
                v.scan_counts = Some(counts);
            }
        }
    }

    fn judge_signature(
        &self,
        repository: &str,
        v: &mut Verdict,
        evidence: Result<Vec<SignatureEvidence>, crate::registry::RegistryError>,
        keys: &[TrustedKey],
    ) {
        let mut hold = |code, message: String| {
            v.reasons.push(Reason {
                gate: Gate::Signature,
                code,
                message,
            });
        };
        let evidence = match evidence {
            Ok(e) => e,
            Err(e) => {
                return hold(
                    Code::SignatureUnavailable,
                    format!("cannot read signatures: {e}"),
                );
            }
        };
        match cosign::verify(&v.digest, &evidence, keys) {
            SignatureOutcome::Verified { key, .. } => {
                self.remember(repository, &v.digest, |s| {
                    s.signature_key = Some(key.clone())
                });
                v.signature_key = Some(key);
            }
            SignatureOutcome::Unsigned => hold(Code::Unsigned, "no cosign signature found".into()),
            SignatureOutcome::Untrusted(why) => hold(
                Code::SignatureUntrusted,
                // "candidate": an entry may be an attestation or an
                // unreadable referrer rather than a signature.
                format!(
                    "no trusted signature among {} candidate(s): {}",
                    evidence.len(),
                    why.join("; ")
                ),
            ),
            SignatureOutcome::DigestMismatch { signed, key } => hold(
                Code::SignatureDigestMismatch,
                format!("signature by {key} signs {signed}, not {}", v.digest),
            ),
        }
    }
}
