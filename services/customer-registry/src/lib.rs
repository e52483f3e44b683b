//! customer-registry: the customer archive (DOMAIN.md CR-1 to CR-13), built from the
//! platform's handles.

#![forbid(unsafe_code)]

pub mod api;
pub mod domain;
pub mod error;
pub mod store;

use kefu_platform::auth::{AccessPolicy, Role};
use kefu_platform::config::Settings;
use kefu_platform::events::EventLog;
use kefu_platform::pii::PiiCipher;
use kefu_platform::redis::RedisHandle;
use kefu_platform::server::{Lifecycle, ServiceParts};
use kefu_proto::customer::customer_registry_service_server::CustomerRegistryServiceServer;
use sea_orm::DatabaseConnection;

pub use api::CustomerRegistryApi;

/// The name `kefu serve --service` takes.
pub const SERVICE: &str = "customer-registry";
/// The gRPC service name.
pub const GRPC_SERVICE: &str = "kefu.customer.v1.CustomerRegistryService";

/// Who may call which RPC. RPCs without a rule are refused to everyone.
pub fn access_policy() -> AccessPolicy {
    use Role::*;
    let everyone = &[Agent, Supervisor, Manager, Service][..];
    AccessPolicy::new()
        .allow(GRPC_SERVICE, "CreateCustomer", everyone)
        .allow(GRPC_SERVICE, "GetCustomer", everyone)
        .allow(GRPC_SERVICE, "ListCustomers", everyone)
        .allow(GRPC_SERVICE, "UpdateCustomer", everyone)
        .allow(GRPC_SERVICE, "ArchiveCustomer", &[Supervisor, Manager])
        .allow(
            GRPC_SERVICE,
            "StreamEvents",
            &[Supervisor, Manager, Service],
        )
}

/// customer-registry built from its handles, ready to be added to a server.
#[derive(Debug)]
pub struct CustomerRegistry {
    pub api: CustomerRegistryApi,
    pub log: EventLog,
}

impl CustomerRegistry {
    pub fn new(
        settings: &Settings,
        db: DatabaseConnection,
        redis: Option<RedisHandle>,
        lifecycle: Lifecycle,
    ) -> anyhow::Result<Self> {
        let cipher = PiiCipher::from_settings(&settings.security)?;
        let log = EventLog::new(db.clone(), SERVICE, &settings.events, redis);
        Ok(Self {
            api: CustomerRegistryApi {
                db,
                cipher,
                log: log.clone(),
                lifecycle,
            },
            log,
        })
    }

    /// The tonic service with the configured message limits.
    pub fn grpc_service(
        &self,
        settings: &Settings,
    ) -> CustomerRegistryServiceServer<CustomerRegistryApi> {
        CustomerRegistryServiceServer::new(self.api.clone())
            .max_decoding_message_size(settings.server.max_message_bytes)
            .max_encoding_message_size(settings.server.max_message_bytes)
    }

    pub fn parts(&self) -> ServiceParts {
        ServiceParts {
            name: GRPC_SERVICE,
            policy: access_policy(),
        }
    }
}
