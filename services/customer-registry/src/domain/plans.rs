//! CR-12: what each tier gets, as data other services read (order-tracking's promised
//! delivery times, complaint-desk's response deadlines).

use super::Tier;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePlan {
    pub tier: Tier,
    pub services: Vec<String>,
    /// OT-8: promised door-to-door time of an order.
    pub promised_delivery_hours: u32,
    /// CD-3: first-response and resolution deadlines of a complaint, in business hours.
    pub first_response_hours: u32,
    pub resolution_hours: u32,
}
