//! X-1 under faults: the whole suite on a PostgreSQL cluster of the test's own, crashed and
//! restarted under a mixed write load; every acknowledged write is there exactly once with
//! its event, and calls during the outage answer UNAVAILABLE within their deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kefu_platform::auth::{Role, SCOPE_PII_READ};
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
use kefu_testkit::postgres_server::PostgresServer;
use kefu_testkit::{App, Authed, Backend, Spawn};
use sea_orm::{ConnectionTrait as _, Statement};
use tonic::{Code, Request, Status};

/// Every call's deadline, as a client of the suite would set it.
const DEADLINE: Duration = Duration::from_secs(3);

/// How long PostgreSQL stays down.
const OUTAGE: Duration = Duration::from_secs(2);

/// Longest time from PostgreSQL accepting connections to every service writing again.
const RECOVERY: Duration = Duration::from_secs(10);

/// The writes of the load: one per service, each answered with the id of what it made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Write {
    Customer,
    Order,
    Complaint,
    Questionnaire,
    Staff,
}

impl Write {
    const ALL: [Write; 5] = [
        Write::Customer,
        Write::Order,
        Write::Complaint,
        Write::Questionnaire,
        Write::Staff,
    ];

    fn service(self) -> &'static str {
        match self {
            Write::Customer => "customer-registry",
            Write::Order => "order-tracking",
            Write::Complaint => "complaint-desk",
            Write::Questionnaire => "survey",
            Write::Staff => "staff-kpi",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Write::Customer => "customers",
            Write::Order => "orders",
            Write::Complaint => "complaints",
            Write::Questionnaire => "questionnaires",
            Write::Staff => "staff",
        }
    }

    /// The event the write puts in its service's stream; survey writes none for a new
    /// questionnaire.
    fn event(self) -> Option<&'static str> {
        match self {
            Write::Customer => Some("kefu.customer.v1.CustomerCreated"),
            Write::Order => Some("kefu.order.v1.OrderCreated"),
            Write::Complaint => Some("kefu.complaint.v1.ComplaintRegistered"),
            Write::Questionnaire => None,
            Write::Staff => Some("kefu.staff.v1.StaffJoined"),
        }
    }
}

/// A client of every service on one connection.
#[derive(Clone)]
struct Clients {
    customers: CustomerRegistryServiceClient<Authed>,
    orders: OrderTrackingServiceClient<Authed>,
    desk: ComplaintDeskServiceClient<Authed>,
    survey: SurveyServiceClient<Authed>,
    staff: StaffKpiServiceClient<Authed>,
    /// The customer and order that orders and complaints are about, made before the load.
    customer_id: String,
    order_id: String,
}

fn with_deadline<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

impl Clients {
    async fn new(app: &App) -> Self {
        let token = app.token("soak", Role::Manager, &[SCOPE_PII_READ], "");
        let channel = app.authed(Some(token), None).await;
        Self {
            customers: CustomerRegistryServiceClient::new(channel.clone()),
            orders: OrderTrackingServiceClient::new(channel.clone()),
            desk: ComplaintDeskServiceClient::new(channel.clone()),
            survey: SurveyServiceClient::new(channel.clone()),
            staff: StaffKpiServiceClient::new(channel),
            customer_id: String::new(),
            order_id: String::new(),
        }
    }

    /// Sends `write` under `request_id` once; the id of what it made.
    async fn send(&mut self, write: Write, request_id: &str) -> Result<String, Status> {
        let request_id = request_id.to_owned();
        Ok(match write {
            Write::Customer => {
                self.customers
                    .create_customer(with_deadline(cpb::CreateCustomerRequest {
                        customer: Some(kefu::samples::customer()),
                        request_id,
                    }))
                    .await?
                    .into_inner()
                    .id
            }
            Write::Order => {
                self.orders
                    .create_order(with_deadline(opb::CreateOrderRequest {
                        order: Some(kefu::samples::order(&self.customer_id)),
                        request_id,
                    }))
                    .await?
                    .into_inner()
                    .id
            }
            Write::Complaint => {
                self.desk
                    .create_complaint(with_deadline(dpb::CreateComplaintRequest {
                        complaint: Some(kefu::samples::complaint(
                            &self.customer_id,
                            &self.order_id,
                        )),
                        request_id,
                    }))
                    .await?
                    .into_inner()
                    .id
            }
            Write::Questionnaire => {
                self.survey
                    .create_questionnaire(with_deadline(spb::CreateQuestionnaireRequest {
                        questionnaire: Some(kefu::samples::questionnaire()),
                        request_id,
                    }))
                    .await?
                    .into_inner()
                    .id
            }
            Write::Staff => {
                // Staff ids are the caller's: the request's own id serves.
                self.staff
                    .create_staff(with_deadline(kpb::CreateStaffRequest {
                        staff: Some(kefu::samples::manager(&format!("s-{request_id}"))),
                        request_id,
                    }))
                    .await?
                    .into_inner()
                    .id
            }
        })
    }
}

