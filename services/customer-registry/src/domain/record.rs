//! CR-13: one timeline per customer of every interaction across the services. An entry says
//! what happened from ids, codes and amounts only: free text may hold personal data and stays
//! out (CR-9).

use chrono::{DateTime, Utc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordEntry {
    pub occurred_at: DateTime<Utc>,
    /// The producing service, e.g. "order-tracking".
    pub source: String,
    pub event_type: String,
    /// What it is about, e.g. "orders/...".
    pub subject: String,
    pub summary: String,
    /// The event's id in its producer's stream; entries sort by it.
    pub event_id: String,
}

/// "ORDER_STATE_IN_TRANSIT" -> "in transit": a code as words for a summary.
pub fn words(code: &str, prefix: &str) -> String {
    code.strip_prefix(prefix)
        .unwrap_or(code)
        .to_ascii_lowercase()
        .replace('_', " ")
}
