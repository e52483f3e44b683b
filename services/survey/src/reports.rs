//! SV-2, SV-4 as read: scores of the responses submitted in an interval, and the quality
//! figures joining them with what order-tracking and complaint-desk announced.

use chrono::{DateTime, Utc};

use crate::domain::quality::{self, Dimension, Group, QualityRow, ScoreRow};
use crate::error::Result;
use crate::store::{facts, invitations};
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
}
