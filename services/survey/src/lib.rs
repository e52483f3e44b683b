//! survey: satisfaction surveys that ask the right customers at the right moment, never
//! pester them, and compute scores the same way everywhere (DOMAIN.md SV-1 to SV-5), as the
//! suite lists it.
//!
//! The rooms, as in every service: `api/` (the gRPC face), the use cases by rule area
//! (`questionnaires`, `invitations`, `responses` with opt-outs and follow-up tasks,
//! `campaigns` with triggers and the schedule pass, `reports`, sharing `surveys` and its one
//! path of every survey), `domain/` (the rules and types), `store/`, `events` (what it tells
//! others), `consume` (what it reads), `error`, `settings`.

#![forbid(unsafe_code)]

pub mod api;
mod campaigns;
mod consume;
pub mod domain;
pub mod error;
mod events;
mod invitations;
mod questionnaires;
mod reports;
mod responses;
pub mod settings;
pub mod store;
mod surveys;

use std::sync::Arc;
use std::time::Duration;

use chrono::FixedOffset;
use kefu_directory::CustomerDirectory;
use kefu_platform::auth::{AccessPolicy, Role};
use kefu_platform::config::SectionSpec;
use kefu_platform::db::Migrator;
use kefu_platform::events::Consumer;
use kefu_platform::service::{Service, ServiceContext, Started, Task};
use kefu_proto::survey::survey_service_server::SurveyServiceServer;
use sha2::{Digest as _, Sha256};
use tonic::service::RoutesBuilder;

pub use api::SurveyApi;
pub use consume::{COMPLAINT_EVENTS, CUSTOMER_EVENTS, ORDER_EVENTS};

use crate::settings::SurveySettings;
use crate::surveys::{Rules, Surveys};

/// The name `kefu serve --service` takes.
pub const SERVICE: &str = "survey";
/// The gRPC service name.
pub const GRPC_SERVICE: &str = "kefu.survey.v1.SurveyService";

/// Who may call which RPC. RPCs without a rule are refused to everyone; answering online is
/// open, its one-time token the credential.
pub fn access_policy() -> AccessPolicy {
    use Role::*;
    let everyone = &[Agent, Supervisor, Manager, Service][..];
    let supervisors = &[Supervisor, Manager, Service][..];
    let mut policy = AccessPolicy::new().public(GRPC_SERVICE, "SubmitOnlineResponse");
    for method in [
        "GetQuestionnaire",
        "ListQuestionnaires",
        "GetCampaign",
        "ListCampaigns",
        "GetTrigger",
        "ListTriggers",
        "CreateInvitation",
        "GetInvitation",
        "ListInvitations",
        "SubmitResponse",
        "GetResponse",
        "SetOptOut",
        "GetOptOut",
        "GetFollowUpTask",
        "ListFollowUpTasks",
        "CompleteFollowUpTask",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, everyone);
    }
    // What customers are asked, and when, is the department's to decide.
    for method in [
        "CreateQuestionnaire",
        "UpdateQuestionnaire",
        "PublishQuestionnaire",
        "CreateCampaign",
        "CancelCampaign",
        "CreateTrigger",
        "SetTriggerEnabled",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, &[Supervisor, Manager]);
    }
    for method in [
        "ListSkippedSurveys",
        "GetScoreReport",
        "GetQualityReport",
        "StreamEvents",
    ] {
        policy = policy.allow(GRPC_SERVICE, method, supervisors);
    }
    // reports are for the people who run the department.
    policy.allow(GRPC_SERVICE, "GetBusinessReport", &[Supervisor, Manager])
}

/// The events survey writes to its stream.
pub const EVENT_TYPES: &[&str] = &[
    "kefu.survey.v1.InvitationSent",
    "kefu.survey.v1.SurveySkipped",
    "kefu.survey.v1.ResponseReceived",
    "kefu.survey.v1.ProblemReported",
    "kefu.survey.v1.FollowUpTaskOpened",
    "kefu.survey.v1.FollowUpTaskCompleted",
    "kefu.survey.v1.OptOutChanged",
];

/// survey as the suite lists it.
#[derive(Debug)]
pub struct Survey;

