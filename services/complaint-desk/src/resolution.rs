//! Investigation, resolution and follow-up (CD-4, CD-5, CD-6): the root cause and the
//! corrective action, the answer and any compensation, and the customer's confirmation,
//! which closes, reopens, or after the configured number of failed attempts closes the case
//! as unreachable. Each goes through the one write path.

use crate::cases::{Desk, Requester, Retry};
use crate::domain::{Case, FollowUpOutcome, RootCause};
use crate::error::Result;

/// What an investigation found (CD-4).
#[derive(Debug)]
pub(crate) struct Findings {
    pub(crate) root_cause: Option<RootCause>,
    pub(crate) detail: String,
    pub(crate) corrective_action: String,
}

impl Desk {
    /// CD-4.
    pub(crate) async fn investigate(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        findings: Findings,
    ) -> Result<Case> {
        self.change(who, retry, id, Some(expected_version), |case, _, now| {
            case.investigate(
                findings.root_cause,
                &findings.detail,
                &findings.corrective_action,
                &who.subject,
                now,
            )
        })
        .await
    }

    /// CD-5.
    pub(crate) async fn resolve(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        answer: &str,
        compensation_fen: i64,
    ) -> Result<Case> {
        self.change(
            who,
            retry,
            id,
            Some(expected_version),
            |case, policy, now| case.resolve(answer, compensation_fen, &who.subject, policy, now),
        )
        .await
    }

    /// CD-6.
    pub(crate) async fn follow_up(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        outcome: Option<FollowUpOutcome>,
        note: &str,
    ) -> Result<Case> {
        self.change(
            who,
            retry,
            id,
            Some(expected_version),
            |case, policy, now| case.follow_up(outcome, note, &who.subject, policy, now),
        )
        .await
    }
}
