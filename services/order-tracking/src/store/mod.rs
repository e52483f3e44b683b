//! order-tracking's storage: an order as its sealed document (the contract's `Order` message)
//! plus the columns queries need; rows locked for each change; the exceptions table, their
//! descriptions sealed; the queries of the delay detector and the cycle-time report.
//! `customers` keeps who serves each customer, `hot` the hot state in Redis.

pub mod customers;
pub mod entity;
pub mod hot;
pub mod report;

use chrono::{DateTime, Utc};
use kefu_platform::access::Viewer;
use kefu_platform::pii::{PiiCipher, PiiError};
use kefu_platform::reseal::SealedColumn;
use kefu_proto::order as pb;
use prost::Message as _;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DbBackend, DbErr, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::domain::{Channel, ExceptionKind, Order, OrderException, OrderState};
use entity::{order_exceptions, orders};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error(transparent)]
    Pii(#[from] PiiError),
    #[error("stored order {id} is corrupt: {what}")]
    Corrupt { id: String, what: String },
}

/// each order's document, sealed whole (notes, locations, names and descriptions are
/// free text that may name people), as hex protobuf.
pub const SEALED_DOCUMENTS: SealedColumn = SealedColumn {
    table: "orders",
    id: "id",
    column: "document_ct",
    binding: document_binding,
};

/// The streets of orders written before documents were sealed whole; a row drops them when
/// it next changes.
pub const SEALED_STREETS: SealedColumn = SealedColumn {
    table: "orders",
    id: "id",
    column: "streets_ct",
    binding: streets_binding,
};

/// each exception's description, as its reporter wrote it.
pub const SEALED_DESCRIPTIONS: SealedColumn = SealedColumn {
    table: "order_exceptions",
    id: "id",
    column: "description",
    binding: description_binding,
};

/// Every column order-tracking seals, for the re-seal sweep.
pub const SEALED: [SealedColumn; 3] = [SEALED_DOCUMENTS, SEALED_STREETS, SEALED_DESCRIPTIONS];

/// What a sealed value is bound to: moved to another row or column, it does not open.
fn document_binding(id: &str) -> String {
    format!("orders/{id}/document")
}

fn streets_binding(id: &str) -> String {
    format!("orders/{id}/streets")
}

fn description_binding(id: &str) -> String {
    format!("order_exceptions/{id}/description")
}

/// Exception kinds and channels as stored (the contract's enum names, which rows hold).
fn kind_code(kind: ExceptionKind) -> &'static str {
    match kind {
        ExceptionKind::Damage => "EXCEPTION_KIND_DAMAGE",
        ExceptionKind::Loss => "EXCEPTION_KIND_LOSS",
        ExceptionKind::Delay => "EXCEPTION_KIND_DELAY",
        ExceptionKind::HandoverDispute => "EXCEPTION_KIND_HANDOVER_DISPUTE",
    }
}

fn channel_code(channel: Channel) -> &'static str {
    match channel {
        Channel::Counter => "CHANNEL_COUNTER",
        Channel::Phone => "CHANNEL_PHONE",
        Channel::Fax => "CHANNEL_FAX",
        Channel::Web => "CHANNEL_WEB",
        Channel::Email => "CHANNEL_EMAIL",
        Channel::Api => "CHANNEL_API",
    }
}

fn to_row(cipher: &PiiCipher, order: &Order) -> orders::ActiveModel {
    let document = pb::Order::from(order);
    orders::ActiveModel {
        id: Set(order.id.clone()),
        customer_id: Set(order.customer_id.clone()),
        channel: Set(channel_code(order.channel).to_owned()),
        state: Set(order.state.code().to_owned()),
        tier: Set(order.tier.clone()),
        service_level: Set(document.service_level().as_str_name().to_owned()),
        payment_status: Set(document.payment_status().as_str_name().to_owned()),
        total_fen: Set(order.price.total.minor_units),
        currency: Set(order.price.total.currency.clone()),
        promised_at: Set(order.promised_at),
        delivered_at: Set(order.delivered_at()),
        delay_raised: Set(order.delay_raised),
        original_order_id: Set(order.original_order_id.clone()),
        created_at: Set(order.created_at),
        updated_at: Set(order.updated_at),
        version: Set(order.version),
        document_ct: Set(SEALED_DOCUMENTS.seal(
            cipher,
            &order.id,
            &hex::encode(document.encode_to_vec()),
        )),
        // The streets are in the document now.
        streets_ct: Set(None),
    }
}

