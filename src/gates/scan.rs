//! The severity budget a scan is judged against.

use std::collections::BTreeMap;

use crate::config::Severity;
use crate::evidence::severity_name;

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
    }
}
