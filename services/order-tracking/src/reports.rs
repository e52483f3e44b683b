//! OT-10's use case: RECEIVED-to-DELIVERED times of the orders received in an interval, per
//! channel, tier and local period, with median and 90th percentile; and X-3's business report
//! of a local day or month.

use chrono::{DateTime, Duration, Utc};
use kefu_platform::error::Violations;
use kefu_platform::report::{Report, Window, percentile};

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

impl Orders {
    /// orders received by channel and by the state they are in now, returns, deliveries
    /// with the on-time share and cycle times (received to delivered), exceptions by kind.
    pub(crate) async fn business_report(
        &self,
        period: Option<Period>,
        label: &str,
    ) -> Result<Report> {
        let now = Utc::now();
        let window = Window::parse(period, label, self.rules.report_offset, now)?;
        let mut report = Report::new(crate::SERVICE, window, now);
        let window = &report.window.clone();
        let by_channel = store::report::received_by_channel(&self.db, window).await?;
        let by_state = store::report::received_by_state(&self.db, window).await?;
        let returns = store::report::returns_received(&self.db, window).await?;
        let exceptions = store::report::exceptions_by_kind(&self.db, window).await?;
        let deliveries = store::report::delivered_in(&self.db, window).await?;

        report.counts("orders_received", "channel", &by_channel);
        report.per("orders_received", "state", &by_state);
        report.count("returns_received", returns);
        report.count("orders_delivered", deliveries.len() as i64);
        let on_time = deliveries
            .iter()
            .filter(|d| d.delivered_at <= d.promised_at)
            .count();
        report.share(
            "delivered_on_time_share",
            on_time as i64,
            deliveries.len() as i64,
        );
        let mut seconds: Vec<i64> = deliveries
            .iter()
            .map(|d| (d.delivered_at - d.received_at).num_seconds().max(0))
            .collect();
        seconds.sort_unstable();
        for (metric, p) in [
            ("cycle_time_median_seconds", 50),
            ("cycle_time_p90_seconds", 90),
        ] {
            if let Some(s) = percentile(&seconds, p) {
                report.count(metric, s);
            }
        }
        report.counts("exceptions_raised", "kind", &exceptions);
        Ok(report)
    }
}