fn from_row(cipher: &PiiCipher, row: orders::Model) -> Result<Order, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt {
        id: row.id.clone(),
        what,
    };
    let hex = SEALED_DOCUMENTS.open(cipher, &row.id, &row.document_ct)?;
    let bytes = hex::decode(hex).map_err(|_| corrupt("document".into()))?;
    let mut document =
        pb::Order::decode(bytes.as_slice()).map_err(|_| corrupt("document".into()))?;
    if let Some(envelope) = &row.streets_ct {
        let json = SEALED_STREETS.open(cipher, &row.id, envelope)?;
        let streets: Vec<String> =
            serde_json::from_str(&json).map_err(|_| corrupt("streets".into()))?;
        for (place, street) in [document.origin.as_mut(), document.destination.as_mut()]
            .into_iter()
            .zip(streets)
        {
            if let Some(place) = place {
                place.street = street;
            }
        }
    }
    let mut order = Order::try_from(document).map_err(|e| corrupt(e.to_string()))?;
    order.tier = row.tier;
    order.delay_raised = row.delay_raised;
    Ok(order)
}

pub async fn insert<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    order: &Order,
) -> Result<(), StoreError> {
    orders::Entity::insert(to_row(cipher, order))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes many orders in multi-row statements, without events or customer access rows: the
/// bulk path `kefu bench` seeds stored orders with, never a caller's intake.
pub async fn insert_many<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    orders: &[Order],
) -> Result<(), StoreError> {
    // PostgreSQL takes at most 65,535 bound values in one statement; a row binds 18.
    for chunk in orders.chunks(2_000) {
        orders::Entity::insert_many(chunk.iter().map(|o| to_row(cipher, o)))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Reads an order and, on PostgreSQL, locks its row until the transaction ends, so that
/// concurrent changes to one order run one after another (SQLite has one writer anyway).
pub async fn lock<C: ConnectionTrait>(
    txn: &C,
    cipher: &PiiCipher,
    id: &str,
) -> Result<Option<Order>, StoreError> {
    let mut query = orders::Entity::find_by_id(id.to_owned());
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    match query.one(txn).await? {
        Some(row) => Ok(Some(from_row(cipher, row)?)),
        None => Ok(None),
    }
}

pub async fn get<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    id: &str,
) -> Result<Option<Order>, StoreError> {
    match orders::Entity::find_by_id(id.to_owned()).one(db).await? {
        Some(row) => Ok(Some(from_row(cipher, row)?)),
        None => Ok(None),
    }
}

/// Writes a locked order back; its version must already be the next one.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    order: &Order,
) -> Result<(), StoreError> {
    let result = orders::Entity::update_many()
        .set(to_row(cipher, order))
        .filter(orders::Column::Id.eq(order.id.as_str()))
        .filter(orders::Column::Version.eq(order.version - 1))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Err(StoreError::Database(DbErr::Custom(format!(
            "order {} was not at version {} (row lock missing?)",
            order.id,
            order.version - 1
        ))));
    }
    Ok(())
}

/// What a list of orders asks for.
#[derive(Debug)]
pub struct ListFilter {
    pub viewer: Viewer,
    pub customer_id: Option<String>,
    pub state: Option<OrderState>,
    pub channel: Option<Channel>,
    pub after_id: Option<String>,
}

/// Orders `filter.viewer` may see, in id order.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    filter: &ListFilter,
    limit: u64,
) -> Result<Vec<Order>, StoreError> {
    let mut query = orders::Entity::find()
        .order_by_asc(orders::Column::Id)
        .limit(limit);
    if let Some(customer) = &filter.customer_id {
        query = query.filter(orders::Column::CustomerId.eq(customer.as_str()));
    }
    if let Some(state) = filter.state {
        query = query.filter(orders::Column::State.eq(state.code()));
    }
    if let Some(channel) = filter.channel {
        query = query.filter(orders::Column::Channel.eq(channel_code(channel)));
    }
    if let Some(after) = &filter.after_id {
        query = query.filter(orders::Column::Id.gt(after.as_str()));
    }
    let viewer = &filter.viewer;
    if viewer.restricted_to_own {
        query = query.filter(customers::served_by(
            "customer_id",
            &viewer.subject,
            &viewer.team,
        ));
    }
    query
        .all(db)
        .await?
        .into_iter()
        .map(|row| from_row(cipher, row))
        .collect()
}

