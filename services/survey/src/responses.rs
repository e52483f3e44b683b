//! SV-1, SV-2, SV-5: answers, entered by staff or given online with the invitation's
//! one-time token, checked against the invitation's questionnaire version, within its
//! response window, once; a low score opens a follow-up task for the customer's team, and a
//! problem named asks complaint-desk (through the event) to open a case. Also the opt-outs
//! (SV-3) and the follow-up tasks (SV-5).

use chrono::Utc;
use kefu_platform::idempotency::{self, Begun};
use kefu_platform::paging;
use sea_orm::{ConnectionTrait, TransactionTrait as _};

use crate::domain::invitation::SurveyResponse;
use crate::domain::questionnaire::Answer;
use crate::domain::task::FollowUpTask;
use crate::domain::{ONLINE, TaskOutcome, TaskState, token};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store::{self, customers, invitations};
use crate::surveys::{Page, Requester, Retry, Surveys};

/// A customer's opt-out as read.
#[derive(Clone, Debug)]
pub(crate) struct OptOut {
    pub(crate) customer_id: String,
    pub(crate) opted_out: bool,
    pub(crate) reason: String,
    pub(crate) at: Option<chrono::DateTime<Utc>>,
}

impl Surveys {
    /// SV-1: answers entered by staff.
    pub(crate) async fn submit(
        &self,
        who: &Requester,
        retry: &Retry,
        invitation_id: &str,
        answers: Vec<Answer>,
    ) -> Result<SurveyResponse> {
        if invitation_id.trim().is_empty() {
            return Err(invalid("invitation_id", "required"));
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
            Begun::Replay(id) => return self.response(who, &String::from_utf8_lossy(&id)).await,
        };
        let response = self
            .record(
                &mutation.txn,
                Some(who),
                invitation_id.trim(),
                answers,
                &who.subject,
            )
            .await?;
        mutation.commit(response.id.as_bytes()).await?;
        self.log.committed();
        Ok(response)
    }

    /// SV-1: answers given online; the token is the only credential.
    pub(crate) async fn submit_online(
        &self,
        response_token: &str,
        answers: Vec<Answer>,
    ) -> Result<SurveyResponse> {
        let refused = || Error::Unauthenticated("the response token opens no invitation".into());
        let invitation_id =
            token::verify(&self.rules.token_key, response_token.trim()).ok_or_else(refused)?;
        let txn = self.db.begin().await?;
        let response = match self
            .record(&txn, None, &invitation_id, answers, ONLINE)
            .await
        {
            Ok(response) => response,
            Err(Error::NotFound(_)) => return Err(refused()),
            Err(e) => return Err(e),
        };
        txn.commit().await?;
        self.log.committed();
        Ok(response)
    }

    /// Checks and writes a response to `invitation_id` in `txn`, with its events and, for a
    /// low score, its follow-up task.
    async fn record<C: ConnectionTrait>(
        &self,
        txn: &C,
        who: Option<&Requester>,
        invitation_id: &str,
        answers: Vec<Answer>,
        recorded_by: &str,
    ) -> Result<SurveyResponse> {
        let found = invitations::get(txn, invitation_id, true).await?;
        if let Some(who) = who {
            who.check_team(
                found.as_ref().map(|i| i.team_id.as_str()),
                &format!("invitation {invitation_id}"),
            )?;
        }
        let Some(invitation) = found else {
            return Err(Error::NotFound(format!("invitation {invitation_id}")));
        };
        let now = Utc::now();
        invitation.accept(now)?;
        let version = store::version(
            txn,
            &invitation.questionnaire_id,
            invitation.questionnaire_version,
        )
        .await?
        .ok_or_else(|| {
            Error::Store(store::StoreError::Corrupt {
                id: format!("invitation {invitation_id}"),
                what: "its questionnaire version is missing".into(),
            })
        })?;
        let measures = version.form.check_answers(&answers)?;
        let response = SurveyResponse {
            id: uuid::Uuid::now_v7().to_string(),
            invitation_id: invitation.id.clone(),
            customer_id: invitation.customer_id.clone(),
            method: invitation.method,
            answers,
            recorded_by: recorded_by.to_owned(),
            submitted_at: now,
            erased: false,
        };
        if !invitations::insert_response(txn, &self.cipher, &response, &invitation, &measures)
            .await?
        {
            return Err(Error::FailedPrecondition(format!(
                "invitation {invitation_id} is answered already"
            )));
        }
        invitations::mark_answered(txn, &invitation.id).await?;
        events::response_received(txn, &response, &invitation, &measures).await?;
        let low = self.rules.low_scores.low(&measures);
        if !low.is_empty() || measures.problem.is_some() {
            let task = FollowUpTask {
                id: uuid::Uuid::now_v7().to_string(),
                customer_id: invitation.customer_id.clone(),
                response_id: response.id.clone(),
                team_id: invitation.team_id.clone(),
                assignee_id: String::new(),
                state: TaskState::Open,
                due_at: now + self.rules.follow_up_due,
                low_measures: low,
                problem: measures.problem,
                outcome: None,
                outcome_note: String::new(),
                created_at: now,
                completed_at: None,
                version: 1,
            };
            if store::insert_task(txn, &self.cipher, &task).await? {
                events::task_opened(txn, &task).await?;
            }
        }
        Ok(response)
    }

