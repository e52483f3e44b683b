//! CD-9: the knowledge base. An agent proposes an entry from resolved cases it may see, a
//! supervisor publishes it, agents search the published ones while working new cases, and
//! an entry that no longer holds is retired. Edits name the version they read.

use chrono::Utc;
use kefu_platform::idempotency::{self, Begun};
use kefu_platform::paging;

use crate::cases::{Desk, Page, Requester, Retry};
use crate::domain::knowledge::{Entry, EntryFields, EntryState};
use crate::domain::{Category, Refusal, State, search};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store;

/// Search answers at most this many entries a page.
pub(crate) const MAX_SEARCH_PAGE: u64 = 50;

impl Desk {
    /// CD-9: a proposal from resolved cases.
    pub(crate) async fn propose_entry(
        &self,
        who: &Requester,
        retry: &Retry,
        fields: EntryFields,
        complaint_ids: Vec<String>,
    ) -> Result<Entry> {
        for (i, id) in complaint_ids.iter().enumerate() {
            let field = format!("knowledge_entry.complaint_ids[{i}]");
            let case = match self.read(who, id).await {
                Ok(case) => case,
                Err(Error::NotFound(_)) => return Err(invalid(&field, "no such case")),
                Err(e) => return Err(e),
            };
            if !matches!(case.state, State::Resolved | State::Closed) {
                return Err(invalid(
                    &field,
                    format!(
                        "case {} is {}: only resolved cases become knowledge",
                        case.case_number, case.state
                    ),
                ));
            }
        }
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.entry(&String::from_utf8_lossy(&id)).await,
        };
        let entry = Entry::propose(
            uuid::Uuid::now_v7().to_string(),
            fields,
            complaint_ids,
            &who.subject,
            Utc::now(),
        )?;
        store::knowledge::insert(&mutation.txn, &entry).await?;
        mutation.commit(entry.id.as_bytes()).await?;
        Ok(entry)
    }

    pub(crate) async fn entry(&self, id: &str) -> Result<Entry> {
        if id.trim().is_empty() {
            return Err(invalid("knowledge_entry_id", "required"));
        }
        store::knowledge::get(&self.db, id.trim())
            .await?
            .ok_or_else(|| Error::NotFound(format!("knowledge entry {id}")))
    }

    pub(crate) async fn entries(
        &self,
        state: Option<EntryState>,
        category: Option<Category>,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Entry>> {
        let rows =
            store::knowledge::list(&self.db, state, category, after.as_deref(), page_size + 1)
                .await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |e| &e.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// One change to one entry, under its row lock and the request_id's claim.
    async fn change_entry<F>(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        change: F,
    ) -> Result<Entry>
    where
        F: FnOnce(&mut Entry) -> Result<Option<bool>, Refusal>,
    {
        if id.trim().is_empty() {
            return Err(invalid("knowledge_entry_id", "required"));
        }
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(_) => return self.entry(id).await,
        };
        let txn = &mutation.txn;
        let Some(mut entry) = store::knowledge::lock(txn, id.trim()).await? else {
            return Err(Error::NotFound(format!("knowledge entry {id}")));
        };
        entry.check_version(expected_version)?;
        // Some(true): published, Some(false): retired, None: edited.
        let announced = change(&mut entry)?;
        entry.version += 1;
        store::knowledge::update(txn, &entry).await?;
        if let Some(published) = announced {
            events::entry_changed(txn, &entry, published, &who.subject).await?;
        }
        mutation.commit(entry.id.as_bytes()).await?;
        self.log.committed();
        Ok(entry)
    }

    pub(crate) async fn edit_entry(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        fields: EntryFields,
    ) -> Result<Entry> {
        self.change_entry(who, retry, id, expected_version, |entry| {
            entry
                .edit(fields, &who.subject, who.supervises, Utc::now())
                .map(|()| None)
        })
        .await
    }

    /// CD-9: a supervisor makes a proposal searchable.
    pub(crate) async fn publish_entry(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
    ) -> Result<Entry> {
        self.change_entry(who, retry, id, expected_version, |entry| {
            entry.publish(&who.subject, Utc::now()).map(|()| Some(true))
        })
        .await
    }

    pub(crate) async fn retire_entry(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
    ) -> Result<Entry> {
        self.change_entry(who, retry, id, expected_version, |entry| {
            entry.retire(Utc::now()).map(|()| Some(false))
        })
        .await
    }

    /// CD-9: published entries ranked by relevance to `query`; the page token is the offset.
    pub(crate) async fn search(
        &self,
        query: &str,
        category: Option<Category>,
        page_size: u64,
        offset: u64,
    ) -> Result<(Vec<(Entry, f64)>, Option<u64>)> {
        let words = search::words(query);
        if words.is_empty() {
            return Err(invalid(
                "query",
                "required: at least one word in Chinese or English",
            ));
        }
        let mut hits =
            store::knowledge::search(&self.db, &words, category, offset, page_size + 1).await?;
        let more = hits.len() as u64 > page_size;
        hits.truncate(page_size as usize);
        Ok((hits, more.then_some(offset + page_size)))
    }
}
