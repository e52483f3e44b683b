//! X-3's use case: complaint-desk's business report of a local day or month.

use chrono::Utc;
use kefu_platform::report::{Report, Window, events_written};
use kefu_platform::time::Period;

use crate::cases::Desk;
use crate::error::Result;
use crate::store;

impl Desk {
    /// Cases registered by type, category and origin; resolved, closed (by category),
    /// reopened; deadlines met, warned, breached and escalated; the complaint rate per 1,000
    /// orders order-tracking announced in the window.
    pub(crate) async fn business_report(
        &self,
        period: Option<Period>,
        label: &str,
    ) -> Result<Report> {
        let now = Utc::now();
        let window = Window::parse(period, label, self.policy().calendar.offset(), now)?;
        let (db, w) = (&self.db, &window);
        let by_type = store::report::registered_by(db, w, "case_type").await?;
        let by_category = store::report::registered_by(db, w, "category").await?;
        let by_origin = store::report::registered_by(db, w, "origin").await?;
        let closed = store::report::closed_by_category(db, w).await?;
        let first_response = store::report::deadline_met(db, w, "first_response_met").await?;
        let resolution = store::report::deadline_met(db, w, "resolution_met").await?;
        let orders: i64 = store::volume::hours(db, w.start, w.end)
            .await?
            .iter()
            .map(|(_, n)| n)
            .sum();
        let mut written = Vec::new();
        for (metric, event) in [
            ("cases_resolved", "ComplaintResolved"),
            ("cases_reopened", "ComplaintReopened"),
            ("deadline_warnings", "DeadlineWarning"),
            ("deadline_breaches", "DeadlineBreached"),
            ("escalations", "ComplaintEscalated"),
            ("recurring_causes_flagged", "RecurringCauseFlagged"),
        ] {
            let event = format!("kefu.complaint.v1.{event}");
            written.push((metric, events_written(db, w, &event).await?));
        }

        let mut report = Report::new(crate::SERVICE, window, now);
        report.counts("cases_registered", "type", &by_type);
        report.per("cases_registered", "category", &by_category);
        report.per("cases_registered", "origin", &by_origin);
        for (metric, n) in written {
            report.count(metric, n);
        }
        report.counts("cases_closed", "category", &closed);
        report.share(
            "first_response_on_time_share",
            first_response.0,
            first_response.1,
        );
        report.share("resolution_on_time_share", resolution.0, resolution.1);
        report.count("orders_seen", orders);
        let complaints = by_type
            .iter()
            .find(|(t, _)| t == "complaint")
            .map_or(0, |(_, n)| *n);
        if orders > 0 {
            report.total(
                "complaints_per_1000_orders",
                complaints as f64 * 1000.0 / orders as f64,
            );
        }
        Ok(report)
    }
}
