//! What order-tracking's use cases share: the handles and the rules' settings, who asks, and
//! the one write path of an order (claim the request_id, lock the row, check who may change
//! it, apply the rule, bump the version, write row and events in one transaction, then the
//! hot store) with the one read path beside it. Every change of an order, a caller's or the
//! delay detector's, goes through [`Orders::change`].

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use kefu_directory::CustomerDirectory;
use kefu_platform::access::Viewer;
use kefu_platform::events::EventLog;
use kefu_platform::idempotency::{self, Begun};
use kefu_platform::paging;
use kefu_platform::pii::PiiCipher;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};

use crate::domain::pricing::RateTable;
use crate::domain::{Channel, Order, OrderState};
use crate::error::{Error, Result, invalid};
use crate::events::{Happened, OrderEvent};
use crate::store::hot::HotOrders;
use crate::store::{self, ListFilter};

/// The handles and settings every use case is built on. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Orders {
    pub(crate) db: DatabaseConnection,
    pub(crate) cipher: PiiCipher,
    pub(crate) log: EventLog,
    pub(crate) hot: HotOrders,
    pub(crate) customers: CustomerDirectory,
    pub(crate) rules: Arc<Rules>,
}

/// The rules' settings, read once at start.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) pricing: RateTable,
    /// Local time of reports (OT-10).
    pub(crate) report_offset: FixedOffset,
}

/// Who asks, through which RPC.
#[derive(Clone, Debug)]
pub(crate) struct Requester {
    pub(crate) subject: String,
    pub(crate) viewer: Viewer,
    pub(crate) rpc: &'static str,
}

impl Requester {
    /// Kefu itself, e.g. the delay detector: reaches every order.
    pub(crate) fn system(rpc: &'static str) -> Self {
        Self {
            subject: crate::domain::exceptions::SYSTEM.to_owned(),
            viewer: Viewer::everyone(),
            rpc,
        }
    }

    /// Where this caller's request_ids live: one caller's id never replays another's.
    pub(crate) fn idempotency_scope(&self) -> String {
        format!("{}:{}", self.rpc, self.subject)
    }
}

/// What a retried mutation is known by: its request_id (empty: none) and the fingerprint of
/// the rest of the request.
#[derive(Clone, Debug, Default)]
pub(crate) struct Retry {
    pub(crate) request_id: String,
    pub(crate) fingerprint: String,
}

/// A page of answers and the token of the next one (empty on the last).
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_page_token: String,
}

/// What a list of orders asks for.
#[derive(Debug, Default)]
pub(crate) struct OrderQuery {
    pub(crate) customer_id: Option<String>,
    pub(crate) state: Option<OrderState>,
    pub(crate) channel: Option<Channel>,
    pub(crate) page_size: u64,
    pub(crate) after_id: Option<String>,
}

impl Orders {
    /// AIP-211: an agent who may not see an order hears PERMISSION_DENIED whether or not it
    /// exists, so ids cannot be probed. An agent sees the orders of the customers its team
    /// serves, or that it owns or visits.
    pub(crate) async fn check_visible<C: ConnectionTrait>(
        &self,
        db: &C,
        who: &Requester,
        order_id: &str,
        order: Option<&Order>,
    ) -> Result<()> {
        let denied = || Error::PermissionDenied(format!("order {order_id} is not yours to see"));
        let Some(order) = order else {
            return Err(if who.viewer.restricted_to_own {
                denied()
            } else {
                Error::NotFound(format!("order {order_id}"))
            });
        };
        if !who.viewer.restricted_to_own {
            return Ok(());
        }
        let stewards = store::customers::stewards(db, &order.customer_id).await?;
        if who.viewer.reaches(stewards.as_ref()) {
            Ok(())
        } else {
            Err(denied())
        }
    }

    /// The order as the caller may see it: hot store first, then the database, refilling.
    pub(crate) async fn read(&self, who: &Requester, order_id: &str) -> Result<Order> {
        if order_id.is_empty() {
            return Err(invalid("order_id", "required"));
        }
        if let Some(order) = self.hot.get(order_id).await {
            self.check_visible(&self.db, who, order_id, Some(&order))
                .await?;
            return Ok(order);
        }
        let stored = store::get(&self.db, &self.cipher, order_id).await?;
        self.check_visible(&self.db, who, order_id, stored.as_ref())
            .await?;
        let Some(order) = stored else {
            return Err(Error::NotFound(format!("order {order_id}")));
        };
        let answer = order.masked();
        self.hot.put(&answer).await;
        Ok(answer)
    }

