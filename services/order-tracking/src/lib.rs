//! order-tracking: orders from intake to signed handover (DOMAIN.md OT-1 to OT-12), as the
//! suite lists it.
//!
//! The rooms, as in every service: `api/` (the gRPC face), the use cases by rule area
//! (`intake`, `lifecycle`, `exceptions`, `returns`, `reports`, `tracking`, sharing
//! `orders` and its one write path), `domain/` (the rules and types), `store/` (the tables
//! and the hot state), `events` (what it tells others), `consume` (what it reads), `error`,
//! `settings`. What it asks customer-registry goes through `kefu_directory`.

#![forbid(unsafe_code)]

pub mod api;
mod consume;
pub mod domain;
pub mod error;
mod events;
mod exceptions;
mod intake;
mod lifecycle;
mod orders;
mod reports;
mod returns;
pub mod settings;
pub mod store;
mod tracking;

use std::sync::Arc;
use std::time::Duration;

use chrono::FixedOffset;
use kefu_directory::CustomerDirectory;
use kefu_platform::auth::{AccessPolicy, Role};
use kefu_platform::config::SectionSpec;
use kefu_platform::db::Migrator;
use kefu_platform::events::Consumer;
use kefu_platform::hot::{HotStore, InProcessHotStore, RedisHotStore};
use kefu_platform::pii::PiiCipher;
use kefu_platform::service::{Service, ServiceContext, Started, Task};
use kefu_proto::order::order_tracking_service_server::OrderTrackingServiceServer;
use tonic::service::RoutesBuilder;

pub use api::OrderTrackingApi;
pub use consume::CUSTOMER_ACCESS;

use crate::orders::{Orders, Rules};
use crate::settings::{HotStoreChoice, OrderTrackingSettings};
use crate::store::hot::{Breaker, HotOrders};

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
        // reports are for the people who run the department.
        .allow(GRPC_SERVICE, "GetBusinessReport", &[Supervisor, Manager])
}

/// order-tracking as the suite lists it.
#[derive(Debug)]
pub struct OrderTracking;

/// The events order-tracking writes to its stream.
pub const EVENT_TYPES: &[&str] = &[
    "kefu.order.v1.OrderCreated",
    "kefu.order.v1.OrderMoved",
    "kefu.order.v1.PaymentStatusChanged",
    "kefu.order.v1.PickRecorded",
    "kefu.order.v1.PackingRecorded",
    "kefu.order.v1.HandoverSigned",
    "kefu.order.v1.ExceptionRaised",
    "kefu.order.v1.ReturnCreated",
];

#[async_trait::async_trait]
impl Service for OrderTracking {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn grpc_service(&self) -> &'static str {
        GRPC_SERVICE
    }

    fn rule_prefix(&self) -> &'static str {
        "OT"
    }

    fn settings(&self) -> SectionSpec {
        SectionSpec::of::<OrderTrackingSettings>(SERVICE, settings::SECTION, settings::DEFAULTS)
    }

    fn migrator(&self) -> Migrator {
        Migrator::of::<kefu_migrations::OrderTrackingMigrator>()
    }

    fn access_policy(&self) -> AccessPolicy {
        access_policy()
    }

    fn consumes(&self) -> &'static [&'static str] {
        &[consume::CUSTOMER_REGISTRY]
    }

    fn event_types(&self) -> &'static [&'static str] {
        EVENT_TYPES
    }

    async fn start(
        &self,
        context: ServiceContext,
        routes: &mut RoutesBuilder,
    ) -> anyhow::Result<Started> {
        let own = context.section::<OrderTrackingSettings>()?;
        let cipher = PiiCipher::from_settings(&context.settings.security)?;
        let orders = Orders {
            db: context.db.clone(),
            cipher: cipher.clone(),
            log: context.log.clone(),
            hot: hot_orders(&context, own, &cipher)?,
            // Intake cannot check a customer without customer-registry (OT-2): no peer, no
            // start.
            customers: CustomerDirectory::new(context.peer_channel(consume::CUSTOMER_REGISTRY)?),
            rules: Arc::new(Rules {
                pricing: own.pricing.clone(),
                report_offset: FixedOffset::east_opt(own.report_utc_offset_minutes * 60)
                    .ok_or_else(|| {
                        anyhow::anyhow!("order_tracking.report_utc_offset_minutes out of range")
                    })?,
            }),
        };
        let max = context.settings.server.max_message_bytes;
        routes.add_service(
            OrderTrackingServiceServer::new(OrderTrackingApi {
                orders: orders.clone(),
                lifecycle: context.lifecycle.clone(),
            })
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        );
        let stop = context.lifecycle.stopping().clone();
        let loader = orders.clone();
        let load = move |id: String| {
            let orders = loader.clone();
            async move {
                store::get(&orders.db, &orders.cipher, &id)
                    .await
                    .ok()
                    .flatten()
                    .map(|o| o.masked())
            }
        };
        let source = context
            .peer_events(consume::CUSTOMER_REGISTRY, consume::CUSTOMER_REGISTRY_GRPC)?
            .only(&consume::TYPES);
        let consumer = Consumer::new(
            consume::CUSTOMER_ACCESS,
            context.db.clone(),
            &context.settings.events,
        );
        let consumer_stop = stop.clone();
        let mut started = Started {
            tasks: vec![
                Task::new(
                    "hot-repairs",
                    orders.hot.clone().run_repairs(load, stop.clone()),
                ),
                Task::new(
                    "delay-detector",
                    orders.clone().run_delay_detector(
                        Duration::from_millis(own.delay_check_interval_ms),
                        stop.clone(),
                    ),
                ),
                Task::new("customer-access", async move {
                    consumer
                        .run(
                            &source,
                            &consume::CustomerEvents::new(orders),
                            consumer_stop,
                        )
                        .await;
                }),
            ],
        };
        started.tasks.extend(kefu_platform::reseal::tasks(
            &context.db,
            &cipher,
            &store::SEALED,
            &stop,
        ));
        Ok(started)
    }
}

/// OT-12: the hot store `hot_store` names, or the one `auto` picks for this process.
fn hot_orders(
    context: &ServiceContext,
    own: &OrderTrackingSettings,
    cipher: &PiiCipher,
) -> anyhow::Result<HotOrders> {
    let store: Option<Arc<dyn HotStore>> = match (own.hot_store, &context.redis) {
        (HotStoreChoice::Redis | HotStoreChoice::Auto, Some(redis)) => {
            Some(Arc::new(RedisHotStore::new(redis.clone(), "kefu:")))
        }
        (HotStoreChoice::Redis, None) => {
            anyhow::bail!("order_tracking.hot_store is redis, but redis.url is empty")
        }
        // The whole suite in one process: nobody else can change an order.
        (HotStoreChoice::Auto, None) if !context.serves_alone() => {
            Some(Arc::new(InProcessHotStore::new()))
        }
        (HotStoreChoice::InProcess, _) => Some(Arc::new(InProcessHotStore::new())),
        (HotStoreChoice::Auto, None) => {
            tracing::warn!(
                "no redis.url: order reads go to the database (replicas need Redis for a shared hot store)"
            );
            None
        }
        (HotStoreChoice::None, _) => None,
    };
    Ok(match store {
        Some(store) => HotOrders::new(
            store,
            cipher.clone(),
            Breaker::new(
                own.breaker_failures,
                Duration::from_millis(own.breaker_open_ms),
            ),
            Duration::from_secs(own.hot_ttl_s),
        ),
        None => HotOrders::disabled(),
    })
}
