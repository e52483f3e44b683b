//! customer-registry: the customer archive (DOMAIN.md CR-1 to CR-13), as the suite lists it.
//!
//! The rooms, as in every service: `api/` (the gRPC face), the use cases by rule area
//! (`customers`, `tiers`, `grades`, `visits`, `rotation`, `record`, `plans`, sharing
//! `registry`), `domain/` (the rules and types), `store/` (the tables), `events` (what it
//! tells others), `consume` (what it reads), `error`, `settings`.

#![forbid(unsafe_code)]

pub mod api;
mod consume;
mod customers;
pub mod domain;
pub mod error;
mod events;
mod grades;
mod plans;
mod record;
mod registry;
mod reports;
mod rotation;
pub mod settings;
pub mod store;
mod tiers;
mod visits;

use std::sync::Arc;

use kefu_platform::auth::{AccessPolicy, Role};
use kefu_platform::config::SectionSpec;
use kefu_platform::db::Migrator;
use kefu_platform::events::Consumer;
use kefu_platform::pii::PiiCipher;
use kefu_platform::service::{Service, ServiceContext, Started, Task};
use kefu_proto::customer::customer_registry_service_server::CustomerRegistryServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;

use crate::registry::{Registry, Rules};
use crate::settings::CustomerRegistrySettings;

pub use api::CustomerRegistryApi;
pub use consume::{ORDER_FACTS, STAFF_PROFILES};

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
        // reports are for the people who run the department.
        .allow(GRPC_SERVICE, "GetBusinessReport", &[Supervisor, Manager])
        .allow(
            GRPC_SERVICE,
            "StreamEvents",
            &[Supervisor, Manager, Service],
        )
}

/// customer-registry as the suite lists it.
#[derive(Debug)]
pub struct CustomerRegistry;

/// The events customer-registry writes to its stream.
pub const EVENT_TYPES: &[&str] = &[
    "kefu.customer.v1.CustomerCreated",
    "kefu.customer.v1.CustomerUpdated",
    "kefu.customer.v1.CustomerArchived",
    "kefu.customer.v1.CustomerErased",
    "kefu.customer.v1.TierChanged",
    "kefu.customer.v1.GradeChanged",
    "kefu.customer.v1.OwnerAssigned",
    "kefu.customer.v1.VisitReportFiled",
    "kefu.customer.v1.MonthlyReportSubmitted",
    "kefu.customer.v1.UrgentReportRaised",
];

#[async_trait::async_trait]
impl Service for CustomerRegistry {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn grpc_service(&self) -> &'static str {
        GRPC_SERVICE
    }

    fn rule_prefix(&self) -> &'static str {
        "CR"
    }

    fn settings(&self) -> SectionSpec {
        SectionSpec::of::<CustomerRegistrySettings>(SERVICE, settings::SECTION, settings::DEFAULTS)
    }

    fn migrator(&self) -> Migrator {
        Migrator::of::<kefu_migrations::CustomerRegistryMigrator>()
    }

    fn access_policy(&self) -> AccessPolicy {
        access_policy()
    }

    /// CR-2 and CR-13 read order-tracking's events.
    fn consumes(&self) -> &'static [&'static str] {
        &[consume::ORDER_TRACKING, consume::STAFF_KPI]
    }

    fn event_types(&self) -> &'static [&'static str] {
        EVENT_TYPES
    }

    async fn start(
        &self,
        context: ServiceContext,
        routes: &mut RoutesBuilder,
    ) -> anyhow::Result<Started> {
        let own = context.section::<CustomerRegistrySettings>()?;
        let registry = Registry {
            db: context.db.clone(),
            cipher: PiiCipher::from_settings(&context.settings.security)?,
            log: context.log.clone(),
            rules: Arc::new(Rules::from_settings(own)?),
            rotating: Arc::new(tokio::sync::Mutex::new(())),
        };
        let max = context.settings.server.max_message_bytes;
        routes.add_service(
            CustomerRegistryServiceServer::new(CustomerRegistryApi {
                registry: registry.clone(),
                lifecycle: context.lifecycle.clone(),
            })
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        );
        let stop = context.lifecycle.stopping().clone();
        let mut tasks = vec![Task::new(
            "scheduled-pass",
            scheduled(
                registry.clone(),
                std::time::Duration::from_secs(own.grades.recompute_interval_s),
                stop.clone(),
            ),
        )];
        match context.peer_events(consume::ORDER_TRACKING, consume::ORDER_TRACKING_GRPC) {
            Ok(source) => {
                let facts = consume::OrderFacts { registry };
                let consumer = Consumer::new(
                    consume::ORDER_FACTS,
                    context.db.clone(),
                    &context.settings.events,
                );
                tasks.push(Task::new("order-facts", async move {
                    consumer.run(&source, &facts, stop).await;
                }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "order-tracking's events are not read here; tiers will not move with orders")
            }
        }
        match context.peer_events(consume::STAFF_KPI, consume::STAFF_KPI_GRPC) {
            Ok(source) => {
                let source = source.only(&consume::STAFF_TYPES);
                let consumer = Consumer::new(
                    consume::STAFF_PROFILES,
                    context.db.clone(),
                    &context.settings.events,
                );
                let stop = context.lifecycle.stopping().clone();
                tasks.push(Task::new("staff-profiles", async move {
                    consumer.run(&source, &consume::StaffProfiles, stop).await;
                }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "staff-kpi's events are not read here; CR-4 takes the assigner's word on where visitors sell")
            }
        }
        Ok(Started { tasks })
    }
}

/// A rotation whose runner died goes on at once; the scheduled pass (tiers time lowered,
/// grades) runs every `every` after.
async fn scheduled(registry: Registry, every: std::time::Duration, stop: CancellationToken) {
    registry.resume_rotation().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        registry.scheduled_pass().await;
    }
}
