//! complaint-desk's storage: a case as its document (the domain's case as JSON) plus the
//! columns that lists, the clock pass and the analysis query need; rows locked for each
//! change. `numbers` keeps the case-number sequence, `volume` the order volume, `recurring`
//! the recurring causes, `knowledge` the knowledge base and its full-text index.

pub mod entity;
pub mod knowledge;
pub mod numbers;
pub mod recurring;
pub mod report;
pub mod volume;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, DbBackend, DbErr,
    EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use kefu_platform::pii::PiiCipher;
use kefu_platform::reseal::SealedColumn;

use crate::domain::access::CaseViewer;
use crate::domain::analysis::CaseFigures;
use crate::domain::{Case, CaseType, Category, RootCause, Source, State};
use entity::complaints;

pub use kefu_platform::rows::StoreError;

/// What is stored beside the case for queries: figures computed under the policy in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Derived {
    pub next_check_at: Option<DateTime<Utc>>,
    pub clock_policy: String,
    pub first_response_met: Option<bool>,
    pub resolution_met: Option<bool>,
    pub resolution_seconds: Option<i64>,
}

/// What a case's sealed document is bound to: moved to another row, it does not open.
pub fn document_binding(id: &str) -> String {
    format!("complaints/{id}/document")
}

/// a case's document (its summary, description, answers, notes: the customer's words and
/// the staff's) is sealed at rest; the columns beside it hold only ids, codes and figures.
pub const SEALED_DOCUMENTS: SealedColumn = SealedColumn {
    table: "complaints",
    id: "id",
    column: "document",
    binding: document_binding,
};

fn to_row(cipher: &PiiCipher, case: &Case, derived: &Derived) -> complaints::ActiveModel {
    complaints::ActiveModel {
        id: Set(case.id.clone()),
        case_number: Set(case.case_number.clone()),
        customer_id: Set(case.customer_id.clone()),
        order_id: Set(case.order_id.clone()),
        team_id: Set(case.team_id.clone()),
        assignee_id: Set(case.assignee_id.clone()),
        state: Set(case.state.code().to_owned()),
        case_type: Set(case.kind.code().to_owned()),
        category: Set(case.category.code().to_owned()),
        severity: Set(case.severity.code().to_owned()),
        tier: Set(case.tier.clone()),
        origin: Set(case.origin.code().to_owned()),
        root_cause: Set(case
            .investigation
            .as_ref()
            .map(|i| i.root_cause.code().to_owned())),
        source_key: Set(case.source.as_ref().map(Source::key)),
        created_at: Set(case.created_at),
        updated_at: Set(case.updated_at),
        closed_at: Set(case.closed_at),
        investigated_at: Set(case.investigation.as_ref().map(|i| i.at)),
        next_check_at: Set(derived.next_check_at),
        clock_policy: Set(derived.clock_policy.clone()),
        first_response_met: Set(derived.first_response_met),
        resolution_met: Set(derived.resolution_met),
        resolution_seconds: Set(derived.resolution_seconds),
        compensation_fen: Set(case
            .round
            .resolution
            .as_ref()
            .map_or(0, |r| r.compensation_fen)),
        reopen_count: Set(i32::try_from(case.previous_rounds.len()).unwrap_or(i32::MAX)),
        escalation_level: Set(i32::try_from(case.escalation_level()).unwrap_or(i32::MAX)),
        erased: Set(case.erased),
        version: Set(case.version),
        document: Set(SEALED_DOCUMENTS.seal(
            cipher,
            &case.id,
            &serde_json::to_string(case).unwrap_or_default(),
        )),
    }
}

fn from_row(cipher: &PiiCipher, row: complaints::Model) -> Result<Case, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt {
        id: format!("case {}", row.id),
        what,
    };
    let json = SEALED_DOCUMENTS
        .open(cipher, &row.id, &row.document)
        .map_err(|e| corrupt(format!("document does not open: {e}")))?;
    serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))
}

