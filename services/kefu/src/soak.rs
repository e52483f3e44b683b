//! A write load on every service that keeps a ledger of what was acknowledged: what the
//! fault tests run against a suite they crash and drain, and what `kefu soak` runs against a
//! deployment for as long as asked before it reads every acknowledged write back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
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
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Status};

/// Every call's deadline, as a client of the suite would set it.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// A write held this long without an acknowledgment is given up and counted.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// What carries the calls: any gRPC channel (a test's plain one, the client's own).
pub trait Transport:
    tonic::client::GrpcService<
        tonic::body::Body,
        Error: Into<tonic::codegen::StdError>,
        ResponseBody: http_body::Body<
            Data = Bytes,
            Error: Into<tonic::codegen::StdError> + Send,
        > + Send
                          + 'static,
        Future: Send,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Transport for T where
    T: tonic::client::GrpcService<
            tonic::body::Body,
            Error: Into<tonic::codegen::StdError>,
            ResponseBody: http_body::Body<
                Data = Bytes,
                Error: Into<tonic::codegen::StdError> + Send,
            > + Send
                              + 'static,
            Future: Send,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The writes of the load: one per service, each answered with the id of what it made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Write {
    Customer,
    Order,
    Complaint,
    Questionnaire,
    Staff,
}

impl Write {
    pub const ALL: [Write; 5] = [
        Write::Customer,
        Write::Order,
        Write::Complaint,
        Write::Questionnaire,
        Write::Staff,
    ];

    pub fn service(self) -> &'static str {
        match self {
            Write::Customer => "customer-registry",
            Write::Order => "order-tracking",
            Write::Complaint => "complaint-desk",
            Write::Questionnaire => "survey",
            Write::Staff => "staff-kpi",
        }
    }

    /// The table the write adds a row to.
    pub fn table(self) -> &'static str {
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
    pub fn event(self) -> Option<&'static str> {
        match self {
            Write::Customer => Some("kefu.customer.v1.CustomerCreated"),
            Write::Order => Some("kefu.order.v1.OrderCreated"),
            Write::Complaint => Some("kefu.complaint.v1.ComplaintRegistered"),
            Write::Questionnaire => None,
            Write::Staff => Some("kefu.staff.v1.StaffJoined"),
        }
    }
}

/// A client of every service on one channel.
#[derive(Clone)]
pub struct Clients<T> {
    pub customers: CustomerRegistryServiceClient<T>,
    pub orders: OrderTrackingServiceClient<T>,
    pub desk: ComplaintDeskServiceClient<T>,
    pub survey: SurveyServiceClient<T>,
    pub staff: StaffKpiServiceClient<T>,
    /// The customer and order that orders and complaints are about, made before the load.
    pub customer_id: String,
    pub order_id: String,
}

impl<T> std::fmt::Debug for Clients<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("customer_id", &self.customer_id)
            .field("order_id", &self.order_id)
            .finish_non_exhaustive()
    }
}

