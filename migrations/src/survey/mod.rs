//! survey's own tables.

pub(crate) mod m0001_surveys;
