//! complaint-desk: complaints and requests registered from every channel, on the clock,
//! investigated, resolved, confirmed with the customer, escalated when late, and turned into
//! knowledge (DOMAIN.md CD-1 to CD-10), as the suite lists it.
//!
//! The rooms, as in every service: `api/` (the gRPC face), the use cases by rule area
//! (`intake`, `handling`, `resolution`, `escalation` with the clock pass, `analysis`,
//! `knowledge`, sharing `cases` and its one write path), `domain/` (the rules and types),
//! `store/` (the tables and the full-text index), `events` (what it tells others), `consume`
//! (what it reads), `error`, `settings`. What it asks customer-registry and order-tracking
//! goes through `kefu_directory`.

#![forbid(unsafe_code)]

mod analysis;
pub mod api;
mod cases;
mod consume;
pub mod domain;
pub mod error;
mod escalation;
mod events;
mod handling;
mod intake;
mod knowledge;
mod reports;
mod resolution;
pub mod settings;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use kefu_directory::{CustomerDirectory, OrderDirectory};
use kefu_platform::auth::{AccessPolicy, Role};
use kefu_platform::config::SectionSpec;
use kefu_platform::db::Migrator;
use kefu_platform::events::Consumer;
use kefu_platform::pii::PiiCipher;
use kefu_platform::service::{Service, ServiceContext, Started, Task};
use kefu_proto::complaint::complaint_desk_service_server::ComplaintDeskServiceServer;
use tonic::service::RoutesBuilder;

pub use api::ComplaintDeskApi;
pub use consume::{CUSTOMER_EVENTS, ORDER_EVENTS, SURVEY_EVENTS};

use crate::cases::{Desk, Rules};
use crate::settings::ComplaintDeskSettings;

/// The name `kefu serve --service` takes.
pub const SERVICE: &str = "complaint-desk";
/// The gRPC service name.
pub const GRPC_SERVICE: &str = "kefu.complaint.v1.ComplaintDeskService";

/// Who may call which RPC. RPCs without a rule are refused to everyone.
pub fn access_policy() -> AccessPolicy {
    use Role::*;
    let staff_and_systems = &[Agent, Supervisor, Manager, Service][..];
    let supervisors = &[Supervisor, Manager, Service][..];
    let mut policy = AccessPolicy::new();
    for method in [
        "CreateComplaint",
        "GetComplaint",
        "ListComplaints",
        "UpdateComplaint",
        "AssignComplaint",
        "RecordFirstResponse",
        "RecordCustomerContact",
        "PauseClock",
        "ResumeClock",
        "RecordInvestigation",
        "ResolveComplaint",
        "RecordFollowUp",
        "EscalateComplaint",
        "CreateKnowledgeEntry",
        "GetKnowledgeEntry",
        "ListKnowledgeEntries",
        "UpdateKnowledgeEntry",
        "SearchKnowledgeEntries",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, staff_and_systems);
    }
    for method in [
        "GetComplaintAnalysis",
        "ListRecurringCauses",
        "StreamEvents",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, supervisors);
    }
    // CD-9: what agents may look up is a person's judgement, not another system's.
    for method in ["PublishKnowledgeEntry", "RetireKnowledgeEntry"] {
        policy = policy.allow(GRPC_SERVICE, method, &[Supervisor, Manager]);
    }
    // reports are for the people who run the department.
    policy = policy.allow(GRPC_SERVICE, "GetBusinessReport", &[Supervisor, Manager]);
    policy
}

/// The events complaint-desk writes to its stream.
pub const EVENT_TYPES: &[&str] = &[
    "kefu.complaint.v1.ComplaintRegistered",
    "kefu.complaint.v1.ComplaintReclassified",
    "kefu.complaint.v1.ComplaintAssigned",
    "kefu.complaint.v1.FirstResponseRecorded",
    "kefu.complaint.v1.CustomerContactRecorded",
    "kefu.complaint.v1.ClockPaused",
    "kefu.complaint.v1.ClockResumed",
    "kefu.complaint.v1.DeadlineWarning",
    "kefu.complaint.v1.DeadlineBreached",
    "kefu.complaint.v1.ComplaintEscalated",
    "kefu.complaint.v1.InvestigationRecorded",
    "kefu.complaint.v1.ComplaintResolved",
    "kefu.complaint.v1.FollowUpRecorded",
    "kefu.complaint.v1.ComplaintReopened",
    "kefu.complaint.v1.ComplaintClosed",
    "kefu.complaint.v1.RecurringCauseFlagged",
    "kefu.complaint.v1.KnowledgeEntryPublished",
    "kefu.complaint.v1.KnowledgeEntryRetired",
    "kefu.complaint.v1.ComplaintErased",
];

