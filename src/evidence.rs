//! What a registry reports about one image digest: its scan state and
//! the signatures found for it, as the registry adapters and the OCI client
//! produce them and before any gate judges them.
//!
//! It sits below `oci`, `registry` and `gates`: the sources fill these in,
//! the gates read them, and neither depends on the other for the types.

use std::collections::BTreeMap;

use crate::config::Severity;

/// The scan state of one image digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanState {
    /// No scan exists for the image.
    Missing,
    /// A scan is under way (`IN_PROGRESS`, `PENDING`).
    Pending {
        /// Status as the registry reported it.
        status: String,
    },
    /// The scan cannot produce findings (`FAILED`, `UNSUPPORTED_IMAGE`,
    /// `SCAN_ELIGIBILITY_EXPIRED`, `FINDINGS_UNAVAILABLE`, or a status
    /// ferry does not know).
    Failed {
        /// Status as the registry reported it.
        status: String,
        /// The registry's description, if any.
        description: Option<String>,
    },
    /// Findings are available.
    Complete {
        /// Count per severity.
        counts: BTreeMap<Severity, u32>,
        /// True for a basic scan's final result; false for enhanced
        /// scanning (`ACTIVE`), whose findings change as databases update.
        settled: bool,
    },
}

impl ScanState {
    /// Maps an ECR or Inspector status to a state. Unknown statuses are
    /// failures: a gate never passes on something it does not understand.
    pub fn from_status(
        status: &str,
        description: Option<String>,
        counts: BTreeMap<Severity, u32>,
    ) -> Self {
        match status {
            "COMPLETE" => ScanState::Complete {
                counts,
                settled: true,
            },
            "ACTIVE" => ScanState::Complete {
                counts,
                settled: false,
            },
            "IN_PROGRESS" | "PENDING" => ScanState::Pending {
                status: status.to_string(),
            },
            _ => ScanState::Failed {
                status: status.to_string(),
                description,
            },
        }
    }
}

/// Parses an ECR severity name (`CRITICAL`, ...).
pub fn severity(name: &str) -> Option<Severity> {
    Some(match name {
        "CRITICAL" => Severity::Critical,
        "HIGH" => Severity::High,
        "MEDIUM" => Severity::Medium,
        "LOW" => Severity::Low,
        "INFORMATIONAL" => Severity::Informational,
        "UNDEFINED" => Severity::Undefined,
        _ => return None,
    })
}

/// Upper-case name of a severity, as ECR writes it.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Informational => "INFORMATIONAL",
        Severity::Undefined => "UNDEFINED",
    }
}

/// One signature found for an image, in the form the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureEvidence {
    /// Legacy cosign: simple-signing payload and the base64 signature from
    /// the `dev.cosignproject.cosign/signature` annotation.
    SimpleSigning {
        /// The payload blob, exactly as stored.
        payload: Vec<u8>,
        /// Base64 signature.
        signature_b64: String,
    },
    /// cosign v3: a sigstore bundle (JSON) attached as an OCI referrer.
    Bundle {
        /// The bundle blob.
        json: Vec<u8>,
    },
    /// A candidate that was found but could not be read (a missing blob, a
    /// broken referrer, an invalid digest, an oversized file) or is not a
    /// signature. It never verifies; it is kept so that a verdict without
    /// a valid signature says what was seen and why it did not count.
    Unusable {
        /// Where it was found (a tag, a referrer digest, a file).
        source: String,
        /// Why it does not count.
        why: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_states() {
        assert!(matches!(
            ScanState::from_status("COMPLETE", None, BTreeMap::new()),
            ScanState::Complete { settled: true, .. }
        ));
        assert!(matches!(
            ScanState::from_status("ACTIVE", None, BTreeMap::new()),
            ScanState::Complete { settled: false, .. }
        ));
        assert!(matches!(
            ScanState::from_status("IN_PROGRESS", None, BTreeMap::new()),
            ScanState::Pending { .. }
        ));
        for s in [
            "FAILED",
            "UNSUPPORTED_IMAGE",
            "SCAN_ELIGIBILITY_EXPIRED",
            "FINDINGS_UNAVAILABLE",
            "SOMETHING_NEW",
        ] {
            assert!(
                matches!(
                    ScanState::from_status(s, None, BTreeMap::new()),
                    ScanState::Failed { .. }
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn severity_names_round_trip() {
        for s in [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Informational,
            Severity::Undefined,
        ] {
            assert_eq!(severity(severity_name(s)), Some(s));
        }
        assert_eq!(severity("HIGH"), Some(Severity::High));
        assert_eq!(severity("SEVERE"), None);
    }
}
