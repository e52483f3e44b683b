//! survey's own tables.

pub(crate) mod m0001_surveys;
pub(crate) mod m0002_scheduled_trace;
