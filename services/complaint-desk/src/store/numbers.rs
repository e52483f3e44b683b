//! CD-1: case numbers, a sequence per local year. The sequence row is updated in the
//! registering transaction, so numbers are unique across replicas and a rolled-back
//! registration gives its number back.

use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

/// The next number of `year`, from 1.
pub async fn next<C: ConnectionTrait>(txn: &C, year: i32) -> Result<i64, DbErr> {
    let upsert = Query::insert()
        .into_table("case_numbers")
        .columns(["year", "last_number"])
        .values_panic([year.into(), 1i64.into()])
        .on_conflict(
            OnConflict::column("year")
                .value(
                    "last_number",
                    Expr::col(("case_numbers", "last_number")).add(1),
                )
                .to_owned(),
        )
        .returning_col("last_number")
        .to_owned();
    let row = txn
        .query_one(&upsert)
        .await?
        .ok_or_else(|| DbErr::Custom("case number sequence returned nothing".into()))?;
    row.try_get("", "last_number")
}

/// "TS-2026-000042".
pub fn format(prefix: &str, year: i32, number: i64) -> String {
    format!("{prefix}-{year}-{number:06}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn cd1_case_numbers_read_prefix_year_and_a_padded_sequence() {
        assert_eq!(super::format("TS", 2026, 42), "TS-2026-000042");
        assert_eq!(super::format("TS", 2026, 1_234_567), "TS-2026-1234567");
    }
}