#[async_trait::async_trait]
impl Service for Survey {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn grpc_service(&self) -> &'static str {
        GRPC_SERVICE
    }

    fn rule_prefix(&self) -> &'static str {
        "SV"
    }

    fn settings(&self) -> SectionSpec {
        SectionSpec::of::<SurveySettings>(SERVICE, settings::SECTION, settings::DEFAULTS)
    }

    fn migrator(&self) -> Migrator {
        Migrator::of::<kefu_migrations::SurveyMigrator>()
    }

    fn access_policy(&self) -> AccessPolicy {
        access_policy()
    }

    fn consumes(&self) -> &'static [&'static str] {
        &[
            consume::CUSTOMER_REGISTRY,
            consume::ORDER_TRACKING,
            consume::COMPLAINT_DESK,
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
        let own = context.section::<SurveySettings>()?;
        // Online tokens are signed with a key of their own, derived from the signing key, so
        // rotating that key also retires the tokens sent under it.
        let token_key = Sha256::new()
            .chain_update(b"kefu survey response token\0")
            .chain_update(context.settings.auth.hs256_secret.expose().as_bytes())
            .finalize()
            .to_vec();
        let surveys = Surveys {
            db: context.db.clone(),
            log: context.log.clone(),
            customers: CustomerDirectory::new(context.peer_channel(consume::CUSTOMER_REGISTRY)?),
            rules: Arc::new(Rules {
                quiet_period: own.quiet_period.duration(),
                response_window: own.response_window.duration(),
                follow_up_due: own.follow_up_due.duration(),
                low_scores: own.low_scores,
                offset: FixedOffset::east_opt(own.report_utc_offset_minutes * 60).ok_or_else(
                    || anyhow::anyhow!("survey.report_utc_offset_minutes out of range"),
                )?,
                token_key,
            }),
            cipher: kefu_platform::pii::PiiCipher::from_settings(&context.settings.security)?,
        };
        let max = context.settings.server.max_message_bytes;
        routes.add_service(
            SurveyServiceServer::new(SurveyApi {
                surveys: surveys.clone(),
                lifecycle: context.lifecycle.clone(),
            })
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        );
        let stop = context.lifecycle.stopping().clone();
        let mut tasks = vec![Task::new(
            "schedule",
            surveys.clone().run_schedule(
                Duration::from_millis(own.schedule_interval_ms),
                stop.clone(),
            ),
        )];
        tasks.extend(kefu_platform::reseal::tasks(
            &context.db,
            &surveys.cipher,
            &[
                store::invitations::SEALED_RESPONSES,
                store::SEALED_TASKS,
                store::customers::SEALED_OPT_OUT_REASONS,
            ],
            &stop,
        ));
        let feeds: [(
            &'static str,
            &'static str,
            &'static str,
            &'static [&'static str],
        ); 3] = [
            (
                CUSTOMER_EVENTS,
                consume::CUSTOMER_REGISTRY,
                consume::CUSTOMER_REGISTRY_GRPC,
                &consume::CUSTOMER_TYPES,
            ),
            (
                ORDER_EVENTS,
                consume::ORDER_TRACKING,
                consume::ORDER_TRACKING_GRPC,
                &consume::ORDER_TYPES,
            ),
            (
                COMPLAINT_EVENTS,
                consume::COMPLAINT_DESK,
                consume::COMPLAINT_DESK_GRPC,
                &consume::COMPLAINT_TYPES,
            ),
        ];
        for (name, producer, grpc, types) in feeds {
            let source = match context.peer_events(producer, grpc) {
                Ok(source) => source.only(types),
                // Survey needs to know its customers; the others' facts only feed triggers and
                // reports, which go without where those services are not run.
                Err(e) if producer != consume::CUSTOMER_REGISTRY => {
                    tracing::warn!(error = %e, producer, "events not read here");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let consumer = Consumer::new(name, context.db.clone(), &context.settings.events);
            let (surveys, stop) = (surveys.clone(), stop.clone());
            tasks.push(Task::new(name, async move {
                match name {
                    CUSTOMER_EVENTS => {
                        consumer
                            .run(&source, &consume::CustomerEvents(surveys), stop)
                            .await;
                    }
                    ORDER_EVENTS => {
                        consumer
                            .run(&source, &consume::OrderEvents(surveys), stop)
                            .await;
                    }
                    _ => {
                        consumer
                            .run(&source, &consume::ComplaintEvents(surveys), stop)
                            .await;
                    }
                }
            }));
        }
        Ok(Started { tasks })
    }
}
