//! SV-2, SV-4 as read: scores of the responses submitted in an interval, and the quality
//! figures joining them with what order-tracking and complaint-desk announced; X-3's business
//! report of a local day or month.

use chrono::{DateTime, Utc};
use kefu_platform::report::{Report, Window, events_written};
use kefu_platform::time::Period;

use crate::domain::quality::{self, Dimension, Group, QualityRow, ScoreRow};
use crate::domain::scores;
use crate::error::Result;
use crate::store::{self, facts, invitations};
use crate::surveys::Surveys;

impl Surveys {
    pub(crate) async fn score_report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Dimension,
        campaign_id: Option<&str>,
        questionnaire_id: Option<&str>,
    ) -> Result<Vec<(Group, ScoreRow)>> {
        let rated = invitations::rated(&self.db, from, to, campaign_id, questionnaire_id).await?;
        Ok(quality::score_rows(&rated, by, self.rules.offset))
    }

    pub(crate) async fn quality_report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Dimension,
    ) -> Result<Vec<(Group, QualityRow)>> {
        let rated = invitations::rated(&self.db, from, to, None, None).await?;
        let orders = facts::orders(&self.db, from, to).await?;
        let complaints = facts::complaints(&self.db, from, to).await?;
        Ok(quality::quality_rows(
            &rated,
            &orders,
            &complaints,
            by,
            self.rules.offset,
        ))
    }

    /// Invitations sent by method, responses and their CSAT, NPS and effort (in tenths of a
    /// percent, as every survey report), skips by reason, opt-outs, follow-up tasks opened and
    /// completed, problems handed to complaint-desk.
    pub(crate) async fn business_report(
        &self,
        period: Option<Period>,
        label: &str,
    ) -> Result<Report> {
        let now = Utc::now();
        let window = Window::parse(period, label, self.rules.offset, now)?;
        let (db, w) = (&self.db, &window);
        let sent = store::report::sent_by_method(db, w).await?;
        let skipped = store::report::skipped_by_reason(db, w).await?;
        let opted_out = store::report::opted_out(db, w).await?;
        let opened = store::report::tasks_opened(db, w).await?;
        let completed = events_written(db, w, "kefu.survey.v1.FollowUpTaskCompleted").await?;
        let problems = events_written(db, w, "kefu.survey.v1.ProblemReported").await?;
        let rated = invitations::rated(db, w.start, w.end, None, None).await?;
        let answers = |pick: fn(&quality::Rated) -> Option<i32>| -> Vec<i32> {
            rated.iter().filter_map(pick).collect()
        };
        let measures = [
            (
                "csat_answers",
                "csat_tenths",
                scores::csat(&answers(|r| r.csat)),
            ),
            (
                "nps_answers",
                "nps_tenths",
                scores::nps(&answers(|r| r.nps)),
            ),
            (
                "effort_answers",
                "effort_tenths",
                scores::effort(&answers(|r| r.effort)),
            ),
        ];

        let mut report = Report::new(crate::SERVICE, window, now);
        report.counts("invitations_sent", "method", &sent);
        report.count("responses_received", rated.len() as i64);
        for (answered, measured, score) in measures {
            report.count(answered, score.answers);
            if let Some(tenths) = score.tenths {
                report.count(measured, i64::from(tenths));
            }
        }
        report.counts("surveys_skipped", "reason", &skipped);
        report.count("opt_outs", opted_out);
        report.count("follow_up_tasks_opened", opened);
        report.count("follow_up_tasks_completed", completed);
        report.count("problems_reported", problems);
        Ok(report)
    }
}
