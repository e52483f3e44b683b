//! A case (a complaint or a request) and every rule of its life: registration (CD-1, CD-2),
//! its two clocks (CD-3), investigation (CD-4), resolution (CD-5), follow-up (CD-6) and
//! escalation (CD-8). Each change returns the facts it made, from which the use case writes
//! events; a refused change leaves the case as it was.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kefu_platform::error::Violations;
use serde::{Deserialize, Serialize};

use super::clock::{Clock, DeadlineState, Standing, Stop};
use super::policy::Policy;
use super::{
    CaseType, Category, CloseReason, ContactChannel, DeadlineKind, EscalationTarget,
    FollowUpOutcome, Origin, PauseReason, Refusal, RootCause, Severity, Source, State, invalid,
};

const MAX_ID: usize = 100;
const MAX_SUMMARY: usize = 200;
const MAX_TEXT: usize = 5000;
const MAX_NOTE: usize = 2000;

/// What a person (or a consumer) asks to register.
#[derive(Clone, Debug, Default)]
pub struct NewCase {
    pub kind: Option<CaseType>,
    pub origin: Option<Origin>,
    pub contact_channel: Option<ContactChannel>,
    pub category: Option<Category>,
    pub severity: Option<Severity>,
    pub customer_id: String,
    pub order_id: String,
    pub staff_id: String,
    pub summary: String,
    pub description: String,
}

/// What registration adds: decided by the service, not the caller.
#[derive(Clone, Debug)]
pub struct Registration {
    pub id: String,
    pub case_number: String,
    pub source: Option<Source>,
    /// The customer's tier code at registration ("large", ...).
    pub tier: String,
    /// The customer's team, which the case belongs to until assigned.
    pub team_id: String,
    pub plan: PlanHours,
    pub actor: String,
    pub now: DateTime<Utc>,
}

/// The deadlines the customer's tier's service plan sets, in business hours (CR-12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHours {
    pub first_response: u32,
    pub resolution: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub reason: PauseReason,
    pub note: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub actor: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstResponse {
    pub message: String,
    pub agent: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub channel: ContactChannel,
    pub note: String,
    pub agent: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Investigation {
    pub root_cause: RootCause,
    pub detail: String,
    pub corrective_action: String,
    pub investigator: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub answer: String,
    /// CNY fen.
    pub compensation_fen: i64,
    pub resolver: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub outcome: FollowUpOutcome,
    pub note: String,
    pub agent: String,
    pub at: DateTime<Utc>,
    pub attempt: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub level: u32,
    pub target: EscalationTarget,
    pub automatic: bool,
    pub reason: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// One try at resolving the case: from registration, or from a reopening.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub started: DateTime<Utc>,
    pub resolution: Option<Resolution>,
    #[serde(default)]
    pub follow_ups: Vec<FollowUp>,
    /// When the customer's dissatisfaction ended this round.
    #[serde(default)]
    pub reopened_at: Option<DateTime<Utc>>,
}

/// A warning or breach already announced, so that it is announced once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Alert {
    pub round: u32,
    pub deadline: DeadlineKind,
    pub breach: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub case_number: String,
    pub kind: CaseType,
    pub origin: Origin,
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default)]
    pub contact_channel: Option<ContactChannel>,
    pub category: Category,
    pub severity: Severity,
    pub customer_id: String,
    #[serde(default)]
    pub order_id: String,
    #[serde(default)]
    pub staff_id: String,
    pub tier: String,
    pub summary: String,
    #[serde(default)]
    pub description: String,
    pub state: State,
    #[serde(default)]
    pub assignee_id: String,
    #[serde(default)]
    pub team_id: String,
    pub plan: PlanHours,
    #[serde(default)]
    pub pauses: Vec<Pause>,
    #[serde(default)]
    pub first_response: Option<FirstResponse>,
    /// The customer opened it (counts as its first contact).
    pub opened_by_customer: bool,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub investigation: Option<Investigation>,
    pub round: Round,
    #[serde(default)]
    pub previous_rounds: Vec<Round>,
    #[serde(default)]
    pub escalations: Vec<Escalation>,
    #[serde(default)]
    pub alerts: BTreeSet<Alert>,
    #[serde(default)]
    pub close_reason: Option<CloseReason>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub erased: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// What a change did, for the events the use case writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    Registered,
    /// Classification changed (type, category, severity, order, staff).
    Reclassified,
    /// Only texts changed: recorded, announced to no one.
    Edited,
    Assigned,
    FirstResponse {
        met: bool,
        business_seconds: i64,
    },
    Contacted(ContactChannel),
    Paused(PauseReason),
    Resumed {
        paused_seconds: i64,
    },
    Warned(DeadlineKind, Option<DateTime<Utc>>),
    Breached(DeadlineKind, Option<DateTime<Utc>>),
    /// The escalation at this index of `escalations`.
    Escalated(usize),
    Investigated,
    Resolved {
        met: bool,
        business_seconds: i64,
    },
    FollowedUp(FollowUpOutcome, u32),
    Reopened,
    Closed(CloseReason),
    Erased,
}

