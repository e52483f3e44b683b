//! X-3's use case: staff-kpi's business report of a local day or month.

use chrono::Utc;
use kefu_platform::report::{Report, Window, events_written};
use kefu_platform::time::Period;

use crate::department::Department;
use crate::error::Result;
use crate::store::report as figures;

impl Department {
    /// People who joined (by role) and left, the active staff by role, facts received by
    /// source service, assessment revisions by cause and final grades, periods closed,
    /// disputes opened, decided and still open, rewards and penalties decided, conduct
    /// breaches.
    pub(crate) async fn business_report(
        &self,
        period: Option<Period>,
        label: &str,
    ) -> Result<Report> {
        let now = Utc::now();
        let window = Window::parse(period, label, self.rules.offset, now)?;
        let (db, w) = (&self.db, &window);
        let joined = figures::joined_by_role(db, w).await?;
        let left = figures::left(db, w).await?;
        let active = figures::active_by_role(db, w).await?;
        let facts = figures::facts_by_source(db, w).await?;
        let revisions = figures::revisions_by_cause(db, w).await?;
        let grades = figures::finals_by_grade(db, w).await?;
        let closed = figures::periods_closed(db, w).await?;
        let opened = figures::disputes_opened(db, w).await?;
        let decided = events_written(db, w, "kefu.staff.v1.DisputeDecided").await?;
        let open = figures::disputes_open(db, w).await?;
        let outcomes = figures::outcomes_by_state(db, w).await?;
        let breaches = figures::breaches(db, w).await?;

        let mut report = Report::new(crate::SERVICE, window, now);
        report.counts("staff_joined", "role", &joined);
        report.count("staff_left", left);
        report.counts("active_staff", "role", &active);
        report.counts("facts_received", "source", &facts);
        report.counts("assessment_revisions", "cause", &revisions);
        report.per("final_assessments", "grade", &grades);
        report.count("periods_closed", closed);
        report.count("disputes_opened", opened);
        report.count("disputes_decided", decided);
        report.count("disputes_open", open);
        report.counts("rewards_and_penalties", "state", &outcomes);
        report.count("conduct_breaches", breaches);
        Ok(report)
    }
}
