//! order-tracking, as other services ask it: does the order exist, and whose is it.

use kefu_platform::client::KefuChannel;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;

use crate::{LookupError, refused};

/// What another service needs to know of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderFacts {
    pub customer_id: String,
}

/// order-tracking's client over a channel that carries the caller's service token.
#[derive(Clone, Debug)]
pub struct OrderDirectory {
    client: OrderTrackingServiceClient<KefuChannel>,
}

impl OrderDirectory {
    pub fn new(channel: KefuChannel) -> Self {
        Self {
            client: OrderTrackingServiceClient::new(channel),
        }
    }

    pub async fn lookup(&self, order_id: &str) -> Result<OrderFacts, LookupError> {
        let request = tonic::Request::new(opb::GetOrderRequest {
            order_id: order_id.to_owned(),
        });
        let order = self
            .client
            .clone()
            .get_order(request)
            .await
            .map_err(refused)?
            .into_inner();
        Ok(OrderFacts {
            customer_id: order.customer_id,
        })
    }
}
