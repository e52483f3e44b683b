//! The customer record's use cases: registering (CR-1), reading and listing as the caller
//! may see it (CR-4, CR-9), changing fields, confirming (CR-10), assigning owner and visitor
//! (CR-4), archiving and erasing (CR-11), finding by phone and reading the audit trail (CR-9).
//! Each owns its transaction and writes its events with it.

use chrono::Utc;
use kefu_platform::events;
use kefu_platform::idempotency::Begun;
use kefu_platform::paging;

use crate::domain::access::{self, Viewer};
use crate::domain::secrecy::AuditRecord;
use crate::domain::stewardship::{Assignment, visitor_sales};
use crate::domain::{Customer, CustomerFields, Kind, Tier, formats};
use crate::error::{Error, Result, invalid};
use crate::events::{self as event, subject};
use crate::registry::{Page, Registry, Requester, Retry, Shown, row_number};
use crate::store::{self, ListFilter};

/// What a list of customers asks for.
#[derive(Debug, Default)]
pub(crate) struct CustomerQuery {
    pub(crate) kind: Option<Kind>,
    pub(crate) tier: Option<Tier>,
    pub(crate) show_archived: bool,
    pub(crate) page_size: u64,
    pub(crate) after_id: Option<String>,
}

/// What changing a customer's fields asks for.
#[derive(Debug)]
pub(crate) struct FieldChange {
    pub(crate) customer_id: String,
    pub(crate) fields: CustomerFields,
    /// The field paths to take from `fields`.
    pub(crate) paths: Vec<String>,
    /// 0: any version.
    pub(crate) expected_version: i64,
}

