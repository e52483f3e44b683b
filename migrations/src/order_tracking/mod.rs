//! order-tracking's own tables.

pub(crate) mod m0001_orders;
