//! CR-13's use case: a customer's service record, one timeline from this service's own events
//! (read where they already are, the outbox) and the other services' events kept for it by
//! the consumer, newest first.

use kefu_platform::paging;

use crate::domain::record::RecordEntry;
use crate::error::Result;
use crate::events::{self as event, subject};
use crate::registry::{Page, Registry, Requester};
use crate::store;

impl Registry {
    /// One page of the timeline of a customer the caller may see, resuming below the event
    /// id `before`.
    pub(crate) async fn service_record(
        &self,
        who: &Requester,
        customer_id: &str,
        page_size: u64,
        before: Option<String>,
    ) -> Result<Page<RecordEntry>> {
        self.load_visible(&self.db, who, customer_id).await?;
        let before = before.as_deref();
        // Each source gives at most one more than a page; the merge keeps the newest.
        let own = store::record::own_events(&self.db, &subject(customer_id), before, page_size + 1)
            .await?;
        let mut entries = store::record::kept(&self.db, customer_id, before, page_size + 1).await?;
        for row in own {
            let summary = event::summary(&row.event_type, &row.payload).unwrap_or_else(|e| {
                tracing::warn!(event_id = %row.event_id, error = %e, "undecodable own event");
                row.event_type.clone()
            });
            entries.push(RecordEntry {
                occurred_at: row.occurred_at,
                source: crate::SERVICE.to_owned(),
                event_type: row.event_type,
                subject: row.subject,
                summary,
                event_id: row.event_id,
            });
        }
        entries.sort_by(|a, b| b.event_id.cmp(&a.event_id));
        let (items, next_page_token) = paging::finish_page(entries, page_size, |e| &e.event_id);
        Ok(Page {
            items,
            next_page_token,
        })
    }
}