/// Writes a new case; `false` when a case of the same source exists already (nothing
/// written).
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    case: &Case,
    derived: &Derived,
) -> Result<bool, StoreError> {
    let inserted = complaints::Entity::insert(to_row(cipher, case, derived))
        .on_conflict(
            OnConflict::column(complaints::Column::SourceKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

/// Whether a case of `source` exists.
pub async fn has_source<C: ConnectionTrait>(db: &C, source: &Source) -> Result<bool, StoreError> {
    Ok(complaints::Entity::find()
        .select_only()
        .column(complaints::Column::Id)
        .filter(complaints::Column::SourceKey.eq(source.key()))
        .into_tuple::<String>()
        .one(db)
        .await?
        .is_some())
}

/// Reads a case by id, with what is stored beside it, and, on PostgreSQL, locks its row
/// until the transaction ends, so that changes to one case (a person's and the clock
/// pass's) run one after another.
pub async fn lock<C: ConnectionTrait>(
    txn: &C,
    cipher: &PiiCipher,
    id: &str,
) -> Result<Option<(Case, Derived)>, StoreError> {
    let mut query = complaints::Entity::find_by_id(id.to_owned());
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(txn).await? else {
        return Ok(None);
    };
    let derived = Derived {
        next_check_at: row.next_check_at,
        clock_policy: row.clock_policy.clone(),
        first_response_met: row.first_response_met,
        resolution_met: row.resolution_met,
        resolution_seconds: row.resolution_seconds,
    };
    Ok(Some((from_row(cipher, row)?, derived)))
}

/// A case by its id or its case number.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    id_or_number: &str,
) -> Result<Option<Case>, StoreError> {
    complaints::Entity::find()
        .filter(
            Condition::any()
                .add(complaints::Column::Id.eq(id_or_number))
                .add(complaints::Column::CaseNumber.eq(id_or_number)),
        )
        .one(db)
        .await?
        .map(|row| from_row(cipher, row))
        .transpose()
}

/// Writes a locked case back; its version must already be the next one.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    case: &Case,
    derived: &Derived,
) -> Result<(), StoreError> {
    let result = complaints::Entity::update_many()
        .set(to_row(cipher, case, derived))
        .filter(complaints::Column::Id.eq(case.id.as_str()))
        .filter(complaints::Column::Version.eq(case.version - 1))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Err(StoreError::Database(DbErr::Custom(format!(
            "case {} was not at version {} (row lock missing?)",
            case.id,
            case.version - 1
        ))));
    }
    Ok(())
}

/// Writes what is stored beside an unchanged case (the clock pass under a new policy).
pub async fn update_derived<C: ConnectionTrait>(
    db: &C,
    id: &str,
    derived: &Derived,
) -> Result<(), StoreError> {
    complaints::Entity::update_many()
        .col_expr(
            complaints::Column::NextCheckAt,
            Expr::value(derived.next_check_at),
        )
        .col_expr(
            complaints::Column::ClockPolicy,
            Expr::value(derived.clock_policy.clone()),
        )
        .col_expr(
            complaints::Column::FirstResponseMet,
            Expr::value(derived.first_response_met),
        )
        .col_expr(
            complaints::Column::ResolutionMet,
            Expr::value(derived.resolution_met),
        )
        .col_expr(
            complaints::Column::ResolutionSeconds,
            Expr::value(derived.resolution_seconds),
        )
        .filter(complaints::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The SQL form of [`CaseViewer::sees`].
fn visible_to(viewer: &CaseViewer) -> Option<Condition> {
    match viewer {
        CaseViewer::Everyone => None,
        CaseViewer::Restricted { subject, teams } => {
            let mut seen =
                Condition::any().add(complaints::Column::AssigneeId.eq(subject.as_str()));
            if !teams.is_empty() {
                seen = seen.add(complaints::Column::TeamId.is_in(teams.iter().map(String::as_str)));
            }
            Some(seen)
        }
    }
}

/// What a list of cases asks for.
#[derive(Debug)]
pub struct ListFilter {
    pub viewer: CaseViewer,
    pub customer_id: Option<String>,
    pub order_id: Option<String>,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub state: Option<State>,
    pub kind: Option<CaseType>,
    pub category: Option<Category>,
    pub root_cause: Option<RootCause>,
    pub created: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub after_id: Option<String>,
}

/// Cases `filter.viewer` may see, in id (registration) order.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    cipher: &PiiCipher,
    filter: &ListFilter,
    limit: u64,
) -> Result<Vec<Case>, StoreError> {
    use complaints::Column as C;
    let mut query = complaints::Entity::find().order_by_asc(C::Id).limit(limit);
    for (column, value) in [
        (C::CustomerId, &filter.customer_id),
        (C::OrderId, &filter.order_id),
        (C::AssigneeId, &filter.assignee_id),
        (C::TeamId, &filter.team_id),
    ] {
        if let Some(value) = value {
            query = query.filter(column.eq(value.as_str()));
        }
    }
    if let Some(state) = filter.state {
        query = query.filter(C::State.eq(state.code()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(C::CaseType.eq(kind.code()));
    }
    if let Some(category) = filter.category {
        query = query.filter(C::Category.eq(category.code()));
    }
    if let Some(cause) = filter.root_cause {
        query = query.filter(C::RootCause.eq(cause.code()));
    }
    if let Some((from, to)) = filter.created {
        query = query
            .filter(C::CreatedAt.gte(from))
            .filter(C::CreatedAt.lt(to));
    }
    if let Some(after) = &filter.after_id {
        query = query.filter(C::Id.gt(after.as_str()));
    }
    if let Some(seen) = visible_to(&filter.viewer) {
        query = query.filter(seen);
    }
    query
        .all(db)
        .await?
        .into_iter()
        .map(|row| from_row(cipher, row))
        .collect()
}

/// Open cases the clock pass must look at: something falls due by `now`, or their figures
/// were computed under another policy.
pub async fn due_for_check<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    policy: &str,
    limit: u64,
) -> Result<Vec<String>, StoreError> {
    use complaints::Column as C;
    let open: Vec<&str> = State::OPEN.iter().map(|s| s.code()).collect();
    let rows = complaints::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::State.is_in(open))
        .filter(
            Condition::any()
                .add(C::NextCheckAt.lte(now))
                .add(C::ClockPolicy.ne(policy)),
        )
        .order_by_asc(C::NextCheckAt)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await?;
    Ok(rows)
}

/// Ids of a customer's cases not yet erased.
pub async fn unerased_of_customer<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> Result<Vec<String>, StoreError> {
    use complaints::Column as C;
    Ok(complaints::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::CustomerId.eq(customer_id))
        .filter(C::Erased.eq(false))
        .into_tuple::<String>()
        .all(db)
        .await?)
}

