//! X-3's use case: customer-registry's business report of a local day or month.

use chrono::Utc;
use kefu_platform::report::{Report, Window, events_written};
use kefu_platform::time::Period;

use crate::domain::access::Viewer;
use crate::error::Result;
use crate::registry::Registry;
use crate::store;

impl Registry {
    /// New customers by kind, changes, archives and erasures, tier changes by the tier moved
    /// to, active customers by tier, visits made and urgent reports, and the customers whose
    /// visit was overdue at the window's end (or now, while it lasts).
    pub(crate) async fn business_report(
        &self,
        period: Option<Period>,
        label: &str,
    ) -> Result<Report> {
        let now = Utc::now();
        let window = Window::parse(period, label, self.rules.month_offset, now)?;
        let db = &self.db;
        let w = &window;
        let registered = store::report::registered_by_kind(db, w).await?;
        let changes = events_written(db, w, "kefu.customer.v1.CustomerUpdated").await?;
        let owners = events_written(db, w, "kefu.customer.v1.OwnerAssigned").await?;
        let grades = events_written(db, w, "kefu.customer.v1.GradeChanged").await?;
        let erased = events_written(db, w, "kefu.customer.v1.CustomerErased").await?;
        let archived = store::report::archived(db, w).await?;
        let tier_changes = store::report::tier_changes_by_tier(db, w).await?;
        let by_tier = store::report::active_by_tier(db, w).await?;
        let visits = store::report::visits_made(db, w).await?;
        let urgent = store::report::urgent_reports(db, w).await?;
        let overdue = self
            .overdue_at(&Viewer::everyone(), "", "", None, None, window.end.min(now))
            .await?
            .items
            .len();

        let mut report = Report::new(crate::SERVICE, window, now);
        report.counts("customers_registered", "kind", &registered);
        report.count("customer_changes", changes);
        report.count("owner_assignments", owners);
        report.count("grade_changes", grades);
        report.count("customers_archived", archived);
        report.count("customers_erased", erased);
        report.counts("tier_changes", "tier", &tier_changes);
        report.counts("active_customers", "tier", &by_tier);
        report.count("visits_made", visits);
        report.count("visits_overdue", overdue as i64);
        report.count("urgent_reports", urgent);
        Ok(report)
    }
}
