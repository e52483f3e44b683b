//! Exceptions' use cases (OT-7, OT-8): an exception a caller raises, the delay an order gets
//! by itself when its promise passes undelivered (exactly once, however many replicas look),
//! and the list of exceptions. Both kinds of raising take the one write path of an order.

use std::time::Duration;

use chrono::Utc;
use kefu_platform::paging;
use tokio_util::sync::CancellationToken;

use crate::domain::exceptions::Report;
use crate::domain::{ExceptionKind, OrderException};
use crate::error::{Error, Result};
use crate::events::Happened;
use crate::orders::{Orders, Page, Requester, Retry};
use crate::store::{self, ExceptionFilter};

/// Orders examined per pass of the detector; the next pass takes the rest.
const BATCH: u64 = 200;

impl Orders {
    /// OT-7: records an exception on the order (complaint-desk opens a case from its event).
    pub(crate) async fn raise_exception(
        &self,
        who: &Requester,
        order_id: &str,
        report: Report,
        retry: &Retry,
    ) -> Result<OrderException> {
        let mut raised = None;
        let order = self
            .change(who, retry, order_id, |order, now| {
                let exception =
                    order.raise_exception(&report, uuid::Uuid::now_v7().to_string(), now)?;
                raised = Some(exception.clone());
                Ok(vec![Happened::ExceptionRaised(exception)])
            })
            .await?;
        if let Some(exception) = raised {
            return Ok(exception);
        }
        // A replay: the newest exception of the kind asked for is the first call's.
        order
            .exceptions
            .iter()
            .rev()
            .find(|e| Some(e.kind) == report.kind)
            .cloned()
            .ok_or_else(|| Error::Internal("the replayed exception is missing".into()))
    }

    /// OT-8: raises the delay of every overdue order; how many this call raised. Under each
    /// order's row lock the rule is checked again, so of two replicas racing for one order
    /// exactly one raises.
    pub(crate) async fn raise_due_delays(&self) -> Result<usize> {
        let system = Requester::system("DelayDetector");
        let mut raised = 0;
        for order_id in store::overdue(&self.db, Utc::now(), BATCH).await? {
            let mut this_one = false;
            self.change(&system, &Retry::default(), &order_id, |order, now| {
                if !order.owes_a_delay(now) {
                    return Ok(vec![]);
                }
                let exception = order.raise_exception(
                    &Report::delay(),
                    uuid::Uuid::now_v7().to_string(),
                    now,
                )?;
                this_one = true;
                Ok(vec![Happened::ExceptionRaised(exception)])
            })
            .await?;
            if this_one {
                tracing::info!(order_id, "delay exception raised");
                raised += 1;
            }
        }
        Ok(raised)
    }

    /// Looks for overdue orders every `interval` until `stop`.
    pub(crate) async fn run_delay_detector(self, interval: Duration, stop: CancellationToken) {
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

    /// Exceptions of the orders the caller may see, of one order or of a kind.
    pub(crate) async fn list_exceptions(
        &self,
        who: &Requester,
        order_id: Option<String>,
        kind: Option<ExceptionKind>,
        page_size: u64,
        after_id: Option<String>,
    ) -> Result<Page<OrderException>> {
        if let Some(order_id) = &order_id {
            let order = store::get(&self.db, &self.cipher, order_id).await?;
            self.check_visible(&self.db, who, order_id, order.as_ref())
                .await?;
        }
        let filter = ExceptionFilter {
            viewer: who.viewer.clone(),
            order_id,
            kind,
            after_id,
        };
        let rows = store::list_exceptions(&self.db, &self.cipher, &filter, page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |e| &e.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }
}
