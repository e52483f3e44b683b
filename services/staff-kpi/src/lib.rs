//! staff-kpi: the organisation, KPIs computed from the other services' events, and periodic
//! assessments every person can trace back to the facts, dispute, and see kept on record
//! (DOMAIN.md SK-1 to SK-6), as the suite lists it.
//!
//! The rooms, as in every service: `api/` (the gRPC face), the use cases by rule area
//! (`org`, `kpis`, `assessments` with the close pass, `disputes`, `rewards`, `conduct` with
//! training, sharing `department` and its one computation of a person's figures),
//! `domain/` (the rules and types), `store/`, `events` (what it tells others), `consume`
//! (what it reads), `error`, `settings`.

#![forbid(unsafe_code)]

pub mod api;
mod assessments;
mod conduct;
mod consume;
mod department;
mod disputes;
pub mod domain;
pub mod error;
mod events;
mod kpis;
mod org;
mod reports;
mod rewards;
pub mod settings;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{FixedOffset, Utc};
use kefu_platform::auth::{AccessPolicy, Role};
use kefu_platform::config::SectionSpec;
use kefu_platform::db::Migrator;
use kefu_platform::events::{Consumer, EventHandler};
use kefu_platform::service::{Service, ServiceContext, Started, Task};
use kefu_proto::staff::staff_kpi_service_server::StaffKpiServiceServer;
use tonic::service::RoutesBuilder;

pub use api::StaffKpiApi;
pub use consume::{COMPLAINT_EVENTS, CUSTOMER_EVENTS, ORDER_EVENTS, SURVEY_EVENTS};

use crate::department::{Department, Rules};
use crate::settings::StaffKpiSettings;

/// The name `kefu serve --service` takes.
pub const SERVICE: &str = "staff-kpi";
/// The gRPC service name.
pub const GRPC_SERVICE: &str = "kefu.staff.v1.StaffKpiService";

/// Who may call which RPC; what each caller then sees is decided per object (a person their
/// own, a supervisor their teams', managers and systems everyone's). RPCs without a rule are
/// refused to everyone.
pub fn access_policy() -> AccessPolicy {
    use Role::*;
    let everyone = &[Agent, Supervisor, Manager, Service][..];
    let supervisors = &[Supervisor, Manager][..];
    let mut policy = AccessPolicy::new();
    for method in [
        "GetStaff",
        "ListStaff",
        "GetTeam",
        "ListTeams",
        "GetKpiDefinition",
        "ListKpiDefinitions",
        "GetPeriod",
        "ListPeriods",
        "GetAssessment",
        "ListAssessments",
        "ListFigureSources",
        "CreateDispute",
        "GetDispute",
        "ListDisputes",
        "GetRewardRule",
        "ListRewardRules",
        "ListRewardPenalties",
        "GetConductBreach",
        "ListConductBreaches",
        "GetTrainingPlan",
        "ListTrainingPlans",
        "ListTrainingRecords",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, everyone);
    }
    // The organisation is kept by managers and by the company's HR system.
    for method in [
        "CreateStaff",
        "UpdateStaff",
        "RecordStaffDeparture",
        "CreateTeam",
        "UpdateTeam",
        "CreatePeriod",
        "ClosePeriod",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, &[Manager, Service]);
    }
    // How people are measured and paid is the managers' to decide.
    for method in ["AddKpiFormula", "CreateRewardRule", "UpdateRewardRule"] {
        policy = policy.allow(GRPC_SERVICE, method, &[Manager]);
    }
    for method in [
        "DecideDispute",
        "RecordConductBreach",
        "CreateTrainingPlan",
        "RecordTrainingAttendance",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, supervisors);
    }
    for method in ["RecomputeAssessment", "StreamEvents"] {
        policy = policy.allow(GRPC_SERVICE, method, &[Supervisor, Manager, Service]);
    }
    // reports are for the people who run the department.
    policy.allow(GRPC_SERVICE, "GetBusinessReport", &[Supervisor, Manager])
}

/// The events staff-kpi writes to its stream.
pub const EVENT_TYPES: &[&str] = &[
    "kefu.staff.v1.StaffJoined",
    "kefu.staff.v1.StaffUpdated",
    "kefu.staff.v1.StaffLeft",
    "kefu.staff.v1.TeamChanged",
    "kefu.staff.v1.KpiFormulaAdded",
    "kefu.staff.v1.PeriodClosed",
    "kefu.staff.v1.AssessmentComputed",
    "kefu.staff.v1.DisputeOpened",
    "kefu.staff.v1.DisputeDecided",
    "kefu.staff.v1.RewardRuleChanged",
    "kefu.staff.v1.RewardPenaltyDecided",
    "kefu.staff.v1.RewardPenaltyWithdrawn",
    "kefu.staff.v1.ConductBreachRecorded",
    "kefu.staff.v1.TrainingAttendanceRecorded",
];

