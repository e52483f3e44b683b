//! Tables every service's database carries: the outbox, idempotency records and consumer cursors.

pub(crate) mod m0001_event_log;
pub(crate) mod m0002_waiting_index;
