//! complaint-desk as operators meet it: the README's complaint flows through `kefu
//! complaints` on the embedded defaults; and across processes, each service its own `kefu
//! serve` on its own PostgreSQL database, where order exceptions open one case each through
//! order-tracking's real stream, also when complaint-desk is killed mid-stream and started
//! again (OT-7, CD-1), and two complaint-desk processes on one database warn, breach and
//! escalate each case once (CD-3, CD-8).

use std::time::Duration;

use kefu_proto::complaint as pb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_testkit::TestDatabase;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};
use tonic::transport::Channel;

use crate::process::{Server, bearer, cli_customer, kefu, kefu_json, kefu_refused};

/// A database per service, migrated by `kefu migrate --service all`.
pub(crate) struct Databases {
    pub(crate) registry: TestDatabase,
    pub(crate) orders: TestDatabase,
    pub(crate) complaints: TestDatabase,
    pub(crate) surveys: TestDatabase,
    pub(crate) staff: TestDatabase,
}

impl Databases {
    pub(crate) async fn migrated() -> Self {
        let dbs = Self {
            registry: TestDatabase::postgres().await.unwrap(),
            orders: TestDatabase::postgres().await.unwrap(),
            complaints: TestDatabase::postgres().await.unwrap(),
            surveys: TestDatabase::postgres().await.unwrap(),
            staff: TestDatabase::postgres().await.unwrap(),
        };
        let migrated = kefu()
            .args(["migrate", "--service", "all"])
            .envs(dbs.env())
            .output()
            .await
            .unwrap();
        assert!(
            migrated.status.success(),
            "{}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        dbs
    }

    pub(crate) fn env(&self) -> [(&'static str, &str); 5] {
        [
            (
                "KEFU__CUSTOMER_REGISTRY__DATABASE_URL",
                self.registry.url.expose(),
            ),
            (
                "KEFU__ORDER_TRACKING__DATABASE_URL",
                self.orders.url.expose(),
            ),
            (
                "KEFU__COMPLAINT_DESK__DATABASE_URL",
                self.complaints.url.expose(),
            ),
            ("KEFU__SURVEY__DATABASE_URL", self.surveys.url.expose()),
            ("KEFU__STAFF_KPI__DATABASE_URL", self.staff.url.expose()),
        ]
    }
}

pub(crate) async fn channel(server: &Server) -> Channel {
    Channel::from_shared(server.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// customer-registry and order-tracking as processes of their own, customer-registry's
/// small tier planned at `plan` (first response, resolution hours).
pub(crate) async fn peers(
    dir: &std::path::Path,
    dbs: &Databases,
    plan: (&str, &str),
) -> (Server, Server) {
    let registry = Server::start(
        dir,
        &["--service", "customer-registry"],
        &[
            dbs.env()[0],
            ("KEFU__CUSTOMER_REGISTRY__LISTEN", "127.0.0.1:0"),
            (
                "KEFU__CUSTOMER_REGISTRY__SERVICE_PLANS__SMALL__FIRST_RESPONSE_HOURS",
                plan.0,
            ),
            (
                "KEFU__CUSTOMER_REGISTRY__SERVICE_PLANS__SMALL__RESOLUTION_HOURS",
                plan.1,
            ),
        ],
    )
    .await;
    let registry_endpoint = registry.endpoint();
    let tracking = Server::start(
        dir,
        &["--service", "order-tracking"],
        &[
            dbs.env()[1],
            ("KEFU__ORDER_TRACKING__LISTEN", "127.0.0.1:0"),
            (
                "KEFU__CUSTOMER_REGISTRY__ENDPOINT",
                registry_endpoint.as_str(),
            ),
        ],
    )
    .await;
    (registry, tracking)
}

/// complaint-desk as a process, reaching its peers at their addresses.
pub(crate) async fn complaint_desk(
    dir: &std::path::Path,
    dbs: &Databases,
    registry: &Server,
    tracking: &Server,
    extra: &[(&str, &str)],
) -> Server {
    let (registry, tracking) = (registry.endpoint(), tracking.endpoint());
    let mut env = vec![
        dbs.env()[2],
        ("KEFU__COMPLAINT_DESK__LISTEN", "127.0.0.1:0"),
        ("KEFU__CUSTOMER_REGISTRY__ENDPOINT", registry.as_str()),
        ("KEFU__ORDER_TRACKING__ENDPOINT", tracking.as_str()),
        // A dead replica's consumers are taken over quickly.
        ("KEFU__EVENTS__CONSUMER_TAKEOVER_MS", "200"),
    ];
    env.extend_from_slice(extra);
    Server::start(dir, &["--service", "complaint-desk"], &env).await
}

pub(crate) async fn new_customer(registry: &Server) -> String {
    let token = registry.token.clone().unwrap();
    let mut customers =
        CustomerRegistryServiceClient::with_interceptor(channel(registry).await, bearer(token));
    customers
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(cpb::Customer {
                kind: cpb::CustomerKind::Enterprise as i32,
                display_name: "Fragile Goods Ltd".into(),
                registration_number: "91350100M000100Y43".into(),
                team_id: "t1".into(),
                contacts: vec![cpb::Contact {
                    display_name: "Li".into(),
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

pub(crate) async fn new_order(tracking: &Server, token: &str, customer: &str) -> String {
    let mut orders =
        OrderTrackingServiceClient::with_interceptor(channel(tracking).await, bearer(token.into()));
    let place = |city: &str| kefu_proto::common::Address {
        province: "Fujian".into(),
        city: city.into(),
        ..Default::default()
    };
    orders
        .create_order(opb::CreateOrderRequest {
            order: Some(opb::Order {
                customer_id: customer.into(),
                channel: opb::Channel::Web as i32,
                service_level: opb::ServiceLevel::Standard as i32,
                distance_km: 30,
                origin: Some(place("Fuzhou")),
                destination: Some(place("Putian")),
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
        .id
}

pub(crate) async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

pub(crate) async fn wait_for(db: &DatabaseConnection, sql: &str, want: i64, seconds: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let have = count(db, sql).await;
        if have >= want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql}: {have} of {want} after {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cd1_order_exceptions_open_one_case_each_across_processes_and_a_kill() {
    let dbs = Databases::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let (registry, tracking) = peers(dir.path(), &dbs, ("4", "24")).await;
    let token = registry.token.clone().unwrap();
    let customer = new_customer(&registry).await;
    let order = new_order(&tracking, &token, &customer).await;
    let mut desk = complaint_desk(dir.path(), &dbs, &registry, &tracking, &[]).await;

    let mut orders =
        OrderTrackingServiceClient::with_interceptor(channel(&tracking).await, bearer(token));
    let complaints = dbs.complaints.connect().await;
    const EXCEPTIONS: i64 = 24;
    for n in 0..EXCEPTIONS {
        orders
            .raise_exception(opb::RaiseExceptionRequest {
                order_id: order.clone(),
                kind: opb::ExceptionKind::Damage as i32,
                description: format!("damage report {n}"),
                request_id: String::new(),
            })
            .await
            .unwrap();
        if n == EXCEPTIONS / 2 {
            // Killed while it reads the stream: no goodbye, no drain.
            wait_for(&complaints, "SELECT COUNT(*) AS n FROM complaints", 1, 20).await;
            desk.child.kill().await.unwrap();
        }
    }
    desk = complaint_desk(dir.path(), &dbs, &registry, &tracking, &[]).await;
    wait_for(
        &complaints,
        "SELECT COUNT(*) AS n FROM complaints",
        EXCEPTIONS,
        30,
    )
    .await;
    // It keeps reading a while; nothing is opened twice.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        count(&complaints, "SELECT COUNT(*) AS n FROM complaints").await,
        EXCEPTIONS
    );
    assert_eq!(
        count(
            &complaints,
            "SELECT COUNT(DISTINCT source_key) AS n FROM complaints WHERE origin = 'order_exception'"
        )
        .await,
        EXCEPTIONS,
        "one case per exception"
    );
    assert_eq!(
        count(
            &complaints,
            "SELECT COUNT(*) AS n FROM kefu_outbox WHERE event_type = 'kefu.complaint.v1.ComplaintRegistered'"
        )
        .await,
        EXCEPTIONS
    );
    drop((desk, tracking, registry));
}

/// Round the clock, critical cases at 0.1% of the tier's hours, the warning at half, both
/// ladder steps at the breach, and a pass every 50 ms.
pub(crate) const QUICK_CLOCKS: &str = r#"
[complaint_desk]
clock_check_interval_ms = 50

[complaint_desk.calendar.working_hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]

[complaint_desk.deadlines]
severity_percent = { low = 150, medium = 100, high = 50, critical = 0.1 }
warning_percent = 50
follow_up_attempts = 3
escalation = [
  { target = "supervisor", after_breach_minutes = 0 },
  { target = "manager", after_breach_minutes = 0 },
]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cd8_two_complaint_desk_processes_warn_breach_and_escalate_each_case_once() {
    let dbs = Databases::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quick.toml");
    std::fs::write(&config, QUICK_CLOCKS).unwrap();
    let config = config.to_string_lossy().into_owned();
    // The small tier: 1 hour to answer, 2 to resolve; critical: 3.6 s and 7.2 s.
    let (registry, tracking) = peers(dir.path(), &dbs, ("1", "2")).await;
    let token = registry.token.clone().unwrap();
    let customer = new_customer(&registry).await;
    let order = new_order(&tracking, &token, &customer).await;
    let quick = [("KEFU_CONFIG", config.as_str())];
    let first = complaint_desk(dir.path(), &dbs, &registry, &tracking, &quick).await;
    let second = complaint_desk(dir.path(), &dbs, &registry, &tracking, &quick).await;

    const CASES: i64 = 10;
    for n in 0..CASES {
        let server = if n % 2 == 0 { &first } else { &second };
        let mut desk = ComplaintDeskServiceClient::with_interceptor(
            channel(server).await,
            bearer(token.clone()),
        );
        desk.create_complaint(pb::CreateComplaintRequest {
            complaint: Some(pb::Complaint {
                r#type: pb::CaseType::Complaint as i32,
                origin: pb::Origin::Hotline as i32,
                category: pb::Category::Damage as i32,
                severity: pb::Severity::Critical as i32,
                customer_id: customer.clone(),
                order_id: order.clone(),
                summary: format!("urgent case {n}"),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    }
    let complaints = dbs.complaints.connect().await;
    let events = |kind: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM kefu_outbox WHERE event_type = 'kefu.complaint.v1.{kind}'"
        )
    };
    // Both deadlines of every case pass within about 8 s.
    wait_for(&complaints, &events("DeadlineBreached"), 2 * CASES, 40).await;
    wait_for(&complaints, &events("ComplaintEscalated"), 2 * CASES, 10).await;
    // Both processes keep looking; nothing is announced twice.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let repeated = |kind: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM (SELECT subject, payload FROM kefu_outbox \
             WHERE event_type = 'kefu.complaint.v1.{kind}' \
             GROUP BY subject, payload HAVING COUNT(*) > 1) AS twice"
        )
    };
    for kind in ["DeadlineWarning", "DeadlineBreached", "ComplaintEscalated"] {
        assert_eq!(count(&complaints, &repeated(kind)).await, 0, "{kind} twice");
    }
    // A warning a stalled machine let pass its breach is skipped, never late or twice.
    let warnings = count(&complaints, &events("DeadlineWarning")).await;
    assert!(warnings <= 2 * CASES, "{warnings} warnings");
    assert_eq!(
        count(&complaints, &events("DeadlineBreached")).await,
        2 * CASES,
        "one breach per deadline"
    );
    assert_eq!(
        count(&complaints, &events("ComplaintEscalated")).await,
        2 * CASES,
        "supervisor then manager, once each"
    );
    assert_eq!(
        count(
            &complaints,
            "SELECT COUNT(*) AS n FROM complaints WHERE escalation_level = 2"
        )
        .await,
        CASES
    );
    drop((first, second, tracking, registry));
}

// CD-1 to CD-10 as the README shows them, through the CLI on the SQLite defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaints_life_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]).await;
    let d = dir.path();
    let customer = cli_customer(&server, d).await;
    let order = kefu_json(
        &server,
        d,
        &[
            "orders",
            "create",
            "--customer",
            &customer,
            "--channel",
            "phone",
            "--distance-km",
            "200",
            "--from",
            "Fujian,Fuzhou",
            "--to",
            "Fujian,Xiamen",
            "--line",
            "tea,3,12300,30000,50000",
        ],
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let case = kefu_json(
        &server,
        d,
        &[
            "complaints",
            "create",
            "--customer",
            &customer,
            "--order",
            &order,
            "--category",
            "damage",
            "--severity",
            "high",
            "--summary",
            "cartons crushed",
        ],
    )
    .await;
    let number = case["caseNumber"].as_str().unwrap().to_owned();
    assert!(number.starts_with("TS-"), "{number}");
    assert_eq!(
        case["firstResponseDeadline"]["state"],
        "DEADLINE_STATE_RUNNING"
    );

    // CD-4: no resolution before the investigation.
    let refused = kefu_refused(
        &server,
        dir.path(),
        &["complaints", "resolve", &number, "--answer", "sorry"],
    )
    .await;
    assert!(refused.contains("root cause"), "{refused}");
    kefu_json(
        &server,
        d,
        &[
            "complaints",
            "investigate",
            &number,
            "--cause",
            "packaging",
            "--action",
            "double-wall cartons",
        ],
    )
    .await;
    kefu_json(
        &server,
        d,
        &[
            "complaints",
            "respond",
            &number,
            "--message",
            "we are on it",
        ],
    )
    .await;
    let paused = kefu_json(
        &server,
        d,
        &[
            "complaints",
            "pause",
            &number,
            "--reason",
            "awaiting_information",
        ],
    )
    .await;
    assert_eq!(paused["state"], "COMPLAINT_STATE_WAITING_ON_CUSTOMER");
    kefu_json(&server, d, &["complaints", "resume", &number]).await;
    kefu_json(
        &server,
        d,
        &[
            "complaints",
            "resolve",
            &number,
            "--answer",
            "freight refunded",
            "--compensation-fen",
            "6700",
        ],
    )
    .await;
    let reopened = kefu_json(
        &server,
        d,
        &[
            "complaints",
            "follow-up",
            &number,
            "--outcome",
            "not_satisfied",
        ],
    )
    .await;
    assert_eq!(reopened["state"], "COMPLAINT_STATE_IN_PROGRESS");
    kefu_json(
        &server,
        d,
        &["complaints", "resolve", &number, "--answer", "tea replaced"],
    )
    .await;
    let closed = kefu_json(
        &server,
        d,
        &["complaints", "follow-up", &number, "--outcome", "satisfied"],
    )
    .await;
    assert_eq!(closed["state"], "COMPLAINT_STATE_CLOSED");
    assert_eq!(closed["closeReason"], "CLOSE_REASON_CONFIRMED");

    // CD-9: the case becomes knowledge, found in Chinese.
    let entry = kefu_json(
        &server,
        d,
        &[
            "complaints",
            "kb",
            "propose",
            "--case",
            &number,
            "--category",
            "damage",
            "--problem",
            "外包装破损，茶叶受潮",
            "--solution",
            "改用双层瓦楞纸箱",
        ],
    )
    .await;
    let entry = entry["id"].as_str().unwrap().to_owned();
    kefu_json(&server, d, &["complaints", "kb", "publish", &entry]).await;
    let found = kefu_json(&server, d, &["complaints", "kb", "search", "破损"]).await;
    assert_eq!(found["hits"][0]["knowledgeEntry"]["id"], entry.as_str());

    // CD-7: the analysis counts it against the one order.
    let analysis = kefu_json(
        &server,
        d,
        &[
            "complaints",
            "analysis",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--by",
            "category",
        ],
    )
    .await;
    assert_eq!(analysis["complaintCount"], "1");
    assert_eq!(analysis["rows"][0]["category"], "CATEGORY_DAMAGE");
    drop(server);
}

// SV-5, CD-1: a low score naming a problem, answered in survey's process, opens exactly one
// case in complaint-desk's process through survey's event stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sv5_a_problem_named_in_a_survey_opens_one_case_across_processes() {
    use kefu_proto::survey as spb;
    use kefu_proto::survey::survey_service_client::SurveyServiceClient;

    let dbs = Databases::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let (registry, tracking) = peers(dir.path(), &dbs, ("4", "24")).await;
    let token = registry.token.clone().unwrap();
    let desk = complaint_desk(dir.path(), &dbs, &registry, &tracking, &[]).await;
    let (registry_at, tracking_at, desk_at) =
        (registry.endpoint(), tracking.endpoint(), desk.endpoint());
    let survey = Server::start(
        dir.path(),
        &["--service", "survey"],
        &[
            dbs.env()[3],
            ("KEFU__SURVEY__LISTEN", "127.0.0.1:0"),
            ("KEFU__CUSTOMER_REGISTRY__ENDPOINT", registry_at.as_str()),
            ("KEFU__ORDER_TRACKING__ENDPOINT", tracking_at.as_str()),
            ("KEFU__COMPLAINT_DESK__ENDPOINT", desk_at.as_str()),
        ],
    )
    .await;
    // complaint-desk finds survey at its endpoint only when told it; restart it so.
    drop(desk);
    let survey_at = survey.endpoint();
    let desk = complaint_desk(
        dir.path(),
        &dbs,
        &registry,
        &tracking,
        &[("KEFU__SURVEY__ENDPOINT", survey_at.as_str())],
    )
    .await;
    let customer = new_customer(&registry).await;
    let mut surveys = SurveyServiceClient::with_interceptor(channel(&survey).await, bearer(token));
    let question = |id: &str, kind: spb::QuestionKind| spb::Question {
        question_id: id.into(),
        kind: kind as i32,
        text: id.into(),
        ..Default::default()
    };
    let draft = surveys
        .create_questionnaire(spb::CreateQuestionnaireRequest {
            questionnaire: Some(spb::Questionnaire {
                title: "After delivery".into(),
                questions: vec![
                    question("csat", spb::QuestionKind::Csat),
                    question("problem", spb::QuestionKind::Problem),
                ],
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
    let sent = surveys
        .create_invitation(spb::CreateInvitationRequest {
            invitation: Some(spb::Invitation {
                customer_id: customer.clone(),
                questionnaire_id: draft.id.clone(),
                method: spb::Method::Phone as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let response = surveys
        .submit_response(spb::SubmitResponseRequest {
            invitation_id: sent.id,
            answers: vec![
                spb::Answer {
                    question_id: "csat".into(),
                    value: Some(spb::answer::Value::Score(1)),
                },
                spb::Answer {
                    question_id: "problem".into(),
                    value: Some(spb::answer::Value::Problem(pb::Category::Delay as i32)),
                },
            ],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let complaints = dbs.complaints.connect().await;
    wait_for(&complaints, "SELECT COUNT(*) AS n FROM complaints", 1, 30).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        count(
            &complaints,
            &format!(
                "SELECT COUNT(*) AS n FROM complaints \
                 WHERE source_key = 'survey_response:{}' AND origin = 'survey_answer'",
                response.id
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(&complaints, "SELECT COUNT(*) AS n FROM complaints").await,
        1,
        "one case"
    );
    drop((desk, survey, tracking, registry));
}
