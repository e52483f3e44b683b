//! staff-kpi's own tables.

pub(crate) mod m0001_staff;
pub(crate) mod m0002_fact_customers;
