//! The whole suite on one server over fresh databases, the way `kefu serve --service all`
//! runs it, with the organisation of the tests and the other services' work that makes a
//! month of facts.

use std::ops::Deref;
use std::time::Duration;

use chrono::{DateTime, Datelike as _, FixedOffset, TimeZone as _, Utc};
use kefu_complaint_desk::ComplaintDesk;
use kefu_customer_registry::CustomerRegistry;
use kefu_order_tracking::OrderTracking;
use kefu_platform::auth::Role;
use kefu_platform::time::to_timestamp;
use kefu_proto::common::{Address, Money};
use kefu_proto::complaint as dpb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_proto::staff as pb;
use kefu_proto::staff::staff_kpi_service_client::StaffKpiServiceClient;
use kefu_proto::survey as spb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;
use kefu_staff_kpi::StaffKpi;
use kefu_survey::Survey;
use kefu_testkit::{Authed, Spawn};

pub(crate) use kefu_testkit::Backend;
pub(crate) use kefu_testkit::until;

pub(crate) type Staff = StaffKpiServiceClient<Authed>;
pub(crate) type Desk = ComplaintDeskServiceClient<Authed>;

pub(crate) const SERVICES: [&'static dyn kefu_platform::service::Service; 5] = [
    &CustomerRegistry,
    &OrderTracking,
    &ComplaintDesk,
    &Survey,
    &StaffKpi,
];

/// The team every test's customers and agents are in.
pub(crate) const HOTLINE: &str = "hotline";
pub(crate) const EMAIL: &str = "email";

pub(crate) struct App {
    inner: kefu_testkit::App,
}

impl Deref for App {
    type Target = kefu_testkit::App;

    fn deref(&self) -> &kefu_testkit::App {
        &self.inner
    }
}

/// The suite with the close pass every 100 ms.
pub(crate) async fn spawn(backend: Backend) -> App {
    App {
        inner: Spawn::new(&SERVICES, backend)
            .env("KEFU__STAFF_KPI__CLOSE_INTERVAL_MS", "100")
            .start()
            .await,
    }
}

impl App {
    pub(crate) async fn staff(&self) -> Staff {
        self.staff_as("max", Role::Manager, "").await
    }

    pub(crate) async fn staff_as(&self, subject: &str, role: Role, team: &str) -> Staff {
        StaffKpiServiceClient::new(self.as_role(subject, role, team).await)
    }

    pub(crate) async fn desk_as(&self, subject: &str, role: Role) -> Desk {
        let team = if role == Role::Agent { HOTLINE } else { "" };
        ComplaintDeskServiceClient::new(self.as_role(subject, role, team).await)
    }

    /// Rows of `table` in staff-kpi's database.
    pub(crate) async fn count(&self, table: &str) -> i64 {
        self.inner.count(kefu_staff_kpi::SERVICE, table).await
    }

