//! Intake's use cases (OT-1 to OT-3, OT-8): an order from any channel, verified field by
//! field, its customer checked with customer-registry, priced from the rate table, and
//! promised a delivery time from its tier's service plan; and a quote without an order.

use chrono::{Duration, Utc};
use kefu_platform::error::{FieldViolation, Violations};
use kefu_platform::idempotency::{self, Claim};

use crate::domain::pricing;
use crate::domain::verify::{self, NewOrder};
use crate::domain::{
    CargoLine, Order, OrderState, PaymentStatus, Price, ServiceLevel, StateChange,
};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::orders::{Orders, Requester, Retry};
use kefu_directory::LookupError;

impl Orders {
    /// OT-1, OT-2, OT-3, OT-8: takes an order whose every field passes, for an active
    /// customer the caller may see. `unreadable` are the faults found decoding the request;
    /// they are reported with the rules' own, all at once.
    pub(crate) async fn create_order(
        &self,
        who: &Requester,
        draft: NewOrder,
        unreadable: Violations,
        retry: &Retry,
    ) -> Result<Order> {
        // A retry answers before customer-registry is asked again.
        if !retry.request_id.is_empty()
            && let Some(Claim::Replay(id)) = idempotency::find(
                &self.db,
                &who.idempotency_scope(),
                &retry.request_id,
                &retry.fingerprint,
            )
            .await?
        {
            return self.read(who, &String::from_utf8_lossy(&id)).await;
        }
        let now = Utc::now();
        let mut v = unreadable;
        v.absorb(verify::check_new_order(
            &draft,
            &self.rules.pricing.currency,
            now,
        ));
        let price = v.absorb(
            pricing::quote(
                &draft.lines,
                draft.distance_km,
                draft.service_level,
                &self.rules.pricing,
            )
            .map_err(|violations| under("order", violations)),
        );
        v.finish()?;
        let (Some(price), Some(channel), Some(origin), Some(destination)) =
            (price, draft.channel, draft.origin, draft.destination)
        else {
            return Err(invalid("order", "incomplete"));
        };
        let customer_id = draft.customer_id.trim().to_owned();
        let facts = match self.customers.lookup(&customer_id).await {
            Ok(facts) => facts,
            Err(LookupError::NotFound) => {
                return Err(invalid("order.customer_id", "no such customer"));
            }
            Err(LookupError::Unavailable(why)) => return Err(Error::CustomersUnavailable(why)),
        };
        let plan = match self.customers.plan(&facts.tier).await {
            Ok(plan) => plan,
            Err(e) => return Err(Error::CustomersUnavailable(e.to_string())),
        };
        if !who.viewer.reaches(Some(&facts.stewards)) {
            return Err(Error::PermissionDenied(format!(
                "customer {customer_id} is not yours to order for"
            )));
        }
        if !facts.active {
            return Err(Error::FailedPrecondition(format!(
                "customer {customer_id} is not active"
            )));
        }
        // OT-8 from CR-12: the tier's service plan says what is promised.
        let promised_at = now + Duration::hours(i64::from(plan.promised_delivery_hours));
        let order = Order {
            id: uuid::Uuid::now_v7().to_string(),
            customer_id,
            channel,
            state: OrderState::Received,
            lines: draft.lines,
            origin,
            destination,
            distance_km: draft.distance_km,
            service_level: price.service_level,
            price,
            payment_status: PaymentStatus::Unpaid,
            promised_at,
            pick_lines: vec![],
            packages: vec![],
            handover: None,
            exceptions: vec![],
            history: vec![StateChange {
                from: None,
                to: OrderState::Received,
                actor_id: who.subject.clone(),
                location: String::new(),
                note: format!("received by {}", channel.code()),
                at: now,
            }],
            original_order_id: String::new(),
            return_reason: None,
            created_at: now,
            updated_at: now,
            version: 1,
            tier: facts.tier.clone(),
            delay_raised: false,
        };
        let created = events::created(&order);
        self.insert_new(
            who,
            retry,
            order,
            vec![created],
            Some((&facts.stewards, facts.version)),
        )
        .await
    }

    /// OT-3: the price an order of `lines` would have.
    pub(crate) fn quote(
        &self,
        lines: &[CargoLine],
        distance_km: i32,
        level: Option<ServiceLevel>,
        unreadable: Violations,
    ) -> Result<Price> {
        let mut v = unreadable;
        verify::check_lines(
            &mut v,
            "lines",
            lines,
            &self.rules.pricing.currency,
            Utc::now(),
        );
        v.check(distance_km > 0, "distance_km", "more than 0");
        v.finish()?;
        Ok(pricing::quote(
            lines,
            distance_km,
            level,
            &self.rules.pricing,
        )?)
    }
}

/// Field violations of a part of the request, named under `prefix`.
fn under(prefix: &str, violations: Vec<FieldViolation>) -> Vec<FieldViolation> {
    violations
        .into_iter()
        .map(|f| FieldViolation {
            field: format!("{prefix}.{}", f.field),
            ..f
        })
        .collect()
}
