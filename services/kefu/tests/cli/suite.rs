//! The suite as one system: five `kefu serve` processes, each on its own PostgreSQL
//! database, one Redis, and an OTLP receiver the test runs. A customer's order raises an
//! exception in order-tracking, complaint-desk opens a case from the event, the case is
//! resolved and closed, survey sends the follow-up survey, the answer arrives, staff-kpi
//! counts it. Every step's spans are one trace, joined across processes by client and server
//! spans and across event streams by producer and consumer spans (the consumer a child of the
//! producer, and linked to it); each process holds connections to its own database only, and
//! every fact one service has of another arrived as an event. Canary personal data and free
//! text travel the journey: no database, Redis entry, log line or exported span holds
//! them in clear, and after the customer's erasure no service shows them, staff-kpi's dispute
//! about the customer's answer included.

use std::collections::HashMap;
use std::time::Duration;

use kefu_proto::complaint as dpb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_proto::staff as kpb;
use kefu_proto::staff::staff_kpi_service_client::StaffKpiServiceClient;
use kefu_proto::survey as spb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;
use kefu_testkit::redis_server::RedisServer;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, Statement};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::complaints::{Databases, count, wait_for};
use crate::process::{Server, kefu};
use crate::telemetry::Collector;

/// The trace every call of the test continues, as a caller that starts one would.
const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
const CALLER_SPAN: &str = "eee19b7ec3c1b174";

/// Canaries: a contact's name and phone, a street, a note on the case, a survey comment, an
/// exception's description, a note on an order's move, a dispute's reason.
const CANARIES: [&str; 8] = [
    "Canary Qian",
    "13900007777",
    "88 Canary Road",
    "Canary note: Qian called twice",
    "Canary comment: Qian was pleased",
    "Canary exception: Qian's vase shattered",
    "Canary move: Qian asked for the side door",
    "Canary dispute: Qian praised someone else",
];

