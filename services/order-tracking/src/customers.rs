//! What order-tracking asks customer-registry (OT-2, OT-8): does the customer exist, is it
//! active, and which tier is it. One call with a deadline; no answer means UNAVAILABLE.

use kefu_platform::auth::{Role, TokenKeys};
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
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no such customer")]
    NotFound,
    #[error("customer-registry unavailable: {0}")]
    Unavailable(String),
}

/// customer-registry, as order-tracking calls it: with a service token of its own.
#[derive(Clone, Debug)]
pub struct CustomerDirectory {
    client: CustomerRegistryServiceClient<KefuChannel>,
    keys: TokenKeys,
}

impl CustomerDirectory {
    pub fn new(channel: KefuChannel, keys: TokenKeys) -> Self {
        Self {
            client: CustomerRegistryServiceClient::new(channel),
            keys,
        }
    }

    pub async fn lookup(&self, customer_id: &str) -> Result<CustomerFacts, LookupError> {
        let mut request = tonic::Request::new(cpb::GetCustomerRequest {
            customer_id: customer_id.to_owned(),
        });
        let token = self
            .keys
            .mint("order-tracking", Role::Service, &[], "", 300);
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|_| LookupError::Unavailable("service token not encodable".into()))?;
        request.metadata_mut().insert("authorization", bearer);
        match self.client.clone().get_customer(request).await {
            Ok(answer) => {
                let customer = answer.into_inner();
                let tier = customer
                    .tier()
                    .as_str_name()
                    .strip_prefix("TIER_")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                Ok(CustomerFacts {
                    active: customer.state() == cpb::CustomerState::Active,
                    tier,
                })
            }
            Err(status) if status.code() == Code::NotFound => Err(LookupError::NotFound),
            Err(status) => Err(LookupError::Unavailable(format!(
                "{:?}: {}",
                status.code(),
                status.message()
            ))),
        }
    }
}
