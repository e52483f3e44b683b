//! Visits' use cases: customers overdue for a visit (CR-5), day-reports filed by visitors
//! (CR-6), a team's month compiled and submitted by its supervisor (CR-7), and urgent reports
//! raised at once (CR-8). Each change is written with its event.

use chrono::{DateTime, Utc};
use kefu_platform::events;
use kefu_platform::idempotency::Begun;
use kefu_platform::paging;
use sea_orm::TransactionTrait as _;

use crate::domain::access::Viewer;
use crate::domain::visits::{
    self, FiledVisitReport, MonthlyReport, OverdueVisit, UrgentReport, UrgentTrigger, VisitReport,
    month_bounds,
};
use crate::error::{Error, Result, invalid};
use crate::events::{self as event, subject};
use crate::registry::{Page, Registry, Requester, Retry};
use crate::store::{self, ListFilter, visits::VisitFilter};

/// Grades without a configured interval are visited at least this often.
const DEFAULT_INTERVAL_DAYS: u32 = 180;

/// What a list of day-reports asks for.
#[derive(Debug, Default)]
pub(crate) struct VisitQuery {
    pub(crate) customer_id: Option<String>,
    pub(crate) visitor_id: Option<String>,
    /// "2026-11".
    pub(crate) month: Option<String>,
    pub(crate) page_size: u64,
    pub(crate) after_id: Option<String>,
}

/// A monthly report with the day-reports it compiled.
#[derive(Clone, Debug)]
pub(crate) struct CompiledMonth {
    pub(crate) report: MonthlyReport,
    pub(crate) visits: Vec<FiledVisitReport>,
}

impl Registry {
    /// CR-5: how many days may pass between visits of a customer of `grade`.
    fn interval_days(&self, grade: crate::domain::Grade) -> u32 {
        self.rules
            .visit_interval_days
            .get(grade.code())
            .copied()
            .unwrap_or(DEFAULT_INTERVAL_DAYS)
    }

