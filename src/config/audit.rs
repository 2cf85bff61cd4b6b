//! `[audit]`: the trail of pulls and pushes.

use super::raw::RawAudit;
use super::Problem;
use crate::audit::SearchValues;

/// The validated `[audit]` section.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub enabled: bool,
    /// Rows older than this are deleted.
    pub retention_days: u32,
    pub search_values: SearchValues,
    /// Records waiting for the writer; past it a record is dropped (and counted).
    pub queue: usize,
    /// New rows whose lookup keys are indexed together: the most rows `audit find`
    /// reads without the index.
    pub segment_rows: u32,
}

pub(super) fn validate(raw: &RawAudit, problems: &mut Vec<Problem>) -> AuditConfig {
    let search_values = match raw.search_values.as_str() {
        "hash" => SearchValues::Hash,
        "masked" => SearchValues::Masked,
        "omit" => SearchValues::Omit,
        other => {
            problems.push(Problem::new(
                "audit.search_values",
                format!("'{other}' is not one of hash, masked, omit"),
            ));
            SearchValues::Hash
        }
    };
    if raw.retention_days == 0 {
        problems.push(Problem::new(
            "audit.retention_days",
            "must be at least 1".into(),
        ));
    }
    if raw.queue == 0 {
        problems.push(Problem::new("audit.queue", "must be at least 1".into()));
    }
    if raw.segment_rows == 0 {
        problems.push(Problem::new(
            "audit.segment_rows",
            "must be at least 1".into(),
        ));
    }
    AuditConfig {
        enabled: raw.enabled,
        retention_days: raw.retention_days,
        search_values,
        queue: raw.queue,
        segment_rows: raw.segment_rows,
    }
}
