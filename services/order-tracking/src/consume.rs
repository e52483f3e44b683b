//! The events order-tracking reads: customer-registry's CustomerCreated and CustomerUpdated
//! say who serves each customer (team, owner, visitor), which decides which agents see its
//! orders. Each event's effect and the consumer's cursor commit together.

use kefu_platform::access::Stewards;
use kefu_platform::events::EventHandler;
use kefu_proto::common::Event;
use kefu_proto::customer as cpb;
use prost::Message as _;
use sea_orm::DatabaseTransaction;

use crate::store;

/// The consumer's name, which keys its cursor and its lease.
pub const CUSTOMER_ACCESS: &str = "order-tracking.customer-access";
/// The producer whose events are read.
pub(crate) const CUSTOMER_REGISTRY: &str = "customer-registry";
pub(crate) const CUSTOMER_REGISTRY_GRPC: &str = "kefu.customer.v1.CustomerRegistryService";
/// The only events this consumer needs; the producer filters the rest out.
pub(crate) const TYPES: [&str; 2] = [
    "kefu.customer.v1.CustomerCreated",
    "kefu.customer.v1.CustomerUpdated",
];

/// Keeps who serves each customer.
#[derive(Debug)]
pub(crate) struct CustomerAccess;

#[async_trait::async_trait]
impl EventHandler for CustomerAccess {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> anyhow::Result<()> {
        let Some((customer_id, stewards, version)) = stewards_of(event)? else {
            return Ok(());
        };
        store::customers::record(txn, &customer_id, &stewards, version).await?;
        Ok(())
    }
}

/// Who serves the customer an event is about, and as of which record version.
fn stewards_of(event: &Event) -> Result<Option<(String, Stewards, i64)>, prost::DecodeError> {
    let payload = event
        .payload
        .as_ref()
        .map_or(&[][..], |p| p.value.as_slice());
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
