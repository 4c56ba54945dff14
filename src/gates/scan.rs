//! Scan results as ECR reports them, and the severity budget.

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

/// `CRITICAL=0 HIGH=1`, most severe first, for messages and commit trailers.
pub fn format_counts(counts: &BTreeMap<Severity, u32>) -> String {
    if counts.is_empty() {
        return "no findings".into();
    }
    counts
        .iter()
        .map(|(s, n)| format!("{}={n}", severity_name(*s)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The severities whose counts exceed `max`, as `HIGH 5 > 3`. A severity
/// not in `max` is unlimited.
pub fn over_budget(counts: &BTreeMap<Severity, u32>, max: &BTreeMap<Severity, u32>) -> Vec<String> {
    max.iter()
        .filter_map(|(sev, limit)| {
            let n = counts.get(sev).copied().unwrap_or(0);
            (n > *limit).then(|| format!("{} {n} > {limit}", severity_name(*sev)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(Severity, u32)]) -> BTreeMap<Severity, u32> {
        pairs.iter().copied().collect()
    }

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
    fn budget_lists_every_severity_over_its_limit() {
        let max = counts(&[(Severity::Critical, 0), (Severity::High, 3)]);
        assert!(
            over_budget(
                &counts(&[(Severity::High, 3), (Severity::Medium, 99)]),
                &max
            )
            .is_empty()
        );
        assert_eq!(
            over_budget(
                &counts(&[(Severity::Critical, 1), (Severity::High, 4)]),
                &max
            ),
            vec!["CRITICAL 1 > 0".to_string(), "HIGH 4 > 3".to_string()]
        );
        assert_eq!(
            format_counts(&counts(&[(Severity::High, 1), (Severity::Critical, 0)])),
            "CRITICAL=0 HIGH=1"
        );
        assert_eq!(severity("HIGH"), Some(Severity::High));
        assert_eq!(severity("SEVERE"), None);
    }
}
