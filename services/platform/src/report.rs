//! the one shape of every service's business report: a local day or month, and its
//! figures summed up by category, checked, counted and put on the wire the same way in all
//! five services.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use kefu_proto::common as pb;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Func, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbErr};

use crate::error::FieldViolation;
use crate::time::{Period, period_end, period_start, to_timestamp};

/// The local day or month a report covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub period: Period,
    /// "2026-11-28" or "2026-11".
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// The window of `period` (day or month) named `label`, in local time at `offset`; a
    /// period that has not begun by `now` is refused, since it has no figures yet.
    pub fn parse(
        period: Option<Period>,
        label: &str,
        offset: FixedOffset,
        now: DateTime<Utc>,
    ) -> Result<Window, Vec<FieldViolation>> {
        let refuse = |field: &str, description: &str| {
            Err(vec![FieldViolation {
                field: field.into(),
                description: description.into(),
            }])
        };
        let label = label.trim();
        let (period, day) = match period {
            Some(Period::Day) => (
                Period::Day,
                NaiveDate::parse_from_str(label, "%Y-%m-%d").ok(),
            ),
            Some(Period::Month) => (
                Period::Month,
                NaiveDate::parse_from_str(&format!("{label}-01"), "%Y-%m-%d")
                    .ok()
                    .filter(|_| label.len() == 7),
            ),
            _ => return refuse("period", "required: day or month"),
        };
        let Some(day) = day else {
            let form = match period {
                Period::Month => "a month as YYYY-MM",
                _ => "a day as YYYY-MM-DD",
            };
            return refuse("period_label", form);
        };
        let local_midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        let Some(start) = local_midnight
            .and_local_timezone(offset)
            .single()
            .map(|t| t.with_timezone(&Utc))
        else {
            return refuse("period_label", "not a time at the report's offset");
        };
        let start = period_start(start, period, offset);
        if start > now {
            return refuse("period_label", "has not begun yet");
        }
        Ok(Window {
            period,
            label: label.to_owned(),
            start,
            end: period_end(start, period, offset),
        })
    }
}

/// The period a request's `ReportPeriod` names; none for an unknown or unset one.
pub fn requested_period(period: i32) -> Option<Period> {
    match pb::ReportPeriod::try_from(period) {
        Ok(pb::ReportPeriod::Day) => Some(Period::Day),
        Ok(pb::ReportPeriod::Month) => Some(Period::Month),
        _ => None,
    }
}

/// One figure: `metric` of `group` ("" for the whole service, else "dimension=value").
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub group: String,
    pub metric: &'static str,
    pub value: f64,
}

/// A service's report for one window, its figures in the order they were added.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub source: &'static str,
    pub window: Window,
    pub figures: Vec<Figure>,
    pub generated_at: DateTime<Utc>,
}

impl Report {
    pub fn new(source: &'static str, window: Window, generated_at: DateTime<Utc>) -> Report {
        Report {
            source,
            window,
            figures: Vec::new(),
            generated_at,
        }
    }

    /// A figure of the whole service.
    pub fn total(&mut self, metric: &'static str, value: impl Into<f64>) {
        self.figures.push(Figure {
            group: String::new(),
            metric,
            value: value.into(),
        });
    }

    /// A count of the whole service.
    pub fn count(&mut self, metric: &'static str, n: i64) {
        // Counts stay far below 2^53, where f64 is exact.
        self.total(metric, n as f64);
    }

    /// A count in total and per value of `dimension` (e.g. orders per channel), groups in
    /// the given order.
    pub fn counts(&mut self, metric: &'static str, dimension: &str, rows: &[(String, i64)]) {
        self.count(metric, rows.iter().map(|(_, n)| n).sum());
        self.per(metric, dimension, rows);
    }

    /// A count per value of `dimension` only, for a total that is reported under another
    /// dimension already.
    pub fn per(&mut self, metric: &'static str, dimension: &str, rows: &[(String, i64)]) {
        for (key, n) in rows {
            self.figures.push(Figure {
                group: format!("{dimension}={key}"),
                metric,
                value: *n as f64,
            });
        }
    }

    /// `part / whole` as a share from 0 to 1; no figure at all when `whole` is zero, since a
    /// share of nothing is no data, not 0%.
    pub fn share(&mut self, metric: &'static str, part: i64, whole: i64) {
        if whole > 0 {
            self.total(metric, part as f64 / whole as f64);
        }
    }

    pub fn to_proto(&self) -> pb::BusinessReport {
        pb::BusinessReport {
            source: self.source.to_owned(),
            period: match self.window.period {
                Period::Month => pb::ReportPeriod::Month,
                _ => pb::ReportPeriod::Day,
            } as i32,
            period_label: self.window.label.clone(),
            interval: Some(pb::Interval {
                start_time: Some(to_timestamp(self.window.start)),
                end_time: Some(to_timestamp(self.window.end)),
            }),
            rows: self
                .figures
                .iter()
                .map(|f| pb::BusinessReportRow {
                    group: f.group.clone(),
                    metric: f.metric.to_owned(),
                    value: f.value,
                })
                .collect(),
            generate_time: Some(to_timestamp(self.generated_at)),
        }
    }
}

