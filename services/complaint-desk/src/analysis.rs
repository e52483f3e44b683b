//! CD-7 and CD-10 as read: counts, rates and causes of the cases registered in an interval,
//! with the complaint rate against order volume; and the causes flagged for recurring, with
//! their cases.

use chrono::{DateTime, Utc};
use kefu_platform::paging;

use crate::cases::{Desk, Page};
use crate::domain::analysis::{self, Dimension, Group, Row};
use crate::domain::{CaseType, RootCause};
use crate::error::Result;
use crate::store;

/// The analysis as answered.
#[derive(Debug)]
pub(crate) struct Analysis {
    pub(crate) rows: Vec<(Group, Row)>,
    pub(crate) order_count: i64,
    pub(crate) complaint_count: i64,
    pub(crate) rate_per_mille: f64,
}

/// A flagged cause as answered: its current count and its cases.
#[derive(Debug)]
pub(crate) struct FlaggedCause {
    pub(crate) flag: store::recurring::Flag,
    pub(crate) complaint_ids: Vec<String>,
}

/// Cases of a flagged cause listed with it.
const CASES_PER_CAUSE: u64 = 100;

impl Desk {
    /// CD-7.
    pub(crate) async fn analyse(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        dimension: Dimension,
        kind: Option<CaseType>,
    ) -> Result<Analysis> {
        let cases = store::figures(&self.db, from, to, kind).await?;
        let volume = store::volume::hours(&self.db, from, to).await?;
        let offset = self.policy().calendar.offset();
        let rows = analysis::analyse(&cases, dimension, offset, &volume);
        let order_count = volume.iter().map(|(_, n)| n).sum();
        let complaint_count = cases
            .iter()
            .filter(|c| c.kind == CaseType::Complaint)
            .count() as i64;
        Ok(Analysis {
            rows,
            order_count,
            complaint_count,
            rate_per_mille: analysis::rate_per_mille(complaint_count, order_count),
        })
    }

    /// CD-10: flagged causes, newest period first, each with its count now and its cases.
    pub(crate) async fn flagged_causes(
        &self,
        interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<FlaggedCause>> {
        let after = after.as_deref().and_then(decode_cursor);
        let flags = store::recurring::flagged(&self.db, interval, after, page_size + 1).await?;
        let mut items = Vec::with_capacity(flags.len());
        for mut flag in flags {
            let (from, to) = (flag.period_start, flag.period_end);
            flag.occurrence_count =
                store::count_with_cause(&self.db, flag.root_cause, from, to).await?;
            let complaint_ids =
                store::with_cause(&self.db, flag.root_cause, from, to, CASES_PER_CAUSE).await?;
            items.push(FlaggedCause {
                flag,
                complaint_ids,
            });
        }
        let keyed: Vec<(String, FlaggedCause)> = items
            .into_iter()
            .map(|f| (encode_cursor(&f.flag), f))
            .collect();
        let (page, token) = paging::finish_page(keyed, page_size, |(cursor, _)| cursor);
        Ok(Page {
            items: page.into_iter().map(|(_, f)| f).collect(),
            next_page_token: token,
        })
    }
}

/// A flag's place in the listing, as a page token carries it.
fn encode_cursor(flag: &store::recurring::Flag) -> String {
    format!(
        "{}|{}",
        flag.period_start.timestamp_micros(),
        flag.root_cause.code()
    )
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, String)> {
    let (micros, cause) = cursor.split_once('|')?;
    let start = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    RootCause::from_code(cause)?;
    Some((start, cause.to_owned()))
}
