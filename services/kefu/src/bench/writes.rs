//! Writes side by side, 16 in flight from the bench's process: order-tracking's intake
//! (which asks customer-registry) and lifecycle moves, and one write of each other service,
//! against a plain transaction of one UPDATE and one INSERT on the same PostgreSQL server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kefu_proto::complaint as dpb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_proto::staff as kpb;
use kefu_proto::staff::staff_kpi_service_client::StaffKpiServiceClient;
use kefu_proto::survey as spb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;
use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
use tokio::sync::Mutex;

use super::suite::Suite;
use super::{
    Bearer, BenchArgs, Figures, Outcome, Table, WRITERS, clients, measure, ms, percent, verdict,
};

/// One worker's moves still to make, the next one last.
type MoveQueue = Vec<(String, opb::OrderState)>;

/// Writes of the suite's services beside the reference transaction, measured once.
pub(crate) struct Writes {
    reference: Figures,
    duration: Duration,
    bearer: Bearer,
}

impl Writes {
    /// Measures the reference on the PostgreSQL server of `suite`'s order-tracking.
    pub(crate) async fn new(suite: &Suite, args: &BenchArgs) -> anyhow::Result<Self> {
        let duration = Duration::from_secs(args.seconds);
        println!("writes, {WRITERS} in flight, against UPDATE + INSERT in one transaction");
        Ok(Self {
            reference: reference(suite, duration).await?,
            duration,
            bearer: Bearer::new(&suite.token)?,
        })
    }

    fn line(&self, table: &mut Table, what: &str, figures: &Figures, target: Option<f64>) {
        let ratio = figures.rps() / self.reference.rps().max(1e-9);
        table.row(
            format!("{what}, {WRITERS} in flight: calls/s, p99"),
            format!(
                "{:.0}, {}{}",
                figures.rps(),
                ms(figures.percentile(99.0)),
                figures.refusals()
            ),
            format!(
                "{:.0}, {} (UPDATE + INSERT)",
                self.reference.rps(),
                ms(self.reference.percentile(99.0))
            ),
            percent(figures.rps(), self.reference.rps()),
            target.map_or(String::new(), |t| {
                verdict(&format!("≥ {:.0}%", t * 100.0), ratio >= t)
            }),
        );
    }

    /// Intake (CreateOrder asks customer-registry), then lifecycle moves of what it made.
    pub(crate) async fn orders(
        &self,
        suite: &Suite,
        table: &mut Table,
        running: &str,
    ) -> anyhow::Result<()> {
        let orders = clients(
            suite.port("order-tracking")?,
            OrderTrackingServiceClient::with_interceptor,
            &self.bearer,
        )
        .await?;
        let customer = super::new_customer(suite, &self.bearer).await?;
        let created = Arc::new(Mutex::new(Vec::new()));
        let intake = {
            let (orders, created) = (orders.clone(), created.clone());
            measure(WRITERS, self.duration, move |w| {
                let mut client = orders[w % orders.len()].clone();
                let (customer, created) = (customer.clone(), created.clone());
                async move {
                    let answer = client
                        .create_order(opb::CreateOrderRequest {
                            order: Some(kefu::samples::order(&customer)),
                            request_id: String::new(),
                        })
                        .await;
                    if let Ok(order) = &answer {
                        created.lock().await.push(order.get_ref().id.clone());
                    }
                    answer.into()
                }
            })
            .await
        };
        self.line(
            table,
            &format!("CreateOrder (asks customer-registry){running}"),
            &intake,
            None,
        );

        // Each order takes three legal moves: VERIFIED, PICKING, CANCELLED. Each worker owns
        // its orders, so an order's moves come one after another.
        let created = created.lock().await.clone();
        let queues: Arc<Vec<Mutex<MoveQueue>>> = Arc::new(
            (0..WRITERS)
                .map(|w| {
                    Mutex::new(
                        created
                            .iter()
                            .skip(w)
                            .step_by(WRITERS)
                            .flat_map(|id| {
                                [
                                    opb::OrderState::Cancelled,
                                    opb::OrderState::Picking,
                                    opb::OrderState::Verified,
                                ]
                                .map(|s| (id.clone(), s))
                            })
                            .collect(),
                    )
                })
                .collect(),
        );
        let moves = measure(WRITERS, self.duration, move |w| {
            let (mut client, queues) = (orders[w % orders.len()].clone(), queues.clone());
            async move {
                let Some((order_id, to)) = queues[w].lock().await.pop() else {
                    return Outcome::Exhausted;
                };
                client
                    .move_order(opb::MoveOrderRequest {
                        order_id,
                        to_state: to as i32,
                        ..Default::default()
                    })
                    .await
                    .into()
            }
        })
        .await;
        self.line(table, &format!("MoveOrder{running}"), &moves, Some(0.7));
        Ok(())
    }

