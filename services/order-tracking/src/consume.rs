//! The events order-tracking reads: customer-registry's CustomerCreated and CustomerUpdated
//! say who serves each customer (team, owner, visitor), which decides which agents see its
//! orders; CustomerErased empties the texts of the customer's orders (CR-11). Each event's
//! effect and the consumer's cursor commit together.

use kefu_platform::access::Stewards;
use kefu_platform::events::EventHandler;
use kefu_proto::common::Event;
use kefu_proto::customer as cpb;
use prost::Message as _;
use sea_orm::DatabaseTransaction;

use crate::domain::Order;
use crate::orders::Orders;
use crate::store;

/// The consumer's name, which keys its cursor and its lease.
pub const CUSTOMER_ACCESS: &str = "order-tracking.customer-access";
/// The producer whose events are read.
pub(crate) const CUSTOMER_REGISTRY: &str = "customer-registry";
pub(crate) const CUSTOMER_REGISTRY_GRPC: &str = "kefu.customer.v1.CustomerRegistryService";
/// The only events this consumer needs; the producer filters the rest out.
pub(crate) const TYPES: [&str; 3] = [
    "kefu.customer.v1.CustomerCreated",
    "kefu.customer.v1.CustomerUpdated",
    "kefu.customer.v1.CustomerErased",
];

/// Keeps who serves each customer and erases what an erased customer's orders say.
#[derive(Debug)]
pub(crate) struct CustomerEvents {
    pub(crate) orders: Orders,
    /// Orders the event being applied erased, for the hot store once that has committed.
    erased: std::sync::Mutex<Vec<Order>>,
}

impl CustomerEvents {
    pub(crate) fn new(orders: Orders) -> Self {
        Self {
            orders,
            erased: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn erased(&self) -> std::sync::MutexGuard<'_, Vec<Order>> {
        self.erased
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl EventHandler for CustomerEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        // What an attempt that rolled back erased is not the hot store's business.
        self.erased().clear();
        if event.r#type == "kefu.customer.v1.CustomerErased" {
            let erased = cpb::CustomerErased::decode(payload(event))?;
            let orders = self.orders.erase_customer(txn, &erased.customer_id).await?;
            *self.erased() = orders;
            return Ok(());
        }
        let Some((customer_id, stewards, version)) = stewards_of(event)? else {
            return Ok(());
        };
        store::customers::record(txn, &customer_id, &stewards, version).await?;
        Ok(())
    }

    async fn committed(&self, _event: &Event) {
        let erased = std::mem::take(&mut *self.erased());
        for order in &erased {
            self.orders.hot.put(order).await;
        }
    }
}

fn payload(event: &Event) -> &[u8] {
    event
        .payload
        .as_ref()
        .map_or(&[][..], |p| p.value.as_slice())
}

/// Who serves the customer an event is about, and as of which record version.
fn stewards_of(event: &Event) -> Result<Option<(String, Stewards, i64)>, prost::DecodeError> {
    let payload = payload(event);
    Ok(match event.r#type.as_str() {
        "kefu.customer.v1.CustomerCreated" => {
            let e = cpb::CustomerCreated::decode(payload)?;
            let stewards = Stewards {
                team_id: e.team_id,
                ..Default::default()
            };
            // A new record is at version 1.
            Some((e.customer_id, stewards, 1))
        }
        "kefu.customer.v1.CustomerUpdated" => {
            let e = cpb::CustomerUpdated::decode(payload)?;
            let stewards = Stewards {
                team_id: e.team_id,
                owner_id: e.owner_id,
                visitor_id: e.visitor_id,
            };
            Some((e.customer_id, stewards, e.version))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<M: prost::Message + prost::Name>(message: &M) -> Event {
        Event {
            r#type: M::full_name(),
            payload: Some(prost_types::Any {
                type_url: M::type_url(),
                value: message.encode_to_vec(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn customer_events_say_who_serves_the_customer_and_as_of_when() {
        let created = event(&cpb::CustomerCreated {
            customer_id: "c1".into(),
            team_id: "t1".into(),
            ..Default::default()
        });
        let (id, stewards, version) = stewards_of(&created).unwrap().unwrap();
        assert_eq!(
            (id.as_str(), stewards.team_id.as_str(), version),
            ("c1", "t1", 1)
        );
        let updated = event(&cpb::CustomerUpdated {
            customer_id: "c1".into(),
            version: 4,
            team_id: "t2".into(),
            owner_id: "a-1".into(),
            visitor_id: "s-7".into(),
            ..Default::default()
        });
        let (_, stewards, version) = stewards_of(&updated).unwrap().unwrap();
        assert_eq!(version, 4);
        assert_eq!(stewards.owner_id, "a-1");
        let other = event(&cpb::GradeChanged::default());
        assert!(stewards_of(&other).unwrap().is_none());
    }
}
