//! customer-registry, as other services ask it: does the customer exist, is it active, which
//! tier is it, who serves it, and what does a tier's service plan promise.

use kefu_platform::access::Stewards;
use kefu_platform::client::KefuChannel;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;

use crate::{LookupError, refused, unavailable};

/// What another service needs to know of a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerFacts {
    pub active: bool,
    /// Tier code as customer-registry stores it ("large", "government_a", ...).
    pub tier: String,
    /// Who serves the customer, and the record version that says so.
    pub stewards: Stewards,
    pub version: i64,
}

/// What a tier's service plan promises (CR-12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanFacts {
    /// Door-to-door time of an order (OT-8).
    pub promised_delivery_hours: u32,
    /// A complaint's deadlines, in business hours (CD-3).
    pub first_response_hours: u32,
    pub resolution_hours: u32,
}

/// customer-registry's client over a channel that carries the caller's service token.
#[derive(Clone, Debug)]
pub struct CustomerDirectory {
    client: CustomerRegistryServiceClient<KefuChannel>,
}

impl CustomerDirectory {
    pub fn new(channel: KefuChannel) -> Self {
        Self {
            client: CustomerRegistryServiceClient::new(channel),
        }
    }

    pub async fn lookup(&self, customer_id: &str) -> Result<CustomerFacts, LookupError> {
        let request = tonic::Request::new(cpb::GetCustomerRequest {
            customer_id: customer_id.to_owned(),
        });
        let customer = self
            .client
            .clone()
            .get_customer(request)
            .await
            .map_err(refused)?
            .into_inner();
        Ok(CustomerFacts {
            active: customer.state() == cpb::CustomerState::Active,
            tier: tier_code(customer.tier()),
            stewards: Stewards {
                team_id: customer.team_id,
                owner_id: customer.owner_id,
                visitor_id: customer.visitor_id,
            },
            version: customer.version,
        })
    }

    /// The service plan of a tier, by its code.
    pub async fn plan(&self, tier: &str) -> Result<PlanFacts, LookupError> {
        let request = tonic::Request::new(cpb::GetServicePlanRequest {
            tier: tier_from_code(tier) as i32,
        });
        let plan = self
            .client
            .clone()
            .get_service_plan(request)
            .await
            .map_err(unavailable)?
            .into_inner();
        let hours = |h: i32| u32::try_from(h).unwrap_or(0);
        Ok(PlanFacts {
            promised_delivery_hours: hours(plan.promised_delivery_hours),
            first_response_hours: hours(plan.first_response_hours),
            resolution_hours: hours(plan.resolution_hours),
        })
    }
}

/// "large" for `TIER_LARGE`; empty for unspecified.
pub fn tier_code(tier: cpb::Tier) -> String {
    tier.as_str_name()
        .strip_prefix("TIER_")
        .filter(|code| *code != "UNSPECIFIED")
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// `TIER_LARGE` for "large"; unspecified for a code the contract does not have.
pub fn tier_from_code(code: &str) -> cpb::Tier {
    cpb::Tier::from_str_name(&format!("TIER_{}", code.to_ascii_uppercase())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_codes_round_trip_and_unknown_is_unspecified() {
        for tier in [
            cpb::Tier::Large,
            cpb::Tier::GovernmentA,
            cpb::Tier::Frequent,
        ] {
            assert_eq!(tier_from_code(&tier_code(tier)), tier);
        }
        assert_eq!(tier_code(cpb::Tier::GovernmentA), "government_a");
        assert_eq!(tier_code(cpb::Tier::Unspecified), "");
        assert_eq!(tier_from_code("platinum"), cpb::Tier::Unspecified);
    }
}
