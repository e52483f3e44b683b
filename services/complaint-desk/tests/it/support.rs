//! customer-registry, order-tracking and complaint-desk on one server over fresh databases,
//! the way `kefu serve --service all` runs them; through the shared kit.

use std::ops::Deref;
use std::time::Duration;

use kefu_complaint_desk::ComplaintDesk;
use kefu_complaint_desk::settings::ComplaintDeskSettings;
use kefu_customer_registry::CustomerRegistry;
use kefu_order_tracking::OrderTracking;
use kefu_platform::auth::Role;
use kefu_platform::config::Settings;
use kefu_proto::common::{Address, Money};
use kefu_proto::complaint as pb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_testkit::{Authed, Spawn};

pub(crate) use kefu_testkit::Backend;
pub(crate) use kefu_testkit::until;

pub(crate) type Desk = ComplaintDeskServiceClient<Authed>;
pub(crate) type Customers = CustomerRegistryServiceClient<Authed>;
pub(crate) type Orders = OrderTrackingServiceClient<Authed>;

pub(crate) const SERVICES: [&'static dyn kefu_platform::service::Service; 3] =
    [&CustomerRegistry, &OrderTracking, &ComplaintDesk];

pub(crate) struct App {
    inner: kefu_testkit::App,
}

impl Deref for App {
    type Target = kefu_testkit::App;

    fn deref(&self) -> &kefu_testkit::App {
        &self.inner
    }
}

/// Every hour of every day is working time, and critical cases get 0.1% of the tier's
/// time: with the small tier's plan at 1 and 2 hours, a critical case must be answered in
/// 3.6 s and resolved in 7.2 s; the warning comes at half, both escalation steps at the
/// breach. The clock pass looks every 100 ms.
pub(crate) fn quick_clocks(settings: &mut Settings) {
    let Some(own) = settings.section_mut::<ComplaintDeskSettings>(kefu_complaint_desk::SERVICE)
    else {
        panic!("no complaint-desk settings");
    };
    for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
        own.calendar
            .working_hours
            .insert(day.into(), vec!["00:00-24:00".into()]);
    }
    own.deadlines
        .severity_percent
        .insert("critical".into(), 0.1);
    own.deadlines.warning_percent = 50;
    // Both steps of the ladder at the breach (their delays are the domain's tests').
    for step in &mut own.deadlines.escalation {
        step.after_breach_minutes = 0;
    }
    own.clock_check_interval_ms = 100;
}

/// The small tier's plan at 1 hour to the first response and 2 to the resolution.
pub(crate) const QUICK_PLAN: [(&str, &str); 2] = [
    (
        "KEFU__CUSTOMER_REGISTRY__SERVICE_PLANS__SMALL__FIRST_RESPONSE_HOURS",
        "1",
    ),
    (
        "KEFU__CUSTOMER_REGISTRY__SERVICE_PLANS__SMALL__RESOLUTION_HOURS",
        "2",
    ),
];

pub(crate) async fn spawn(backend: Backend) -> App {
    App {
        inner: Spawn::new(&SERVICES, backend).start().await,
    }
}

pub(crate) async fn spawn_with(spawn: Spawn) -> App {
    App {
        inner: spawn.start().await,
    }
}

impl App {
    pub(crate) fn inner(&self) -> &kefu_testkit::App {
        &self.inner
    }

    pub(crate) async fn desk(&self) -> Desk {
        self.desk_as("tester", Role::Manager, "").await
    }

    pub(crate) async fn desk_as(&self, subject: &str, role: Role, team: &str) -> Desk {
        ComplaintDeskServiceClient::new(self.as_role(subject, role, team).await)
    }

    pub(crate) async fn desk_with(&self, token: String) -> Desk {
        ComplaintDeskServiceClient::new(self.authed(Some(token), None).await)
    }

    pub(crate) async fn customers(&self) -> Customers {
        CustomerRegistryServiceClient::new(self.as_role("tester", Role::Manager, "").await)
    }

    pub(crate) async fn orders(&self) -> Orders {
        OrderTrackingServiceClient::new(self.as_role("tester", Role::Manager, "").await)
    }

