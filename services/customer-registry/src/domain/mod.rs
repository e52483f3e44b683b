//! customer-registry's rules, free of gRPC and SQL: the customer record (CR-1), its field
//! rules, tiers from facts (CR-2), masking (CR-9) and archiving (CR-11).

mod customer;
pub mod formats;
pub mod grade;
pub mod tier;
pub mod visits;

pub use customer::*;
