//! SV-1, SV-3: an invitation and its one response. An invitation pins the questionnaire
//! version it was sent with; it takes one response, within its response window; past the
//! window it has expired. A response keeps its answers; an erasure empties their free text and
//! keeps the scores.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::questionnaire::{Answer, AnswerValue};
use super::{InvitationState, Method, Refusal};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub customer_id: String,
    pub questionnaire_id: String,
    pub questionnaire_version: i32,
    pub method: Method,
    pub answered: bool,
    pub campaign_id: String,
    pub trigger_id: String,
    pub order_id: String,
    pub complaint_id: String,
    pub agent_id: String,
    pub team_id: String,
    pub tier: String,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Invitation {
    pub fn state(&self, now: DateTime<Utc>) -> InvitationState {
        if self.answered {
            InvitationState::Answered
        } else if now >= self.expires_at {
            InvitationState::Expired
        } else {
            InvitationState::Sent
        }
    }

    /// An answer is taken once, inside the window.
    pub fn accept(&self, now: DateTime<Utc>) -> Result<(), Refusal> {
        match self.state(now) {
            InvitationState::Sent => Ok(()),
            InvitationState::Answered => Err(Refusal::Precondition(format!(
                "invitation {} is answered already",
                self.id
            ))),
            InvitationState::Expired => Err(Refusal::Precondition(format!(
                "invitation {}'s response window closed at {}",
                self.id,
                self.expires_at.to_rfc3339()
            ))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyResponse {
    pub id: String,
    pub invitation_id: String,
    pub customer_id: String,
    pub method: Method,
    pub answers: Vec<Answer>,
    /// A staff id, or "online".
    pub recorded_by: String,
    pub submitted_at: DateTime<Utc>,
    #[serde(default)]
    pub erased: bool,
}

impl SurveyResponse {
    /// CR-11: free text goes, scores, choices and problems stay.
    pub fn erase(&mut self) -> bool {
        if self.erased {
            return false;
        }
        for answer in &mut self.answers {
            if let Some(AnswerValue::Text(text)) = &mut answer.value {
                text.clear();
            }
        }
        self.erased = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::Problem;

    #[test]
    fn sv3_an_invitation_takes_one_answer_inside_its_window() {
        let now = Utc::now();
        let mut invitation = Invitation {
            id: "i".into(),
            customer_id: "c".into(),
            questionnaire_id: "q".into(),
            questionnaire_version: 1,
            method: Method::Online,
            answered: false,
            campaign_id: String::new(),
            trigger_id: String::new(),
            order_id: String::new(),
            complaint_id: String::new(),
            agent_id: String::new(),
            team_id: "t1".into(),
            tier: "small".into(),
            sent_at: now,
            expires_at: now + Duration::days(14),
        };
        assert!(invitation.accept(now + Duration::days(13)).is_ok());
        assert!(
            invitation.accept(now + Duration::days(14)).is_err(),
            "closed at its end"
        );
        assert_eq!(
            invitation.state(now + Duration::days(15)),
            InvitationState::Expired
        );
        invitation.answered = true;
        assert!(invitation.accept(now).is_err(), "once");
    }

    #[test]
    fn cr11_erasure_empties_free_text_and_keeps_scores() {
        let mut response = SurveyResponse {
            id: "r".into(),
            invitation_id: "i".into(),
            customer_id: "c".into(),
            method: Method::Phone,
            answers: vec![
                Answer {
                    question_id: "csat".into(),
                    value: Some(AnswerValue::Score(2)),
                },
                Answer {
                    question_id: "comment".into(),
                    value: Some(AnswerValue::Text("call me on 138 0000 0000".into())),
                },
                Answer {
                    question_id: "problem".into(),
                    value: Some(AnswerValue::Problem(Problem::Delay)),
                },
            ],
            recorded_by: "a1".into(),
            submitted_at: Utc::now(),
            erased: false,
        };
        assert!(response.erase());
        assert!(!response.erase(), "once");
        assert_eq!(response.answers[0].value, Some(AnswerValue::Score(2)));
        assert_eq!(
            response.answers[1].value,
            Some(AnswerValue::Text(String::new()))
        );
        assert_eq!(
            response.answers[2].value,
            Some(AnswerValue::Problem(Problem::Delay))
        );
    }
}