/// What the analysis reads of the cases registered in `[from, to)`.
pub async fn figures<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    kind: Option<CaseType>,
) -> Result<Vec<CaseFigures>, StoreError> {
    use complaints::Column as C;
    let mut query = complaints::Entity::find()
        .filter(C::CreatedAt.gte(from))
        .filter(C::CreatedAt.lt(to));
    if let Some(kind) = kind {
        query = query.filter(C::CaseType.eq(kind.code()));
    }
    let corrupt = |id: &str, what: &str| StoreError::Corrupt {
        id: format!("case {id}"),
        what: format!("unknown {what}"),
    };
    // Columns only: the documents stay where they are.
    let rows = query
        .select_only()
        .columns([
            C::Id,
            C::CreatedAt,
            C::CaseType,
            C::Category,
            C::Tier,
            C::AssigneeId,
            C::State,
            C::FirstResponseMet,
            C::ResolutionMet,
            C::ResolutionSeconds,
            C::CompensationFen,
            C::ReopenCount,
            C::EscalationLevel,
            C::RootCause,
        ])
        .into_model::<FigureRow>()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(CaseFigures {
                created_at: r.created_at,
                kind: CaseType::from_code(&r.case_type).ok_or_else(|| corrupt(&r.id, "type"))?,
                category: Category::from_code(&r.category)
                    .ok_or_else(|| corrupt(&r.id, "category"))?,
                tier: r.tier,
                assignee_id: r.assignee_id,
                state: State::from_code(&r.state).ok_or_else(|| corrupt(&r.id, "state"))?,
                first_response_met: r.first_response_met,
                resolution_met: r.resolution_met,
                resolution_seconds: r.resolution_seconds,
                compensation_fen: r.compensation_fen,
                reopened: r.reopen_count > 0,
                escalated: r.escalation_level > 0,
                root_cause: r.root_cause.as_deref().and_then(RootCause::from_code),
            })
        })
        .collect()
}

/// The columns the analysis reads.
#[derive(Debug, sea_orm::FromQueryResult)]
struct FigureRow {
    id: String,
    created_at: DateTime<Utc>,
    case_type: String,
    category: String,
    tier: String,
    assignee_id: String,
    state: String,
    first_response_met: Option<bool>,
    resolution_met: Option<bool>,
    resolution_seconds: Option<i64>,
    compensation_fen: i64,
    reopen_count: i32,
    escalation_level: i32,
    root_cause: Option<String>,
}

/// Complaints whose investigation named `cause` in `[from, to)`, newest first.
pub async fn with_cause<C: ConnectionTrait>(
    db: &C,
    cause: RootCause,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<String>, StoreError> {
    use complaints::Column as C;
    Ok(complaints::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::RootCause.eq(cause.code()))
        .filter(C::CaseType.eq(CaseType::Complaint.code()))
        .filter(C::InvestigatedAt.gte(from))
        .filter(C::InvestigatedAt.lt(to))
        .order_by_desc(C::InvestigatedAt)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await?)
}

/// How many complaints named `cause` in `[from, to)`.
pub async fn count_with_cause<C: ConnectionTrait>(
    db: &C,
    cause: RootCause,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, StoreError> {
    use complaints::Column as C;
    let count = complaints::Entity::find()
        .select_only()
        .column_as(Expr::col(C::Id).count(), "n")
        .filter(C::RootCause.eq(cause.code()))
        .filter(C::CaseType.eq(CaseType::Complaint.code()))
        .filter(C::InvestigatedAt.gte(from))
        .filter(C::InvestigatedAt.lt(to))
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(count.unwrap_or(0))
}
