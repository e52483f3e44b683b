//! OT-8: an order still undelivered when its promise passes gets a `delay` exception by
//! itself, exactly once, however many replicas look at the same time.

use std::time::Duration;

use chrono::Utc;
use kefu_platform::events;
use kefu_proto::order as pb;
use tokio_util::sync::CancellationToken;

use crate::api::{OrderEvent, OrderTrackingApi, apply_exception, masked};
use crate::error::Result;
use crate::store;

/// Orders examined per pass; the next pass takes the rest.
const BATCH: u64 = 200;

impl OrderTrackingApi {
    /// Raises the delay exception of every overdue order; returns how many this call raised.
    pub async fn raise_due_delays(&self) -> Result<usize> {
        let mut raised = 0;
        for order_id in store::overdue(&self.db, Utc::now(), BATCH).await? {
            if self.raise_delay(&order_id).await? {
                raised += 1;
            }
        }
        Ok(raised)
    }

    /// Under the order's row lock, checks again that it is late and not yet flagged, so of
    /// two replicas racing for one order exactly one raises.
    async fn raise_delay(&self, order_id: &str) -> Result<bool> {
        use sea_orm::TransactionTrait as _;
        let txn = self.db.begin().await?;
        let Some(mut stored) = store::lock(&txn, &self.cipher, order_id).await? else {
            return Ok(false);
        };
        let promised = stored
            .order
            .promised_delivery_time
            .as_ref()
            .and_then(crate::domain::verify::to_time);
        let late = promised.is_some_and(|p| p < Utc::now());
        if stored.delay_raised || !late || !stored.state()?.awaits_delivery() {
            txn.rollback().await?;
            return Ok(false);
        }
        stored.delay_raised = true;
        let event = apply_exception(
            &mut stored,
            pb::ExceptionKind::Delay,
            "promised delivery time passed before delivery (OT-8)",
            "system",
        );
        stored.order.version += 1;
        stored.order.update_time = Some(crate::api::timestamp(Utc::now()));
        store::update(&txn, &self.cipher, &stored).await?;
        if let OrderEvent::Exception(raised) = &event {
            if let Some(exception) = &raised.exception {
                store::insert_exception(&txn, exception).await?;
            }
            events::append(&txn, &format!("orders/{order_id}"), raised).await?;
        }
        txn.commit().await?;
        self.log.committed();
        self.hot.put(&masked(&stored.order)).await;
        tracing::info!(order_id, "delay exception raised");
        Ok(true)
    }

    /// Looks for overdue orders every `interval` until `stop`.
    pub async fn run_delay_detector(self, interval: Duration, stop: CancellationToken) {
        loop {
            if let Err(e) = self.raise_due_delays().await {
                tracing::warn!(error = %e, "delay detection failed; retrying next pass");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}
