//! The suite (customer-registry, order-tracking, complaint-desk, survey) on one server over
//! fresh databases, the way `kefu serve --service all` runs it; through the shared kit.

use std::ops::Deref;

use kefu_complaint_desk::ComplaintDesk;
use kefu_customer_registry::CustomerRegistry;
use kefu_order_tracking::OrderTracking;
use kefu_platform::auth::Role;
use kefu_proto::common::{Address, Money};
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_proto::survey as pb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;
use kefu_survey::Survey;
use kefu_testkit::{Authed, Spawn};

pub(crate) use kefu_testkit::Backend;
pub(crate) use kefu_testkit::until;

pub(crate) type Surveys = SurveyServiceClient<Authed>;
pub(crate) type Orders = OrderTrackingServiceClient<Authed>;

pub(crate) const SERVICES: [&'static dyn kefu_platform::service::Service; 4] =
    [&CustomerRegistry, &OrderTracking, &ComplaintDesk, &Survey];

pub(crate) struct App {
    inner: kefu_testkit::App,
}

impl Deref for App {
    type Target = kefu_testkit::App;

    fn deref(&self) -> &kefu_testkit::App {
        &self.inner
    }
}

/// The suite with the schedule pass every 100 ms, and `env` besides.
pub(crate) async fn spawn_with(backend: Backend, env: &[(&str, &str)]) -> App {
    let mut spawn = Spawn::new(&SERVICES, backend).env("KEFU__SURVEY__SCHEDULE_INTERVAL_MS", "100");
    for (key, value) in env {
        spawn = spawn.env(key, value);
    }
    App {
        inner: spawn.start().await,
    }
}

pub(crate) async fn spawn(backend: Backend) -> App {
    spawn_with(backend, &[]).await
}

impl App {
    pub(crate) fn inner(&self) -> &kefu_testkit::App {
        &self.inner
    }

    pub(crate) async fn surveys(&self) -> Surveys {
        self.surveys_as("tester", Role::Manager, "").await
    }

    pub(crate) async fn surveys_as(&self, subject: &str, role: Role, team: &str) -> Surveys {
        SurveyServiceClient::new(self.as_role(subject, role, team).await)
    }

    /// A client without a token, as a customer answering online.
    pub(crate) async fn anonymous(&self) -> Surveys {
        SurveyServiceClient::new(self.authed(None, None).await)
    }

    pub(crate) async fn orders(&self) -> Orders {
        OrderTrackingServiceClient::new(self.as_role("courier-desk", Role::Manager, "").await)
    }

    /// A new active enterprise customer (tier small) of `team`.
    pub(crate) async fn customer(&self, team: &str) -> String {
        CustomerRegistryServiceClient::new(self.as_role("tester", Role::Manager, "").await)
            .create_customer(cpb::CreateCustomerRequest {
                customer: Some(cpb::Customer {
                    kind: cpb::CustomerKind::Enterprise as i32,
                    display_name: "Fuzhou Widgets".into(),
                    registration_number: "91350100M000100Y43".into(),
                    team_id: team.into(),
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

    /// Erases a customer in customer-registry (CR-11).
    pub(crate) async fn erase(&self, customer_id: &str) {
        CustomerRegistryServiceClient::new(self.as_role("tester", Role::Manager, "").await)
            .erase_customer(cpb::EraseCustomerRequest {
                customer_id: customer_id.into(),
                legal_reference: "PIPL-2026-17".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    /// An order of `customer_id` taken and carried through to a signed handover.
    pub(crate) async fn delivered_order(&self, customer_id: &str) -> String {
        let mut orders = self.orders().await;
        let place = |city: &str| Address {
            province: "Fujian".into(),
            city: city.into(),
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
        let picks = picking
            .pick_lines
            .iter()
            .map(|p| opb::PickLine {
                line_number: p.line_number,
                pieces_picked: p.pieces_ordered,
                ..Default::default()
            })
            .collect();
        orders
            .record_pick(opb::RecordPickRequest {
                order_id: id.clone(),
                pick_lines: picks,
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
        orders
            .record_handover(opb::RecordHandoverRequest {
                order_id: id.clone(),
                handover: Some(opb::Handover {
                    document_numbers: vec!["WB-1".into()],
                    handed_by: "courier 7".into(),
                    signer_name: "Wang Wu".into(),
                    sign_time: Some(kefu_platform::time::to_timestamp(chrono::Utc::now())),
                    proof_uri: "docs://proof/1".into(),
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
        id
    }

    /// A published questionnaire with CSAT, NPS, effort, a choice, a comment and a problem.
    pub(crate) async fn questionnaire(&self) -> pb::Questionnaire {
        let mut surveys = self.surveys().await;
        let question =
            |id: &str, kind: pb::QuestionKind, options: &[&str], required: bool| pb::Question {
                question_id: id.into(),
                kind: kind as i32,
                text: format!("question {id}"),
                options: options.iter().map(|o| (*o).to_owned()).collect(),
                required,
            };
        let draft = surveys
            .create_questionnaire(pb::CreateQuestionnaireRequest {
                questionnaire: Some(pb::Questionnaire {
                    title: "After delivery".into(),
                    questions: vec![
                        question("csat", pb::QuestionKind::Csat, &[], true),
                        question("nps", pb::QuestionKind::Nps, &[], false),
                        question("effort", pb::QuestionKind::Effort, &[], false),
                        question(
                            "speed",
                            pb::QuestionKind::SingleChoice,
                            &["fast", "slow"],
                            false,
                        ),
                        question("comment", pb::QuestionKind::Text, &[], false),
                        question("problem", pb::QuestionKind::Problem, &[], false),
                    ],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        surveys
            .publish_questionnaire(pb::PublishQuestionnaireRequest {
                questionnaire_id: draft.id.clone(),
                expected_version: draft.draft_version,
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Rows of `table` in survey's database.
    pub(crate) async fn count(&self, table: &str) -> i64 {
        self.inner.count(kefu_survey::SERVICE, table).await
    }
}

pub(crate) fn invitation(
    customer: &str,
    questionnaire: &str,
    method: pb::Method,
) -> pb::CreateInvitationRequest {
    pb::CreateInvitationRequest {
        invitation: Some(pb::Invitation {
            customer_id: customer.into(),
            questionnaire_id: questionnaire.into(),
            method: method as i32,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

pub(crate) fn score(id: &str, score: i32) -> pb::Answer {
    pb::Answer {
        question_id: id.into(),
        value: Some(pb::answer::Value::Score(score)),
    }
}

pub(crate) fn text(id: &str, text: &str) -> pb::Answer {
    pb::Answer {
        question_id: id.into(),
        value: Some(pb::answer::Value::Text(text.into())),
    }
}

pub(crate) fn problem(category: kefu_proto::complaint::Category) -> pb::Answer {
    pb::Answer {
        question_id: "problem".into(),
        value: Some(pb::answer::Value::Problem(category as i32)),
    }
}