/// A token `kefu token` mints with the embedded signing key every process shares.
async fn minted(args: &[&str]) -> String {
    let out = kefu().arg("token").args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn person(id: &str, role: kpb::StaffRole, team: &str, manager: &str) -> kpb::CreateStaffRequest {
    kpb::CreateStaffRequest {
        staff: Some(kpb::Staff {
            id: id.into(),
            display_name: format!("{id} of the service desk"),
            role: role as i32,
            team_id: team.into(),
            manager_id: manager.into(),
            join_time: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() - 400 * 86_400,
                nanos: 0,
            }),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

async fn get_order(orders: &mut OrderTrackingServiceClient<Traced>, id: &str) -> opb::Order {
    orders
        .get_order(opb::GetOrderRequest {
            order_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// The services, their settings sections, and the index of their database in `Databases`.
const SERVICES: [(&str, &str, usize); 5] = [
    ("customer-registry", "CUSTOMER_REGISTRY", 0),
    ("order-tracking", "ORDER_TRACKING", 1),
    ("complaint-desk", "COMPLAINT_DESK", 2),
    ("survey", "SURVEY", 3),
    ("staff-kpi", "STAFF_KPI", 4),
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type Traced = InterceptedService<
    Channel,
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>,
>;

/// A channel to `server` whose calls carry `token` and the test's trace.
async fn traced(server: &Server, token: &str) -> Traced {
    let channel = Channel::from_shared(server.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let token = token.to_owned();
    InterceptedService::new(
        channel,
        Box::new(move |mut r: tonic::Request<()>| {
            let headers = r.metadata_mut();
            headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
            headers.insert(
                "traceparent",
                format!("00-{TRACE_ID}-{CALLER_SPAN}-01").parse().unwrap(),
            );
            Ok(r)
        }),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An exported span with the service that exported it.
struct Exported {
    service: String,
    span: Span,
}

impl Exported {
    fn id(&self) -> String {
        hex(&self.span.span_id)
    }

    fn parent(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    fn links(&self) -> Vec<String> {
        self.span.links.iter().map(|l| hex(&l.span_id)).collect()
    }
}

/// Every span the collector received, with its service.
fn exported(collector: &Collector) -> Vec<Exported> {
    let exports = collector.0.lock().unwrap().clone();
    let mut spans = Vec::new();
    for export in exports {
        for resource in export.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Exported {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
    }
    spans
}

/// The one span named `name` of `service`, of `kind`, in the test's trace; with a listing of
/// what there is when it is missing.
fn one<'a>(spans: &'a [Exported], service: &str, name: &str, kind: SpanKind) -> &'a Exported {
    let found: Vec<&Exported> = spans
        .iter()
        .filter(|s| {
            s.service.contains(&format!("kefu-{service}"))
                && s.span.name == name
                && s.span.kind == kind as i32
                && hex(&s.span.trace_id) == TRACE_ID
        })
        .collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!(
            "{} spans {name:?} ({kind:?}) of {service} in the trace; there are:\n{}",
            found.len(),
            spans
                .iter()
                .filter(|s| hex(&s.span.trace_id) == TRACE_ID)
                .map(|s| format!("  {} {} {:?}", s.service, s.span.name, s.span.kind))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// The child of `parent` named `name` of `service`, of `kind`.
fn child<'a>(
    spans: &'a [Exported],
    parent: &Exported,
    service: &str,
    name: &str,
    kind: SpanKind,
) -> &'a Exported {
    let found = spans.iter().find(|s| {
        s.service.contains(&format!("kefu-{service}"))
            && s.span.name == name
            && s.span.kind == kind as i32
            && s.parent() == parent.id()
    });
    found.unwrap_or_else(|| {
        panic!(
            "no {name:?} ({kind:?}) of {service} under {} {}; its children: {:?}",
            parent.service,
            parent.span.name,
            spans
                .iter()
                .filter(|s| s.parent() == parent.id())
                .map(|s| format!("{} {}", s.service, s.span.name))
                .collect::<Vec<_>>()
        )
    })
}

/// A consumer span under `producer`: its child in the trace, and linked to it.
fn consumed<'a>(
    spans: &'a [Exported],
    producer: &Exported,
    service: &str,
    event: &str,
) -> &'a Exported {
    let consumer = child(
        spans,
        producer,
        service,
        &format!("process {event}"),
        SpanKind::Consumer,
    );
    assert!(
        consumer.links().contains(&producer.id()),
        "process {event} in {service} links to its producer"
    );
    consumer
}

async fn admin() -> DatabaseConnection {
    Database::connect(kefu_testkit::postgres_admin_url())
        .await
        .unwrap()
}

async fn text(db: &DatabaseConnection, sql: &str) -> String {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row: {sql}"))
        .try_get_by_index::<String>(0)
        .unwrap()
}

/// Each process holds connections to its own service's database, and none to another.
async fn own_databases_only(
    admin: &DatabaseConnection,
    dbs: &Databases,
    servers: &HashMap<&str, Server>,
) {
    for (service, _, db) in SERVICES {
        let name = dbs.env()[db].1.rsplit('/').next().unwrap().to_owned();
        // Each process names its connections after its service and its process id.
        let pid = servers[service].child.id().unwrap();
        let application = format!("kefu-{service}-{pid}");
        wait_for(
            admin,
            &format!(
                "SELECT COUNT(*) AS n FROM pg_stat_activity \
                 WHERE application_name = '{application}' AND datname = '{name}'"
            ),
            1,
            10,
        )
        .await;
        let elsewhere = count(
            admin,
            &format!(
                "SELECT COUNT(*) AS n FROM pg_stat_activity \
                 WHERE application_name = '{application}' AND datname <> '{name}'"
            ),
        )
        .await;
        assert_eq!(elsewhere, 0, "{service} reaches another service's database");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn x1_x2_one_trace_from_an_order_exception_to_staff_kpi_across_five_processes() {
    let dbs = Databases::migrated().await;
    let redis = RedisServer::start();
    let (collector, otlp) = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Five processes, each on its own port and database, reaching the others by endpoint.
    let ports: HashMap<&str, u16> = SERVICES.iter().map(|(s, _, _)| (*s, free_port())).collect();
    let mut servers: HashMap<&str, Server> = HashMap::new();
    for (service, section, db) in SERVICES {
        let mut env: Vec<(String, String)> = vec![
            (
                format!("KEFU__{section}__DATABASE_URL"),
                dbs.env()[db].1.to_owned(),
            ),
            (
                format!("KEFU__{section}__LISTEN"),
                format!("127.0.0.1:{}", ports[service]),
            ),
            ("KEFU__REDIS__URL".into(), redis.url()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), otlp.clone()),
            ("KEFU__TELEMETRY__LOG_FORMAT".into(), "json".into()),
            ("KEFU__SURVEY__SCHEDULE_INTERVAL_MS".into(), "200".into()),
        ];
        for (peer, peer_section, _) in SERVICES {
            env.push((
                format!("KEFU__{peer_section}__ENDPOINT"),
                format!("http://127.0.0.1:{}", ports[peer]),
            ));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let log = d.join(format!("{service}.log"));
        let server = Server::start_logging_to(d, &["--service", service], &env, Some(&log)).await;
        servers.insert(service, server);
    }
    let token = servers["customer-registry"].token.clone().unwrap();

    // each process holds connections to its own database, and to no other.
    let admin = admin().await;
    own_databases_only(&admin, &dbs, &servers).await;

    // The journey, every call in the test's trace.
    let mut survey = SurveyServiceClient::new(traced(&servers["survey"], &token).await);
    let draft = survey
        .create_questionnaire(spb::CreateQuestionnaireRequest {
            questionnaire: Some(spb::Questionnaire {
                title: "After a complaint".into(),
                questions: vec![
                    spb::Question {
                        question_id: "csat".into(),
                        kind: spb::QuestionKind::Csat as i32,
                        text: "How satisfied are you with how we handled it?".into(),
                        options: vec![],
                        required: true,
                    },
                    spb::Question {
                        question_id: "comment".into(),
                        kind: spb::QuestionKind::Text as i32,
                        text: "Anything else?".into(),
                        options: vec![],
                        required: false,
                    },
                ],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    survey
        .publish_questionnaire(spb::PublishQuestionnaireRequest {
            questionnaire_id: draft.id.clone(),
            expected_version: draft.draft_version,
            request_id: String::new(),
        })
        .await
        .unwrap();
    survey
        .create_trigger(spb::CreateTriggerRequest {
            trigger: Some(spb::Trigger {
                kind: spb::TriggerKind::AfterComplaintClosed as i32,
                questionnaire_id: draft.id.clone(),
                method: spb::Method::Phone as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();

    // The organisation in staff-kpi: ann answers to sue, who supervises team t1.
    let mut staff = StaffKpiServiceClient::new(traced(&servers["staff-kpi"], &token).await);
    for (id, role, team, manager) in [
        ("max", kpb::StaffRole::Manager, "", ""),
        ("sue", kpb::StaffRole::Supervisor, "", "max"),
    ] {
        staff
            .create_staff(person(id, role, team, manager))
            .await
            .unwrap();
    }
    staff
        .create_team(kpb::CreateTeamRequest {
            team: Some(kpb::Team {
                id: "t1".into(),
                display_name: "hotline".into(),
                supervisor_id: "sue".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    staff
        .create_staff(person("ann", kpb::StaffRole::Agent, "t1", "sue"))
        .await
        .unwrap();
    let (_, month) = kefu_testkit::local_today().await;
    staff
        .create_period(kpb::CreatePeriodRequest {
            period: Some(kpb::Period {
                kind: kpb::PeriodKind::Monthly as i32,
                label: month.clone(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();

    let mut customers =
        CustomerRegistryServiceClient::new(traced(&servers["customer-registry"], &token).await);
    let customer = customers
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(cpb::Customer {
                kind: cpb::CustomerKind::Enterprise as i32,
                display_name: "Fragile Goods Ltd".into(),
                registration_number: "91350100M000100Y43".into(),
                team_id: "t1".into(),
                contacts: vec![cpb::Contact {
                    display_name: CANARIES[0].into(),
                    phone: CANARIES[1].into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut orders =
        OrderTrackingServiceClient::new(traced(&servers["order-tracking"], &token).await);
    let place = |city: &str| kefu_proto::common::Address {
        province: "Fujian".into(),
        city: city.into(),
        ..Default::default()
    };
    let order = orders
        .create_order(opb::CreateOrderRequest {
            order: Some(opb::Order {
                customer_id: customer.clone(),
                channel: opb::Channel::Web as i32,
                service_level: opb::ServiceLevel::Standard as i32,
                distance_km: 30,
                origin: Some(place("Fuzhou")),
                destination: Some(kefu_proto::common::Address {
                    street: CANARIES[2].into(),
                    ..place("Putian")
                }),
                lines: vec![opb::CargoLine {
                    description: "glassware".into(),
                    pieces: 1,
                    weight_grams: 2_000,
                    volume_cm3: 1_000,
                    declared_value: None,
                    special: None,
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    orders
        .move_order(opb::MoveOrderRequest {
            order_id: order.clone(),
            to_state: opb::OrderState::Verified as i32,
            note: CANARIES[6].into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let exception = orders
        .raise_exception(opb::RaiseExceptionRequest {
            order_id: order.clone(),
            kind: opb::ExceptionKind::Damage as i32,
            description: CANARIES[5].into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;

    // complaint-desk opens the case from order-tracking's event.
    let mut desk =
        ComplaintDeskServiceClient::new(traced(&servers["complaint-desk"], &token).await);
    let mut case = None;
    for _ in 0..100 {
        let listed = desk
            .list_complaints(dpb::ListComplaintsRequest {
                order_id: order.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .complaints;
        if let Some(found) = listed.into_iter().next() {
            case = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let case = case.expect("complaint-desk opened a case from the exception");
    assert_eq!(
        case.source.as_ref().and_then(|s| s.source.clone()),
        Some(dpb::source_reference::Source::OrderExceptionId(
            exception.clone()
        )),
        "the case names the exception whose event opened it"
    );
    let case = desk
        .record_customer_contact(dpb::RecordCustomerContactRequest {
            complaint_id: case.id.clone(),
            channel: dpb::ContactChannel::Phone as i32,
            note: CANARIES[3].into(),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let case = desk
        .assign_complaint(dpb::AssignComplaintRequest {
            complaint_id: case.id.clone(),
            assignee_id: "ann".into(),
            team_id: "t1".into(),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let case = desk
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
    let case = desk
        .resolve_complaint(dpb::ResolveComplaintRequest {
            complaint_id: case.id.clone(),
            resolution: Some(dpb::Resolution {
                answer: "the glassware replaced".into(),
                ..Default::default()
            }),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let closed = desk
        .record_follow_up(dpb::RecordFollowUpRequest {
            complaint_id: case.id.clone(),
            follow_up: Some(dpb::FollowUp {
                outcome: dpb::FollowUpOutcome::Satisfied as i32,
                ..Default::default()
            }),
            expected_version: case.version,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state(), dpb::ComplaintState::Closed);

    // survey sends the follow-up survey from complaint-desk's event; the answer arrives.
    let mut invitation = None;
    for _ in 0..150 {
        let listed = survey
            .list_invitations(spb::ListInvitationsRequest {
                customer_id: customer.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .invitations;
        if let Some(found) = listed.into_iter().next() {
            invitation = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let invitation = invitation.expect("survey sent the follow-up survey");
    assert_eq!(
        invitation.complaint_id, closed.id,
        "from the closed case's event"
    );
    assert_eq!(invitation.agent_id, "ann");
    let answer = survey
        .submit_response(spb::SubmitResponseRequest {
            invitation_id: invitation.id.clone(),
            answers: vec![
                spb::Answer {
                    question_id: "csat".into(),
                    value: Some(spb::answer::Value::Score(5)),
                },
                spb::Answer {
                    question_id: "comment".into(),
                    value: Some(spb::answer::Value::Text(CANARIES[4].into())),
                },
            ],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    // staff-kpi counts it: a fact of ann's from survey's event, by that event's id.
    let surveys_db = Database::connect(dbs.surveys.url.expose()).await.unwrap();
    let response_event = text(
        &surveys_db,
        "SELECT event_id FROM kefu_outbox WHERE event_type = 'kefu.survey.v1.ResponseReceived'",
    )
    .await;
    let staff_db = Database::connect(dbs.staff.url.expose()).await.unwrap();
    wait_for(
        &staff_db,
        &format!(
            "SELECT COUNT(*) AS n FROM facts WHERE source = 'survey' \
             AND staff_id = 'ann' AND event_id = '{response_event}'"
        ),
        1,
        20,
    )
    .await;

    // ann disputes the answer counted in her CSAT, in words that name the customer.
    let assessed = staff
        .recompute_assessment(kpb::RecomputeAssessmentRequest {
            staff_id: "ann".into(),
            period_id: month.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        assessed
            .figures
            .iter()
            .any(|f| f.kpi() == kpb::Kpi::Csat && f.denominator == 1),
        "the answer counts in ann's CSAT: {assessed:?}"
    );
    let ann_token = minted(&["--role", "agent", "--sub", "ann", "--team", "t1"]).await;
    let mut ann = StaffKpiServiceClient::new(traced(&servers["staff-kpi"], &ann_token).await);
    let dispute = ann
        .create_dispute(kpb::CreateDisputeRequest {
            dispute: Some(kpb::Dispute {
                staff_id: "ann".into(),
                period_id: month.clone(),
                kpi: kpb::Kpi::Csat as i32,
                event_id: response_event.clone(),
                reason: CANARIES[7].into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    own_databases_only(&admin, &dbs, &servers).await;

    // the canaries are in no database in clear, only sealed.
    for (service, _, db) in SERVICES {
        let db = Database::connect(dbs.env()[db].1).await.unwrap();
        let tables = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            ))
            .await
            .unwrap();
        for table in tables {
            let table: String = table.try_get("", "tablename").unwrap();
            let rows = db
                .query_all_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT t::text AS row FROM \"{table}\" t"),
                ))
                .await
                .unwrap();
            let dump: String = rows
                .iter()
                .map(|r| r.try_get::<String>("", "row").unwrap())
                .collect::<Vec<_>>()
                .join("\n");
            for canary in CANARIES {
                assert!(
                    !kefu_testkit::holds(&dump, canary),
                    "{canary:?} in clear in {service}'s {table}"
                );
            }
        }
    }
    // Nor in Redis, where order-tracking keeps hot state.
    let redis_cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli on PATH");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let keys = redis_cli(&["--scan"]);
    assert!(!keys.trim().is_empty(), "hot state was written");
    for key in keys.lines() {
        let value = redis_cli(&["HGETALL", key]);
        for canary in CANARIES {
            assert!(
                !value.contains(canary),
                "{canary:?} in clear in Redis {key}"
            );
        }
    }
    // Read back by those allowed, they are there.
    let seen = desk
        .get_complaint(dpb::GetComplaintRequest {
            complaint_id: closed.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(seen.contacts.iter().any(|c| c.note == CANARIES[3]));
    let shown = get_order(&mut orders, &order).await;
    assert_eq!(shown.exceptions[0].description, CANARIES[5]);
    assert!(shown.history.iter().any(|c| c.note == CANARIES[6]));

    // An erasure in customer-registry reaches every other service by its event.
    customers
        .erase_customer(cpb::EraseCustomerRequest {
            customer_id: customer.clone(),
            legal_reference: "PIPL-2026-42".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut erased = false;
    for _ in 0..200 {
        let case = desk
            .get_complaint(dpb::GetComplaintRequest {
                complaint_id: closed.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let answered = survey
            .get_response(spb::GetResponseRequest {
                response_id: answer.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let erased_order = get_order(&mut orders, &order).await;
        let disputed = ann
            .get_dispute(kpb::GetDisputeRequest {
                dispute_id: dispute.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if case.erased
            && answered.erased
            && erased_order.version > shown.version
            && disputed.reason.is_empty()
        {
            let shown = format!("{case:?}{answered:?}{erased_order:?}{disputed:?}");
            for canary in CANARIES {
                assert!(!shown.contains(canary), "{canary:?} survives the erasure");
            }
            erased = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        erased,
        "the erasure reached order-tracking, complaint-desk, survey and staff-kpi"
    );

    // Every process flushes its spans as it stops.
    for (service, _, _) in SERVICES {
        let server = servers.get_mut(service).unwrap();
        server.signal("TERM");
        let exit = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(exit.success(), "{service} stopped cleanly");
    }
    let spans = exported(&collector);

    // A created order: order-tracking's server span calls customer-registry (a client span),
    // whose server span continues it in the other process.
    let created = one(
        &spans,
        "order-tracking",
        "kefu.order.v1.OrderTrackingService/CreateOrder",
        SpanKind::Server,
    );
    assert_eq!(
        created.parent(),
        CALLER_SPAN,
        "the caller's span is the parent"
    );
    let call = child(
        &spans,
        created,
        "order-tracking",
        "kefu.customer.v1.CustomerRegistryService/GetCustomer",
        SpanKind::Client,
    );
    child(
        &spans,
        call,
        "customer-registry",
        "kefu.customer.v1.CustomerRegistryService/GetCustomer",
        SpanKind::Server,
    );

    // The exception: sent by order-tracking, processed by complaint-desk, which registers the
    // case and sends that on.
    let raised = one(
        &spans,
        "order-tracking",
        "kefu.order.v1.OrderTrackingService/RaiseException",
        SpanKind::Server,
    );
    let sent = child(
        &spans,
        raised,
        "order-tracking",
        "send kefu.order.v1.ExceptionRaised",
        SpanKind::Producer,
    );
    let opened = consumed(
        &spans,
        sent,
        "complaint-desk",
        "kefu.order.v1.ExceptionRaised",
    );
    child(
        &spans,
        opened,
        "complaint-desk",
        "send kefu.complaint.v1.ComplaintRegistered",
        SpanKind::Producer,
    );

    // The close: sent by complaint-desk, processed by survey, whose schedule pass later sends
    // the survey in the same trace, asking customer-registry about the customer first.
    let followed = one(
        &spans,
        "complaint-desk",
        "kefu.complaint.v1.ComplaintDeskService/RecordFollowUp",
        SpanKind::Server,
    );
    let closed_sent = child(
        &spans,
        followed,
        "complaint-desk",
        "send kefu.complaint.v1.ComplaintClosed",
        SpanKind::Producer,
    );
    let scheduled = consumed(
        &spans,
        closed_sent,
        "survey",
        "kefu.complaint.v1.ComplaintClosed",
    );
    let fired = child(
        &spans,
        scheduled,
        "survey",
        "send scheduled survey",
        SpanKind::Internal,
    );
    assert!(
        fired.links().contains(&scheduled.id()),
        "the deferred send links to what scheduled it"
    );
    child(
        &spans,
        fired,
        "survey",
        "send kefu.survey.v1.InvitationSent",
        SpanKind::Producer,
    );

    // The answer: sent by survey, processed by staff-kpi.
    let answered = one(
        &spans,
        "survey",
        "kefu.survey.v1.SurveyService/SubmitResponse",
        SpanKind::Server,
    );
    let answer_sent = child(
        &spans,
        answered,
        "survey",
        "send kefu.survey.v1.ResponseReceived",
        SpanKind::Producer,
    );
    consumed(
        &spans,
        answer_sent,
        "staff-kpi",
        "kefu.survey.v1.ResponseReceived",
    );

    // no span and no log line holds a canary.
    let exported_text = format!("{:?}", collector.0.lock().unwrap());
    for canary in CANARIES {
        assert!(!exported_text.contains(canary), "{canary:?} in a span");
    }
    for (service, _, _) in SERVICES {
        let log = std::fs::read_to_string(d.join(format!("{service}.log"))).unwrap();
        for canary in CANARIES {
            assert!(!log.contains(canary), "{canary:?} in {service}'s log");
        }
    }

    // Each of the five exported spans of this trace under its own name.
    for (service, _, _) in SERVICES {
        assert!(
            spans
                .iter()
                .any(|s| s.service.contains(&format!("kefu-{service}"))
                    && hex(&s.span.trace_id) == TRACE_ID),
            "{service} has spans in the trace"
        );
    }
}
