//! order-tracking's storage: the order document in and out of its row, streets sealed, rows
//! locked for each change, and the queries of the delay detector and the cycle-time report.

pub mod entity;

use chrono::{DateTime, Utc};
use kefu_platform::pii::{PiiCipher, PiiError};
use kefu_proto::order as pb;
use prost::Message as _;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DbBackend, DbErr, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::domain::OrderState;
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

/// An order as stored: the contract's document plus what only the store keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredOrder {
    /// Complete, streets included.
    pub order: pb::Order,
    /// The customer's tier code at intake.
    pub tier: String,
    pub delay_raised: bool,
}

impl StoredOrder {
    pub fn state(&self) -> Result<OrderState, StoreError> {
        state_from_proto(self.order.state()).ok_or_else(|| StoreError::Corrupt {
            id: self.order.id.clone(),
            what: "state".into(),
        })
    }
}

pub fn state_to_proto(state: OrderState) -> pb::OrderState {
    match state {
        OrderState::Received => pb::OrderState::Received,
        OrderState::Verified => pb::OrderState::Verified,
        OrderState::Picking => pb::OrderState::Picking,
        OrderState::Packed => pb::OrderState::Packed,
        OrderState::Dispatched => pb::OrderState::Dispatched,
        OrderState::InTransit => pb::OrderState::InTransit,
        OrderState::Arrived => pb::OrderState::Arrived,
        OrderState::OutForDelivery => pb::OrderState::OutForDelivery,
        OrderState::Delivered => pb::OrderState::Delivered,
        OrderState::Completed => pb::OrderState::Completed,
        OrderState::Cancelled => pb::OrderState::Cancelled,
    }
}

pub fn state_from_proto(state: pb::OrderState) -> Option<OrderState> {
    OrderState::ALL
        .into_iter()
        .find(|s| state_to_proto(*s) == state)
}

fn to_time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(crate::domain::verify::to_time)
}

/// What an order's sealed streets are bound to: moved to another row, they do not open.
pub(crate) fn streets_binding(id: &str) -> String {
    format!("orders/{id}/streets")
}

fn to_row(cipher: &PiiCipher, stored: &StoredOrder) -> Result<orders::ActiveModel, StoreError> {
    let mut document = stored.order.clone();
    let streets: Vec<String> = [document.origin.as_mut(), document.destination.as_mut()]
        .into_iter()
        .map(|place| {
            place
                .map(|p| std::mem::take(&mut p.street))
                .unwrap_or_default()
        })
        .collect();
    let streets_ct = if streets.iter().all(String::is_empty) {
        None
    } else {
        Some(cipher.encrypt(
            &streets_binding(&document.id),
            &serde_json::to_string(&streets).unwrap_or_default(),
        ))
    };
    let corrupt = |what: &str| StoreError::Corrupt {
        id: document.id.clone(),
        what: what.to_owned(),
    };
    let total = document
        .price
        .as_ref()
        .and_then(|p| p.total.clone())
        .unwrap_or_default();
    Ok(orders::ActiveModel {
        id: Set(document.id.clone()),
        customer_id: Set(document.customer_id.clone()),
        channel: Set(document.channel().as_str_name().to_owned()),
        state: Set(state_from_proto(document.state())
            .ok_or_else(|| corrupt("state"))?
            .code()
            .to_owned()),
        tier: Set(stored.tier.clone()),
        service_level: Set(document.service_level().as_str_name().to_owned()),
        payment_status: Set(document.payment_status().as_str_name().to_owned()),
        total_fen: Set(total.minor_units),
        currency: Set(total.currency_code),
        promised_at: Set(to_time(document.promised_delivery_time.as_ref())
            .ok_or_else(|| corrupt("promised_delivery_time"))?),
        delivered_at: Set(delivered_at(&document)),
        delay_raised: Set(stored.delay_raised),
        original_order_id: Set(document.original_order_id.clone()),
        created_at: Set(
            to_time(document.create_time.as_ref()).ok_or_else(|| corrupt("create_time"))?
        ),
        updated_at: Set(
            to_time(document.update_time.as_ref()).ok_or_else(|| corrupt("update_time"))?
        ),
        version: Set(document.version),
        streets_ct: Set(streets_ct),
        document: Set(document.encode_to_vec()),
    })
}

/// When the order reached DELIVERED, from its history.
fn delivered_at(order: &pb::Order) -> Option<DateTime<Utc>> {
    order
        .history
        .iter()
        .rev()
        .find(|c| c.to_state() == pb::OrderState::Delivered)
        .and_then(|c| to_time(c.change_time.as_ref()))
}

fn from_row(cipher: &PiiCipher, row: orders::Model) -> Result<StoredOrder, StoreError> {
    let mut order =
        pb::Order::decode(row.document.as_slice()).map_err(|_| StoreError::Corrupt {
            id: row.id.clone(),
            what: "document".into(),
        })?;
    if let Some(envelope) = &row.streets_ct {
        let json = cipher.decrypt(&streets_binding(&row.id), envelope)?;
        let streets: Vec<String> =
            serde_json::from_str(&json).map_err(|_| StoreError::Corrupt {
                id: row.id.clone(),
                what: "streets".into(),
            })?;
        for (place, street) in [order.origin.as_mut(), order.destination.as_mut()]
            .into_iter()
            .zip(streets)
        {
            if let Some(place) = place {
                place.street = street;
            }
        }
    }
    Ok(StoredOrder {
        order,
        tier: row.tier,
        delay_raised: row.delay_raised,
    })
}

