//! What order-tracking asks customer-registry (OT-2, OT-8): does the customer exist, is it
//! active, which tier is it, who serves it, and what does that tier's service plan promise
//! (CR-12). Calls with a deadline; no answer means UNAVAILABLE.

use kefu_platform::access::Stewards;
use kefu_platform::client::KefuChannel;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use tonic::Code;

/// What intake needs to know of a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerFacts {
    pub active: bool,
    /// Tier code as customer-registry stores it ("large", "government_a", ...).
    pub tier: String,
    /// The tier's promised door-to-door time (CR-12, OT-8).
    pub promised_delivery_hours: u32,
    /// Who serves the customer, and the record version that says so.
    pub stewards: Stewards,
    pub version: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no such customer")]
    NotFound,
    #[error("customer-registry unavailable: {0}")]
    Unavailable(String),
}

fn unavailable(status: tonic::Status) -> LookupError {
    LookupError::Unavailable(format!("{:?}: {}", status.code(), status.message()))
}

/// customer-registry, as order-tracking calls it: over a channel that carries
/// order-tracking's own service token and customer-registry's call deadline.
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
        let customer = match self.client.clone().get_customer(request).await {
            Ok(answer) => answer.into_inner(),
            Err(status) if status.code() == Code::NotFound => return Err(LookupError::NotFound),
            Err(status) => return Err(unavailable(status)),
        };
        let tier = customer
            .tier()
            .as_str_name()
            .strip_prefix("TIER_")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let promised_delivery_hours = self.promised_hours(&tier).await?;
        Ok(CustomerFacts {
            active: customer.state() == cpb::CustomerState::Active,
            tier,
            promised_delivery_hours,
            stewards: Stewards {
                team_id: customer.team_id,
                owner_id: customer.owner_id,
                visitor_id: customer.visitor_id,
            },
            version: customer.version,
        })
    }

    /// The promised delivery hours of a tier, from its service plan (CR-12).
    pub async fn promised_hours(&self, tier: &str) -> Result<u32, LookupError> {
        let tier = cpb::Tier::from_str_name(&format!("TIER_{}", tier.to_ascii_uppercase()))
            .unwrap_or_default();
        let request = tonic::Request::new(cpb::GetServicePlanRequest { tier: tier as i32 });
        let plan = self
            .client
            .clone()
            .get_service_plan(request)
            .await
            .map_err(unavailable)?;
        Ok(u32::try_from(plan.into_inner().promised_delivery_hours).unwrap_or(0))
    }
}