    pub(crate) async fn customers(&self, suite: &Suite, table: &mut Table) -> anyhow::Result<()> {
        let registry = clients(
            suite.port("customer-registry")?,
            CustomerRegistryServiceClient::with_interceptor,
            &self.bearer,
        )
        .await?;
        let customers = measure(WRITERS, self.duration, move |w| {
            let mut client = registry[w % registry.len()].clone();
            async move {
                client
                    .create_customer(kefu_proto::customer::CreateCustomerRequest {
                        customer: Some(kefu::samples::customer()),
                        request_id: String::new(),
                    })
                    .await
                    .into()
            }
        })
        .await;
        self.line(
            table,
            "CreateCustomer (customer-registry)",
            &customers,
            None,
        );
        Ok(())
    }

    /// CreateComplaint, which checks the customer and the order with their services (CD-2).
    pub(crate) async fn complaints(&self, suite: &Suite, table: &mut Table) -> anyhow::Result<()> {
        let desk = clients(
            suite.port("complaint-desk")?,
            ComplaintDeskServiceClient::with_interceptor,
            &self.bearer,
        )
        .await?;
        let customer = super::new_customer(suite, &self.bearer).await?;
        let orders = clients(
            suite.port("order-tracking")?,
            OrderTrackingServiceClient::with_interceptor,
            &self.bearer,
        )
        .await?;
        let order_id = super::new_orders(&orders, &customer, 1).await?.remove(0);
        let complaints = measure(WRITERS, self.duration, move |w| {
            let mut client = desk[w % desk.len()].clone();
            let (customer, order_id) = (customer.clone(), order_id.clone());
            async move {
                client
                    .create_complaint(dpb::CreateComplaintRequest {
                        complaint: Some(kefu::samples::complaint(&customer, &order_id)),
                        request_id: String::new(),
                    })
                    .await
                    .into()
            }
        })
        .await;
        self.line(
            table,
            "CreateComplaint (asks customer-registry and order-tracking)",
            &complaints,
            None,
        );
        Ok(())
    }

    pub(crate) async fn questionnaires(
        &self,
        suite: &Suite,
        table: &mut Table,
    ) -> anyhow::Result<()> {
        let survey = clients(
            suite.port("survey")?,
            SurveyServiceClient::with_interceptor,
            &self.bearer,
        )
        .await?;
        let questionnaires = measure(WRITERS, self.duration, move |w| {
            let mut client = survey[w % survey.len()].clone();
            async move {
                client
                    .create_questionnaire(spb::CreateQuestionnaireRequest {
                        questionnaire: Some(kefu::samples::questionnaire()),
                        request_id: String::new(),
                    })
                    .await
                    .into()
            }
        })
        .await;
        self.line(table, "CreateQuestionnaire (survey)", &questionnaires, None);
        Ok(())
    }

    pub(crate) async fn staff(&self, suite: &Suite, table: &mut Table) -> anyhow::Result<()> {
        let staff = clients(
            suite.port("staff-kpi")?,
            StaffKpiServiceClient::with_interceptor,
            &self.bearer,
        )
        .await?;
        let next = Arc::new(AtomicUsize::new(0));
        let people = measure(WRITERS, self.duration, move |w| {
            let mut client = staff[w % staff.len()].clone();
            let n = next.fetch_add(1, Ordering::Relaxed);
            async move {
                client
                    .create_staff(kpb::CreateStaffRequest {
                        staff: Some(kefu::samples::manager(&format!("bench-{n}"))),
                        request_id: String::new(),
                    })
                    .await
                    .into()
            }
        })
        .await;
        self.line(table, "CreateStaff (staff-kpi)", &people, None);
        Ok(())
    }
}

/// The reference write: one transaction of one UPDATE and one INSERT, on a database of the
/// same PostgreSQL server, from the bench's process through the same driver Kefu uses.
async fn reference(suite: &Suite, duration: Duration) -> anyhow::Result<Figures> {
    let db = suite.db("order-tracking").await?;
    db.execute_unprepared(
        "CREATE TABLE bench_ref (id INT PRIMARY KEY, v BIGINT NOT NULL); \
         CREATE TABLE bench_ref_log (id BIGSERIAL PRIMARY KEY, ref_id INT NOT NULL, \
                                     at TIMESTAMPTZ NOT NULL DEFAULT now()); \
         INSERT INTO bench_ref SELECT g, 0 FROM generate_series(0, 1023) g",
    )
    .await?;
    let next = Arc::new(AtomicUsize::new(0));
    Ok(measure(WRITERS, duration, move |_| {
        let db = db.clone();
        // Spread over 1,024 rows so that no two transactions wait on one row.
        let key = next.fetch_add(7919, Ordering::Relaxed) % 1024;
        async move {
            let written = async {
                let txn = db.begin().await?;
                txn.execute_unprepared(&format!("UPDATE bench_ref SET v = v + 1 WHERE id = {key}"))
                    .await?;
                txn.execute_unprepared(&format!(
                    "INSERT INTO bench_ref_log (ref_id) VALUES ({key})"
                ))
                .await?;
                txn.commit().await
            }
            .await;
            match written {
                Ok(()) => Outcome::Answered,
                Err(e) => Outcome::Refused(tonic::Status::internal(e.to_string())),
            }
        }
    })
    .await)
}