impl Registry {
    /// CR-1: registers a customer whose fields pass every rule; an agent files it for its
    /// own team (CR-4).
    pub(crate) async fn create_customer(
        &self,
        who: &Requester,
        mut fields: CustomerFields,
        retry: &Retry,
    ) -> Result<Shown> {
        fields.normalize_and_validate("customer")?;
        fields.team_id = access::team_for_new_customer(&who.viewer, &fields.team_id)?;
        let mutation = match self.begin(who, retry).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.replayed(who, &id).await,
        };
        let customer = Customer::new(uuid::Uuid::now_v7().to_string(), fields, Utc::now());
        store::insert(&mutation.txn, &self.cipher, &customer).await?;
        events::append(
            &mutation.txn,
            &subject(&customer.id),
            &event::customer_created(&customer),
        )
        .await?;
        self.commit(mutation, &customer.id).await?;
        tracing::info!(customer_id = %customer.id, kind = customer.kind.code(), "customer created");
        self.show_one(who, customer).await
    }

    pub(crate) async fn get_customer(&self, who: &Requester, id: &str) -> Result<Shown> {
        self.current(who, id).await
    }

    /// CR-1, CR-11: customers the caller may see, page by page; archived ones when asked.
    pub(crate) async fn list_customers(
        &self,
        who: &Requester,
        query: CustomerQuery,
    ) -> Result<Page<Shown>> {
        let filter = ListFilter {
            kind: query.kind,
            tier: query.tier,
            show_archived: query.show_archived,
            after_id: query.after_id,
            ..Default::default()
        };
        self.page_of(who, &filter, query.page_size).await
    }

    /// One page under `filter`: one extra row tells whether another page exists.
    async fn page_of(
        &self,
        who: &Requester,
        filter: &ListFilter,
        size: u64,
    ) -> Result<Page<Shown>> {
        let rows = store::list(&self.db, &self.cipher, &who.viewer, filter, size + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, size, |c| &c.id);
        Ok(Page {
            items: self.show(who, rows).await?,
            next_page_token,
        })
    }

    /// CR-1: changes the fields named, nothing else; an agent keeps the customer in its team.
    pub(crate) async fn update_customer(
        &self,
        who: &Requester,
        change: FieldChange,
        retry: &Retry,
    ) -> Result<Shown> {
        if change.customer_id.is_empty() {
            return Err(invalid("customer.id", "required"));
        }
        let mutation = match self.begin(who, retry).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.replayed(who, &id).await,
        };
        let txn = &mutation.txn;
        let current = self.load_visible(txn, who, &change.customer_id).await?;
        current.ensure_active()?;
        if change.expected_version != 0 && change.expected_version != current.version {
            return Err(Error::Aborted(format!(
                "customer {} is at version {}, not {}; read it again",
                current.id, current.version, change.expected_version
            )));
        }
        let mut fields = current.fields.clone();
        fields.merge_masked(change.fields, &change.paths)?;
        fields.normalize_and_validate("customer")?;
        access::check_team_change(&who.viewer, &current.fields.team_id, &fields.team_id)?;
        let changed = current.fields.changed_fields(&fields);
        if changed.is_empty() {
            mutation.txn.rollback().await?;
            return self.show_one(who, current).await;
        }
        let now = Utc::now();
        let mut updated = current.clone();
        let tier_change = updated.set_fields(fields, &who.subject, now);
        updated.touch(now);
        self.write_back(txn, &updated, current.version).await?;
        events::append(
            txn,
            &subject(&updated.id),
            &event::customer_updated(&updated, changed),
        )
        .await?;
        if let Some(change) = tier_change {
            self.record_tier_change(txn, &change).await?;
        }
        self.commit(mutation, &updated.id).await?;
        self.show_one(who, updated).await
    }

    /// CR-11: archives a customer who left, keeping the reason on the record.
    pub(crate) async fn archive_customer(
        &self,
        who: &Requester,
        customer_id: &str,
        reason: &str,
        retry: &Retry,
    ) -> Result<Shown> {
        let mutation = match self.begin(who, retry).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.replayed(who, &id).await,
        };
        let txn = &mutation.txn;
        let current = self.load_visible(txn, who, customer_id).await?;
        let mut archived = current.clone();
        archived.archive(reason, Utc::now())?;
        self.write_back(txn, &archived, current.version).await?;
        events::append(
            txn,
            &subject(&archived.id),
            &event::customer_archived(&archived),
        )
        .await?;
        self.commit(mutation, &archived.id).await?;
        self.show_one(who, archived).await
    }

    /// CR-11: a lawful erasure removes the personal data and keeps the anonymous record with
    /// the request's reference.
    pub(crate) async fn erase_customer(
        &self,
        who: &Requester,
        customer_id: &str,
        legal_reference: &str,
        retry: &Retry,
    ) -> Result<Shown> {
        let mutation = match self.begin(who, retry).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.replayed(who, &id).await,
        };
        let txn = &mutation.txn;
        let current = self.load_visible(txn, who, customer_id).await?;
        let mut erased = current.clone();
        erased.erase(legal_reference, Utc::now())?;
        self.write_back(txn, &erased, current.version).await?;
        events::append(txn, &subject(&erased.id), &event::customer_erased(&erased)).await?;
        self.commit(mutation, &erased.id).await?;
        tracing::info!(customer_id = %erased.id, "customer erased");
        kefu_platform::db::forget_overwritten(&self.db).await;
        self.show_one(who, erased).await
    }

    /// CR-10: the customer confirmed its record is up to date.
    pub(crate) async fn confirm_customer(
        &self,
        who: &Requester,
        customer_id: &str,
        retry: &Retry,
    ) -> Result<Shown> {
        self.change_bookkeeping(who, customer_id, retry, |customer, now| {
            customer.confirmed_at = now;
            Ok(Bookkeeping::Confirmed)
        })
        .await
    }

    /// CR-4: sets the owner and the visitor, under the local-salesperson rule.
    pub(crate) async fn assign_owner(
        &self,
        who: &Requester,
        customer_id: &str,
        assignment: &Assignment,
        retry: &Retry,
    ) -> Result<Shown> {
        // CR-4: where the visitor sells, from the organisation when it knows them.
        let known = store::staff::get(&self.db, assignment.visitor_id.trim()).await?;
        let assignment = &Assignment {
            visitor_sales: visitor_sales(assignment.visitor_sales.clone(), known.as_ref())?,
            ..assignment.clone()
        };
        self.change_bookkeeping(who, customer_id, retry, |customer, _| {
            let assigned = customer.assign(assignment)?;
            Ok(Bookkeeping::OwnerAssigned {
                overridden: assigned.overridden,
            })
        })
        .await
    }

    /// A change of an active customer's bookkeeping (not its fields): claims the request_id,
    /// applies `change`, and emits CustomerUpdated with the changed paths, plus OwnerAssigned
    /// for an assignment.
    async fn change_bookkeeping<F>(
        &self,
        who: &Requester,
        customer_id: &str,
        retry: &Retry,
        change: F,
    ) -> Result<Shown>
    where
        F: FnOnce(&mut Customer, chrono::DateTime<Utc>) -> Result<Bookkeeping>,
    {
        let mutation = match self.begin(who, retry).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.replayed(who, &id).await,
        };
        let txn = &mutation.txn;
        let current = self.load_visible(txn, who, customer_id).await?;
        current.ensure_active()?;
        let now = Utc::now();
        let mut updated = current.clone();
        let done = change(&mut updated, now)?;
        updated.touch(now);
        self.write_back(txn, &updated, current.version).await?;
        let subject = subject(&updated.id);
        let changed = match done {
            Bookkeeping::Confirmed => vec!["confirm_time".to_owned()],
            Bookkeeping::OwnerAssigned { .. } => {
                vec!["owner_id".to_owned(), "visitor_id".to_owned()]
            }
        };
        events::append(txn, &subject, &event::customer_updated(&updated, changed)).await?;
        if let Bookkeeping::OwnerAssigned { overridden } = done {
            events::append(txn, &subject, &event::owner_assigned(&updated, overridden)).await?;
        }
        self.commit(mutation, &updated.id).await?;
        self.show_one(who, updated).await
    }

    /// CR-10: records not confirmed within the freshness period.
    pub(crate) async fn list_stale(
        &self,
        who: &Requester,
        owner_id: Option<String>,
        page_size: u64,
        after_id: Option<String>,
    ) -> Result<Page<Shown>> {
        let filter = ListFilter {
            after_id,
            confirmed_before: Some(Utc::now() - self.rules.stale_after),
            owner_id,
            ..Default::default()
        };
        self.page_of(who, &filter, page_size).await
    }

    /// CR-9: customers whose phone is `phone`, found through the keyed hash, never by
    /// plaintext; only those the caller may see.
    pub(crate) async fn lookup_by_phone(&self, who: &Requester, phone: &str) -> Result<Vec<Shown>> {
        let normalized = formats::normalize_phone(phone)
            .ok_or_else(|| invalid("phone", "not a mainland phone number"))?;
        let hash = self.cipher.lookup_hash(&normalized);
        let found: Vec<Customer> = store::find_by_phone_hash(&self.db, &self.cipher, &hash, 50)
            .await?
            .into_iter()
            .filter(|c| c.visible_to(&who.viewer))
            .collect();
        self.show(who, found).await
    }

    /// CR-9: the trail of unmasked reads, newest first.
    pub(crate) async fn audit_records(
        &self,
        customer_id: Option<&str>,
        actor_id: Option<&str>,
        page_size: u64,
        before: Option<String>,
    ) -> Result<Page<AuditRecord>> {
        let before = before.map(|token| row_number(&token)).transpose()?;
        let rows =
            store::audit::list(&self.db, customer_id, actor_id, before, page_size + 1).await?;
        let keyed: Vec<(String, AuditRecord)> =
            rows.into_iter().map(|r| (r.id.to_string(), r)).collect();
        let (page, next_page_token) = paging::finish_page(keyed, page_size, |(id, _)| id.as_str());
        Ok(Page {
            items: page.into_iter().map(|(_, r)| r).collect(),
            next_page_token,
        })
    }

    /// Every active customer, for passes over all of them: one page after `after`.
    pub(crate) async fn all_active_after(
        &self,
        after: Option<String>,
        size: u64,
    ) -> Result<Vec<Customer>> {
        let filter = ListFilter {
            after_id: after,
            ..Default::default()
        };
        Ok(store::list(&self.db, &self.cipher, &Viewer::everyone(), &filter, size).await?)
    }
}

/// What a bookkeeping change did.
#[derive(Clone, Copy, Debug)]
enum Bookkeeping {
    /// CR-10.
    Confirmed,
    /// CR-4.
    OwnerAssigned { overridden: bool },
}