/// What the clients saw: every acknowledged write, and every refusal with how long it took.
#[derive(Debug, Default)]
struct Ledger {
    acknowledged: Vec<(Write, String, Instant)>,
    refused: Vec<(Write, Code, Duration, String, Instant)>,
}

/// One client: writes `write` again and again until `stop`, each under a request id of its
/// own, retrying a refused write under the same id until it is acknowledged, as a client
/// that must not lose a write does.
async fn client(
    mut clients: Clients,
    write: Write,
    ledger: Arc<Mutex<Ledger>>,
    stop: tokio_util::sync::CancellationToken,
) {
    while !stop.is_cancelled() {
        let request_id = uuid::Uuid::new_v4().to_string();
        let given_up = Instant::now() + Duration::from_secs(60);
        loop {
            let sent = Instant::now();
            let answer = clients.send(write, &request_id).await;
            match answer {
                Ok(id) => {
                    let at = Instant::now();
                    ledger.lock().unwrap().acknowledged.push((write, id, at));
                    break;
                }
                Err(status) => {
                    ledger.lock().unwrap().refused.push((
                        write,
                        status.code(),
                        sent.elapsed(),
                        status.message().to_owned(),
                        sent,
                    ));
                    assert!(
                        Instant::now() < given_up,
                        "{write:?} {request_id} not acknowledged in 60 s"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Ids in `table` of `service`'s database.
async fn ids_in(app: &App, write: Write) -> BTreeSet<String> {
    let db = app.db(write.service());
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT id FROM {}", write.table()),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<String>("", "id").unwrap())
        .collect()
}

/// Subjects of `event` placed in `service`'s stream, with how often each appears.
async fn streamed(app: &App, write: Write, event: &str) -> BTreeMap<String, i64> {
    let db = app.db(write.service());
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT subject, count(*) AS n FROM kefu_outbox \
                 WHERE position IS NOT NULL AND event_type = '{event}' GROUP BY subject"
            ),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let subject: String = row.try_get("", "subject").unwrap();
            let id = subject.rsplit('/').next().unwrap_or_default().to_owned();
            (id, row.try_get::<i64>("", "n").unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn x1_acknowledged_writes_survive_a_postgres_crash_and_the_outage_answers_unavailable() {
    let postgres = Arc::new(PostgresServer::start());
    let app = Spawn::new(kefu::SERVICES, Backend::Postgres)
        .postgres_at(postgres.admin_url())
        .start()
        .await;
    let mut clients = Clients::new(&app).await;
    clients.customer_id = clients
        .send(Write::Customer, "setup-customer")
        .await
        .unwrap();
    clients.order_id = clients.send(Write::Order, "setup-order").await.unwrap();
    let before: BTreeMap<Write, BTreeSet<String>> = {
        let mut before = BTreeMap::new();
        for write in Write::ALL {
            before.insert(write, ids_in(&app, write).await);
        }
        before
    };

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut workers = Vec::new();
    for n in 0..10 {
        workers.push(tokio::spawn(client(
            clients.clone(),
            Write::ALL[n % Write::ALL.len()],
            ledger.clone(),
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let crashed = Instant::now();
    {
        let postgres = postgres.clone();
        tokio::task::spawn_blocking(move || postgres.crash())
            .await
            .unwrap();
    }
    tokio::time::sleep(OUTAGE).await;
    {
        let postgres = postgres.clone();
        tokio::task::spawn_blocking(move || postgres.restart())
            .await
            .unwrap();
    }
    let back = Instant::now();
    let recovered: BTreeMap<Write, Duration> = kefu_testkit::until(
        RECOVERY.as_secs() + 5,
        "every service writes again after PostgreSQL is back",
        || {
            let ledger = ledger.clone();
            async move {
                let ledger = ledger.lock().unwrap();
                let firsts: BTreeMap<Write, Duration> = Write::ALL
                    .iter()
                    .filter_map(|write| {
                        ledger
                            .acknowledged
                            .iter()
                            .filter(|(w, _, at)| w == write && *at > back)
                            .map(|(_, _, at)| at.duration_since(back))
                            .min()
                            .map(|d| (*write, d))
                    })
                    .collect();
                (firsts.len() == Write::ALL.len()).then_some(firsts)
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    for worker in workers {
        worker.await.unwrap();
    }

    let ledger = Arc::try_unwrap(ledger).unwrap().into_inner().unwrap();
    let outage: Vec<_> = ledger
        .refused
        .iter()
        .filter(|(_, _, _, _, sent)| *sent >= crashed)
        .collect();
    let wrong: Vec<_> = ledger
        .refused
        .iter()
        .filter(|(_, code, ..)| *code != Code::Unavailable)
        .collect();
    let slowest = ledger
        .refused
        .iter()
        .map(|(_, _, took, ..)| *took)
        .max()
        .unwrap_or_default();
    let mut outage_times: Vec<Duration> = outage.iter().map(|(_, _, took, ..)| *took).collect();
    outage_times.sort();
    let median = outage_times
        .get(outage_times.len() / 2)
        .copied()
        .unwrap_or_default();
    let slowest_recovery = recovered.values().max().copied().unwrap_or_default();
    println!(
        "postgres crash: {} writes acknowledged, {} refused during the outage (median {} ms, slowest {} ms), \
         {} refused with anything but UNAVAILABLE; every service wrote again {} ms after \
         PostgreSQL was back ({recovered:?})",
        ledger.acknowledged.len(),
        outage.len(),
        median.as_millis(),
        slowest.as_millis(),
        wrong.len(),
        slowest_recovery.as_millis(),
    );
    assert!(
        !outage.is_empty(),
        "no call met the outage: the test proved nothing"
    );
    assert!(
        wrong.is_empty(),
        "refusals other than UNAVAILABLE: {wrong:?}"
    );
    assert!(slowest < DEADLINE, "a refusal took {slowest:?}");
    // Only the calls of the first probe interval wait out the pool's acquire timeout; once
    // the probe has seen the database gone, calls are refused at once.
    assert!(
        median < Duration::from_millis(500),
        "refusals during the outage took {median:?} (median): they waited on the pool"
    );
    assert!(
        slowest_recovery <= RECOVERY,
        "recovery took {slowest_recovery:?}"
    );

    let mut lost = 0;
    let mut doubled = 0;
    for write in Write::ALL {
        let acknowledged: BTreeSet<String> = ledger
            .acknowledged
            .iter()
            .filter(|(w, ..)| *w == write)
            .map(|(_, id, _)| id.clone())
            .collect();
        assert_eq!(
            acknowledged.len(),
            ledger
                .acknowledged
                .iter()
                .filter(|(w, ..)| *w == write)
                .count(),
            "{write:?}: two requests answered with one id"
        );
        let stored = ids_in(&app, write).await;
        let expected: BTreeSet<String> = before[&write].union(&acknowledged).cloned().collect();
        lost += expected.difference(&stored).count();
        // Every request was retried until acknowledged, so a row nobody was told of is a
        // write made twice.
        doubled += stored.difference(&expected).count();
        assert_eq!(
            stored, expected,
            "{write:?}: rows are the acknowledged writes"
        );
        if let Some(event) = write.event() {
            let streamed =
                kefu_testkit::until(10, "every acknowledged write's event streamed", || {
                    let (app, expected) = (&app, &expected);
                    async move {
                        let streamed = streamed(app, write, event).await;
                        let ids: BTreeSet<String> = streamed.keys().cloned().collect();
                        (ids == *expected).then_some(streamed)
                    }
                })
                .await;
            assert!(
                streamed.values().all(|n| *n == 1),
                "{write:?}: an event streamed twice: {streamed:?}"
            );
        }
    }
    println!("postgres crash: acknowledged writes lost {lost}, written twice {doubled}");
    assert_eq!((lost, doubled), (0, 0));
}