    /// Orders the caller may see, page by page.
    pub(crate) async fn list(&self, who: &Requester, query: OrderQuery) -> Result<Page<Order>> {
        let filter = ListFilter {
            viewer: who.viewer.clone(),
            customer_id: query.customer_id,
            state: query.state,
            channel: query.channel,
            after_id: query.after_id,
        };
        let rows = store::list(&self.db, &self.cipher, &filter, query.page_size + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, query.page_size, |o| &o.id);
        Ok(Page {
            items: rows.iter().map(Order::masked).collect(),
            next_page_token,
        })
    }

    /// One change to one order, the only way an order changes: claims the request_id, locks
    /// the row, checks the caller may see the order, lets `change` apply the rules, and,
    /// when something happened, bumps the version and writes row and events in one
    /// transaction, then offers the new state to the hot store. A change after which nothing
    /// happened writes nothing.
    pub(crate) async fn change<F>(
        &self,
        who: &Requester,
        retry: &Retry,
        order_id: &str,
        change: F,
    ) -> Result<Order>
    where
        F: FnOnce(&mut Order, DateTime<Utc>) -> Result<Vec<Happened>>,
    {
        if order_id.is_empty() {
            return Err(invalid("order_id", "required"));
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
            Begun::Replay(_) => return self.read(who, order_id).await,
        };
        let txn = &mutation.txn;
        let locked = store::lock(txn, &self.cipher, order_id).await?;
        self.check_visible(txn, who, order_id, locked.as_ref())
            .await?;
        let Some(mut order) = locked else {
            return Err(Error::NotFound(format!("order {order_id}")));
        };
        let now = Utc::now();
        let happened = change(&mut order, now)?;
        if happened.is_empty() {
            mutation.txn.rollback().await?;
            return Ok(order.masked());
        }
        order.version += 1;
        order.updated_at = now;
        store::update(txn, &self.cipher, &order).await?;
        for what in &happened {
            if let Happened::ExceptionRaised(exception) = what {
                store::insert_exception(txn, &self.cipher, exception).await?;
            }
            what.event(&order).append(txn, order_id).await?;
        }
        mutation.commit(order_id.as_bytes()).await?;
        self.log.committed();
        let answer = order.masked();
        self.hot.put(&answer).await;
        Ok(answer)
    }

    /// CR-11: empties the texts of every order of an erased customer, inside `txn` (the
    /// consumer's, which also moves its cursor); returns the changed orders as callers see
    /// them, for the hot store once `txn` has committed. Emits no event: others learn of the
    /// erasure from customer-registry.
    pub(crate) async fn erase_customer(
        &self,
        txn: &DatabaseTransaction,
        customer_id: &str,
    ) -> Result<Vec<Order>> {
        let mut erased = Vec::new();
        for id in store::of_customer(txn, customer_id).await? {
            let Some(mut order) = store::lock(txn, &self.cipher, &id).await? else {
                continue;
            };
            if !order.erase() {
                continue;
            }
            order.version += 1;
            order.updated_at = Utc::now();
            store::update(txn, &self.cipher, &order).await?;
            store::rewrite_descriptions(txn, &self.cipher, &order.exceptions).await?;
            erased.push(order.masked());
        }
        Ok(erased)
    }

    /// Writes a new order with its events, under the request_id's claim; a replay answers
    /// with the order the first request made.
    pub(crate) async fn insert_new(
        &self,
        who: &Requester,
        retry: &Retry,
        order: Order,
        events: Vec<OrderEvent>,
        stewards: Option<(&kefu_platform::access::Stewards, i64)>,
    ) -> Result<Order> {
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.read(who, &String::from_utf8_lossy(&id)).await,
        };
        let txn = &mutation.txn;
        store::insert(txn, &self.cipher, &order).await?;
        if let Some((stewards, version)) = stewards {
            store::customers::record(txn, &order.customer_id, stewards, version).await?;
        }
        for event in &events {
            event.append(txn, &order.id).await?;
        }
        mutation.commit(order.id.as_bytes()).await?;
        self.log.committed();
        tracing::info!(order_id = %order.id, channel = order.channel.code(), "order created");
        let answer = order.masked();
        self.hot.put(&answer).await;
        Ok(answer)
    }
}