pub async fn insert<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    stored: &StoredOrder,
) -> Result<(), StoreError> {
    orders::Entity::insert(to_row(cipher, stored)?)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Reads an order and, on PostgreSQL, locks its row until the transaction ends, so that
/// concurrent changes to one order run one after another (SQLite has one writer anyway).
pub async fn lock<C: ConnectionTrait>(
    txn: &C,
    cipher: &PiiCipher,
    id: &str,
) -> Result<Option<StoredOrder>, StoreError> {
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
) -> Result<Option<StoredOrder>, StoreError> {
    match orders::Entity::find_by_id(id.to_owned()).one(db).await? {
        Some(row) => Ok(Some(from_row(cipher, row)?)),
        None => Ok(None),
    }
}

/// Writes a locked order back; its version must already be the next one.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    stored: &StoredOrder,
) -> Result<(), StoreError> {
    let result = orders::Entity::update_many()
        .set(to_row(cipher, stored)?)
        .filter(orders::Column::Id.eq(stored.order.id.as_str()))
        .filter(orders::Column::Version.eq(stored.order.version - 1))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Err(StoreError::Database(DbErr::Custom(format!(
            "order {} was not at version {} (row lock missing?)",
            stored.order.id,
            stored.order.version - 1
        ))));
    }
    Ok(())
}

#[derive(Debug, Default)]
pub struct ListFilter {
    pub customer_id: Option<String>,
    pub state: Option<OrderState>,
    pub channel: Option<String>,
    pub after_id: Option<String>,
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    filter: &ListFilter,
    limit: u64,
) -> Result<Vec<StoredOrder>, StoreError> {
    let mut query = orders::Entity::find()
        .order_by_asc(orders::Column::Id)
        .limit(limit);
    if let Some(customer) = &filter.customer_id {
        query = query.filter(orders::Column::CustomerId.eq(customer.as_str()));
    }
    if let Some(state) = filter.state {
        query = query.filter(orders::Column::State.eq(state.code()));
    }
    if let Some(channel) = &filter.channel {
        query = query.filter(orders::Column::Channel.eq(channel.as_str()));
    }
    if let Some(after) = &filter.after_id {
        query = query.filter(orders::Column::Id.gt(after.as_str()));
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
    exception: &pb::OrderException,
) -> Result<(), StoreError> {
    let row = order_exceptions::ActiveModel {
        id: Set(exception.id.clone()),
        order_id: Set(exception.order_id.clone()),
        kind: Set(exception.kind().as_str_name().to_owned()),
        description: Set(exception.description.clone()),
        reporter_id: Set(exception.reporter_id.clone()),
        raised_at: Set(to_time(exception.raise_time.as_ref()).unwrap_or_else(Utc::now)),
    };
    order_exceptions::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn list_exceptions<C: ConnectionTrait>(
    db: &C,
    order_id: Option<&str>,
    kind: Option<pb::ExceptionKind>,
    after_id: Option<&str>,
    limit: u64,
) -> Result<Vec<pb::OrderException>, StoreError> {
    let mut query = order_exceptions::Entity::find()
        .order_by_asc(order_exceptions::Column::Id)
        .limit(limit);
    if let Some(order_id) = order_id {
        query = query.filter(order_exceptions::Column::OrderId.eq(order_id));
    }
    if let Some(kind) = kind {
        query = query.filter(order_exceptions::Column::Kind.eq(kind.as_str_name()));
    }
    if let Some(after) = after_id {
        query = query.filter(order_exceptions::Column::Id.gt(after));
    }
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .map(|row| pb::OrderException {
            kind: pb::ExceptionKind::from_str_name(&row.kind).unwrap_or_default() as i32,
            id: row.id,
            order_id: row.order_id,
            description: row.description,
            reporter_id: row.reporter_id,
            raise_time: Some(prost_types::Timestamp {
                seconds: row.raised_at.timestamp(),
                nanos: row.raised_at.timestamp_subsec_nanos() as i32,
            }),
        })
        .collect())
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
    let rows = orders::Entity::find()
        .select_only()
        .column(orders::Column::Id)
        .filter(orders::Column::DelayRaised.eq(false))
        .filter(orders::Column::PromisedAt.lt(now))
        .filter(orders::Column::State.is_in(awaiting))
        .order_by_asc(orders::Column::PromisedAt)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await?;
    Ok(rows)
}

/// Orders received in [from, to) that reached DELIVERED: channel, tier, received, delivered.
pub async fn delivered<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, String, DateTime<Utc>, DateTime<Utc>)>, DbErr> {
    let rows = orders::Entity::find()
        .select_only()
        .columns([
            orders::Column::Channel,
            orders::Column::Tier,
            orders::Column::CreatedAt,
            orders::Column::DeliveredAt,
        ])
        .filter(orders::Column::CreatedAt.gte(from))
        .filter(orders::Column::CreatedAt.lt(to))
        .filter(orders::Column::DeliveredAt.is_not_null())
        .into_tuple::<(String, String, DateTime<Utc>, Option<DateTime<Utc>>)>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(channel, tier, received, delivered)| {
            delivered.map(|d| (channel, tier, received, d))
        })
        .collect())
}
