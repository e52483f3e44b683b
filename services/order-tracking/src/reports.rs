//! OT-10's use case: RECEIVED-to-DELIVERED times of the orders received in an interval, per
//! channel, tier and local period, with median and 90th percentile.

use chrono::{DateTime, Duration, Utc};
use kefu_platform::error::Violations;

use crate::domain::cycle_time::{self, Delivered, Period, Row};
use crate::error::{Result, invalid};
use crate::orders::Orders;
use crate::store;

/// The longest interval one report covers.
const MAX_DAYS: i64 = 400;

impl Orders {
    pub(crate) async fn cycle_time_report(
        &self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        period: Option<Period>,
    ) -> Result<Vec<Row>> {
        let mut v = Violations::new();
        v.check(start.is_some(), "interval.start_time", "required");
        v.check(end.is_some(), "interval.end_time", "required");
        if let (Some(s), Some(e)) = (start, end) {
            v.check(e > s, "interval.end_time", "must be after start_time");
            v.check(
                e - s <= Duration::days(MAX_DAYS),
                "interval",
                format!("at most {MAX_DAYS} days"),
            );
        }
        v.check(period.is_some(), "period", "required: day, week or month");
        v.finish()?;
        let (Some(start), Some(end), Some(period)) = (start, end, period) else {
            return Err(invalid("interval", "required"));
        };
        let delivered: Vec<Delivered> = store::delivered(&self.db, start, end)
            .await?
            .into_iter()
            .map(|r| Delivered {
                channel: r.channel,
                tier: r.tier,
                received_at: r.received_at,
                delivered_at: r.delivered_at,
            })
            .collect();
        Ok(cycle_time::summarize(
            &delivered,
            period,
            self.rules.report_offset,
        ))
    }
}