/// Rows of `table` whose `time_column` falls in the window and that match `only`, counted per
/// value of `group_column` (in value order), or in one row keyed "" without one.
pub async fn count<C: ConnectionTrait>(
    db: &C,
    table: &str,
    time_column: &str,
    window: &Window,
    group_column: Option<&str>,
    only: Option<SimpleExpr>,
) -> Result<Vec<(String, i64)>, DbErr> {
    let mut select = Query::select()
        .from(Alias::new(table))
        .expr_as(Func::count(Expr::val(1)), Alias::new("n"))
        .and_where(Expr::col(Alias::new(time_column)).gte(window.start))
        .and_where(Expr::col(Alias::new(time_column)).lt(window.end))
        .to_owned();
    if let Some(column) = group_column {
        select
            .expr_as(Expr::col(Alias::new(column)), Alias::new("k"))
            .group_by_col(Alias::new(column))
            .order_by(Alias::new(column), sea_orm::sea_query::Order::Asc);
    }
    if let Some(only) = only {
        select.and_where(only);
    }
    let rows = db.query_all(&select).await?;
    rows.into_iter()
        .map(|row| {
            let key = match group_column {
                Some(_) => row.try_get::<String>("", "k")?,
                None => String::new(),
            };
            Ok((key, row.try_get::<i64>("", "n")?))
        })
        .collect()
}

/// The one count of [`count`] without a group.
pub async fn count_all<C: ConnectionTrait>(
    db: &C,
    table: &str,
    time_column: &str,
    window: &Window,
    only: Option<SimpleExpr>,
) -> Result<i64, DbErr> {
    Ok(count(db, table, time_column, window, None, only)
        .await?
        .first()
        .map_or(0, |(_, n)| *n))
}

/// Events of `event_type` this service wrote in the window. The outbox keeps every event,
/// so a past period counts the same later.
pub async fn events_written<C: ConnectionTrait>(
    db: &C,
    window: &Window,
    event_type: &str,
) -> Result<i64, DbErr> {
    let only = Expr::col(Alias::new("event_type")).eq(event_type);
    count_all(db, "kefu_outbox", "occurred_at", window, Some(only)).await
}

/// The nearest-rank percentile (p in 1..=100) of sorted values; none of nothing.
pub fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-30T06:00:00Z".parse().unwrap()
    }

    #[test]
    fn x3_a_day_and_a_month_are_local() {
        let day = Window::parse(requested_period(1), "2026-11-28", shanghai(), now()).unwrap();
        assert_eq!(day.start.to_rfc3339(), "2026-11-27T16:00:00+00:00");
        assert_eq!(day.end.to_rfc3339(), "2026-11-28T16:00:00+00:00");
        let month = Window::parse(requested_period(2), " 2026-02 ", shanghai(), now()).unwrap();
        assert_eq!(month.label, "2026-02");
        assert_eq!(month.start.to_rfc3339(), "2026-01-31T16:00:00+00:00");
        assert_eq!(month.end.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        // The current day and month have begun: their figures so far.
        assert!(Window::parse(requested_period(1), "2026-11-30", shanghai(), now()).is_ok());
        assert!(Window::parse(requested_period(2), "2026-11", shanghai(), now()).is_ok());
    }

    #[test]
    fn x3_a_bad_or_future_period_is_refused_naming_the_field() {
        let field = |period, label: &str| {
            Window::parse(requested_period(period), label, shanghai(), now()).unwrap_err()[0]
                .field
                .clone()
        };
        assert_eq!(field(0, "2026-11-28"), "period");
        assert_eq!(field(7, "2026-11-28"), "period");
        assert_eq!(field(1, "2026-11"), "period_label");
        assert_eq!(field(2, "2026-11-28"), "period_label");
        assert_eq!(field(2, "2026-13"), "period_label");
        assert_eq!(field(1, "2026-02-30"), "period_label");
        assert_eq!(field(1, "2026-12-01"), "period_label");
        assert_eq!(field(2, "2026-12"), "period_label");
    }

    #[test]
    fn x3_a_share_of_nothing_is_no_figure() {
        let window = Window::parse(requested_period(1), "2026-11-28", shanghai(), now()).unwrap();
        let mut report = Report::new("test", window, now());
        report.share("on_time_share", 0, 0);
        assert!(report.figures.is_empty());
        report.share("on_time_share", 1, 4);
        report.counts(
            "orders",
            "channel",
            &[("phone".to_owned(), 3), ("web".to_owned(), 2)],
        );
        let wire = report.to_proto();
        assert_eq!(wire.rows.len(), 4);
        assert_eq!(wire.rows[0].value, 0.25);
        assert_eq!((wire.rows[1].group.as_str(), wire.rows[1].value), ("", 5.0));
        assert_eq!(wire.rows[2].group, "channel=phone");
        assert_eq!(wire.period, pb::ReportPeriod::Day as i32);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[5], 90), Some(5));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), Some(9));
    }
}
