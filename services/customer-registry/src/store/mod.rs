//! customer-registry's storage: rows in and out of the domain's types, personal data sealed
//! on the way in and opened on the way out. This module keeps the customers; the others keep
//! tier facts and history, visits, rotations, the service record and the audit trail.

pub mod audit;
pub mod entity;
pub mod record;
pub mod report;
pub mod rotations;
pub mod staff;
pub mod tiers;
pub mod visits;

use chrono::Utc;
use kefu_platform::pii::{PiiCipher, PiiError};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};

use crate::domain::access::Viewer;
use crate::domain::{Customer, CustomerFields, GovernmentLevel, Grade, Kind, State, Tier};
use entity::customers;

/// Why a stored row could not become a customer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error(transparent)]
    Pii(#[from] PiiError),
    #[error("stored row {id} is corrupt: {what}")]
    Corrupt { id: String, what: String },
}

fn binding(id: &str, field: &str) -> String {
    format!("customers/{id}/{field}")
}

fn seal(cipher: &PiiCipher, id: &str, field: &str, value: &str) -> Option<String> {
    (!value.is_empty()).then(|| cipher.encrypt(&binding(id, field), value))
}

fn open(
    cipher: &PiiCipher,
    id: &str,
    field: &str,
    envelope: &Option<String>,
) -> Result<String, PiiError> {
    envelope.as_deref().map_or(Ok(String::new()), |e| {
        cipher.decrypt(&binding(id, field), e)
    })
}

fn seal_json<T: serde::Serialize>(
    cipher: &PiiCipher,
    id: &str,
    field: &str,
    items: &[T],
) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let json = serde_json::to_string(items).unwrap_or_default();
    Some(cipher.encrypt(&binding(id, field), &json))
}

/// The row for `customer`, personal data sealed to its row and field.
fn to_row(cipher: &PiiCipher, c: &Customer) -> customers::ActiveModel {
    let f = &c.fields;
    customers::ActiveModel {
        id: Set(c.id.clone()),
        kind: Set(c.kind.code().to_owned()),
        display_name: Set(f.display_name.clone()),
        state: Set(c.state.code().to_owned()),
        phone_ct: Set(seal(cipher, &c.id, "phone", &f.phone)),
        email_ct: Set(seal(cipher, &c.id, "email", &f.email)),
        id_number_ct: Set(seal(cipher, &c.id, "id_number", &f.id_number)),
        contacts_ct: Set(seal_json(cipher, &c.id, "contacts", &f.contacts)),
        addresses_ct: Set(seal_json(cipher, &c.id, "addresses", &f.addresses)),
        phone_hash: Set((!f.phone.is_empty()).then(|| cipher.lookup_hash(&f.phone))),
        registration_number: Set(f.registration_number.clone()),
        industry: Set(f.industry.clone()),
        needs: Set(f.needs.clone()),
        contract_json: Set(f
            .contract
            .as_ref()
            .map(|k| serde_json::to_string(k).unwrap_or_default())
            .unwrap_or_default()),
        government_level: Set(f
            .government_level
            .map(|l| l.code())
            .unwrap_or_default()
            .to_owned()),
        region: Set(f.region.clone()),
        tier: Set(c.tier.code().to_owned()),
        tier_overridden: Set(c.tier_overridden),
        grade: Set(c.grade.map(|g| g.code()).unwrap_or_default().to_owned()),
        owner_id: Set(c.owner_id.clone()),
        visitor_id: Set(c.visitor_id.clone()),
        team_id: Set(f.team_id.clone()),
        created_at: Set(c.created_at),
        updated_at: Set(c.updated_at),
        confirmed_at: Set(c.confirmed_at),
        archived_at: Set(c.archived_at),
        version: Set(c.version),
        archive_reason: Set(c.archive_reason.clone()),
        erasure_reference: Set(c.erasure_reference.clone()),
        owner_override_reason: Set(c.owner_override_reason.clone()),
    }
}