/// staff-kpi as the suite lists it.
#[derive(Debug)]
pub struct StaffKpi;

/// One stream staff-kpi reads: its consumer's name, the producer, and what it keeps of it.
struct Feed {
    name: &'static str,
    producer: &'static str,
    grpc: &'static str,
    types: &'static [&'static str],
    handler: Arc<dyn EventHandler>,
}

#[async_trait::async_trait]
impl Service for StaffKpi {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn grpc_service(&self) -> &'static str {
        GRPC_SERVICE
    }

    fn rule_prefix(&self) -> &'static str {
        "SK"
    }

    fn settings(&self) -> SectionSpec {
        SectionSpec::of::<StaffKpiSettings>(SERVICE, settings::SECTION, settings::DEFAULTS)
    }

    fn migrator(&self) -> Migrator {
        Migrator::of::<kefu_migrations::StaffKpiMigrator>()
    }

    fn access_policy(&self) -> AccessPolicy {
        access_policy()
    }

    fn consumes(&self) -> &'static [&'static str] {
        &[
            consume::COMPLAINT_DESK,
            consume::SURVEY,
            consume::CUSTOMER_REGISTRY,
            consume::ORDER_TRACKING,
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
        let own = context.section::<StaffKpiSettings>()?;
        let department = Department {
            db: context.db.clone(),
            log: context.log.clone(),
            rules: Arc::new(Rules {
                offset: FixedOffset::east_opt(own.period_utc_offset_minutes * 60).ok_or_else(
                    || anyhow::anyhow!("staff_kpi.period_utc_offset_minutes out of range"),
                )?,
                grades: own.grade_scale(),
            }),
            closing: Arc::default(),
            cipher: kefu_platform::pii::PiiCipher::from_settings(&context.settings.security)?,
        };
        let first = own
            .first_formulas(Utc::now())
            .map_err(|e| anyhow::anyhow!("staff_kpi.{e}"))?;
        department
            .seed_formulas(&first)
            .await
            .context("writing the KPIs' first formulas (has `kefu migrate` run?)")?;
        let max = context.settings.server.max_message_bytes;
        routes.add_service(
            StaffKpiServiceServer::new(StaffKpiApi {
                department: department.clone(),
                lifecycle: context.lifecycle.clone(),
            })
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        );
        let stop = context.lifecycle.stopping().clone();
        let mut tasks = vec![Task::new(
            "close-pass",
            department
                .clone()
                .run_close_pass(Duration::from_millis(own.close_interval_ms), stop.clone()),
        )];
        tasks.extend(kefu_platform::reseal::tasks(
            &context.db,
            &department.cipher,
            &[
                store::assessments::SEALED_DISPUTES,
                store::conduct::SEALED_BREACHES,
            ],
            &stop,
        ));
        let feeds = [
            Feed {
                name: COMPLAINT_EVENTS,
                producer: consume::COMPLAINT_DESK,
                grpc: consume::COMPLAINT_DESK_GRPC,
                types: &consume::COMPLAINT_TYPES,
                handler: Arc::new(consume::ComplaintEvents),
            },
            Feed {
                name: SURVEY_EVENTS,
                producer: consume::SURVEY,
                grpc: consume::SURVEY_GRPC,
                types: &consume::SURVEY_TYPES,
                handler: Arc::new(consume::SurveyEvents),
            },
            Feed {
                name: CUSTOMER_EVENTS,
                producer: consume::CUSTOMER_REGISTRY,
                grpc: consume::CUSTOMER_REGISTRY_GRPC,
                types: &consume::CUSTOMER_TYPES,
                handler: Arc::new(consume::CustomerEvents(department.clone())),
            },
            Feed {
                name: ORDER_EVENTS,
                producer: consume::ORDER_TRACKING,
                grpc: consume::ORDER_TRACKING_GRPC,
                types: &consume::ORDER_TYPES,
                handler: Arc::new(consume::OrderEvents),
            },
        ];
        for feed in feeds {
            // Each stream feeds some KPIs; the organisation and the rest work without it, so
            // a service not run here leaves its KPIs without data rather than stopping this.
            let source = match context.peer_events(feed.producer, feed.grpc) {
                Ok(source) => source.only(feed.types),
                Err(e) => {
                    tracing::warn!(error = %e, producer = feed.producer, "events not read here");
                    continue;
                }
            };
            let consumer = Consumer::new(feed.name, context.db.clone(), &context.settings.events);
            let stop = stop.clone();
            tasks.push(Task::new(feed.name, async move {
                consumer.run(&source, feed.handler.as_ref(), stop).await;
            }));
        }
        Ok(Started { tasks })
    }
}
