//! customer-registry: the customer archive (DOMAIN.md CR-1 to CR-13), built from the
//! platform's handles.

#![forbid(unsafe_code)]

pub mod api;
pub mod consume;
pub mod domain;
pub mod error;
mod record;
mod rotation;
pub mod store;
mod tiers;
mod visits;

use std::sync::Arc;

use chrono::FixedOffset;
use futures::StreamExt as _;
use kefu_platform::auth::{AccessPolicy, Role, TokenKeys};
use kefu_platform::client::{ChannelOptions, channel};
use kefu_platform::events::{Consumer, FnSource};
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use tokio_util::sync::CancellationToken;

use crate::domain::tier::TierRules;
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
        .allow(GRPC_SERVICE, "ListTierChanges", everyone)
        // CR-13: everyone who serves the customer reads its record.
        .allow(GRPC_SERVICE, "ListServiceRecord", everyone)
        .allow(GRPC_SERVICE, "LookupCustomerByPhone", everyone)
        .allow(GRPC_SERVICE, "ConfirmCustomer", everyone)
        .allow(GRPC_SERVICE, "ListStaleCustomers", everyone)
        // CR-4: who answers for a customer is a supervisor's or a manager's decision.
        .allow(GRPC_SERVICE, "AssignOwner", &[Supervisor, Manager])
        // CR-11: a lawful erasure is a manager's act.
        .allow(GRPC_SERVICE, "EraseCustomer", &[Manager])
        // CR-9: key rotation is an operator's act.
        .allow(GRPC_SERVICE, "StartKeyRotation", &[Manager])
        .allow(GRPC_SERVICE, "GetKeyRotation", &[Manager])
        // CR-12: plans are data other services read.
        .allow(GRPC_SERVICE, "ListServicePlans", everyone)
        .allow(GRPC_SERVICE, "GetServicePlan", everyone)
        // CR-6: visitors (and their supervisors) file and read day-reports.
        // CR-3: grades are explained to all who serve the customer, recomputed by their bosses.
        .allow(GRPC_SERVICE, "ExplainGrade", everyone)
        .allow(GRPC_SERVICE, "RecomputeGrades", &[Supervisor, Manager])
        // CR-5: visitors see theirs; supervisors and managers their teams'.
        .allow(
            GRPC_SERVICE,
            "ListOverdueVisits",
            &[Agent, Supervisor, Manager],
        )
        // CR-7: a supervisor compiles and submits the month; the manager reads it.
        .allow(
            GRPC_SERVICE,
            "GenerateMonthlyReport",
            &[Supervisor, Manager],
        )
        .allow(GRPC_SERVICE, "GetMonthlyReport", &[Supervisor, Manager])
        .allow(GRPC_SERVICE, "SubmitMonthlyReport", &[Supervisor])
        .allow(
            GRPC_SERVICE,
            "CreateVisitReport",
            &[Agent, Supervisor, Manager],
        )
        .allow(
            GRPC_SERVICE,
            "GetVisitReport",
            &[Agent, Supervisor, Manager],
        )
        .allow(
            GRPC_SERVICE,
            "ListVisitReports",
            &[Agent, Supervisor, Manager],
        )
        // CR-8: anyone in the field raises one; supervisors and managers read them.
        .allow(
            GRPC_SERVICE,
            "CreateUrgentReport",
            &[Agent, Supervisor, Manager],
        )
        .allow(GRPC_SERVICE, "ListUrgentReports", &[Supervisor, Manager])
        // CR-9: the trail of unmasked reads is for those who answer for them.
        .allow(GRPC_SERVICE, "ListAuditRecords", &[Supervisor, Manager])
        // CR-2: "a manager may override with a reason".
        .allow(GRPC_SERVICE, "OverrideTier", &[Manager])
        .allow(GRPC_SERVICE, "ClearTierOverride", &[Manager])
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
    /// Where order-tracking's events come from (CR-2); `None` reads none.
    order_tracking: Option<String>,
    order_facts: Arc<consume::OrderFacts>,
    keys: TokenKeys,
}

