//! customer-registry's own tables.

pub(crate) mod m0001_customers;
pub(crate) mod m0002_tiers;
pub(crate) mod m0003_visits;
pub(crate) mod m0004_monthly_reports;
pub(crate) mod m0005_key_rotations;
pub(crate) mod m0006_service_record;
pub(crate) mod m0007_record_texts;
pub(crate) mod m0008_staff_profiles;
