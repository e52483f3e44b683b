//! What survey's use cases share: the handles and the rules, who asks, and the one path of
//! every survey, whoever starts it (a person, a trigger, a campaign): with the customer's row
//! locked, the opt-out and the quiet period decide, and the invitation or the skip is written
//! with its event in the same transaction.

use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use kefu_directory::{CustomerDirectory, LookupError};
use kefu_platform::events::EventLog;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::domain::Method;
use crate::domain::access::SurveyViewer;
use crate::domain::eligibility::{Decision, decide};
use crate::domain::invitation::Invitation;
use crate::domain::task::LowScores;
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store::customers;
use crate::store::invitations::{self, Skip};

/// The handles and rules every use case is built on. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Surveys {
    pub(crate) db: DatabaseConnection,
    pub(crate) log: EventLog,
    pub(crate) customers: CustomerDirectory,
    pub(crate) rules: Arc<Rules>,
    /// Seals each response's document at rest.
    pub(crate) cipher: kefu_platform::pii::PiiCipher,
}

/// The rules' settings, read once at start.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) quiet_period: Duration,
    pub(crate) response_window: Duration,
    pub(crate) follow_up_due: Duration,
    pub(crate) low_scores: LowScores,
    pub(crate) offset: FixedOffset,
    /// Signs online response tokens.
    pub(crate) token_key: Vec<u8>,
}

/// Who asks, through which RPC.
#[derive(Clone, Debug)]
pub(crate) struct Requester {
    pub(crate) subject: String,
    pub(crate) viewer: SurveyViewer,
    /// A supervisor, manager or system.
    pub(crate) supervises: bool,
    pub(crate) rpc: &'static str,
}

impl Requester {
    pub(crate) fn idempotency_scope(&self) -> String {
        format!("{}:{}", self.rpc, self.subject)
    }

    /// The teams a list is limited to; `None` for everyone's.
    pub(crate) fn teams(&self) -> Option<Vec<String>> {
        match &self.viewer {
            SurveyViewer::Everyone => None,
            SurveyViewer::Team { team } => Some(vec![team.clone()]),
        }
    }

    /// AIP-211: what belongs to another team's customer is PERMISSION_DENIED, found or not.
    pub(crate) fn check_team(&self, team: Option<&str>, what: &str) -> Result<()> {
        match (team, &self.viewer) {
            (Some(team), viewer) if viewer.sees(team) => Ok(()),
            (None, SurveyViewer::Everyone) => Err(Error::NotFound(what.to_owned())),
            _ => Err(Error::PermissionDenied(format!(
                "{what} is not yours to see"
            ))),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Retry {
    pub(crate) request_id: String,
    pub(crate) fingerprint: String,
}

#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_page_token: String,
}

/// What a survey is for and how it is sent.
#[derive(Clone, Debug, Default)]
pub(crate) struct InviteRequest {
    pub(crate) customer_id: String,
    pub(crate) questionnaire_id: String,
    pub(crate) questionnaire_version: i32,
    pub(crate) method: Option<Method>,
    pub(crate) campaign_id: String,
    pub(crate) trigger_id: String,
    pub(crate) order_id: String,
    pub(crate) complaint_id: String,
    pub(crate) agent_id: String,
}

/// Who the customer is: what customer-registry said.
#[derive(Clone, Debug)]
pub(crate) struct CustomerFacts {
    pub(crate) tier: String,
    pub(crate) team_id: String,
    pub(crate) active: bool,
}

/// What became of a survey.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Invited(Invitation),
    Skipped(Skip),
}

impl Surveys {
    /// The customer as survey heard of them; customer-registry is asked when it has not.
    pub(crate) async fn customer_facts(&self, customer_id: &str) -> Result<CustomerFacts> {
        if let Some(known) = customers::get(&self.db, customer_id, false).await?
            && !known.tier.is_empty()
        {
            return Ok(CustomerFacts {
                tier: known.tier,
                team_id: known.team_id,
                active: known.active,
            });
        }
        match self.customers.lookup(customer_id).await {
            Ok(facts) => Ok(CustomerFacts {
                tier: facts.tier,
                team_id: facts.stewards.team_id,
                active: facts.active,
            }),
            Err(LookupError::NotFound) => {
                Err(invalid("invitation.customer_id", "no such customer"))
            }
            Err(e) => Err(Error::Unavailable {
                service: "customer-registry",
                why: e.to_string(),
            }),
        }
    }

    /// SV-3: the one path of every survey, in the caller's transaction.
    pub(crate) async fn invite_in<C: ConnectionTrait>(
        &self,
        txn: &C,
        request: &InviteRequest,
        customer: &CustomerFacts,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let Some(method) = request.method else {
            return Err(invalid("invitation.method", "required"));
        };
        customers::ensure(
            txn,
            &request.customer_id,
            &customer.tier,
            &customer.team_id,
            customer.active,
        )
        .await?;
        // Locked until commit: another survey of this customer waits here, then sees this one.
        let Some(row) = customers::get(txn, &request.customer_id, true).await? else {
            return Err(Error::NotFound(format!("customer {}", request.customer_id)));
        };
        match decide(
            row.opted_out,
            row.last_invited_at,
            now,
            self.rules.quiet_period,
        ) {
            Decision::Invite => {
                let invitation = Invitation {
                    id: uuid::Uuid::now_v7().to_string(),
                    customer_id: request.customer_id.clone(),
                    questionnaire_id: request.questionnaire_id.clone(),
                    questionnaire_version: request.questionnaire_version,
                    method,
                    answered: false,
                    campaign_id: request.campaign_id.clone(),
                    trigger_id: request.trigger_id.clone(),
                    order_id: request.order_id.clone(),
                    complaint_id: request.complaint_id.clone(),
                    agent_id: request.agent_id.clone(),
                    team_id: customer.team_id.clone(),
                    tier: customer.tier.clone(),
                    sent_at: now,
                    expires_at: now + self.rules.response_window,
                };
                invitations::insert(txn, &invitation).await?;
                customers::set_invited(txn, &request.customer_id, now).await?;
                events::invitation_sent(txn, &invitation).await?;
                Ok(Outcome::Invited(invitation))
            }
            Decision::Skip {
                reason,
                quiet_until,
            } => {
                let skip = Skip {
                    id: uuid::Uuid::now_v7().to_string(),
                    customer_id: request.customer_id.clone(),
                    reason,
                    campaign_id: request.campaign_id.clone(),
                    trigger_id: request.trigger_id.clone(),
                    quiet_until,
                    skipped_at: now,
                };
                invitations::insert_skip(txn, &skip).await?;
                events::survey_skipped(txn, &skip).await?;
                // Counted as written: a transaction rolled back after this counts once too many.
                kefu_platform::metrics::survey_skipped(reason.code());
                tracing::info!(customer_id = %skip.customer_id, reason = reason.code(), "survey skipped");
                Ok(Outcome::Skipped(skip))
            }
        }
    }
}