/// A text field: trimmed, within `max` characters, present when `required`.
fn text(v: &mut Violations, field: &str, value: &str, max: usize, required: bool) {
    let value = value.trim();
    if required && value.is_empty() {
        v.add(field, "required");
    }
    if value.chars().count() > max {
        v.add(field, format!("at most {max} characters"));
    }
}

impl NewCase {
    /// The request's own fields (`prefix` names where they are, e.g. "complaint").
    pub fn check(&self, prefix: &str) -> Result<(), Refusal> {
        let at = |f: &str| format!("{prefix}.{f}");
        let mut v = Violations::new();
        v.check(
            self.kind.is_some(),
            at("type"),
            "required: complaint, inquiry or help_request",
        );
        v.check(
            self.origin.is_some(),
            at("origin"),
            "required: hotline, email, web or visit",
        );
        v.check(
            self.category.is_some(),
            at("category"),
            "required: damage, loss, delay, handover_dispute, staff_attitude, billing or other",
        );
        v.check(
            self.severity.is_some(),
            at("severity"),
            "required: low, medium, high or critical",
        );
        text(&mut v, &at("customer_id"), &self.customer_id, MAX_ID, true);
        text(&mut v, &at("order_id"), &self.order_id, MAX_ID, false);
        text(&mut v, &at("staff_id"), &self.staff_id, MAX_ID, false);
        text(&mut v, &at("summary"), &self.summary, MAX_SUMMARY, true);
        text(
            &mut v,
            &at("description"),
            &self.description,
            MAX_TEXT,
            false,
        );
        // A case opened from a survey answer may not know the order yet; its agent adds it.
        if self.category.is_some_and(Category::needs_order)
            && self.order_id.trim().is_empty()
            && !self.origin.is_some_and(Origin::is_automatic)
        {
            v.add(
                at("order_id"),
                "required for damage, loss, delay and handover disputes",
            );
        }
        Ok(v.finish()?)
    }
}

