//! OT-9's use case: a return order linked to a delivered original the caller may see, priced
//! and promised like any order.

use chrono::{Duration, Utc};
use kefu_platform::error::Violations;

use crate::domain::returns::{ReturnRequest, ReturnTerms};
use crate::domain::{Order, Refusal, ServiceLevel, pricing, verify};
use crate::error::{Error, Result};
use crate::events;
use crate::orders::{Orders, Requester, Retry};
use crate::store;

impl Orders {
    pub(crate) async fn create_return(
        &self,
        who: &Requester,
        request: ReturnRequest,
        unreadable: Violations,
        retry: &Retry,
    ) -> Result<Order> {
        // What could not be read and what the request lacks, reported together.
        let mut v = unreadable;
        match request.check() {
            Ok(()) => {}
            Err(Refusal::Invalid(violations)) => {
                v.absorb::<()>(Err(violations));
            }
            Err(other) => return Err(other.into()),
        }
        v.finish()?;
        let original_id = request.original_order_id.clone();
        let original = store::get(&self.db, &self.cipher, &original_id).await?;
        self.check_visible(&self.db, who, &original_id, original.as_ref())
            .await?;
        let Some(original) = original else {
            return Err(Error::NotFound(format!("order {original_id}")));
        };
        original.ensure_returnable()?;
        let now = Utc::now();
        verify::check_return(
            &original.lines,
            &request.lines,
            &self.rules.pricing.currency,
            now,
        )?;
        let price = pricing::quote(
            &request.lines,
            original.distance_km,
            Some(ServiceLevel::Standard),
            &self.rules.pricing,
        )?;
        let hours = match self.customers.plan(&original.tier).await {
            Ok(plan) => plan.promised_delivery_hours,
            Err(e) => return Err(Error::CustomersUnavailable(e.to_string())),
        };
        let reason = request.reason;
        let returned = original.new_return(
            request,
            ReturnTerms {
                id: uuid::Uuid::now_v7().to_string(),
                price,
                promised_at: now + Duration::hours(i64::from(hours)),
                actor: who.subject.clone(),
                now,
            },
        )?;
        let mut happened = vec![events::created(&returned)];
        if let Some(reason) = reason {
            happened.push(events::return_created(&returned, reason));
        }
        self.insert_new(who, retry, returned, happened, None).await
    }
}
