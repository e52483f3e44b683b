//! CD-9: knowledge entries and their full-text index. Entries store their words already cut
//! (`domain::search`); PostgreSQL indexes them in a generated `tsvector` under a GIN index
//! (problem and keywords weigh A, the solution B) and ranks with `ts_rank`; SQLite keeps
//! them in an FTS5 table, written in the same transaction, and ranks with `bm25` (problem
//! and keywords weigh 3, the solution 1). A query's words are OR-ed: an entry with more of
//! them, rarer ones, or in its problem rather than its solution, ranks higher.

use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DbBackend, DbErr, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Statement, Value,
};

use super::StoreError;
use super::entity::knowledge_entries;
use crate::domain::Category;
use crate::domain::knowledge::{Entry, EntryState};

fn to_row(entry: &Entry) -> knowledge_entries::ActiveModel {
    let (problem, keywords, solution) = entry.search_texts();
    knowledge_entries::ActiveModel {
        id: Set(entry.id.clone()),
        state: Set(entry.state.code().to_owned()),
        category: Set(entry.category.code().to_owned()),
        author_id: Set(entry.author_id.clone()),
        created_at: Set(entry.created_at),
        updated_at: Set(entry.updated_at),
        version: Set(entry.version),
        document: Set(serde_json::to_string(entry).unwrap_or_default()),
        problem_words: Set(problem),
        keyword_words: Set(keywords),
        solution_words: Set(solution),
    }
}

fn from_row(row: &knowledge_entries::Model) -> Result<Entry, StoreError> {
    serde_json::from_str(&row.document).map_err(|e| StoreError::Corrupt {
        id: format!("knowledge entry {}", row.id),
        what: e.to_string(),
    })
}

/// SQLite's index is a table of its own, rewritten with the entry.
async fn reindex<C: ConnectionTrait>(db: &C, entry: &Entry) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let (problem, keywords, solution) = entry.search_texts();
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "DELETE FROM knowledge_fts WHERE entry_id = ?",
        [entry.id.clone().into()],
    ))
    .await?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "INSERT INTO knowledge_fts (entry_id, problem, keywords, solution) VALUES (?, ?, ?, ?)",
        [
            entry.id.clone().into(),
            problem.into(),
            keywords.into(),
            solution.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn insert<C: ConnectionTrait>(db: &C, entry: &Entry) -> Result<(), StoreError> {
    knowledge_entries::Entity::insert(to_row(entry))
        .exec_without_returning(db)
        .await?;
    reindex(db, entry).await?;
    Ok(())
}

/// Writes a locked entry back; its version must already be the next one.
pub async fn update<C: ConnectionTrait>(db: &C, entry: &Entry) -> Result<(), StoreError> {
    let result = knowledge_entries::Entity::update_many()
        .set(to_row(entry))
        .filter(knowledge_entries::Column::Id.eq(entry.id.as_str()))
        .filter(knowledge_entries::Column::Version.eq(entry.version - 1))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Err(StoreError::Database(DbErr::Custom(format!(
            "knowledge entry {} was not at version {}",
            entry.id,
            entry.version - 1
        ))));
    }
    reindex(db, entry).await?;
    Ok(())
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<Entry>, StoreError> {
    knowledge_entries::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn lock<C: ConnectionTrait>(txn: &C, id: &str) -> Result<Option<Entry>, StoreError> {
    let mut query = knowledge_entries::Entity::find_by_id(id.to_owned());
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query.one(txn).await?.as_ref().map(from_row).transpose()
}

/// Entries in id order, optionally of one state and category.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    state: Option<EntryState>,
    category: Option<Category>,
    after_id: Option<&str>,
    limit: u64,
) -> Result<Vec<Entry>, StoreError> {
    use knowledge_entries::Column as C;
    let mut query = knowledge_entries::Entity::find()
        .order_by_asc(C::Id)
        .limit(limit);
    if let Some(state) = state {
        query = query.filter(C::State.eq(state.code()));
    }
    if let Some(category) = category {
        query = query.filter(C::Category.eq(category.code()));
    }
    if let Some(after) = after_id {
        query = query.filter(C::Id.gt(after));
    }
    query.all(db).await?.iter().map(from_row).collect()
}

/// Published entries matching any of `words`, most relevant first, with their scores
/// (higher is better).
pub async fn search<C: ConnectionTrait>(
    db: &C,
    words: &[String],
    category: Option<Category>,
    offset: u64,
    limit: u64,
) -> Result<Vec<(Entry, f64)>, StoreError> {
    if words.is_empty() {
        return Ok(vec![]);
    }
    let backend = db.get_database_backend();
    let published = EntryState::Published.code();
    let mut values: Vec<Value> = Vec::new();
    let sql = match backend {
        DbBackend::Postgres => {
            // Words hold letters and digits only: nothing in them is tsquery syntax.
            values.push(words.join(" | ").into());
            values.push(published.into());
            let mut sql = String::from(
                "SELECT e.id, ts_rank(e.search_vector, q)::float8 AS score \
                 FROM knowledge_entries e, to_tsquery('simple', $1) q \
                 WHERE e.search_vector @@ q AND e.state = $2",
            );
            if let Some(category) = category {
                values.push(category.code().into());
                sql.push_str(" AND e.category = $3");
            }
            sql.push_str(&format!(
                " ORDER BY score DESC, e.id LIMIT {limit} OFFSET {offset}"
            ));
            sql
        }
        _ => {
            let query: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
            values.push(query.join(" OR ").into());
            values.push(published.into());
            let mut sql = String::from(
                "SELECT f.entry_id AS id, -bm25(knowledge_fts, 0.0, 3.0, 3.0, 1.0) AS score \
                 FROM knowledge_fts f JOIN knowledge_entries e ON e.id = f.entry_id \
                 WHERE knowledge_fts MATCH ? AND e.state = ?",
            );
            if let Some(category) = category {
                values.push(category.code().into());
                sql.push_str(" AND e.category = ?");
            }
            sql.push_str(&format!(
                " ORDER BY score DESC, e.id LIMIT {limit} OFFSET {offset}"
            ));
            sql
        }
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut ranked = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("", "id")?;
        let score: f64 = row.try_get("", "score")?;
        if let Some(entry) = get(db, &id).await? {
            ranked.push((entry, score));
        }
    }
    Ok(ranked)
}
