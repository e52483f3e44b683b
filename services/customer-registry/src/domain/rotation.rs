//! CR-9 key rotation: re-sealing every customer's personal data under the active key, and its
//! progress.

use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationState {
    Running,
    Done,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRotation {
    pub id: String,
    pub target_key_id: String,
    pub state: RotationState,
    pub total_rows: i64,
    pub done_rows: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub error: String,
}
