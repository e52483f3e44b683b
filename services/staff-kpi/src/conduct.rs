//! SK-5, SK-6: conduct breaches and training. A breach is recorded by someone who supervises
//! the person (or a manager), never by the person; the person sees it and may dispute it
//! like any figure's event. Training sessions are planned, and each person's attendance is
//! recorded once with its evaluation. Both become facts of the person's figures, named by
//! the event that records them.

use chrono::Utc;
use kefu_platform::auth::Role;
use kefu_platform::paging;

use crate::department::{Department, Page, Requester, Retry, replayed};
use crate::domain::Attendance;
use crate::domain::conduct::{
    Breach, BreachDraft, TrainingPlan, TrainingRecord, check_attendance, held,
};
use crate::domain::fact::{Fact, FactKind};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store;

/// The source name of facts staff-kpi records itself.
const OWN: &str = "staff-kpi";

impl Department {
    /// Someone who supervises `staff_id` (or a manager), and never `staff_id` themselves.
    async fn check_oversees(&self, who: &Requester, staff_id: &str, doing: &str) -> Result<()> {
        let oversees = who.subject != staff_id
            && match who.role {
                Role::Manager => true,
                Role::Supervisor => self.viewer(&self.db, who).await?.sees(staff_id),
                Role::Agent | Role::Service => false,
            };
        if oversees {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "{doing} for {staff_id} is for who supervises them"
            )))
        }
    }

    /// SK-5.
    pub(crate) async fn record_breach(
        &self,
        who: &Requester,
        retry: &Retry,
        draft: &BreachDraft,
    ) -> Result<Breach> {
        let now = Utc::now();
        draft.checked(now)?;
        self.check_oversees(who, &draft.staff_id, "recording a breach")
            .await?;
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.breach(who, &id).await,
        };
        let txn = &mutation.txn;
        if store::staff(txn, &draft.staff_id, false).await?.is_none() {
            return Err(invalid(
                "breach.staff_id",
                format!("nobody is {}", draft.staff_id),
            ));
        }
        let mut breach = Breach {
            id: uuid::Uuid::now_v7().to_string(),
            staff_id: draft.staff_id.clone(),
            kind: draft.kind.unwrap_or(crate::domain::BreachKind::Other),
            description: draft.description.trim().to_owned(),
            evidence_reference: draft.evidence_reference.trim().to_owned(),
            occurred_at: draft.occurred_at.unwrap_or(now),
            recorded_by: who.subject.clone(),
            recorded_at: now,
            event_id: String::new(),
            upheld_dispute_id: String::new(),
        };
        breach.event_id = events::breach_recorded(txn, &breach).await?;
        store::conduct::insert_breach(txn, &self.cipher, &breach).await?;
        let fact = Fact {
            event_id: breach.event_id.clone(),
            source: OWN.into(),
            event_type: "kefu.staff.v1.ConductBreachRecorded".into(),
            kind: FactKind::Breach,
            staff_id: breach.staff_id.clone(),
            subject_id: breach.id.clone(),
            ref_id: String::new(),
            at: breach.occurred_at,
            amount: 0,
            flag: true,
            code: breach.kind.code().into(),
            seq: 0,
            customer_id: String::new(),
        };
        store::facts::record(txn, &fact, now).await?;
        self.commit(mutation, &breach.id).await?;
        Ok(breach)
    }

    pub(crate) async fn breach(&self, who: &Requester, id: &str) -> Result<Breach> {
        if id.trim().is_empty() {
            return Err(invalid("breach_id", "required"));
        }
        let viewer = self.viewer(&self.db, who).await?;
        let denied = || Error::PermissionDenied(format!("breach {id} is not yours to see"));
        match store::conduct::breach(&self.db, &self.cipher, id.trim()).await? {
            Some(b) if viewer.sees(&b.staff_id) => Ok(b),
            Some(_) => Err(denied()),
            None if viewer.people().is_some() => Err(denied()),
            None => Err(Error::NotFound(format!("breach {id}"))),
        }
    }

    pub(crate) async fn breaches(
        &self,
        who: &Requester,
        staff_id: Option<String>,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Breach>> {
        let people = self.viewer(&self.db, who).await?.people();
        let rows = store::conduct::breaches(
            &self.db,
            &self.cipher,
            staff_id.as_deref(),
            people.as_deref(),
            after.as_deref(),
            page_size + 1,
        )
        .await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |b| &b.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// SK-6.
    pub(crate) async fn create_plan(
        &self,
        who: &Requester,
        retry: &Retry,
        title: &str,
        session_time: Option<chrono::DateTime<Utc>>,
        team_id: &str,
    ) -> Result<TrainingPlan> {
        TrainingPlan::checked(title, session_time)?;
        // a supervisor plans for the teams they lead (or for everyone); only a
        // manager plans for another supervisor's team.
        if who.role == Role::Supervisor
            && !team_id.is_empty()
            && self
                .teams_led(&self.db, &who.subject)
                .await?
                .binary_search_by(|t| t.as_str().cmp(team_id))
                .is_err()
        {
            return Err(Error::PermissionDenied(format!(
                "team {team_id} is not yours to plan training for"
            )));
        }
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.plan(&id).await,
        };
        let txn = &mutation.txn;
        if !team_id.is_empty() && store::team(txn, team_id, false).await?.is_none() {
            return Err(invalid("plan.team_id", format!("no team {team_id}")));
        }
        let now = Utc::now();
        let plan = TrainingPlan {
            id: uuid::Uuid::now_v7().to_string(),
            title: title.trim().to_owned(),
            session_time: session_time.unwrap_or(now),
            team_id: team_id.to_owned(),
            planned_by: who.subject.clone(),
            created_at: now,
        };
        store::conduct::insert_plan(txn, &plan).await?;
        self.commit(mutation, &plan.id).await?;
        Ok(plan)
    }

    pub(crate) async fn plan(&self, id: &str) -> Result<TrainingPlan> {
        if id.trim().is_empty() {
            return Err(invalid("plan_id", "required"));
        }
        store::conduct::plan(&self.db, id.trim())
            .await?
            .ok_or_else(|| Error::NotFound(format!("training plan {id}")))
    }

    pub(crate) async fn plans(
        &self,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<TrainingPlan>> {
        let rows = store::conduct::plans(&self.db, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |p| &p.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// SK-6: one person's attendance of a session that has been held, once.
    pub(crate) async fn record_attendance(
        &self,
        who: &Requester,
        retry: &Retry,
        plan_id: &str,
        staff_id: &str,
        attendance: Option<Attendance>,
        score: i32,
    ) -> Result<TrainingRecord> {
        let mut v = kefu_platform::error::Violations::new();
        v.check(!plan_id.is_empty(), "record.plan_id", "required");
        v.check(!staff_id.is_empty(), "record.staff_id", "required");
        v.absorb(check_attendance(attendance, score));
        v.finish()?;
        self.check_oversees(who, staff_id, "recording training")
            .await?;
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(_) => {
                return store::conduct::record_of(&self.db, plan_id, staff_id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("training record of {staff_id}")));
            }
        };
        let txn = &mutation.txn;
        let now = Utc::now();
        let plan = store::conduct::plan(txn, plan_id)
            .await?
            .ok_or_else(|| invalid("record.plan_id", format!("no training plan {plan_id}")))?;
        if !held(plan.session_time, now) {
            return Err(Error::FailedPrecondition(format!(
                "the session is at {}; attendance is recorded after it",
                plan.session_time.to_rfc3339()
            )));
        }
        if store::staff(txn, staff_id, false).await?.is_none() {
            return Err(invalid("record.staff_id", format!("nobody is {staff_id}")));
        }
        let mut record = TrainingRecord {
            id: uuid::Uuid::now_v7().to_string(),
            plan_id: plan.id.clone(),
            staff_id: staff_id.to_owned(),
            attendance: attendance.unwrap_or(Attendance::Absent),
            evaluation_score: score,
            session_time: plan.session_time,
            recorded_by: who.subject.clone(),
            recorded_at: now,
            event_id: String::new(),
        };
        record.event_id = events::training_recorded(txn, &record).await?;
        if !store::conduct::insert_record(txn, &record).await? {
            return Err(Error::AlreadyExists(format!(
                "{staff_id}'s attendance of training plan {plan_id}"
            )));
        }
        let fact = Fact {
            event_id: record.event_id.clone(),
            source: OWN.into(),
            event_type: "kefu.staff.v1.TrainingAttendanceRecorded".into(),
            kind: FactKind::Training,
            staff_id: record.staff_id.clone(),
            subject_id: record.plan_id.clone(),
            ref_id: String::new(),
            at: record.session_time,
            amount: i64::from(record.evaluation_score),
            flag: record.attendance == Attendance::Attended,
            code: record.attendance.code().into(),
            seq: 0,
            customer_id: String::new(),
        };
        store::facts::record(txn, &fact, now).await?;
        self.commit(mutation, &record.id).await?;
        Ok(record)
    }

    pub(crate) async fn training_records(
        &self,
        who: &Requester,
        staff_id: Option<String>,
        plan_id: Option<String>,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<TrainingRecord>> {
        let people = self.viewer(&self.db, who).await?.people();
        let rows = store::conduct::records(
            &self.db,
            staff_id.as_deref(),
            plan_id.as_deref(),
            people.as_deref(),
            after.as_deref(),
            page_size + 1,
        )
        .await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |r| &r.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }
}
