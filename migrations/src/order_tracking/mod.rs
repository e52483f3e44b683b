//! order-tracking's own tables.

pub(crate) mod m0001_orders;
pub(crate) mod m0002_customer_access;
pub(crate) mod m0003_sealed_documents;