pub async fn insert_exception<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    exception: &OrderException,
) -> Result<(), StoreError> {
    let row = order_exceptions::ActiveModel {
        id: Set(exception.id.clone()),
        order_id: Set(exception.order_id.clone()),
        kind: Set(kind_code(exception.kind).to_owned()),
        description: Set(SEALED_DESCRIPTIONS.seal(cipher, &exception.id, &exception.description)),
        reporter_id: Set(exception.reporter_id.clone()),
        raised_at: Set(exception.raised_at),
    };
    order_exceptions::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// What a list of exceptions asks for.
#[derive(Debug)]
pub struct ExceptionFilter {
    pub viewer: Viewer,
    pub order_id: Option<String>,
    pub kind: Option<ExceptionKind>,
    pub after_id: Option<String>,
}

/// Exceptions of orders `filter.viewer` may see, in id order.
pub async fn list_exceptions<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    filter: &ExceptionFilter,
    limit: u64,
) -> Result<Vec<OrderException>, StoreError> {
    let mut query = order_exceptions::Entity::find()
        .order_by_asc(order_exceptions::Column::Id)
        .limit(limit);
    if let Some(order_id) = &filter.order_id {
        query = query.filter(order_exceptions::Column::OrderId.eq(order_id.as_str()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(order_exceptions::Column::Kind.eq(kind_code(kind)));
    }
    if let Some(after) = &filter.after_id {
        query = query.filter(order_exceptions::Column::Id.gt(after.as_str()));
    }
    let viewer = &filter.viewer;
    if viewer.restricted_to_own {
        let visible_orders = sea_orm::sea_query::Query::select()
            .column("id")
            .from("orders")
            .and_where(customers::served_by(
                "customer_id",
                &viewer.subject,
                &viewer.team,
            ))
            .to_owned();
        query = query.filter(Expr::col("order_id").in_subquery(visible_orders));
    }
    query
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            let kind = ExceptionKind::ALL
                .into_iter()
                .find(|k| kind_code(*k) == row.kind)
                .ok_or_else(|| StoreError::Corrupt {
                    id: row.id.clone(),
                    what: format!("exception kind {:?}", row.kind),
                })?;
            let description = SEALED_DESCRIPTIONS.open(cipher, &row.id, &row.description)?;
            Ok(OrderException {
                id: row.id,
                order_id: row.order_id,
                kind,
                description,
                reporter_id: row.reporter_id,
                raised_at: row.raised_at,
            })
        })
        .collect()
}

/// Orders whose promise has passed while they still await delivery, and that have no delay
/// exception yet (OT-8).
pub async fn overdue<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    let awaiting: Vec<&str> = OrderState::ALL
        .into_iter()
        .filter(|s| s.awaits_delivery())
        .map(OrderState::code)
        .collect();
    orders::Entity::find()
        .select_only()
        .column(orders::Column::Id)
        .filter(orders::Column::DelayRaised.eq(false))
        .filter(orders::Column::PromisedAt.lt(now))
        .filter(orders::Column::State.is_in(awaiting))
        .order_by_asc(orders::Column::PromisedAt)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await
}

/// One delivered order, as the cycle-time report reads it.
#[derive(Debug)]
pub struct DeliveredRow {
    pub channel: Channel,
    pub tier: String,
    pub received_at: DateTime<Utc>,
    pub delivered_at: DateTime<Utc>,
}

/// Orders received in [from, to) that reached DELIVERED.
pub async fn delivered<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DeliveredRow>, StoreError> {
    let rows = orders::Entity::find()
        .select_only()
        .columns([
            orders::Column::Id,
            orders::Column::Channel,
            orders::Column::Tier,
            orders::Column::CreatedAt,
            orders::Column::DeliveredAt,
        ])
        .filter(orders::Column::CreatedAt.gte(from))
        .filter(orders::Column::CreatedAt.lt(to))
        .filter(orders::Column::DeliveredAt.is_not_null())
        .into_tuple::<(String, String, String, DateTime<Utc>, Option<DateTime<Utc>>)>()
        .all(db)
        .await?;
    rows.into_iter()
        .filter_map(|(id, channel, tier, received_at, delivered)| {
            let delivered_at = delivered?;
            Some(
                Channel::ALL
                    .into_iter()
                    .find(|c| channel_code(*c) == channel)
                    .map(|channel| DeliveredRow {
                        channel,
                        tier,
                        received_at,
                        delivered_at,
                    })
                    .ok_or(StoreError::Corrupt {
                        id,
                        what: format!("channel {channel:?}"),
                    }),
            )
        })
        .collect()
}

/// Ids of the customer's orders, oldest id first.
pub async fn of_customer<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> Result<Vec<String>, DbErr> {
    orders::Entity::find()
        .select_only()
        .column(orders::Column::Id)
        .filter(orders::Column::CustomerId.eq(customer_id))
        .order_by_asc(orders::Column::Id)
        .into_tuple::<String>()
        .all(db)
        .await
}

/// Writes the descriptions of `exceptions` again, e.g. emptied by an erasure.
pub async fn rewrite_descriptions<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    exceptions: &[OrderException],
) -> Result<(), DbErr> {
    for exception in exceptions {
        order_exceptions::Entity::update_many()
            .col_expr(
                order_exceptions::Column::Description,
                Expr::value(SEALED_DESCRIPTIONS.seal(
                    cipher,
                    &exception.id,
                    &exception.description,
                )),
            )
            .filter(order_exceptions::Column::Id.eq(exception.id.as_str()))
            .exec(db)
            .await?;
    }
    Ok(())
}