    /// CR-6: files a day-report on a customer the caller may see, with its six parts.
    pub(crate) async fn file_visit_report(
        &self,
        who: &Requester,
        mut report: VisitReport,
        retry: &Retry,
    ) -> Result<FiledVisitReport> {
        let now = Utc::now();
        report.normalize_and_validate("visit_report", now)?;
        let mutation = match self.begin(who, retry).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => {
                return self.visit_report(who, &String::from_utf8_lossy(&id)).await;
            }
        };
        let txn = &mutation.txn;
        let customer = self.load_visible(txn, who, &report.customer_id).await?;
        // CR-5: the date this visit was due by, for those who measure visits against the plan.
        let due = match (customer.grade, report.visit_time) {
            (Some(grade), Some(visit_time)) => {
                let days = self.interval_days(grade);
                let before = store::visits::last_visit(txn, &customer.id, Some(visit_time)).await?;
                Some(
                    before.unwrap_or(customer.created_at) + chrono::Duration::days(i64::from(days)),
                )
            }
            _ => None,
        };
        let visit = FiledVisitReport {
            id: uuid::Uuid::now_v7().to_string(),
            visitor_id: who.subject.clone(),
            created_at: now,
            report,
        };
        store::visits::insert_visit(txn, &visit).await?;
        events::append(
            txn,
            &subject(&visit.report.customer_id),
            &event::visit_filed(&visit, due),
        )
        .await?;
        self.commit(mutation, &visit.id).await?;
        Ok(visit)
    }

    /// A day-report, if the caller may see its customer.
    pub(crate) async fn visit_report(&self, who: &Requester, id: &str) -> Result<FiledVisitReport> {
        let visit = store::visits::get_visit(&self.db, id)
            .await?
            .ok_or_else(|| {
                Error::PermissionDenied(format!("visit report {id} is not yours to see"))
            })?;
        self.load_visible(&self.db, who, &visit.report.customer_id)
            .await?;
        Ok(visit)
    }

    /// CR-6: day-reports of a customer the caller may see, of a visitor, or of a month.
    pub(crate) async fn list_visit_reports(
        &self,
        who: &Requester,
        query: VisitQuery,
    ) -> Result<Page<FiledVisitReport>> {
        let between = match &query.month {
            None => None,
            Some(month) => Some(
                month_bounds(month, self.rules.month_offset)
                    .ok_or_else(|| invalid("month", "a month as YYYY-MM"))?,
            ),
        };
        if let Some(customer) = &query.customer_id {
            self.load_visible(&self.db, who, customer).await?;
        }
        let visitor_id =
            visits::visitor_filter(&who.viewer, query.customer_id.is_some(), query.visitor_id)?;
        let filter = VisitFilter {
            customer_id: query.customer_id,
            visitor_id,
            between,
            after_id: query.after_id,
        };
        let rows = store::visits::list_visits(&self.db, &filter, query.page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, query.page_size, |r| &r.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// CR-5: the customers `viewer` may see that are past their grade's visit interval, of a
    /// visitor or a team; stops after `limit` of them (with a token to go on) or at the end.
    pub(crate) async fn overdue_visits(
        &self,
        viewer: &Viewer,
        visitor_id: &str,
        team_id: &str,
        after_id: Option<String>,
        limit: Option<u64>,
    ) -> Result<Page<OverdueVisit>> {
        self.overdue_at(viewer, visitor_id, team_id, after_id, limit, Utc::now())
            .await
    }

    /// As [`Self::overdue_visits`], as things stood at `now`: customers registered by then,
    /// their last visit before then.
    pub(crate) async fn overdue_at(
        &self,
        viewer: &Viewer,
        visitor_id: &str,
        team_id: &str,
        after_id: Option<String>,
        limit: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Page<OverdueVisit>> {
        let mut filter = ListFilter {
            after_id,
            ..Default::default()
        };
        let mut overdue = Vec::new();
        loop {
            let page = store::list(&self.db, &self.cipher, viewer, &filter, 200).await?;
            let Some(last) = page.last().map(|c| c.id.clone()) else {
                return Ok(Page {
                    items: overdue,
                    next_page_token: String::new(),
                });
            };
            for customer in page {
                if (!visitor_id.is_empty() && customer.visitor_id != visitor_id)
                    || (!team_id.is_empty() && customer.fields.team_id != team_id)
                    || customer.created_at >= now
                {
                    continue;
                }
                let Some(grade) = customer.grade else {
                    continue;
                };
                let days = self.interval_days(grade);
                let last_visit =
                    store::visits::last_visit(&self.db, &customer.id, Some(now)).await?;
                if let Some(late) = visits::overdue(&customer, last_visit, days, now) {
                    overdue.push(late);
                    if limit.is_some_and(|l| overdue.len() as u64 == l) {
                        return Ok(Page {
                            items: overdue,
                            next_page_token: paging::encode_token(&customer.id),
                        });
                    }
                }
            }
            filter.after_id = Some(last);
        }
    }

    /// CR-7: compiles a team's month of day-reports into a draft (again until submitted).
    pub(crate) async fn generate_monthly_report(
        &self,
        team_id: &str,
        month: &str,
    ) -> Result<CompiledMonth> {
        let team = team_id.trim();
        let bounds = month_bounds(month, self.rules.month_offset);
        let mut violations = kefu_platform::error::Violations::new();
        violations.check(!team.is_empty(), "team_id", "required: whose visits");
        violations.check(bounds.is_some(), "month", "a month as YYYY-MM");
        violations.finish()?;
        let Some((start, end)) = bounds else {
            return Err(invalid("month", "a month as YYYY-MM"));
        };
        let existing = store::visits::monthly_of(&self.db, team, month).await?;
        let day_reports = store::visits::team_visits(&self.db, team, start, end).await?;
        let overdue = self
            .overdue_visits(&Viewer::everyone(), "", team, None, None)
            .await?;
        let report = MonthlyReport::compile(
            existing,
            || uuid::Uuid::now_v7().to_string(),
            team,
            month,
            &day_reports,
            overdue.items.len(),
            Utc::now(),
        )?;
        store::visits::save_monthly(&self.db, &report).await?;
        Ok(CompiledMonth {
            report,
            visits: day_reports,
        })
    }

    /// A monthly report with its day-reports.
    pub(crate) async fn monthly_report(&self, id: &str) -> Result<CompiledMonth> {
        let report = store::visits::monthly(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("monthly report {id}")))?;
        let mut visits = Vec::new();
        for visit_id in &report.visit_report_ids {
            if let Some(visit) = store::visits::get_visit(&self.db, visit_id).await? {
                visits.push(visit);
            }
        }
        Ok(CompiledMonth { report, visits })
    }

    /// CR-7: the supervisor's review; the report goes to the manager (MonthlyReportSubmitted).
    pub(crate) async fn submit_monthly_report(
        &self,
        who: &Requester,
        id: &str,
        summary: &str,
    ) -> Result<CompiledMonth> {
        let txn = self.db.begin().await?;
        let mut report = store::visits::monthly(&txn, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("monthly report {id}")))?;
        report.submit(&who.subject, summary, Utc::now())?;
        store::visits::save_monthly(&txn, &report).await?;
        events::append(
            &txn,
            &format!("monthly-reports/{}", report.id),
            &event::monthly_submitted(&report),
        )
        .await?;
        txn.commit().await?;
        self.log.committed();
        self.monthly_report(&report.id).await
    }

    /// CR-8: raised at once to the manager; other systems see it on the stream.
    pub(crate) async fn raise_urgent_report(
        &self,
        who: &Requester,
        customer_id: &str,
        trigger: Option<UrgentTrigger>,
        description: &str,
        retry: &Retry,
    ) -> Result<UrgentReport> {
        visits::check_urgent_report(trigger, description)?;
        let Some(trigger) = trigger else {
            return Err(invalid("urgent_report.trigger", "required"));
        };
        let mutation = match self.begin(who, retry).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => {
                let id = String::from_utf8_lossy(&id).into_owned();
                return store::visits::get_urgent(&self.db, &id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("urgent report {id}")));
            }
        };
        let txn = &mutation.txn;
        let customer_id = customer_id.trim().to_owned();
        if !customer_id.is_empty() {
            self.load_visible(txn, who, &customer_id).await?;
        }
        let report = UrgentReport {
            id: uuid::Uuid::now_v7().to_string(),
            customer_id,
            trigger,
            description: description.trim().to_owned(),
            reporter_id: who.subject.clone(),
            created_at: Utc::now(),
        };
        store::visits::insert_urgent(txn, &report).await?;
        let subject = if report.customer_id.is_empty() {
            format!("urgent-reports/{}", report.id)
        } else {
            subject(&report.customer_id)
        };
        events::append(txn, &subject, &event::urgent_raised(&report)).await?;
        self.commit(mutation, &report.id).await?;
        tracing::warn!(urgent_report_id = %report.id, trigger = ?report.trigger, "urgent report raised");
        Ok(report)
    }

    /// CR-8: urgent reports, newest first.
    pub(crate) async fn urgent_reports(
        &self,
        page_size: u64,
        before: Option<String>,
    ) -> Result<Page<UrgentReport>> {
        let rows = store::visits::list_urgent(&self.db, before.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |r| &r.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }
}
