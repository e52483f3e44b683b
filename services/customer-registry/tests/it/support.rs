//! customer-registry on 127.0.0.1:0 over a fresh database per test, through the shared test kit.

use std::ops::Deref;

use kefu_customer_registry::{CustomerRegistry, SERVICE};
use kefu_platform::auth::Role;
use kefu_platform::config::Settings;
use kefu_proto::customer as pb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_testkit::{Authed, Spawn};
use sea_orm::DatabaseConnection;

pub(crate) use kefu_testkit::{Backend, holds};

pub(crate) type Client = CustomerRegistryServiceClient<Authed>;

/// customer-registry alone, with its database at hand.
pub(crate) struct App {
    inner: kefu_testkit::App,
    pub(crate) db: DatabaseConnection,
}

impl Deref for App {
    type Target = kefu_testkit::App;

    fn deref(&self) -> &kefu_testkit::App {
        &self.inner
    }
}

pub(crate) async fn spawn(backend: Backend) -> App {
    spawn_changed(backend, |_| {}).await
}

/// As [`spawn`], with settings changed by `change` first.
pub(crate) async fn spawn_changed(
    backend: Backend,
    change: impl FnOnce(&mut Settings) + Send + 'static,
) -> App {
    wrap(
        Spawn::new(&[&CustomerRegistry], backend)
            .change(change)
            .start()
            .await,
    )
}

fn wrap(inner: kefu_testkit::App) -> App {
    let db = inner.db(SERVICE).clone();
    App { inner, db }
}

impl App {
    /// The same database served anew with settings changed by `change`; this server stops.
    pub(crate) async fn restart_with(self, change: impl FnOnce(&mut Settings)) -> App {
        wrap(self.inner.replica(change).await)
    }

    /// A second replica on the same database, with settings changed by `change`; both serve.
    pub(crate) async fn replica(&self, change: impl FnOnce(&mut Settings)) -> App {
        wrap(self.inner.replica(change).await)
    }

    /// A client whose calls carry `token` (or none).
    pub(crate) async fn client_with_token(
        &self,
        token: Option<String>,
        purpose: Option<&str>,
    ) -> Client {
        CustomerRegistryServiceClient::new(self.authed(token, purpose).await)
    }

    pub(crate) async fn client(&self, role: Role) -> Client {
        self.client_with_token(Some(self.token("tester", role, &[], "")), None)
            .await
    }

    pub(crate) async fn agent(&self, sub: &str, team: &str) -> Client {
        self.client_with_token(Some(self.token(sub, Role::Agent, &[], team)), None)
            .await
    }

    /// A manager allowed to see personal data, stating a purpose.
    pub(crate) async fn pii_reader(&self) -> Client {
        self.client_with_token(
            Some(self.token("auditor", Role::Manager, &["pii:read"], "")),
            Some("verify the record"),
        )
        .await
    }

    pub(crate) async fn count(&self, table: &str) -> i64 {
        self.inner.count(SERVICE, table).await
    }

    /// Every value of every row of `table`, as text, for plaintext searches.
    pub(crate) async fn dump(&self, table: &str) -> String {
        self.inner.dump(SERVICE, table).await
    }
}

/// A complete, valid personal customer.
pub(crate) fn personal(name: &str) -> pb::Customer {
    pb::Customer {
        kind: pb::CustomerKind::Personal as i32,
        display_name: name.into(),
        phone: "13812345678".into(),
        email: "zhang.san@example.com".into(),
        id_number: "11010519491231002X".into(),
        addresses: vec![kefu_proto::common::Address {
            label: "home".into(),
            province: "Beijing".into(),
            city: "Beijing".into(),
            district: "Chaoyang".into(),
            street: "8 Jianguo Road".into(),
            postal_code: "100022".into(),
        }],
        team_id: "t1".into(),
        ..Default::default()
    }
}

/// A complete, valid enterprise customer.
pub(crate) fn enterprise(name: &str) -> pb::Customer {
    pb::Customer {
        kind: pb::CustomerKind::Enterprise as i32,
        display_name: name.into(),
        registration_number: "91350100M000100Y43".into(),
        contacts: vec![pb::Contact {
            display_name: "Li Si".into(),
            role: "logistics".into(),
            phone: "0591-87654321".into(),
            email: "li.si@widgets.example.cn".into(),
        }],
        team_id: "t1".into(),
        ..Default::default()
    }
}

pub(crate) fn create(customer: pb::Customer) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        customer: Some(customer),
        request_id: String::new(),
    }
}
