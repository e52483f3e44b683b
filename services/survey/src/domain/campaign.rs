//! SV-3: campaigns and triggers. A campaign invites every active customer of its tiers once
//! within its interval; a trigger asks a customer a while after another service's event. Both
//! pin the questionnaire; both go through the same quiet period and opt-out.

use chrono::{DateTime, Duration, Utc};
use kefu_platform::error::Violations;
use serde::{Deserialize, Serialize};

use super::{CampaignState, Method, Refusal, TriggerKind, check_version};

const MAX_TITLE: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub title: String,
    pub questionnaire_id: String,
    pub questionnaire_version: i32,
    pub method: Method,
    /// Tier codes ("large", ...).
    pub tiers: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub cancelled: bool,
    pub invited: i64,
    pub skipped: i64,
    pub version: i64,
}

/// What a new campaign asks for.
#[derive(Clone, Debug, Default)]
pub struct CampaignDraft {
    pub title: String,
    pub questionnaire_id: String,
    pub method: Option<Method>,
    pub tiers: Vec<String>,
    pub interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl CampaignDraft {
    pub fn check(&self) -> Result<(), Refusal> {
        let mut v = Violations::new();
        let title = self.title.trim();
        v.check(!title.is_empty(), "campaign.title", "required");
        v.check(
            title.chars().count() <= MAX_TITLE,
            "campaign.title",
            format!("at most {MAX_TITLE} characters"),
        );
        v.check(
            !self.questionnaire_id.trim().is_empty(),
            "campaign.questionnaire_id",
            "required",
        );
        v.check(
            self.method.is_some(),
            "campaign.method",
            "required: phone, online, questionnaire or visit",
        );
        v.check(
            !self.tiers.is_empty(),
            "campaign.tiers",
            "at least one tier",
        );
        match self.interval {
            None => v.add("campaign.interval", "required: both ends"),
            Some((start, end)) => v.check(
                end > start,
                "campaign.interval.end_time",
                "after start_time",
            ),
        }
        Ok(v.finish()?)
    }
}

impl Campaign {
    pub fn state(&self, now: DateTime<Utc>) -> CampaignState {
        if self.cancelled {
            CampaignState::Cancelled
        } else if now < self.starts_at {
            CampaignState::Scheduled
        } else if now < self.ends_at {
            CampaignState::Running
        } else {
            CampaignState::Finished
        }
    }

    pub fn cancel(&mut self, expected: i64, now: DateTime<Utc>) -> Result<(), Refusal> {
        check_version("campaign", self.version, expected)?;
        match self.state(now) {
            CampaignState::Scheduled | CampaignState::Running => {
                self.cancelled = true;
                self.version += 1;
                Ok(())
            }
            state => Err(Refusal::Precondition(format!(
                "campaign {} is {state}: nothing to cancel",
                self.id
            ))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub id: String,
    pub kind: TriggerKind,
    pub questionnaire_id: String,
    pub method: Method,
    pub enabled: bool,
    pub delay_s: i64,
    pub version: i64,
}

impl Trigger {
    pub fn delay(&self) -> Duration {
        Duration::seconds(self.delay_s)
    }

    pub fn set_enabled(&mut self, expected: i64, enabled: bool) -> Result<bool, Refusal> {
        check_version("trigger", self.version, expected)?;
        if self.enabled == enabled {
            return Ok(false);
        }
        self.enabled = enabled;
        self.version += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sv3_a_campaign_runs_in_its_interval_and_can_be_cancelled_before_it_ends() {
        let now = Utc::now();
        let mut campaign = Campaign {
            id: "c".into(),
            title: "Q4".into(),
            questionnaire_id: "q".into(),
            questionnaire_version: 1,
            method: Method::Phone,
            tiers: vec!["large".into()],
            starts_at: now - Duration::days(1),
            ends_at: now + Duration::days(1),
            cancelled: false,
            invited: 0,
            skipped: 0,
            version: 1,
        };
        assert_eq!(campaign.state(now), CampaignState::Running);
        assert_eq!(
            campaign.state(now - Duration::days(2)),
            CampaignState::Scheduled
        );
        assert_eq!(
            campaign.state(now + Duration::days(2)),
            CampaignState::Finished
        );
        assert!(
            campaign.cancel(1, now + Duration::days(2)).is_err(),
            "finished"
        );
        campaign.cancel(1, now).unwrap();
        assert_eq!(campaign.state(now), CampaignState::Cancelled);
        let draft = CampaignDraft::default();
        assert!(draft.check().is_err());
    }
}
