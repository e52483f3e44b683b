//! SV-1, SV-3: invitations by hand and the call list. A person asks for a survey of one
//! customer; inside the quiet period or for a customer who opted out the answer says so and
//! the skip is recorded, nothing is queued.

use chrono::Utc;
use kefu_platform::idempotency::{self, Begun};
use kefu_platform::paging;

use crate::domain::invitation::Invitation;
use crate::domain::token;
use crate::error::{Error, Result, invalid};
use crate::store;
use crate::store::invitations::Filter;
use crate::surveys::{InviteRequest, Outcome, Page, Requester, Retry, Surveys};

/// How a recorded answer to CreateInvitation names what it made.
const INVITED: &str = "invitation:";
const SKIPPED: &str = "skip:";

impl Surveys {
    /// The response token of an online invitation; empty for the others.
    pub(crate) fn token_of(&self, invitation: &Invitation) -> String {
        if invitation.method == crate::domain::Method::Online {
            token::issue(&self.rules.token_key, &invitation.id)
        } else {
            String::new()
        }
    }

    pub(crate) async fn create_invitation(
        &self,
        who: &Requester,
        retry: &Retry,
        mut request: InviteRequest,
    ) -> Result<Invitation> {
        let mut v = kefu_platform::error::Violations::new();
        v.check(
            !request.customer_id.trim().is_empty(),
            "invitation.customer_id",
            "required",
        );
        v.check(
            !request.questionnaire_id.trim().is_empty(),
            "invitation.questionnaire_id",
            "required",
        );
        v.check(
            request.method.is_some(),
            "invitation.method",
            "required: phone, online, questionnaire or visit",
        );
        v.finish()?;
        if !retry.request_id.is_empty()
            && let Some(idempotency::Claim::Replay(answer)) = idempotency::find(
                &self.db,
                &who.idempotency_scope(),
                &retry.request_id,
                &retry.fingerprint,
            )
            .await?
        {
            return self.replayed(&answer).await;
        }
        let questionnaire = store::questionnaire(&self.db, &request.questionnaire_id, false)
            .await?
            .ok_or_else(|| invalid("invitation.questionnaire_id", "no such questionnaire"))?;
        request.questionnaire_version = questionnaire.latest()?;
        let customer = self.customer_facts(&request.customer_id).await?;
        who.check_team(
            Some(&customer.team_id),
            &format!("customer {}", request.customer_id),
        )?;
        if !customer.active {
            return Err(Error::FailedPrecondition(format!(
                "customer {} is archived",
                request.customer_id
            )));
        }
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(answer) => return self.replayed(&answer).await,
        };
        let outcome = self
            .invite_in(&mutation.txn, &request, &customer, Utc::now())
            .await?;
        match outcome {
            Outcome::Invited(invitation) => {
                mutation
                    .commit(format!("{INVITED}{}", invitation.id).as_bytes())
                    .await?;
                self.log.committed();
                Ok(invitation)
            }
            // The skip is a fact worth keeping, so it commits; the caller hears why.
            Outcome::Skipped(skip) => {
                mutation
                    .commit(format!("{SKIPPED}{}", skip.id).as_bytes())
                    .await?;
                self.log.committed();
                Err(Error::Skipped {
                    reason: skip.reason,
                    skipped_id: skip.id,
                    quiet_until: skip.quiet_until,
                })
            }
        }
    }

    /// The first answer of a retried CreateInvitation.
    async fn replayed(&self, answer: &[u8]) -> Result<Invitation> {
        let answer = String::from_utf8_lossy(answer);
        if let Some(id) = answer.strip_prefix(INVITED) {
            return store::invitations::get(&self.db, id, false)
                .await?
                .ok_or_else(|| Error::NotFound(format!("invitation {id}")));
        }
        let id = answer.strip_prefix(SKIPPED).unwrap_or_default();
        let skip = store::invitations::skip(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("skipped survey {id}")))?;
        Err(Error::Skipped {
            reason: skip.reason,
            skipped_id: skip.id,
            quiet_until: skip.quiet_until,
        })
    }

    pub(crate) async fn invitation(&self, who: &Requester, id: &str) -> Result<Invitation> {
        if id.trim().is_empty() {
            return Err(invalid("invitation_id", "required"));
        }
        let found = store::invitations::get(&self.db, id.trim(), false).await?;
        who.check_team(
            found.as_ref().map(|i| i.team_id.as_str()),
            &format!("invitation {id}"),
        )?;
        found.ok_or_else(|| Error::NotFound(format!("invitation {id}")))
    }

    pub(crate) async fn invitations(
        &self,
        who: &Requester,
        mut filter: Filter,
        page_size: u64,
    ) -> Result<Page<Invitation>> {
        filter.teams = who.teams();
        let rows = store::invitations::list(&self.db, &filter, Utc::now(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |i| &i.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }
}