    pub(crate) async fn response(&self, who: &Requester, id: &str) -> Result<SurveyResponse> {
        if id.trim().is_empty() {
            return Err(invalid("response_id", "required"));
        }
        let found = invitations::response(&self.db, &self.cipher, id.trim()).await?;
        let team = match &found {
            Some(r) => invitations::get(&self.db, &r.invitation_id, false)
                .await?
                .map(|i| i.team_id),
            None => None,
        };
        who.check_team(team.as_deref(), &format!("response {id}"))?;
        found.ok_or_else(|| Error::NotFound(format!("response {id}")))
    }

    /// SV-3: a customer opts out (or back in).
    pub(crate) async fn set_opt_out(
        &self,
        who: &Requester,
        retry: &Retry,
        customer_id: &str,
        opted_out: bool,
        reason: &str,
    ) -> Result<OptOut> {
        if customer_id.trim().is_empty() {
            return Err(invalid("customer_id", "required"));
        }
        if reason.chars().count() > 500 {
            return Err(invalid("reason", "at most 500 characters"));
        }
        let customer = self.customer_facts(customer_id.trim()).await?;
        who.check_team(Some(&customer.team_id), &format!("customer {customer_id}"))?;
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(_) => return self.opt_out(who, customer_id).await,
        };
        let txn = &mutation.txn;
        let id = customer_id.trim();
        customers::ensure(txn, id, &customer.tier, &customer.team_id, customer.active).await?;
        let current = customers::get(txn, id, true).await?;
        let now = Utc::now();
        let sealed = customers::seal_reason(&self.cipher, id, reason.trim());
        customers::set_opt_out(txn, id, opted_out, &sealed, now).await?;
        if current.is_some_and(|c| c.opted_out != opted_out) {
            events::opt_out_changed(txn, id, opted_out).await?;
        }
        mutation.commit(id.as_bytes()).await?;
        self.log.committed();
        self.opt_out(who, id).await
    }

    pub(crate) async fn opt_out(&self, who: &Requester, customer_id: &str) -> Result<OptOut> {
        if customer_id.trim().is_empty() {
            return Err(invalid("customer_id", "required"));
        }
        let row = customers::get(&self.db, customer_id.trim(), false).await?;
        let team = match &row {
            Some(c) => c.team_id.clone(),
            None => self.customer_facts(customer_id.trim()).await?.team_id,
        };
        who.check_team(Some(&team), &format!("customer {customer_id}"))?;
        Ok(match row {
            Some(c) => OptOut {
                reason: customers::open_reason(&self.cipher, &c.customer_id, &c.opt_out_reason)?,
                customer_id: c.customer_id,
                opted_out: c.opted_out,
                at: c.opt_out_at,
            },
            None => OptOut {
                customer_id: customer_id.trim().to_owned(),
                opted_out: false,
                reason: String::new(),
                at: None,
            },
        })
    }

    /// SV-5.
    pub(crate) async fn task(&self, who: &Requester, id: &str) -> Result<FollowUpTask> {
        if id.trim().is_empty() {
            return Err(invalid("follow_up_task_id", "required"));
        }
        let found = store::task(&self.db, &self.cipher, id.trim(), false).await?;
        who.check_team(
            found.as_ref().map(|t| t.team_id.as_str()),
            &format!("follow-up task {id}"),
        )?;
        found.ok_or_else(|| Error::NotFound(format!("follow-up task {id}")))
    }

    pub(crate) async fn tasks(
        &self,
        who: &Requester,
        state: Option<TaskState>,
        team: Option<String>,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<FollowUpTask>> {
        let teams = match (who.teams(), team) {
            (Some(own), Some(asked)) => Some(own.into_iter().filter(|t| *t == asked).collect()),
            (Some(own), None) => Some(own),
            (None, Some(asked)) => Some(vec![asked]),
            (None, None) => None,
        };
        let rows = store::tasks(
            &self.db,
            &self.cipher,
            teams.as_deref(),
            state,
            after.as_deref(),
            page_size + 1,
        )
        .await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |t| &t.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn complete_task(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        outcome: Option<TaskOutcome>,
        note: &str,
    ) -> Result<FollowUpTask> {
        if id.trim().is_empty() {
            return Err(invalid("follow_up_task_id", "required"));
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
            Begun::Replay(_) => return self.task(who, id).await,
        };
        let txn = &mutation.txn;
        let found = store::task(txn, &self.cipher, id.trim(), true).await?;
        who.check_team(
            found.as_ref().map(|t| t.team_id.as_str()),
            &format!("follow-up task {id}"),
        )?;
        let Some(mut task) = found else {
            return Err(Error::NotFound(format!("follow-up task {id}")));
        };
        task.complete(expected_version, outcome, note, &who.subject, Utc::now())?;
        store::update_task(txn, &self.cipher, &task).await?;
        events::task_completed(txn, &task, &who.subject).await?;
        mutation.commit(task.id.as_bytes()).await?;
        self.log.committed();
        Ok(task)
    }

    /// CR-11: the customer's free text leaves survey; scores stay.
    pub(crate) async fn erase_customer<C: ConnectionTrait>(
        &self,
        txn: &C,
        customer_id: &str,
    ) -> Result<()> {
        for mut response in invitations::responses_of(txn, &self.cipher, customer_id).await? {
            if response.erase() {
                invitations::update_response(txn, &self.cipher, &response).await?;
            }
        }
        for id in store::tasks_of_customer(txn, customer_id).await? {
            if let Some(mut task) = store::task(txn, &self.cipher, &id, true).await?
                && !task.outcome_note.is_empty()
            {
                task.outcome_note.clear();
                store::update_task(txn, &self.cipher, &task).await?;
            }
        }
        if customers::get(txn, customer_id, true).await?.is_some() {
            customers::erase_reason(txn, customer_id).await?;
        }
        Ok(())
    }
}