fn from_row(cipher: &PiiCipher, row: customers::Model) -> Result<Customer, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt {
        id: row.id.clone(),
        what: what.to_owned(),
    };
    let kind = Kind::from_code(&row.kind).ok_or_else(|| corrupt("kind"))?;
    let state = State::from_code(&row.state).ok_or_else(|| corrupt("state"))?;
    let tier = Tier::from_code(&row.tier).ok_or_else(|| corrupt("tier"))?;
    let government_level = match row.government_level.as_str() {
        "" => None,
        code => Some(GovernmentLevel::from_code(code).ok_or_else(|| corrupt("government_level"))?),
    };
    let grade = match row.grade.as_str() {
        "" => None,
        code => Some(Grade::from_code(code).ok_or_else(|| corrupt("grade"))?),
    };
    let contract = match row.contract_json.as_str() {
        "" => None,
        json => Some(serde_json::from_str(json).map_err(|_| corrupt("contract_json"))?),
    };
    let contacts = match open(cipher, &row.id, "contacts", &row.contacts_ct)?.as_str() {
        "" => Vec::new(),
        json => serde_json::from_str(json).map_err(|_| corrupt("contacts"))?,
    };
    let addresses = match open(cipher, &row.id, "addresses", &row.addresses_ct)?.as_str() {
        "" => Vec::new(),
        json => serde_json::from_str(json).map_err(|_| corrupt("addresses"))?,
    };
    Ok(Customer {
        fields: CustomerFields {
            kind: Some(kind),
            display_name: row.display_name,
            phone: open(cipher, &row.id, "phone", &row.phone_ct)?,
            email: open(cipher, &row.id, "email", &row.email_ct)?,
            id_number: open(cipher, &row.id, "id_number", &row.id_number_ct)?,
            registration_number: row.registration_number,
            contacts,
            addresses,
            industry: row.industry,
            needs: row.needs,
            contract,
            government_level,
            region: row.region,
            team_id: row.team_id,
        },
        id: row.id,
        kind,
        state,
        tier,
        tier_overridden: row.tier_overridden,
        grade,
        owner_id: row.owner_id,
        visitor_id: row.visitor_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
        confirmed_at: row.confirmed_at,
        archived_at: row.archived_at,
        version: row.version,
        archive_reason: row.archive_reason,
        erasure_reference: row.erasure_reference,
        owner_override_reason: row.owner_override_reason,
    })
}

pub async fn insert<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    customer: &Customer,
) -> Result<(), StoreError> {
    customers::Entity::insert(to_row(cipher, customer))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes `customer` over the stored row if that row is still at `expected_version`;
/// `false` when another change got there first.
pub async fn update_if_version<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    customer: &Customer,
    expected_version: i64,
) -> Result<bool, StoreError> {
    let result = customers::Entity::update_many()
        .set(to_row(cipher, customer))
        .filter(customers::Column::Id.eq(customer.id.as_str()))
        .filter(customers::Column::Version.eq(expected_version))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn get<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    id: &str,
) -> Result<Option<Customer>, StoreError> {
    match customers::Entity::find_by_id(id.to_owned()).one(db).await? {
        Some(row) => Ok(Some(from_row(cipher, row)?)),
        None => Ok(None),
    }
}

/// Filters of a list call.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub kind: Option<Kind>,
    pub tier: Option<Tier>,
    pub show_archived: bool,
    /// Customers after this id (the page token).
    pub after_id: Option<String>,
    /// CR-10: only records last confirmed before this time.
    pub confirmed_before: Option<chrono::DateTime<Utc>>,
    pub owner_id: Option<String>,
}

/// One page in id order (ids are time-ordered UUIDv7), restricted to what `viewer` may see.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    viewer: &Viewer,
    filter: &ListFilter,
    limit: u64,
) -> Result<Vec<Customer>, StoreError> {
    let mut query = customers::Entity::find()
        .order_by_asc(customers::Column::Id)
        .limit(limit);
    if let Some(kind) = filter.kind {
        query = query.filter(customers::Column::Kind.eq(kind.code()));
    }
    if let Some(tier) = filter.tier {
        query = query.filter(customers::Column::Tier.eq(tier.code()));
    }
    if !filter.show_archived {
        query = query.filter(customers::Column::State.eq(State::Active.code()));
    }
    if let Some(after) = &filter.after_id {
        query = query.filter(customers::Column::Id.gt(after.as_str()));
    }
    if let Some(before) = filter.confirmed_before {
        query = query.filter(customers::Column::ConfirmedAt.lt(before));
    }
    if let Some(owner) = &filter.owner_id {
        query = query.filter(customers::Column::OwnerId.eq(owner.as_str()));
    }
    if viewer.restricted_to_own {
        let mut own = Expr::col(customers::Column::OwnerId)
            .eq(viewer.subject.as_str())
            .or(Expr::col(customers::Column::VisitorId).eq(viewer.subject.as_str()));
        if !viewer.team.is_empty() {
            own = own.or(Expr::col(customers::Column::TeamId).eq(viewer.team.as_str()));
        }
        query = query.filter(own);
    }
    query
        .all(db)
        .await?
        .into_iter()
        .map(|row| from_row(cipher, row))
        .collect()
}

/// Customers whose own phone has this keyed hash (CR-9: lookup without plaintext).
pub async fn find_by_phone_hash<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    hash: &str,
    limit: u64,
) -> Result<Vec<Customer>, StoreError> {
    customers::Entity::find()
        .filter(customers::Column::PhoneHash.eq(hash))
        .order_by_asc(customers::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|row| from_row(cipher, row))
        .collect()
}