/// `message` with the load's deadline.
pub fn with_deadline<M>(message: M) -> Request<M> {
    let mut request = Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

impl<T: Transport> Clients<T> {
    /// Clients on `channel`, which must speak for a manager; makes the customer and order
    /// that the load's orders and complaints are about.
    pub async fn prepared(channel: T) -> Result<Self, Status> {
        Self::prepared_each(|_| channel.clone()).await
    }

    /// As [`Clients::prepared`], each service on the channel `channel_to` gives for its name
    /// (services deployed apart have endpoints of their own).
    pub async fn prepared_each(channel_to: impl Fn(&str) -> T) -> Result<Self, Status> {
        let mut clients = Self {
            customers: CustomerRegistryServiceClient::new(channel_to(Write::Customer.service())),
            orders: OrderTrackingServiceClient::new(channel_to(Write::Order.service())),
            desk: ComplaintDeskServiceClient::new(channel_to(Write::Complaint.service())),
            survey: SurveyServiceClient::new(channel_to(Write::Questionnaire.service())),
            staff: StaffKpiServiceClient::new(channel_to(Write::Staff.service())),
            customer_id: String::new(),
            order_id: String::new(),
        };
        let run = uuid::Uuid::new_v4();
        clients.customer_id = clients
            .send(Write::Customer, &format!("soak-customer-{run}"))
            .await?;
        clients.order_id = clients
            .send(Write::Order, &format!("soak-order-{run}"))
            .await?;
        Ok(clients)
    }

    /// Sends `write` under `request_id` once; the id of what it made.
    pub async fn send(&mut self, write: Write, request_id: &str) -> Result<String, Status> {
        let request_id = request_id.to_owned();
        Ok(match write {
            Write::Customer => {
                self.customers
                    .create_customer(with_deadline(cpb::CreateCustomerRequest {
                        customer: Some(crate::samples::customer()),
                        request_id,
                    }))
                    .await?
                    .into_inner()
                    .id
            }
            Write::Order => {
                self.orders
                    .create_order(with_deadline(opb::CreateOrderRequest {
                        order: Some(crate::samples::order(&self.customer_id)),
                        request_id,
                    }))
                    .await?
                    .into_inner()
                    .id
            }
            Write::Complaint => {
                self.desk
                    .create_complaint(with_deadline(dpb::CreateComplaintRequest {
                        complaint: Some(crate::samples::complaint(
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
                        questionnaire: Some(crate::samples::questionnaire()),
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
                        staff: Some(crate::samples::manager(&format!("s-{request_id}"))),
                        request_id,
                    }))
                    .await?
                    .into_inner()
                    .id
            }
        })
    }

    /// Reads what `write` made back by its id.
    pub async fn read_back(&mut self, write: Write, id: &str) -> Result<(), Status> {
        let id = id.to_owned();
        match write {
            Write::Customer => self
                .customers
                .get_customer(with_deadline(cpb::GetCustomerRequest { customer_id: id }))
                .await
                .map(drop),
            Write::Order => self
                .orders
                .get_order(with_deadline(opb::GetOrderRequest { order_id: id }))
                .await
                .map(drop),
            Write::Complaint => self
                .desk
                .get_complaint(with_deadline(dpb::GetComplaintRequest { complaint_id: id }))
                .await
                .map(drop),
            Write::Questionnaire => self
                .survey
                .get_questionnaire(with_deadline(spb::GetQuestionnaireRequest {
                    questionnaire_id: id,
                    version: 0,
                }))
                .await
                .map(drop),
            Write::Staff => self
                .staff
                .get_staff(with_deadline(kpb::GetStaffRequest { staff_id: id }))
                .await
                .map(drop),
        }
    }
}

/// What the clients saw: every acknowledged write and every refusal, with when each call
/// was sent and how long it took, and how many writes were given up unacknowledged.
#[derive(Debug, Default)]
pub struct Ledger {
    /// The write, the id it was answered with, when, and how long the call took.
    pub acknowledged: Vec<(Write, String, Instant, Duration)>,
    pub refused: Vec<Refusal>,
    pub abandoned: usize,
}

#[derive(Debug)]
pub struct Refusal {
    pub write: Write,
    pub code: Code,
    pub message: String,
    /// Refused by the client's own transport before the server could take it.
    pub never_sent: bool,
    pub sent: Instant,
    pub took: Duration,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} refused with {:?} after {:?}: {}",
            self.write, self.code, self.took, self.message
        )
    }
}

/// How a client ends once told to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtStop {
    /// Retries the write it holds until it is acknowledged: the ledger is then complete.
    Finish,
    /// Gives the write it holds up (the server is gone for good).
    GiveUp,
}

/// The status's message and, for one the client's library made, what it made it of.
pub fn cause(status: &Status) -> String {
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        text.push_str(&format!(" / {e} ({e:?})"));
        source = e.source();
    }
    text
}

/// Whether the client's library refused the call before the server took it: the connection
/// had closed before the request went out (hyper's "canceled"), or the server's GOAWAY came
/// before the stream. gRPC's own clients retry these transparently; tonic hands them to
/// the caller as CANCELLED or INTERNAL.
pub fn never_sent(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
            || e.downcast_ref::<h2::Error>().is_some_and(|e| {
                e.is_go_away()
                    && matches!(
                        e.reason(),
                        Some(h2::Reason::NO_ERROR | h2::Reason::REFUSED_STREAM)
                    )
            })
        {
            return true;
        }
        source = e.source();
    }
    false
}

fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    // A client that panicked left a ledger that is still whole.
    ledger
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One client: writes `write` again and again until `stop`, each under a request id of its
/// own, retrying a refused write under the same id, as a client that must not lose a write
/// does. A write held for a minute is given up and counted as abandoned.
pub async fn client<T: Transport>(
    mut clients: Clients<T>,
    write: Write,
    ledger: Arc<Mutex<Ledger>>,
    stop: CancellationToken,
    at_stop: AtStop,
) {
    while !stop.is_cancelled() {
        let request_id = uuid::Uuid::new_v4().to_string();
        let given_up = Instant::now() + GIVE_UP_AFTER;
        loop {
            let sent = Instant::now();
            match clients.send(write, &request_id).await {
                Ok(id) => {
                    let at = Instant::now();
                    lock(&ledger).acknowledged.push((write, id, at, at - sent));
                    break;
                }
                Err(status) => {
                    let give_up = (stop.is_cancelled() && at_stop == AtStop::GiveUp)
                        || Instant::now() >= given_up;
                    {
                        let mut ledger = lock(&ledger);
                        ledger.refused.push(Refusal {
                            write,
                            code: status.code(),
                            message: cause(&status),
                            never_sent: never_sent(&status),
                            sent,
                            took: sent.elapsed(),
                        });
                        ledger.abandoned += usize::from(give_up);
                    }
                    if give_up {
                        if stop.is_cancelled() {
                            return;
                        }
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// `clients_per_write` clients of each write, until `stop`.
pub fn load<T: Transport>(
    clients: &Clients<T>,
    clients_per_write: usize,
    ledger: &Arc<Mutex<Ledger>>,
    stop: &CancellationToken,
    at_stop: AtStop,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients_per_write * Write::ALL.len())
        .map(|n| {
            tokio::spawn(client(
                clients.clone(),
                Write::ALL[n % Write::ALL.len()],
                ledger.clone(),
                stop.clone(),
                at_stop,
            ))
        })
        .collect()
}

/// The statuses a refusal may carry and still be the API's documented answer under load
/// or faults: the rest (INTERNAL, UNKNOWN, DATA_LOSS, …) are findings.
pub fn documented(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::Cancelled
    )
}

/// What a soak found.
#[derive(Debug, Default)]
pub struct Findings {
    pub acknowledged: usize,
    pub read_back: usize,
    /// Acknowledged writes that could not be read back.
    pub lost: Vec<(Write, String, String)>,
    /// Writes given up after a minute of refusals.
    pub abandoned: usize,
    pub refused_by_code: BTreeMap<String, usize>,
    /// Refusals with a status the API does not document (never-sent ones excepted).
    pub undocumented: Vec<String>,
    /// Acknowledged calls' latency: median and 99th percentile.
    pub p50: Duration,
    pub p99: Duration,
}

impl Findings {
    pub fn clean(&self) -> bool {
        self.lost.is_empty() && self.abandoned == 0 && self.undocumented.is_empty()
    }
}

/// Runs the load on the channels `channel_to` gives for each service's name (a manager's)
/// for `duration`, `progress` told of the ledger
/// every `every`; then finishes the writes held, reads every acknowledged one back, and
/// says what it found.
pub async fn soak<T: Transport>(
    channel_to: impl Fn(&str) -> T,
    clients_per_write: usize,
    duration: Duration,
    every: Duration,
    mut progress: impl FnMut(Duration, &Ledger),
) -> anyhow::Result<Findings> {
    let clients = Clients::prepared_each(channel_to).await.map_err(|s| {
        anyhow::anyhow!(
            "making the soak's customer and order: {:?} {}",
            s.code(),
            s.message()
        )
    })?;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = CancellationToken::new();
    let workers = load(&clients, clients_per_write, &ledger, &stop, AtStop::Finish);
    let started = Instant::now();
    while started.elapsed() < duration {
        tokio::time::sleep(every.min(duration.saturating_sub(started.elapsed()))).await;
        progress(started.elapsed(), &lock(&ledger));
    }
    stop.cancel();
    for worker in workers {
        worker.await?;
    }
    let ledger = std::mem::take(&mut *lock(&ledger));
    let mut findings = Findings {
        acknowledged: ledger.acknowledged.len(),
        abandoned: ledger.abandoned,
        ..Findings::default()
    };
    for refusal in &ledger.refused {
        *findings
            .refused_by_code
            .entry(format!("{:?}", refusal.code))
            .or_default() += 1;
        if !refusal.never_sent && !documented(refusal.code) {
            findings.undocumented.push(refusal.to_string());
        }
    }
    let mut latencies: Vec<Duration> = ledger.acknowledged.iter().map(|a| a.3).collect();
    latencies.sort();
    findings.p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    findings.p99 = latencies
        .get(latencies.len() * 99 / 100)
        .copied()
        .unwrap_or_default();

    // Read back sixteen at a time; a read refused for load is tried again, a missing one
    // is lost.
    let reads = futures::stream::iter(ledger.acknowledged.into_iter().map(|(write, id, ..)| {
        let mut clients = clients.clone();
        async move {
            let mut last = None;
            for _ in 0..20 {
                match clients.read_back(write, &id).await {
                    Ok(()) => return (write, id, None),
                    Err(status) if documented(status.code()) => {
                        last = Some(status);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(status) => return (write, id, Some(status)),
                }
            }
            (write, id, last)
        }
    }));
    use futures::StreamExt as _;
    let mut reads = reads.buffer_unordered(16);
    while let Some((write, id, failed)) = reads.next().await {
        match failed {
            None => findings.read_back += 1,
            Some(status) => {
                findings.lost.push((
                    write,
                    id,
                    format!("{:?}: {}", status.code(), status.message()),
                ));
            }
        }
    }
    Ok(findings)
}