impl CustomerRegistry {
    pub fn new(
        settings: &Settings,
        db: DatabaseConnection,
        redis: Option<RedisHandle>,
        order_tracking: Option<String>,
        lifecycle: Lifecycle,
    ) -> anyhow::Result<Self> {
        let cipher = PiiCipher::from_settings(&settings.security)?;
        let log = EventLog::new(db.clone(), SERVICE, &settings.events, redis);
        let tiers = &settings.customer_registry.tiers;
        let order_offset =
            FixedOffset::east_opt(tiers.month_utc_offset_minutes * 60).ok_or_else(|| {
                anyhow::anyhow!("customer_registry.tiers.month_utc_offset_minutes out of range")
            })?;
        let order_facts = Arc::new(consume::OrderFacts {
            cipher: cipher.clone(),
            rules: TierRules::from(tiers),
            offset: order_offset,
        });
        Ok(Self {
            order_tracking,
            order_facts,
            keys: TokenKeys::new(&settings.auth),
            api: CustomerRegistryApi {
                db,
                cipher,
                log: log.clone(),
                lifecycle,
                tier_rules: TierRules::from(tiers),
                month_offset: order_offset,
                stale_after: chrono::Duration::days(i64::from(
                    settings.customer_registry.stale_after_days,
                )),
                service_plans: Arc::new(settings.customer_registry.service_plans.clone()),
                grades: Arc::new(settings.customer_registry.grades.clone()),
                rotating: Arc::new(tokio::sync::Mutex::new(())),
                visit_interval_days: Arc::new(
                    settings.customer_registry.visit_interval_days.clone(),
                ),
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

    /// The relay, cross-replica wake-ups, the scheduled pass (tiers time lowered, grades,
    /// an orphaned key rotation), and the consumer of order-tracking's events.
    pub fn spawn_background(&self, stop: &CancellationToken) {
        tokio::spawn(self.log.clone().run_relay(stop.clone()));
        tokio::spawn(self.log.clone().run_wakeups(stop.clone()));
        let (api, every, until) = (
            self.api.clone(),
            std::time::Duration::from_secs(self.api.grades.recompute_interval_s),
            stop.clone(),
        );
        tokio::spawn(async move {
            // A rotation whose runner died goes on now; the rest waits for its hour.
            api.resume_rotation().await;
            loop {
                tokio::select! {
                    () = until.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                api.scheduled_pass().await;
            }
        });
        let Some(endpoint) = self.order_tracking.clone() else {
            return;
        };
        let channel = match channel(&ChannelOptions {
            endpoint,
            connect_timeout: std::time::Duration::from_secs(3),
            // A stream has no end; only connecting is bounded.
            call_deadline: std::time::Duration::from_secs(365 * 24 * 3600),
            bearer_token: None,
        }) {
            Ok(channel) => channel,
            Err(e) => {
                tracing::error!(error = %e, "cannot reach order-tracking's events; tiers will not move");
                return;
            }
        };
        let keys = self.keys.clone();
        let source = FnSource(move |after| {
            let mut client = OrderTrackingServiceClient::new(channel.clone());
            let token = keys.mint(SERVICE, Role::Service, &[], "", 3600);
            async move {
                let mut request = tonic::Request::new(kefu_proto::order::StreamEventsRequest {
                    after_position: after,
                    // CR-13 keeps every order event on the customer's record.
                    filter: None,
                });
                let bearer = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| tonic::Status::internal("token"))?;
                request.metadata_mut().insert("authorization", bearer);
                let stream = client.stream_events(request).await?.into_inner();
                Ok(stream
                    .map(|r| r.map(|r| r.event.unwrap_or_default()))
                    .boxed())
            }
        });
        let consumer = Consumer::new(consume::ORDER_FACTS, self.api.db.clone());
        let facts = self.order_facts.clone();
        let stop = stop.clone();
        tokio::spawn(async move { consumer.run(&source, facts.as_ref(), stop).await });
    }

    pub fn parts(&self) -> ServiceParts {
        ServiceParts {
            name: GRPC_SERVICE,
            policy: access_policy(),
        }
    }
}