    /// A new active enterprise customer (tier small) of `team`.
    pub(crate) async fn customer(&self, team: &str) -> String {
        let customer = cpb::Customer {
            kind: cpb::CustomerKind::Enterprise as i32,
            display_name: "Fuzhou Widgets".into(),
            registration_number: "91350100M000100Y43".into(),
            team_id: team.into(),
            contacts: vec![cpb::Contact {
                display_name: "Li Si".into(),
                role: "logistics".into(),
                phone: "0591-87654321".into(),
                email: String::new(),
            }],
            ..Default::default()
        };
        self.customers()
            .await
            .create_customer(cpb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .id
    }

    /// An order of `customer_id`.
    pub(crate) async fn order(&self, customer_id: &str) -> String {
        let place = |city: &str| Address {
            province: "Fujian".into(),
            city: city.into(),
            street: "1 Wusi Road".into(),
            ..Default::default()
        };
        let order = opb::Order {
            customer_id: customer_id.into(),
            channel: opb::Channel::Phone as i32,
            service_level: opb::ServiceLevel::Standard as i32,
            distance_km: 200,
            origin: Some(place("Fuzhou")),
            destination: Some(place("Xiamen")),
            lines: vec![opb::CargoLine {
                description: "boxes of tea".into(),
                pieces: 3,
                weight_grams: 12_300,
                volume_cm3: 30_000,
                declared_value: Some(Money {
                    currency_code: "CNY".into(),
                    minor_units: 50_000,
                }),
                special: None,
            }],
            ..Default::default()
        };
        self.orders()
            .await
            .create_order(opb::CreateOrderRequest {
                order: Some(order),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .id
    }

    /// Rows of `table` in complaint-desk's database.
    pub(crate) async fn count(&self, table: &str) -> i64 {
        self.inner.count(kefu_complaint_desk::SERVICE, table).await
    }

    /// complaint-desk's events so far.
    pub(crate) async fn events(&self) -> Vec<kefu_proto::common::Event> {
        events_from(&self.inner).await
    }

    /// complaint-desk's events of type `M`, decoded.
    pub(crate) async fn events_of<M: prost::Message + prost::Name + Default>(&self) -> Vec<M> {
        decode(self.events().await)
    }

    /// complaint-desk's events of type `M` as another server (a replica) serves them.
    pub(crate) async fn events_of_at<M: prost::Message + prost::Name + Default>(
        &self,
        server: &kefu_testkit::App,
    ) -> Vec<M> {
        decode(events_from(server).await)
    }
}

fn decode<M: prost::Message + prost::Name + Default>(
    events: Vec<kefu_proto::common::Event>,
) -> Vec<M> {
    events
        .into_iter()
        .filter(|e| e.r#type == M::full_name())
        .map(|e| M::decode(e.payload.unwrap_or_default().value.as_slice()).unwrap())
        .collect()
}

/// Every event `server`'s complaint-desk has written so far.
async fn events_from(server: &kefu_testkit::App) -> Vec<kefu_proto::common::Event> {
    use futures::StreamExt as _;
    let mut stream =
        ComplaintDeskServiceClient::new(server.as_role("tester", Role::Manager, "").await)
            .stream_events(pb::StreamEventsRequest::default())
            .await
            .unwrap()
            .into_inner();
    let mut events = Vec::new();
    while let Ok(Some(next)) = tokio::time::timeout(Duration::from_millis(700), stream.next()).await
    {
        events.extend(next.unwrap().event);
    }
    events
}

/// A complaint about a damaged order, registered from the hotline.
pub(crate) fn complaint(customer_id: &str, order_id: &str) -> pb::Complaint {
    pb::Complaint {
        r#type: pb::CaseType::Complaint as i32,
        origin: pb::Origin::Hotline as i32,
        contact_channel: pb::ContactChannel::Phone as i32,
        category: pb::Category::Damage as i32,
        severity: pb::Severity::Medium as i32,
        customer_id: customer_id.into(),
        order_id: order_id.into(),
        summary: "carton crushed on arrival".into(),
        description: "Three cartons arrived crushed; the tea inside is wet.".into(),
        ..Default::default()
    }
}

pub(crate) fn create(complaint: pb::Complaint) -> pb::CreateComplaintRequest {
    pb::CreateComplaintRequest {
        complaint: Some(complaint),
        request_id: String::new(),
    }
}

/// Registers a complaint of a new customer of `team` about one of its orders.
pub(crate) async fn registered(app: &App, team: &str) -> pb::Complaint {
    let customer = app.customer(team).await;
    let order = app.order(&customer).await;
    app.desk()
        .await
        .create_complaint(create(complaint(&customer, &order)))
        .await
        .unwrap()
        .into_inner()
}

/// A case's stored document, opened with the suite's key (X-4 seals it at rest).
pub(crate) async fn opened_document(app: &kefu_testkit::App, id: &str) -> String {
    use sea_orm::ConnectionTrait as _;
    let cipher = kefu_platform::pii::PiiCipher::from_settings(&app.settings.security).unwrap();
    let db = app.db(kefu_complaint_desk::SERVICE);
    let stored: String = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT document FROM complaints WHERE id = $1",
            [id.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "document")
        .unwrap();
    kefu_complaint_desk::store::SEALED_DOCUMENTS
        .open(&cipher, id, &stored)
        .unwrap()
}

/// Waits until `check` holds, or fails after `seconds`.
pub(crate) async fn eventually<F, Fut>(seconds: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within {seconds} s: {what}");
}
