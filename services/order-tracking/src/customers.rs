//! What order-tracking asks customer-registry (OT-2, OT-8): does the customer exist, is it
//! active, which tier is it, and what does that tier's service plan promise (CR-12). Calls
//! with a deadline; no answer means UNAVAILABLE.

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

    fn request<T>(&self, body: T) -> Result<tonic::Request<T>, LookupError> {
        Ok(tonic::Request::new(body))
    }

    pub async fn lookup(&self, customer_id: &str) -> Result<CustomerFacts, LookupError> {
        let request = self.request(cpb::GetCustomerRequest {
            customer_id: customer_id.to_owned(),
        })?;
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
        })
    }

    /// The promised delivery hours of a tier, from its service plan (CR-12).
    pub async fn promised_hours(&self, tier: &str) -> Result<u32, LookupError> {
        let tier = cpb::Tier::from_str_name(&format!("TIER_{}", tier.to_ascii_uppercase()))
            .unwrap_or_default();
        let request = self.request(cpb::GetServicePlanRequest { tier: tier as i32 })?;
        let plan = self
            .client
            .clone()
            .get_service_plan(request)
            .await
            .map_err(unavailable)?;
        Ok(u32::try_from(plan.into_inner().promised_delivery_hours).unwrap_or(0))
    }
}
