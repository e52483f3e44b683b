//! SV-5: a low score opens a follow-up task for the customer's team, due after the configured
//! time; whoever follows up records what came of it. Which scores are low is a setting.

use chrono::{DateTime, Utc};
use kefu_platform::error::Violations;
use serde::{Deserialize, Serialize};

use super::questionnaire::Measures;
use super::{Problem, QuestionKind, Refusal, TaskOutcome, TaskState, check_version};

const MAX_NOTE: usize = 2000;

/// The highest score of each measure that counts as low.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LowScores {
    pub csat_at_most: i32,
    pub nps_at_most: i32,
    pub effort_at_most: i32,
}

impl LowScores {
    /// The measures of an answer that are low.
    pub fn low(&self, measures: &Measures) -> Vec<QuestionKind> {
        let mut low = Vec::new();
        if measures.csat.is_some_and(|s| s <= self.csat_at_most) {
            low.push(QuestionKind::Csat);
        }
        if measures.nps.is_some_and(|s| s <= self.nps_at_most) {
            low.push(QuestionKind::Nps);
        }
        if measures.effort.is_some_and(|s| s <= self.effort_at_most) {
            low.push(QuestionKind::Effort);
        }
        low
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpTask {
    pub id: String,
    pub customer_id: String,
    pub response_id: String,
    pub team_id: String,
    #[serde(default)]
    pub assignee_id: String,
    pub state: TaskState,
    pub due_at: DateTime<Utc>,
    pub low_measures: Vec<QuestionKind>,
    #[serde(default)]
    pub problem: Option<Problem>,
    #[serde(default)]
    pub outcome: Option<TaskOutcome>,
    #[serde(default)]
    pub outcome_note: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

impl FollowUpTask {
    /// Records what the follow-up achieved; once.
    pub fn complete(
        &mut self,
        expected: i64,
        outcome: Option<TaskOutcome>,
        note: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let mut v = Violations::new();
        v.check(
            outcome.is_some(),
            "outcome",
            "required: settled, escalated or unreachable",
        );
        v.check(
            note.chars().count() <= MAX_NOTE,
            "outcome_note",
            format!("at most {MAX_NOTE} characters"),
        );
        v.finish()?;
        check_version("follow-up task", self.version, expected)?;
        if self.state == TaskState::Done {
            return Err(Refusal::Precondition(format!(
                "follow-up task {} is done already",
                self.id
            )));
        }
        self.state = TaskState::Done;
        self.outcome = outcome;
        self.outcome_note = note.trim().to_owned();
        self.assignee_id = actor.to_owned();
        self.completed_at = Some(now);
        self.version += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sv5_low_scores_are_the_settings_and_a_task_completes_once() {
        let low = LowScores {
            csat_at_most: 2,
            nps_at_most: 6,
            effort_at_most: 2,
        };
        let measures = Measures {
            csat: Some(2),
            nps: Some(7),
            effort: Some(1),
            problem: None,
        };
        assert_eq!(
            low.low(&measures),
            vec![QuestionKind::Csat, QuestionKind::Effort]
        );
        assert!(
            low.low(&Measures {
                csat: Some(3),
                ..Measures::default()
            })
            .is_empty()
        );
        let now = Utc::now();
        let mut task = FollowUpTask {
            id: "t".into(),
            customer_id: "c".into(),
            response_id: "r".into(),
            team_id: "t1".into(),
            assignee_id: String::new(),
            state: TaskState::Open,
            due_at: now,
            low_measures: vec![QuestionKind::Csat],
            problem: None,
            outcome: None,
            outcome_note: String::new(),
            created_at: now,
            completed_at: None,
            version: 1,
        };
        assert!(task.complete(1, None, "", "a1", now).is_err());
        task.complete(1, Some(TaskOutcome::Settled), "called back", "a1", now)
            .unwrap();
        assert_eq!(task.state, TaskState::Done);
        assert!(matches!(
            task.complete(2, Some(TaskOutcome::Settled), "", "a1", now),
            Err(Refusal::Precondition(_))
        ));
    }
}
