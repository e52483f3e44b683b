//! order-tracking: orders from intake to signed handover (DOMAIN.md OT-1 to OT-12), built
//! from the platform's handles.

#![forbid(unsafe_code)]

pub mod api;
pub mod customers;
mod delay;
pub mod domain;
pub mod error;
pub mod hot;
pub mod reseal;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::FixedOffset;
use kefu_platform::auth::{AccessPolicy, Role, TokenKeys};
use kefu_platform::client::{ChannelOptions, channel};
use kefu_platform::config::Settings;
use kefu_platform::events::EventLog;
use kefu_platform::hot::HotStore;
use kefu_platform::pii::PiiCipher;
use kefu_platform::redis::RedisHandle;
use kefu_platform::server::{Lifecycle, ServiceParts};
use kefu_proto::order::order_tracking_service_server::OrderTrackingServiceServer;
use sea_orm::DatabaseConnection;

pub use api::OrderTrackingApi;

use crate::api::Rules;
use crate::customers::CustomerDirectory;
use crate::hot::{Breaker, HotOrders};

/// The name `kefu serve --service` takes.
pub const SERVICE: &str = "order-tracking";
/// The gRPC service name.
pub const GRPC_SERVICE: &str = "kefu.order.v1.OrderTrackingService";

/// Who may call which RPC. RPCs without a rule are refused to everyone.
pub fn access_policy() -> AccessPolicy {
    use Role::*;
    let staff_and_systems = &[Agent, Supervisor, Manager, Service][..];
    let mut policy = AccessPolicy::new();
    for method in [
        "CreateOrder",
        "GetOrder",
        "ListOrders",
        "QuotePrice",
        "UpdatePaymentStatus",
        "MoveOrder",
        "RecordPick",
        "ResolveShortPick",
        "RecordPacking",
        "RecordHandover",
        "RaiseException",
        "ListExceptions",
        "CreateReturn",
        "WatchOrder",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, staff_and_systems);
    }
    policy
        .allow(
            GRPC_SERVICE,
            "GetCycleTimeReport",
            &[Supervisor, Manager, Service],
        )
        .allow(
            GRPC_SERVICE,
            "StreamEvents",
            &[Supervisor, Manager, Service],
        )
}

/// Where order state is kept hot.
#[derive(Debug)]
pub enum HotChoice {
    /// Redis: shared by every replica.
    Shared(Arc<dyn HotStore>),
    /// An in-process map: only right while this is the one process serving orders.
    SingleProcess(Arc<dyn HotStore>),
    /// Every read goes to the database.
    None,
}

/// order-tracking built from its handles.
#[derive(Debug)]
pub struct OrderTracking {
    pub api: OrderTrackingApi,
    pub log: EventLog,
    delay_check: Duration,
}

impl OrderTracking {
    /// `customer_registry` is where customer-registry answers (its own server in
    /// `serve --service all`).
    pub fn new(
        settings: &Settings,
        db: DatabaseConnection,
        redis: Option<RedisHandle>,
        hot: HotChoice,
        customer_registry: &str,
        lifecycle: Lifecycle,
    ) -> anyhow::Result<Self> {
        let section = &settings.order_tracking;
        let cipher = PiiCipher::from_settings(&settings.security)?;
        let log = EventLog::new(db.clone(), SERVICE, &settings.events, redis);
        let hot = match hot {
            HotChoice::Shared(store) | HotChoice::SingleProcess(store) => HotOrders::new(
                store,
                Breaker::new(
                    section.breaker_failures,
                    Duration::from_millis(section.breaker_open_ms),
                ),
                Duration::from_secs(section.hot_ttl_s),
            ),
            HotChoice::None => HotOrders::disabled(),
        };
        let customers = CustomerDirectory::new(
            channel(&ChannelOptions {
                endpoint: customer_registry.to_owned(),
                connect_timeout: settings.customer_registry.call_timeout(),
                call_deadline: settings.customer_registry.call_timeout(),
                bearer_token: None,
            })?,
            TokenKeys::new(&settings.auth),
        );
        let rules = Rules {
            pricing: section.pricing.clone(),
            report_offset: FixedOffset::east_opt(section.report_utc_offset_minutes * 60)
                .ok_or_else(|| {
                    anyhow::anyhow!("order_tracking.report_utc_offset_minutes out of range")
                })?,
        };
        Ok(Self {
            api: OrderTrackingApi {
                db,
                cipher,
                log: log.clone(),
                lifecycle,
                hot,
                customers,
                rules: Arc::new(rules),
            },
            log,
            delay_check: Duration::from_millis(section.delay_check_interval_ms),
        })
    }

    pub fn grpc_service(
        &self,
        settings: &Settings,
    ) -> OrderTrackingServiceServer<OrderTrackingApi> {
        OrderTrackingServiceServer::new(self.api.clone())
            .max_decoding_message_size(settings.server.max_message_bytes)
            .max_encoding_message_size(settings.server.max_message_bytes)
    }

    pub fn parts(&self) -> ServiceParts {
        ServiceParts {
            name: GRPC_SERVICE,
            policy: access_policy(),
        }
    }

    /// The relay, cross-replica wake-ups, hot-state repairs and the delay detector.
    pub fn spawn_background(&self, stop: &tokio_util::sync::CancellationToken) {
        tokio::spawn(self.log.clone().run_relay(stop.clone()));
        tokio::spawn(self.log.clone().run_wakeups(stop.clone()));
        let api = self.api.clone();
        let load = move |id: String| {
            let api = api.clone();
            async move {
                store::get(&api.db, &api.cipher, &id)
                    .await
                    .ok()
                    .flatten()
                    .map(|s| api::masked(&s.order))
            }
        };
        tokio::spawn(self.api.hot.clone().run_repairs(load, stop.clone()));
        tokio::spawn(
            self.api
                .clone()
                .run_delay_detector(self.delay_check, stop.clone()),
        );
        tokio::spawn(reseal::run(
            self.api.db.clone(),
            self.api.cipher.clone(),
            stop.clone(),
        ));
    }
}