    /// The tests' department: max manages; sue supervises hotline (ann and bob), dora
    /// supervises email (carl).
    pub(crate) async fn organisation(&self) {
        let mut staff = self.staff().await;
        for (id, role, team, manager) in [
            ("max", pb::StaffRole::Manager, "", ""),
            ("sue", pb::StaffRole::Supervisor, "", "max"),
            ("dora", pb::StaffRole::Supervisor, "", "max"),
        ] {
            staff
                .create_staff(person(id, role, team, manager))
                .await
                .unwrap();
        }
        for (id, supervisor) in [(HOTLINE, "sue"), (EMAIL, "dora")] {
            staff
                .create_team(pb::CreateTeamRequest {
                    team: Some(pb::Team {
                        id: id.into(),
                        display_name: format!("{id} desk"),
                        supervisor_id: supervisor.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .unwrap();
        }
        for (id, team, manager) in [
            ("ann", HOTLINE, "sue"),
            ("bob", HOTLINE, "sue"),
            ("carl", EMAIL, "dora"),
        ] {
            staff
                .create_staff(person(id, pb::StaffRole::Agent, team, manager))
                .await
                .unwrap();
        }
    }

    /// A new active enterprise customer of the hotline team.
    pub(crate) async fn customer(&self) -> String {
        CustomerRegistryServiceClient::new(self.as_role("max", Role::Manager, "").await)
            .create_customer(cpb::CreateCustomerRequest {
                customer: Some(cpb::Customer {
                    kind: cpb::CustomerKind::Enterprise as i32,
                    display_name: "Fuzhou Widgets".into(),
                    registration_number: "91350100M000100Y43".into(),
                    team_id: HOTLINE.into(),
                    contacts: vec![cpb::Contact {
                        display_name: "Li Si".into(),
                        phone: "0591-87654321".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .id
    }

    /// An order of `customer_id`, taken and carried to its handover, the handover recorded
    /// (and so the delivery made) by `courier`.
    pub(crate) async fn order(&self, customer_id: &str, delivered_by: Option<&str>) -> String {
        let mut orders =
            OrderTrackingServiceClient::new(self.as_role("max", Role::Manager, "").await);
        let place = |city: &str| Address {
            province: "Fujian".into(),
            city: city.into(),
            street: "1 Wusi Road".into(),
            ..Default::default()
        };
        let order = orders
            .create_order(opb::CreateOrderRequest {
                order: Some(opb::Order {
                    customer_id: customer_id.into(),
                    channel: opb::Channel::Phone as i32,
                    service_level: opb::ServiceLevel::Standard as i32,
                    distance_km: 30,
                    origin: Some(place("Fuzhou")),
                    destination: Some(place("Putian")),
                    lines: vec![opb::CargoLine {
                        description: "tea".into(),
                        pieces: 1,
                        weight_grams: 2_000,
                        volume_cm3: 1_000,
                        declared_value: Some(Money {
                            currency_code: "CNY".into(),
                            minor_units: 10_000,
                        }),
                        special: None,
                    }],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let Some(courier) = delivered_by else {
            return order.id;
        };
        let id = order.id.clone();
        let step = |to: opb::OrderState| opb::MoveOrderRequest {
            order_id: id.clone(),
            to_state: to as i32,
            ..Default::default()
        };
        orders
            .move_order(step(opb::OrderState::Verified))
            .await
            .unwrap();
        let picking = orders
            .move_order(step(opb::OrderState::Picking))
            .await
            .unwrap()
            .into_inner();
        orders
            .record_pick(opb::RecordPickRequest {
                order_id: id.clone(),
                pick_lines: picking
                    .pick_lines
                    .iter()
                    .map(|p| opb::PickLine {
                        line_number: p.line_number,
                        pieces_picked: p.pieces_ordered,
                        ..Default::default()
                    })
                    .collect(),
                request_id: String::new(),
            })
            .await
            .unwrap();
        orders
            .record_packing(opb::RecordPackingRequest {
                order_id: id.clone(),
                packages: vec![opb::Package {
                    package_id: "P1".into(),
                    line_numbers: picking.pick_lines.iter().map(|p| p.line_number).collect(),
                    weight_grams: 2_000,
                }],
                request_id: String::new(),
            })
            .await
            .unwrap();
        for to in [
            opb::OrderState::Packed,
            opb::OrderState::Dispatched,
            opb::OrderState::InTransit,
            opb::OrderState::Arrived,
            opb::OrderState::OutForDelivery,
        ] {
            orders.move_order(step(to)).await.unwrap();
        }
        OrderTrackingServiceClient::new(self.as_role(courier, Role::Agent, HOTLINE).await)
            .record_handover(opb::RecordHandoverRequest {
                order_id: id.clone(),
                handover: Some(opb::Handover {
                    document_numbers: vec!["WB-1".into()],
                    handed_by: "courier 7".into(),
                    signer_name: "Wang Wu".into(),
                    sign_time: Some(to_timestamp(Utc::now())),
                    proof_uri: "docs://proof/1".into(),
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
        id
    }

    /// Registers a complaint about a damaged order of a new customer; `against` names the
    /// person complained about (a staff-attitude complaint).
    pub(crate) async fn complaint(
        &self,
        against: &str,
        order: Option<(&str, &str)>,
    ) -> dpb::Complaint {
        let (customer, order) = match order {
            Some((customer, order)) => (customer.to_owned(), order.to_owned()),
            None => {
                let customer = self.customer().await;
                let order = self.order(&customer, None).await;
                (customer, order)
            }
        };
        let category = if against.is_empty() {
            dpb::Category::Damage
        } else {
            dpb::Category::StaffAttitude
        };
        self.desk_as("max", Role::Manager)
            .await
            .create_complaint(dpb::CreateComplaintRequest {
                complaint: Some(dpb::Complaint {
                    r#type: dpb::CaseType::Complaint as i32,
                    origin: dpb::Origin::Hotline as i32,
                    contact_channel: dpb::ContactChannel::Phone as i32,
                    category: category as i32,
                    severity: dpb::Severity::Medium as i32,
                    customer_id: customer,
                    order_id: order,
                    staff_id: against.into(),
                    summary: "carton crushed on arrival".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// `agent` works a case from assignment to resolution: the first response, `contacts`
    /// more customer contacts, the investigation and the answer.
    pub(crate) async fn work_case(
        &self,
        case: &dpb::Complaint,
        agent: &str,
        contacts: u32,
    ) -> dpb::Complaint {
        let mut desk = self.desk_as("max", Role::Manager).await;
        let mut case = desk
            .assign_complaint(dpb::AssignComplaintRequest {
                complaint_id: case.id.clone(),
                assignee_id: agent.into(),
                team_id: HOTLINE.into(),
                expected_version: case.version,
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut own = self.desk_as(agent, Role::Agent).await;
        case = own
            .record_first_response(dpb::RecordFirstResponseRequest {
                complaint_id: case.id.clone(),
                message: "we are looking into it".into(),
                expected_version: case.version,
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        for _ in 0..contacts {
            case = own
                .record_customer_contact(dpb::RecordCustomerContactRequest {
                    complaint_id: case.id.clone(),
                    channel: dpb::ContactChannel::Phone as i32,
                    note: String::new(),
                    expected_version: case.version,
                    request_id: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
        }
        case = own
            .record_investigation(dpb::RecordInvestigationRequest {
                complaint_id: case.id.clone(),
                investigation: Some(dpb::Investigation {
                    root_cause: dpb::RootCause::Packaging as i32,
                    root_cause_detail: "single-wall cartons".into(),
                    corrective_action: "double-wall cartons".into(),
                    ..Default::default()
                }),
                expected_version: case.version,
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        own.resolve_complaint(dpb::ResolveComplaintRequest {
            complaint_id: case.id.clone(),
            resolution: Some(dpb::Resolution {
                answer: "the tea is replaced".into(),
                ..Default::default()
            }),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
    }

    /// `agent` follows a resolved case up.
    pub(crate) async fn follow_up(
        &self,
        case: &dpb::Complaint,
        agent: &str,
        outcome: dpb::FollowUpOutcome,
    ) {
        self.desk_as(agent, Role::Agent)
            .await
            .record_follow_up(dpb::RecordFollowUpRequest {
                complaint_id: case.id.clone(),
                follow_up: Some(dpb::FollowUp {
                    outcome: outcome as i32,
                    ..Default::default()
                }),
                expected_version: case.version,
                request_id: String::new(),
            })
            .await
            .unwrap();
    }

    /// A published questionnaire asking CSAT alone.
    pub(crate) async fn questionnaire(&self) -> String {
        let mut surveys = SurveyServiceClient::new(self.as_role("max", Role::Manager, "").await);
        let draft = surveys
            .create_questionnaire(spb::CreateQuestionnaireRequest {
                questionnaire: Some(spb::Questionnaire {
                    title: "After a complaint".into(),
                    questions: vec![spb::Question {
                        question_id: "csat".into(),
                        kind: spb::QuestionKind::Csat as i32,
                        text: "How satisfied are you?".into(),
                        options: vec![],
                        required: true,
                    }],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        surveys
            .publish_questionnaire(spb::PublishQuestionnaireRequest {
                questionnaire_id: draft.id.clone(),
                expected_version: draft.draft_version,
                request_id: String::new(),
            })
            .await
            .unwrap();
        draft.id
    }

    /// The customer of `case` answers a survey about it, rating `agent`'s work `csat`.
    pub(crate) async fn rate(
        &self,
        questionnaire: &str,
        case: &dpb::Complaint,
        agent: &str,
        csat: i32,
    ) {
        let mut surveys = SurveyServiceClient::new(self.as_role("max", Role::Manager, "").await);
        let invitation = surveys
            .create_invitation(spb::CreateInvitationRequest {
                invitation: Some(spb::Invitation {
                    customer_id: case.customer_id.clone(),
                    questionnaire_id: questionnaire.into(),
                    method: spb::Method::Phone as i32,
                    complaint_id: case.id.clone(),
                    agent_id: agent.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        surveys
            .submit_response(spb::SubmitResponseRequest {
                invitation_id: invitation.id,
                answers: vec![spb::Answer {
                    question_id: "csat".into(),
                    value: Some(spb::answer::Value::Score(csat)),
                }],
                request_id: String::new(),
            })
            .await
            .unwrap();
    }

    /// `visitor` files a day-report of a visit to `customer` at `at`.
    pub(crate) async fn visit(&self, visitor: &str, customer: &str, at: DateTime<Utc>) {
        CustomerRegistryServiceClient::new(self.as_role(visitor, Role::Agent, HOTLINE).await)
            .create_visit_report(cpb::CreateVisitReportRequest {
                visit_report: Some(cpb::VisitReport {
                    customer_id: customer.into(),
                    visit_time: Some(to_timestamp(at)),
                    customer_feedback: "wants Saturday deliveries".into(),
                    market_intelligence: "a competitor cut its rates".into(),
                    visit_effect: "renewal agreed in principle".into(),
                    matters_handled: "billing settled".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }

    /// CR-3: grades `customer`, which gives it a visit plan (CR-5).
    pub(crate) async fn grade(&self, customer: &str) {
        CustomerRegistryServiceClient::new(self.as_role("max", Role::Manager, "").await)
            .recompute_grades(cpb::RecomputeGradesRequest {
                customer_id: customer.into(),
            })
            .await
            .unwrap();
    }

    /// A training session held at `at`, and who attended it with what evaluation.
    pub(crate) async fn training(
        &self,
        at: DateTime<Utc>,
        attendance: &[(&str, pb::Attendance, i32)],
    ) {
        let mut sue = self.staff_as("sue", Role::Supervisor, "").await;
        let plan = sue
            .create_training_plan(pb::CreateTrainingPlanRequest {
                plan: Some(pb::TrainingPlan {
                    title: "Handling an angry caller".into(),
                    session_time: Some(to_timestamp(at)),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        for (who, attended, score) in attendance {
            let mut supervisor = if *who == "carl" {
                self.staff_as("dora", Role::Supervisor, "").await
            } else {
                sue.clone()
            };
            supervisor
                .record_training_attendance(pb::RecordTrainingAttendanceRequest {
                    record: Some(pb::TrainingRecord {
                        plan_id: plan.id.clone(),
                        staff_id: (*who).into(),
                        attendance: *attended as i32,
                        evaluation_score: *score,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .unwrap();
        }
    }

    /// `by` records a breach of conduct of `who` at `at`.
    pub(crate) async fn breach(&self, by: &str, who: &str, at: DateTime<Utc>) -> pb::ConductBreach {
        let role = if by == "max" {
            Role::Manager
        } else {
            Role::Supervisor
        };
        self.staff_as(by, role, "")
            .await
            .record_conduct_breach(pb::RecordConductBreachRequest {
                breach: Some(pb::ConductBreach {
                    staff_id: who.into(),
                    kind: pb::BreachKind::GiftAccepted as i32,
                    description: "accepted a hamper from a customer".into(),
                    evidence_reference: "HR-2026-118".into(),
                    occur_time: Some(to_timestamp(at)),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Recomputes `who`'s assessment in `period` until `ready` holds for it.
    pub(crate) async fn assessed_when(
        &self,
        who: &str,
        period: &str,
        what: &str,
        ready: impl Fn(&pb::Assessment) -> bool,
    ) -> pb::Assessment {
        let mut staff = self.staff().await;
        until(30, what, || {
            let mut staff = staff.clone();
            let ready = &ready;
            async move {
                let a = staff
                    .recompute_assessment(pb::RecomputeAssessmentRequest {
                        staff_id: who.into(),
                        period_id: period.into(),
                        request_id: String::new(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                ready(&a).then_some(a)
            }
        })
        .await;
        staff
            .get_assessment(pb::GetAssessmentRequest {
                staff_id: who.into(),
                period_id: period.into(),
                revision: 0,
            })
            .await
            .unwrap()
            .into_inner()
    }

    pub(crate) async fn period(&self, kind: pb::PeriodKind, label: &str) -> pb::Period {
        self.staff()
            .await
            .create_period(pb::CreatePeriodRequest {
                period: Some(pb::Period {
                    kind: kind as i32,
                    label: label.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Closes `period` and waits for its final assessments.
    pub(crate) async fn close(&self, period: &str) -> pb::Period {
        let mut staff = self.staff().await;
        staff
            .close_period(pb::ClosePeriodRequest {
                period_id: period.into(),
                request_id: String::new(),
            })
            .await
            .unwrap();
        until(30, "the period closed", || {
            let mut staff = staff.clone();
            async move {
                let p = staff
                    .get_period(pb::GetPeriodRequest {
                        period_id: period.into(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                (p.state() == pb::PeriodState::Closed).then_some(p)
            }
        })
        .await
    }
}

pub(crate) fn person(
    id: &str,
    role: pb::StaffRole,
    team: &str,
    manager: &str,
) -> pb::CreateStaffRequest {
    pb::CreateStaffRequest {
        staff: Some(pb::Staff {
            id: id.into(),
            display_name: format!("{id} of the service desk"),
            role: role as i32,
            team_id: team.into(),
            manager_id: manager.into(),
            // With us for more than a year: in every period the tests read.
            join_time: Some(to_timestamp(Utc::now() - chrono::Duration::days(400))),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

/// The figure of `kpi` in `a`.
pub(crate) fn figure(a: &pb::Assessment, kpi: pb::Kpi) -> pb::KpiFigure {
    a.figures
        .iter()
        .find(|f| f.kpi() == kpi)
        .cloned()
        .unwrap_or_else(|| panic!("no {kpi:?} figure in {a:?}"))
}

/// Events behind all figures of `a`.
pub(crate) fn sources(a: &pb::Assessment) -> i64 {
    a.figures.iter().map(|f| f.source_count).sum()
}

/// Asia/Shanghai, as the defaults have it.
pub(crate) fn local() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap())
}

/// The label of the local month now, waiting out the last minutes of a month so that a
/// test's facts all fall in the month it reads.
pub(crate) async fn this_month() -> String {
    let now = Utc::now().with_timezone(&local());
    let first_of_next = if now.month() == 12 {
        local().with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0)
    } else {
        local().with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 0)
    }
    .unwrap();
    let left = first_of_next.signed_duration_since(now);
    if left < chrono::Duration::minutes(5) {
        tokio::time::sleep(left.to_std().unwrap_or_default() + Duration::from_secs(1)).await;
    }
    month_of(Utc::now())
}

/// `before` ago, scaled down in a month's first hours so that it stays in the current local
/// month, whose figures the tests read; times made this way keep their order.
pub(crate) fn ago(before: chrono::Duration) -> DateTime<Utc> {
    let now = Utc::now();
    let here = now.with_timezone(&local());
    let start = local()
        .with_ymd_and_hms(here.year(), here.month(), 1, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let room = ((now - start) / 2).num_milliseconds();
    let window = chrono::Duration::hours(3).num_milliseconds();
    if room >= window {
        now - before
    } else {
        now - chrono::Duration::milliseconds(before.num_milliseconds() * room / window)
    }
}

pub(crate) fn month_of(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&local());
    format!("{:04}-{:02}", local.year(), local.month())
}

/// The month before `t`'s, and an instant in the middle of it.
pub(crate) fn last_month(t: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let here = t.with_timezone(&local());
    let (year, month) = if here.month() == 1 {
        (here.year() - 1, 12)
    } else {
        (here.year(), here.month() - 1)
    };
    let middle = local()
        .with_ymd_and_hms(year, month, 15, 12, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    (format!("{year:04}-{month:02}"), middle)
}