impl Case {
    /// CD-1, CD-2: a new case with its case number, on the clock from `registration.now`.
    pub fn register(
        new: NewCase,
        registration: Registration,
    ) -> Result<(Case, Vec<Fact>), Refusal> {
        new.check("complaint")?;
        let (Some(kind), Some(origin), Some(category), Some(severity)) =
            (new.kind, new.origin, new.category, new.severity)
        else {
            return Err(invalid("complaint", "incomplete"));
        };
        let now = registration.now;
        let case = Case {
            id: registration.id,
            case_number: registration.case_number,
            kind,
            origin,
            source: registration.source,
            contact_channel: new.contact_channel,
            category,
            severity,
            customer_id: new.customer_id.trim().to_owned(),
            order_id: new.order_id.trim().to_owned(),
            staff_id: new.staff_id.trim().to_owned(),
            tier: registration.tier,
            summary: new.summary.trim().to_owned(),
            description: new.description.trim().to_owned(),
            state: State::Registered,
            assignee_id: String::new(),
            team_id: registration.team_id,
            plan: registration.plan,
            pauses: Vec::new(),
            first_response: None,
            opened_by_customer: !origin.is_automatic(),
            contacts: Vec::new(),
            investigation: None,
            round: Round {
                started: now,
                resolution: None,
                follow_ups: Vec::new(),
                reopened_at: None,
            },
            previous_rounds: Vec::new(),
            escalations: Vec::new(),
            alerts: BTreeSet::new(),
            close_reason: None,
            closed_at: None,
            erased: false,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        Ok((case, vec![Fact::Registered]))
    }

    /// Every mutation names the version the caller read; an old one is refused.
    pub fn check_version(&self, expected: i64) -> Result<(), Refusal> {
        if expected <= 0 {
            return Err(invalid(
                "expected_version",
                "required: the version of the case you read",
            ));
        }
        if expected != self.version {
            return Err(Refusal::Stale(format!(
                "case {} is at version {}, not {expected}: read it again",
                self.case_number, self.version
            )));
        }
        Ok(())
    }

    pub fn is_open(&self) -> bool {
        State::OPEN.contains(&self.state)
    }

    fn ensure_open(&self, doing: &str) -> Result<(), Refusal> {
        if self.is_open() {
            Ok(())
        } else {
            Err(Refusal::Precondition(format!(
                "case {} is {}: {doing} only while it is open",
                self.case_number, self.state
            )))
        }
    }

    fn ensure_not_closed(&self, doing: &str) -> Result<(), Refusal> {
        if self.state == State::Closed {
            Err(Refusal::Precondition(format!(
                "case {} is closed: {doing} no more",
                self.case_number
            )))
        } else {
            Ok(())
        }
    }

    /// Customer contacts about the case: its opening, if the customer opened it, and each
    /// later one.
    pub fn customer_contact_count(&self) -> u32 {
        u32::from(self.opened_by_customer) + u32::try_from(self.contacts.len()).unwrap_or(u32::MAX)
    }

    pub fn escalation_level(&self) -> u32 {
        self.escalations.last().map_or(0, |e| e.level)
    }

    fn round_number(&self) -> u32 {
        u32::try_from(self.previous_rounds.len()).unwrap_or(u32::MAX)
    }

    fn stops(&self) -> Vec<Stop> {
        self.pauses
            .iter()
            .map(|p| Stop {
                start: p.start,
                end: p.end,
            })
            .collect()
    }

    fn paused(&self) -> bool {
        self.pauses.last().is_some_and(|p| p.end.is_none())
    }

    /// CD-3: where the case stands against a deadline of its current round at `now`.
    pub fn standing(&self, kind: DeadlineKind, policy: &Policy, now: DateTime<Utc>) -> Standing {
        self.round_standing(&self.round, kind, policy, now)
    }

    /// CD-3: the standing of a deadline of `round` (the first response belongs to the first).
    pub fn round_standing(
        &self,
        round: &Round,
        kind: DeadlineKind,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Standing {
        let stops = self.stops();
        let clock = match kind {
            DeadlineKind::FirstResponse => Clock {
                started: self.created_at,
                allowed: policy.allowed(self.plan.first_response, self.severity),
                stops: &stops,
                done: self.first_response.as_ref().map(|r| r.at),
            },
            DeadlineKind::Resolution => Clock {
                started: round.started,
                allowed: policy.allowed(self.plan.resolution, self.severity),
                stops: &stops,
                done: round.resolution.as_ref().map(|r| r.at),
            },
        };
        clock.standing(&policy.calendar, policy.warning_percent, now)
    }

    /// Business seconds from registration to the latest resolution, stops excluded.
    pub fn resolution_business_seconds(&self, policy: &Policy) -> Option<i64> {
        let resolved = self.round.resolution.as_ref()?.at;
        let stops = self.stops();
        let clock = Clock {
            started: self.created_at,
            allowed: 0,
            stops: &stops,
            done: Some(resolved),
        };
        Some(clock.used(&policy.calendar, resolved))
    }

    /// CD-2: a new classification or texts; only the fields given change.
    pub fn reclassify(
        &mut self,
        change: Reclassification,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fact>, Refusal> {
        self.ensure_not_closed("it is reclassified")?;
        let mut v = Violations::new();
        if let Some(summary) = &change.summary {
            text(&mut v, "complaint.summary", summary, MAX_SUMMARY, true);
        }
        if let Some(description) = &change.description {
            text(
                &mut v,
                "complaint.description",
                description,
                MAX_TEXT,
                false,
            );
        }
        if let Some(order) = &change.order_id {
            text(&mut v, "complaint.order_id", order, MAX_ID, false);
        }
        if let Some(staff) = &change.staff_id {
            text(&mut v, "complaint.staff_id", staff, MAX_ID, false);
        }
        let category = change.category.unwrap_or(self.category);
        let order = change
            .order_id
            .as_deref()
            .map_or(self.order_id.as_str(), str::trim);
        let touches_order = change.category.is_some() || change.order_id.is_some();
        if touches_order && category.needs_order() && order.is_empty() {
            v.add(
                "complaint.order_id",
                "required for damage, loss, delay and handover disputes",
            );
        }
        v.finish()?;
        let before = (
            self.kind,
            self.category,
            self.severity,
            self.order_id.clone(),
            self.staff_id.clone(),
        );
        if let Some(kind) = change.kind {
            self.kind = kind;
        }
        self.category = category;
        if let Some(severity) = change.severity {
            self.severity = severity;
        }
        if let Some(order) = change.order_id {
            self.order_id = order.trim().to_owned();
        }
        if let Some(staff) = change.staff_id {
            self.staff_id = staff.trim().to_owned();
        }
        let texts_before = (
            self.summary.clone(),
            self.description.clone(),
            self.contact_channel,
        );
        if let Some(summary) = change.summary {
            self.summary = summary.trim().to_owned();
        }
        if let Some(description) = change.description {
            self.description = description.trim().to_owned();
        }
        if let Some(channel) = change.contact_channel {
            self.contact_channel = Some(channel);
        }
        let after = (
            self.kind,
            self.category,
            self.severity,
            self.order_id.clone(),
            self.staff_id.clone(),
        );
        self.updated_at = now;
        Ok(if before != after {
            vec![Fact::Reclassified]
        } else if texts_before
            != (
                self.summary.clone(),
                self.description.clone(),
                self.contact_channel,
            )
        {
            vec![Fact::Edited]
        } else {
            vec![]
        })
    }

    /// Gives the case to an agent (and, when named, the agent's team).
    pub fn assign(&mut self, assignee: &str, team: Option<&str>) -> Result<Vec<Fact>, Refusal> {
        self.ensure_not_closed("it is assigned")?;
        let mut v = Violations::new();
        text(&mut v, "assignee_id", assignee, MAX_ID, true);
        if let Some(team) = team {
            text(&mut v, "team_id", team, MAX_ID, false);
        }
        v.finish()?;
        let team = team.map(str::trim).filter(|t| !t.is_empty());
        if self.assignee_id == assignee.trim() && team.is_none_or(|t| t == self.team_id) {
            return Ok(vec![]);
        }
        self.assignee_id = assignee.trim().to_owned();
        if let Some(team) = team {
            self.team_id = team.to_owned();
        }
        Ok(vec![Fact::Assigned])
    }

    /// CD-3: the first answer to the customer.
    pub fn respond(
        &mut self,
        message: &str,
        agent: &str,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fact>, Refusal> {
        let mut v = Violations::new();
        text(&mut v, "message", message, MAX_TEXT, true);
        v.finish()?;
        self.ensure_open("the first response is recorded")?;
        if self.first_response.is_some() {
            return Err(Refusal::Precondition(format!(
                "case {} already has its first response",
                self.case_number
            )));
        }
        Ok(vec![
            self.record_first_response(message, agent, policy, now),
        ])
    }

    fn record_first_response(
        &mut self,
        message: &str,
        agent: &str,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Fact {
        self.first_response = Some(FirstResponse {
            message: message.trim().to_owned(),
            agent: agent.to_owned(),
            at: now,
        });
        if self.state == State::Registered {
            self.state = State::InProgress;
        }
        let standing = self.standing(DeadlineKind::FirstResponse, policy, now);
        Fact::FirstResponse {
            met: standing.state == DeadlineState::Met,
            business_seconds: standing.used,
        }
    }

    /// The customer came back about the case.
    pub fn contact(
        &mut self,
        channel: Option<ContactChannel>,
        note: &str,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fact>, Refusal> {
        let mut v = Violations::new();
        v.check(
            channel.is_some(),
            "channel",
            "required: phone, email, sms, web or in_person",
        );
        text(&mut v, "note", note, MAX_NOTE, false);
        v.finish()?;
        self.ensure_not_closed("contacts are recorded")?;
        let Some(channel) = channel else {
            return Err(invalid("channel", "required"));
        };
        self.contacts.push(Contact {
            channel,
            note: note.trim().to_owned(),
            agent: agent.to_owned(),
            at: now,
        });
        Ok(vec![Fact::Contacted(channel)])
    }

    /// CD-3: the case waits on the customer; the clocks stop.
    pub fn pause(
        &mut self,
        reason: Option<PauseReason>,
        note: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fact>, Refusal> {
        let mut v = Violations::new();
        v.check(
            reason.is_some(),
            "reason",
            "required: awaiting_information, awaiting_availability, awaiting_decision or other",
        );
        text(&mut v, "note", note, MAX_NOTE, false);
        v.finish()?;
        self.ensure_open("its clock is paused")?;
        let Some(reason) = reason else {
            return Err(invalid("reason", "required"));
        };
        if self.paused() {
            return Err(Refusal::Precondition(format!(
                "case {} is already waiting on the customer",
                self.case_number
            )));
        }
        self.pauses.push(Pause {
            reason,
            note: note.trim().to_owned(),
            start: now,
            end: None,
            actor: actor.to_owned(),
        });
        self.state = State::WaitingOnCustomer;
        Ok(vec![Fact::Paused(reason)])
    }

    /// CD-3: the customer answered; the clocks run again.
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<Vec<Fact>, Refusal> {
        if self.state != State::WaitingOnCustomer {
            return Err(Refusal::Precondition(format!(
                "case {} is not waiting on the customer",
                self.case_number
            )));
        }
        Ok(vec![self.end_pause(now)])
    }

    fn end_pause(&mut self, now: DateTime<Utc>) -> Fact {
        let mut paused_seconds = 0;
        if let Some(pause) = self.pauses.last_mut().filter(|p| p.end.is_none()) {
            pause.end = Some(now);
            paused_seconds = (now - pause.start).num_seconds().max(0);
        }
        self.state = if self.first_response.is_some() {
            State::InProgress
        } else {
            State::Registered
        };
        Fact::Resumed { paused_seconds }
    }

    /// CD-4: the root cause, as a code, and what is done against it.
    pub fn investigate(
        &mut self,
        root_cause: Option<RootCause>,
        detail: &str,
        corrective_action: &str,
        investigator: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fact>, Refusal> {
        let mut v = Violations::new();
        v.check(
            root_cause.is_some(),
            "investigation.root_cause",
            "required: one of the coded root causes",
        );
        text(
            &mut v,
            "investigation.root_cause_detail",
            detail,
            MAX_TEXT,
            false,
        );
        text(
            &mut v,
            "investigation.corrective_action",
            corrective_action,
            MAX_TEXT,
            true,
        );
        v.finish()?;
        self.ensure_open("its investigation is recorded")?;
        let Some(root_cause) = root_cause else {
            return Err(invalid("investigation.root_cause", "required"));
        };
        self.investigation = Some(Investigation {
            root_cause,
            detail: detail.trim().to_owned(),
            corrective_action: corrective_action.trim().to_owned(),
            investigator: investigator.to_owned(),
            at: now,
        });
        Ok(vec![Fact::Investigated])
    }

    /// CD-5: the answer to the customer and any compensation. A complaint is resolved only
    /// once its root cause and corrective action are recorded (CD-4, ISO 10002); the answer
    /// is the first response if there was none, and a pause ends.
    pub fn resolve(
        &mut self,
        answer: &str,
        compensation_fen: i64,
        resolver: &str,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fact>, Refusal> {
        let mut v = Violations::new();
        text(&mut v, "resolution.answer", answer, MAX_TEXT, true);
        v.check(
            compensation_fen >= 0,
            "resolution.compensation",
            "must not be negative",
        );
        v.finish()?;
        self.ensure_open("it is resolved")?;
        if self.kind == CaseType::Complaint
            && self
                .investigation
                .as_ref()
                .is_none_or(|i| i.corrective_action.is_empty())
        {
            return Err(Refusal::Precondition(format!(
                "case {} is a complaint: record its root cause and corrective action first (CD-4)",
                self.case_number
            )));
        }
        let mut facts = Vec::new();
        if self.paused() {
            facts.push(self.end_pause(now));
        }
        if self.first_response.is_none() {
            facts.push(self.record_first_response(answer, resolver, policy, now));
        }
        self.round.resolution = Some(Resolution {
            answer: answer.trim().to_owned(),
            compensation_fen,
            resolver: resolver.to_owned(),
            at: now,
        });
        self.state = State::Resolved;
        let standing = self.standing(DeadlineKind::Resolution, policy, now);
        facts.push(Fact::Resolved {
            met: standing.state == DeadlineState::Met,
            business_seconds: standing.used,
        });
        Ok(facts)
    }

    /// CD-6: one attempt to confirm the resolution. Satisfied closes; not satisfied reopens
    /// with a new resolution clock and the round kept; the configured number of failed
    /// attempts closes the case as unreachable.
    pub fn follow_up(
        &mut self,
        outcome: Option<FollowUpOutcome>,
        note: &str,
        agent: &str,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fact>, Refusal> {
        let mut v = Violations::new();
        v.check(
            outcome.is_some(),
            "follow_up.outcome",
            "required: satisfied, not_satisfied or no_contact",
        );
        text(&mut v, "follow_up.note", note, MAX_NOTE, false);
        v.finish()?;
        let Some(outcome) = outcome else {
            return Err(invalid("follow_up.outcome", "required"));
        };
        if self.state != State::Resolved {
            return Err(Refusal::Precondition(format!(
                "case {} is {}: follow-ups confirm a resolution, so the case must be resolved first",
                self.case_number, self.state
            )));
        }
        let attempt = u32::try_from(self.round.follow_ups.len()).unwrap_or(u32::MAX) + 1;
        self.round.follow_ups.push(FollowUp {
            outcome,
            note: note.trim().to_owned(),
            agent: agent.to_owned(),
            at: now,
            attempt,
        });
        let mut facts = vec![Fact::FollowedUp(outcome, attempt)];
        match outcome {
            FollowUpOutcome::Satisfied => facts.push(self.close(CloseReason::Confirmed, now)),
            FollowUpOutcome::NotSatisfied => {
                let mut ended = std::mem::replace(
                    &mut self.round,
                    Round {
                        started: now,
                        resolution: None,
                        follow_ups: Vec::new(),
                        reopened_at: None,
                    },
                );
                ended.reopened_at = Some(now);
                self.previous_rounds.push(ended);
                self.state = State::InProgress;
                facts.push(Fact::Reopened);
            }
            FollowUpOutcome::NoContact => {
                let failed = self
                    .round
                    .follow_ups
                    .iter()
                    .filter(|f| f.outcome == FollowUpOutcome::NoContact)
                    .count();
                if failed >= policy.follow_up_attempts as usize {
                    facts.push(self.close(CloseReason::FollowUpExhausted, now));
                }
            }
        }
        Ok(facts)
    }

    fn close(&mut self, reason: CloseReason, now: DateTime<Utc>) -> Fact {
        self.state = State::Closed;
        self.close_reason = Some(reason);
        self.closed_at = Some(now);
        Fact::Closed(reason)
    }

    /// CD-8: one step up the ladder by hand.
    pub fn escalate(
        &mut self,
        reason: &str,
        actor: &str,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fact>, Refusal> {
        let mut v = Violations::new();
        text(&mut v, "reason", reason, MAX_NOTE, true);
        v.finish()?;
        self.ensure_open("it is escalated")?;
        let level = self.escalation_level();
        let Some(step) = policy.ladder.get(level as usize) else {
            return Err(Refusal::Precondition(format!(
                "case {} is at the top of the escalation ladder (level {level})",
                self.case_number
            )));
        };
        Ok(vec![self.push_escalation(
            level + 1,
            step.target,
            false,
            reason,
            actor,
            now,
        )])
    }

    fn push_escalation(
        &mut self,
        level: u32,
        target: EscalationTarget,
        automatic: bool,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Fact {
        self.escalations.push(Escalation {
            level,
            target,
            automatic,
            reason: reason.trim().to_owned(),
            actor: actor.to_owned(),
            at: now,
        });
        Fact::Escalated(self.escalations.len() - 1)
    }

    /// The deadlines of the current round whose work is not done yet.
    fn running_deadlines(&self) -> Vec<DeadlineKind> {
        let mut kinds = Vec::new();
        if self.first_response.is_none() {
            kinds.push(DeadlineKind::FirstResponse);
        }
        if self.round.resolution.is_none() {
            kinds.push(DeadlineKind::Resolution);
        }
        kinds
    }

    /// When the earliest unmet deadline was breached, which the escalation ladder counts
    /// from.
    fn breach_anchor(&self, policy: &Policy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.running_deadlines()
            .into_iter()
            .filter_map(|kind| self.standing(kind, policy, now).breached_at)
            .min()
    }

    /// CD-3, CD-8: what has fallen due by `now` and not been announced: warnings, breaches
    /// and steps of the escalation ladder, each once per round. Computed from the history
    /// under the policy given, whatever policy earlier passes ran under.
    pub fn tick(&mut self, policy: &Policy, now: DateTime<Utc>) -> Vec<Fact> {
        if !self.is_open() {
            return vec![];
        }
        let round = self.round_number();
        let mut facts = Vec::new();
        for kind in self.running_deadlines() {
            let standing = self.standing(kind, policy, now);
            let alert = |breach| Alert {
                round,
                deadline: kind,
                breach,
            };
            if standing.state == DeadlineState::Breached {
                // A warning not given before the breach would only be noise now.
                self.alerts.insert(alert(false));
                if self.alerts.insert(alert(true)) {
                    facts.push(Fact::Breached(kind, standing.due));
                }
            } else if standing.warning_at.is_some_and(|w| w <= now)
                && self.alerts.insert(alert(false))
            {
                facts.push(Fact::Warned(kind, standing.due));
            }
        }
        if let Some(anchor) = self.breach_anchor(policy, now) {
            for (i, step) in policy.ladder.iter().enumerate() {
                let level = u32::try_from(i).unwrap_or(u32::MAX) + 1;
                if level > self.escalation_level()
                    && policy.calendar.add_business(anchor, step.after_breach) <= now
                {
                    facts.push(self.push_escalation(
                        level,
                        step.target,
                        true,
                        "",
                        super::SYSTEM,
                        now,
                    ));
                }
            }
        }
        facts
    }

    /// When [`Case::tick`] next has something to do; `None` when nothing can fall due until
    /// someone changes the case (it is closed, resolved, or its clocks stand still).
    pub fn next_check(&self, policy: &Policy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.is_open() {
            return None;
        }
        let round = self.round_number();
        let mut next: Vec<DateTime<Utc>> = Vec::new();
        for kind in self.running_deadlines() {
            let standing = self.standing(kind, policy, now);
            let announced = |breach| {
                self.alerts.contains(&Alert {
                    round,
                    deadline: kind,
                    breach,
                })
            };
            if !announced(false) {
                next.extend(standing.warning_at);
            }
            if !announced(true) {
                next.extend(standing.due);
            }
        }
        if let Some(anchor) = self.breach_anchor(policy, now) {
            let level = self.escalation_level() as usize;
            if let Some(step) = policy.ladder.get(level) {
                next.push(policy.calendar.add_business(anchor, step.after_breach));
            }
        }
        next.into_iter().min()
    }

    /// CR-11: the customer's personal data leaves the case; codes, times and amounts stay
    /// for the statistics.
    pub fn erase(&mut self) -> Vec<Fact> {
        if self.erased {
            return vec![];
        }
        self.summary.clear();
        self.description.clear();
        for pause in &mut self.pauses {
            pause.note.clear();
        }
        if let Some(response) = &mut self.first_response {
            response.message.clear();
        }
        for contact in &mut self.contacts {
            contact.note.clear();
        }
        if let Some(investigation) = &mut self.investigation {
            investigation.detail.clear();
        }
        for round in std::iter::once(&mut self.round).chain(self.previous_rounds.iter_mut()) {
            if let Some(resolution) = &mut round.resolution {
                resolution.answer.clear();
            }
            for follow_up in &mut round.follow_ups {
                follow_up.note.clear();
            }
        }
        for escalation in &mut self.escalations {
            escalation.reason.clear();
        }
        self.erased = true;
        vec![Fact::Erased]
    }
}

/// CD-2: the fields an update may change; `None` leaves one as it is.
#[derive(Clone, Debug, Default)]
pub struct Reclassification {
    pub kind: Option<CaseType>,
    pub category: Option<Category>,
    pub severity: Option<Severity>,
    pub order_id: Option<String>,
    pub staff_id: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub contact_channel: Option<ContactChannel>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::calendar::tests::local;
    use super::super::policy::tests::policy;
    use super::*;

    pub(crate) fn new_case(kind: CaseType) -> NewCase {
        NewCase {
            kind: Some(kind),
            origin: Some(Origin::Hotline),
            contact_channel: Some(ContactChannel::Phone),
            category: Some(Category::Damage),
            severity: Some(Severity::Medium),
            customer_id: "c1".into(),
            order_id: "o1".into(),
            staff_id: String::new(),
            summary: "box crushed".into(),
            description: "the carton arrived crushed".into(),
        }
    }

    /// A complaint registered Monday 2026-11-30 09:00 (Asia/Shanghai); its tier allows 2
    /// business hours to the first response and 8 to the resolution.
    pub(crate) fn case(kind: CaseType) -> Case {
        Case::register(
            new_case(kind),
            Registration {
                id: "k1".into(),
                case_number: "TS-2026-000001".into(),
                source: None,
                tier: "small".into(),
                team_id: "t1".into(),
                plan: PlanHours {
                    first_response: 2,
                    resolution: 8,
                },
                actor: "agent-1".into(),
                now: local(2026, 11, 30, 9, 0),
            },
        )
        .unwrap()
        .0
    }

    fn resolved(kind: CaseType) -> Case {
        let policy = policy();
        let mut case = case(kind);
        let now = local(2026, 11, 30, 10, 0);
        case.investigate(
            Some(RootCause::Packaging),
            "",
            "double-wall cartons",
            "a",
            now,
        )
        .unwrap();
        case.resolve("refund", 5_000, "a", &policy, now).unwrap();
        case
    }

    #[test]
    fn cd1_cd2_a_case_needs_its_type_origin_classification_customer_and_summary() {
        let empty = NewCase::default().check("complaint").unwrap_err();
        let Refusal::Invalid(violations) = empty else {
            panic!("invalid");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        for field in [
            "complaint.type",
            "complaint.origin",
            "complaint.category",
            "complaint.severity",
            "complaint.customer_id",
            "complaint.summary",
        ] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
        let mut no_order = new_case(CaseType::Complaint);
        no_order.order_id.clear();
        assert!(
            no_order.check("complaint").is_err(),
            "damage names its order"
        );
        no_order.category = Some(Category::StaffAttitude);
        assert!(no_order.check("complaint").is_ok());
        let request = case(CaseType::Inquiry);
        assert_eq!(request.state, State::Registered);
        assert_eq!(request.customer_contact_count(), 1);
    }

    #[test]
    fn cd4_cd5_a_complaint_is_not_resolved_without_root_cause_and_corrective_action() {
        let policy = policy();
        let now = local(2026, 11, 30, 10, 0);
        let mut complaint = case(CaseType::Complaint);
        let refused = complaint.resolve("sorry", 0, "a", &policy, now);
        assert!(
            matches!(refused, Err(Refusal::Precondition(_))),
            "{refused:?}"
        );
        assert_eq!(complaint.state, State::Registered, "nothing changed");
        assert!(
            complaint
                .investigate(Some(RootCause::Handling), "", " ", "a", now)
                .is_err(),
            "a corrective action is required"
        );
        complaint
            .investigate(
                Some(RootCause::Handling),
                "forklift",
                "retrain the night shift",
                "a",
                now,
            )
            .unwrap();
        let facts = complaint
            .resolve("refund of the freight", 5_000, "a", &policy, now)
            .unwrap();
        assert_eq!(complaint.state, State::Resolved);
        assert!(
            matches!(facts[0], Fact::FirstResponse { met: true, .. }),
            "the answer is the first response: {facts:?}"
        );
        assert!(matches!(facts[1], Fact::Resolved { met: true, .. }));
        // A request needs no investigation.
        let mut request = case(CaseType::Inquiry);
        request
            .resolve("opening hours are 9-18", 0, "a", &policy, now)
            .unwrap();
        assert_eq!(request.state, State::Resolved);
    }

    #[test]
    fn cd6_closed_only_by_confirmation_or_exhausted_follow_ups_and_reopened_when_unhappy() {
        let policy = policy();
        let later = local(2026, 12, 1, 10, 0);
        // Not resolved: no follow-up, so no closing.
        let mut open = case(CaseType::Complaint);
        assert!(matches!(
            open.follow_up(Some(FollowUpOutcome::Satisfied), "", "a", &policy, later),
            Err(Refusal::Precondition(_))
        ));
        assert_eq!(open.state, State::Registered);

        let mut confirmed = resolved(CaseType::Complaint);
        let facts = confirmed
            .follow_up(Some(FollowUpOutcome::Satisfied), "", "a", &policy, later)
            .unwrap();
        assert_eq!(facts.last(), Some(&Fact::Closed(CloseReason::Confirmed)));
        assert_eq!(confirmed.state, State::Closed);

        let mut unhappy = resolved(CaseType::Complaint);
        let facts = unhappy
            .follow_up(
                Some(FollowUpOutcome::NotSatisfied),
                "still broken",
                "a",
                &policy,
                later,
            )
            .unwrap();
        assert_eq!(facts.last(), Some(&Fact::Reopened));
        assert_eq!(unhappy.state, State::InProgress);
        assert_eq!(unhappy.previous_rounds.len(), 1, "the round is kept");
        assert_eq!(
            unhappy.round.started, later,
            "the resolution clock restarts"
        );
        assert!(unhappy.round.resolution.is_none());
        let standing = unhappy.standing(DeadlineKind::Resolution, &policy, later);
        assert_eq!(standing.used, 0);
        assert_eq!(standing.state, DeadlineState::Running);

        let mut unreachable = resolved(CaseType::Complaint);
        for attempt in 1..=3 {
            let facts = unreachable
                .follow_up(Some(FollowUpOutcome::NoContact), "", "a", &policy, later)
                .unwrap();
            assert_eq!(
                facts[0],
                Fact::FollowedUp(FollowUpOutcome::NoContact, attempt)
            );
            let closed = facts.contains(&Fact::Closed(CloseReason::FollowUpExhausted));
            assert_eq!(closed, attempt == 3, "attempt {attempt}");
        }
        assert_eq!(unreachable.state, State::Closed);
    }

    #[test]
    fn cd3_warnings_and_breaches_are_announced_once_per_round() {
        let policy = policy();
        let mut case = case(CaseType::Complaint);
        // First response allowed 2 h from 09:00: warning at 80% = 10:36, breach at 11:00.
        assert_eq!(
            case.next_check(&policy, local(2026, 11, 30, 9, 0)),
            Some(local(2026, 11, 30, 10, 36))
        );
        assert!(case.tick(&policy, local(2026, 11, 30, 10, 0)).is_empty());
        assert_eq!(
            case.tick(&policy, local(2026, 11, 30, 10, 40)),
            vec![Fact::Warned(
                DeadlineKind::FirstResponse,
                Some(local(2026, 11, 30, 11, 0))
            )]
        );
        assert!(
            case.tick(&policy, local(2026, 11, 30, 10, 50)).is_empty(),
            "once"
        );
        let facts = case.tick(&policy, local(2026, 11, 30, 11, 0));
        assert_eq!(
            facts[0],
            Fact::Breached(
                DeadlineKind::FirstResponse,
                Some(local(2026, 11, 30, 11, 0))
            )
        );
        assert!(
            case.tick(&policy, local(2026, 11, 30, 11, 1)).is_empty(),
            "once"
        );
    }

    #[test]
    fn cd8_a_breached_case_climbs_the_ladder_once_per_step_and_by_hand_too() {
        let policy = policy();
        let mut case = case(CaseType::Complaint);
        // Breach at 11:00; the supervisor at once, the manager 4 business hours later
        // (15:00 less lunch: 16:00).
        let facts = case.tick(&policy, local(2026, 11, 30, 11, 0));
        assert!(facts.contains(&Fact::Escalated(0)), "{facts:?}");
        assert_eq!(case.escalations[0].target, EscalationTarget::Supervisor);
        assert!(case.escalations[0].automatic);
        assert_eq!(
            case.next_check(&policy, local(2026, 11, 30, 11, 0)),
            Some(local(2026, 11, 30, 16, 0))
        );
        assert!(case.tick(&policy, local(2026, 11, 30, 15, 59)).is_empty());
        let facts = case.tick(&policy, local(2026, 11, 30, 16, 0));
        assert_eq!(facts, vec![Fact::Escalated(1)]);
        assert_eq!(case.escalation_level(), 2);
        assert!(
            case.tick(&policy, local(2026, 12, 9, 9, 0))
                .iter()
                .all(|f| !matches!(f, Fact::Escalated(_)))
        );
        assert!(
            matches!(
                case.escalate(
                    "customer threatens to leave",
                    "s1",
                    &policy,
                    local(2026, 12, 9, 9, 0)
                ),
                Err(Refusal::Precondition(_))
            ),
            "top of the ladder"
        );

        let mut manual = super::tests::case(CaseType::Complaint);
        manual
            .escalate(
                "customer threatens to leave",
                "s1",
                &policy,
                local(2026, 11, 30, 9, 30),
            )
            .unwrap();
        assert_eq!(manual.escalation_level(), 1);
        assert!(!manual.escalations[0].automatic);
        // The breach later takes it to the next step, not again to the first.
        let facts = manual.tick(&policy, local(2026, 11, 30, 16, 0));
        let levels: Vec<u32> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::Escalated(i) => Some(manual.escalations[*i].level),
                _ => None,
            })
            .collect();
        assert_eq!(levels, vec![2]);
    }

    #[test]
    fn cd3_a_paused_case_announces_nothing_until_it_resumes() {
        let policy = policy();
        let mut case = case(CaseType::Complaint);
        case.pause(
            Some(PauseReason::AwaitingInformation),
            "photos",
            "a",
            local(2026, 11, 30, 9, 30),
        )
        .unwrap();
        assert_eq!(case.state, State::WaitingOnCustomer);
        assert_eq!(case.next_check(&policy, local(2026, 11, 30, 9, 30)), None);
        assert!(case.tick(&policy, local(2026, 12, 7, 9, 0)).is_empty());
        let facts = case.resume(local(2026, 12, 1, 9, 0)).unwrap();
        assert!(matches!(facts[0], Fact::Resumed { .. }));
        assert_eq!(case.state, State::Registered, "not yet answered");
        // 30 minutes used before the pause: the first response falls due 90 minutes after
        // 09:00 Tuesday.
        let standing = case.standing(
            DeadlineKind::FirstResponse,
            &policy,
            local(2026, 12, 1, 9, 0),
        );
        assert_eq!(standing.due, Some(local(2026, 12, 1, 10, 30)));
    }

    #[test]
    fn every_change_names_the_version_it_read() {
        let case = case(CaseType::Complaint);
        assert!(matches!(case.check_version(0), Err(Refusal::Invalid(_))));
        assert!(matches!(case.check_version(7), Err(Refusal::Stale(_))));
        assert!(case.check_version(1).is_ok());
    }

    #[test]
    fn cr11_erasure_keeps_codes_and_times_and_removes_every_text() {
        let mut case = resolved(CaseType::Complaint);
        case.contact(
            Some(ContactChannel::Phone),
            "called from 138 0000 0000",
            "a",
            local(2026, 11, 30, 11, 0),
        )
        .unwrap();
        assert_eq!(case.erase(), vec![Fact::Erased]);
        assert!(case.erase().is_empty(), "once");
        let json = serde_json::to_string(&case).unwrap();
        for text in ["box crushed", "crushed", "refund", "138 0000"] {
            assert!(!json.contains(text), "{text} left in {json}");
        }
        // The corrective action is the company's own measure, not the customer's data.
        assert!(json.contains("double-wall"));
        assert_eq!(case.category, Category::Damage);
        assert_eq!(
            case.round.resolution.as_ref().map(|r| r.compensation_fen),
            Some(5_000)
        );
    }
}