/// complaint-desk as the suite lists it.
#[derive(Debug)]
pub struct ComplaintDesk;

#[async_trait::async_trait]
impl Service for ComplaintDesk {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn grpc_service(&self) -> &'static str {
        GRPC_SERVICE
    }

    fn rule_prefix(&self) -> &'static str {
        "CD"
    }

    fn settings(&self) -> SectionSpec {
        SectionSpec::of::<ComplaintDeskSettings>(SERVICE, settings::SECTION, settings::DEFAULTS)
    }

    fn migrator(&self) -> Migrator {
        Migrator::of::<kefu_migrations::ComplaintDeskMigrator>()
    }

    fn access_policy(&self) -> AccessPolicy {
        access_policy()
    }

    fn consumes(&self) -> &'static [&'static str] {
        &[
            consume::ORDER_TRACKING,
            consume::CUSTOMER_REGISTRY,
            consume::SURVEY,
        ]
    }

    fn event_types(&self) -> &'static [&'static str] {
        EVENT_TYPES
    }

    async fn start(
        &self,
        context: ServiceContext,
        routes: &mut RoutesBuilder,
    ) -> anyhow::Result<Started> {
        let own = context.section::<ComplaintDeskSettings>()?;
        let policy = own.policy()?;
        let recurrence = own.recurrence(&policy);
        let desk = Desk {
            db: context.db.clone(),
            log: context.log.clone(),
            // Registration checks customers and orders (CD-2): no peers, no start.
            customers: CustomerDirectory::new(context.peer_channel(consume::CUSTOMER_REGISTRY)?),
            orders: OrderDirectory::new(context.peer_channel(consume::ORDER_TRACKING)?),
            rules: Arc::new(Rules {
                policy,
                recurrence,
                case_number_prefix: own.case_number_prefix.clone(),
                departments: own.departments.clone(),
            }),
            cipher: PiiCipher::from_settings(&context.settings.security)?,
        };
        let max = context.settings.server.max_message_bytes;
        routes.add_service(
            ComplaintDeskServiceServer::new(ComplaintDeskApi {
                desk: desk.clone(),
                lifecycle: context.lifecycle.clone(),
            })
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        );
        let stop = context.lifecycle.stopping().clone();
        let order_source = context
            .peer_events(consume::ORDER_TRACKING, consume::ORDER_TRACKING_GRPC)?
            .only(&consume::ORDER_TYPES);
        let customer_source = context
            .peer_events(consume::CUSTOMER_REGISTRY, consume::CUSTOMER_REGISTRY_GRPC)?
            .only(&consume::CUSTOMER_TYPES);
        let orders_consumer =
            Consumer::new(ORDER_EVENTS, context.db.clone(), &context.settings.events);
        let customers_consumer = Consumer::new(
            CUSTOMER_EVENTS,
            context.db.clone(),
            &context.settings.events,
        );
        let (order_stop, customer_stop) = (stop.clone(), stop.clone());
        let (order_desk, customer_desk) = (desk.clone(), desk.clone());
        let mut tasks = vec![
            Task::new(
                "clock",
                desk.clone().run_clock(
                    Duration::from_millis(own.clock_check_interval_ms),
                    stop.clone(),
                ),
            ),
            Task::new("order-events", async move {
                orders_consumer
                    .run(&order_source, &consume::OrderEvents(order_desk), order_stop)
                    .await;
            }),
            Task::new("customer-events", async move {
                customers_consumer
                    .run(
                        &customer_source,
                        &consume::CustomerEvents(customer_desk),
                        customer_stop,
                    )
                    .await;
            }),
        ];
        tasks.extend(kefu_platform::reseal::tasks(
            &context.db,
            &desk.cipher,
            &[store::SEALED_DOCUMENTS],
            &stop,
        ));
        // Survey's answers that name a problem open cases (SV-5), where survey runs.
        match context.peer_events(consume::SURVEY, consume::SURVEY_GRPC) {
            Ok(source) => {
                let source = source.only(&consume::SURVEY_TYPES);
                let consumer =
                    Consumer::new(SURVEY_EVENTS, context.db.clone(), &context.settings.events);
                tasks.push(Task::new("survey-events", async move {
                    consumer
                        .run(&source, &consume::SurveyEvents(desk), stop)
                        .await;
                }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "survey's events are not read here; survey answers open no cases")
            }
        }
        Ok(Started { tasks })
    }
}
