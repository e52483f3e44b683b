//! SV-3 through the API and the other services' real streams: triggers fire once per event,
//! the quiet period holds across triggers, channels and replicas, opted-out customers are
//! never asked, skips are logged not queued, campaigns reach each customer of their tiers
//! once.

use std::time::Duration;

use kefu_platform::auth::Role;
use kefu_proto::survey as pb;
use kefu_testkit::on_both;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::support::{Backend, invitation, spawn, spawn_with, until};

async fn trigger(
    app: &crate::support::App,
    kind: pb::TriggerKind,
    questionnaire: &str,
) -> pb::Trigger {
    app.surveys()
        .await
        .create_trigger(pb::CreateTriggerRequest {
            trigger: Some(pb::Trigger {
                kind: kind as i32,
                questionnaire_id: questionnaire.into(),
                method: pb::Method::Online as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn invitations_of(app: &crate::support::App, customer: &str) -> Vec<pb::Invitation> {
    app.surveys()
        .await
        .list_invitations(pb::ListInvitationsRequest {
            customer_id: customer.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invitations
}

async fn skips_of(app: &crate::support::App, customer: &str) -> Vec<pb::SkippedSurvey> {
    app.surveys()
        .await
        .list_skipped_surveys(pb::ListSkippedSurveysRequest {
            customer_id: customer.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .skipped_surveys
}

// SV-3: three deliveries in a week are one survey; after the quiet period, another.
async fn sv3_deliveries_within_the_quiet_period_make_one_survey(backend: Backend) {
    let app = spawn_with(backend, &[("KEFU__SURVEY__QUIET_PERIOD", "6s")]).await;
    let questionnaire = app.questionnaire().await;
    let after_delivery = trigger(&app, pb::TriggerKind::AfterDelivery, &questionnaire.id).await;
    let customer = app.customer("t1").await;
    let first = app.delivered_order(&customer).await;
    let sent = until(20, "the first delivery's survey", || async {
        let sent = invitations_of(&app, &customer).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0].order_id, first);
    assert_eq!(sent[0].trigger_id, after_delivery.id);
    assert_eq!(
        sent[0].agent_id, "courier-desk",
        "who recorded the delivery"
    );
    assert_eq!(sent[0].questionnaire_version, 1);
    app.delivered_order(&customer).await;
    app.delivered_order(&customer).await;
    let skips = until(20, "two skips", || async {
        let skips = skips_of(&app, &customer).await;
        (skips.len() == 2).then_some(skips)
    })
    .await;
    assert!(
        skips
            .iter()
            .all(|s| s.reason() == pb::SkipReason::QuietPeriod)
    );
    assert!(skips.iter().all(|s| s.quiet_until.is_some()));
    assert_eq!(invitations_of(&app, &customer).await.len(), 1, "one survey");
    // Past the quiet period, the next delivery is asked about again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let fourth = app.delivered_order(&customer).await;
    let sent = until(20, "the fourth delivery's survey", || async {
        let sent = invitations_of(&app, &customer).await;
        (sent.len() == 2).then_some(sent)
    })
    .await;
    assert_eq!(sent[1].order_id, fourth);
    // Skipped means logged, not queued: nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(invitations_of(&app, &customer).await.len(), 2);
}
on_both!(sv3_deliveries_within_the_quiet_period_make_one_survey);

// SV-3: two replicas asking about one customer at the same moment make one survey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sv3_two_replicas_at_once_make_one_survey() {
    let app = spawn(Backend::Postgres).await;
    let replica = app.inner().replica(|_| {}).await;
    let questionnaire = app.questionnaire().await;
    let customer = app.customer("t1").await;
    let mut calls = Vec::new();
    for n in 0..8 {
        let server = if n % 2 == 0 { app.inner() } else { &replica };
        let mut client = pb::survey_service_client::SurveyServiceClient::new(
            server.as_role("tester", Role::Manager, "").await,
        );
        let request = invitation(&customer, &questionnaire.id, pb::Method::Phone);
        calls.push(tokio::spawn(async move {
            client.create_invitation(request).await
        }));
    }
    let mut invited = 0;
    let mut quiet = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => invited += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(
                    status.get_details_error_info().unwrap().reason,
                    "QUIET_PERIOD"
                );
                quiet += 1;
            }
        }
    }
    assert_eq!((invited, quiet), (1, 7));
    assert_eq!(app.count("invitations").await, 1);
    assert_eq!(app.count("skipped_surveys").await, 7, "each skip logged");
    replica.stop();
}

// SV-3: a customer who opted out is never asked, and the opt-out reads back.
async fn sv3_an_opted_out_customer_is_never_surveyed(backend: Backend) {
    let app = spawn(backend).await;
    let questionnaire = app.questionnaire().await;
    let customer = app.customer("t1").await;
    let mut surveys = app.surveys().await;
    let opted = surveys
        .set_opt_out(pb::SetOptOutRequest {
            customer_id: customer.clone(),
            opted_out: true,
            reason: "too many calls".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(opted.opted_out);
    let read = surveys
        .get_opt_out(pb::GetOptOutRequest {
            customer_id: customer.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(read.opted_out && read.reason == "too many calls");
    // the customer's words are sealed at rest.
    assert!(!kefu_testkit::holds(
        &app.dump(kefu_survey::SERVICE, "survey_customers").await,
        "too many calls"
    ));
    let refused = surveys
        .create_invitation(invitation(&customer, &questionnaire.id, pb::Method::Phone))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let info = refused.get_details_error_info().unwrap();
    assert_eq!(info.reason, "OPTED_OUT");
    assert_eq!(info.domain, "kefu.survey.v1");
    let skips = skips_of(&app, &customer).await;
    assert_eq!(skips.len(), 1);
    assert_eq!(skips[0].reason(), pb::SkipReason::OptedOut);
    assert_eq!(info.metadata["skipped_survey_id"], skips[0].id);
    assert_eq!(app.count("invitations").await, 0);
    // A trigger's survey is skipped the same way.
    trigger(&app, pb::TriggerKind::AfterDelivery, &questionnaire.id).await;
    app.delivered_order(&customer).await;
    until(20, "the trigger's skip", || async {
        (skips_of(&app, &customer).await.len() == 2).then_some(())
    })
    .await;
    assert_eq!(app.count("invitations").await, 0);
}
on_both!(sv3_an_opted_out_customer_is_never_surveyed);

// SV-3: a campaign reaches every active customer of its tiers once in its interval.
async fn sv3_a_campaign_invites_each_customer_of_its_tiers_once(backend: Backend) {
    let app = spawn(backend).await;
    let questionnaire = app.questionnaire().await;
    let customers = [app.customer("t1").await, app.customer("t2").await];
    let now = chrono::Utc::now();
    let campaign = app
        .surveys()
        .await
        .create_campaign(pb::CreateCampaignRequest {
            campaign: Some(pb::Campaign {
                title: "Small enterprises, December".into(),
                questionnaire_id: questionnaire.id.clone(),
                method: pb::Method::Phone as i32,
                tiers: vec![kefu_proto::customer::Tier::Small as i32],
                interval: Some(kefu_proto::common::Interval {
                    start_time: Some(kefu_platform::time::to_timestamp(now)),
                    end_time: Some(kefu_platform::time::to_timestamp(
                        now + chrono::Duration::days(30),
                    )),
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(campaign.questionnaire_version, 1, "pinned");
    let progress = until(20, "both customers invited", || async {
        let c = app
            .surveys()
            .await
            .get_campaign(pb::GetCampaignRequest {
                campaign_id: campaign.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        (c.invited_count == 2).then_some(c)
    })
    .await;
    assert_eq!(progress.state(), pb::CampaignState::Running);
    assert_eq!(progress.skipped_count, 0);
    for customer in &customers {
        let sent = invitations_of(&app, customer).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].campaign_id, campaign.id);
    }
    // The pass keeps running; nobody is asked twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.count("invitations").await, 2);
    let refused = app
        .surveys_as("agent-1", Role::Agent, "t1")
        .await
        .create_campaign(pb::CreateCampaignRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::PermissionDenied,
        "campaigns are the department's"
    );
}
on_both!(sv3_a_campaign_invites_each_customer_of_its_tiers_once);

// SV-3: a trigger fires once per source event, even when the stream is read again from the
// start (a consumer that lost its place, a restart on an old backup of its cursor).
async fn sv3_a_trigger_fires_once_per_event_however_often_it_is_read(backend: Backend) {
    use sea_orm::ConnectionTrait as _;
    let app = spawn(backend).await;
    let questionnaire = app.questionnaire().await;
    trigger(&app, pb::TriggerKind::AfterDelivery, &questionnaire.id).await;
    let customer = app.customer("t1").await;
    app.delivered_order(&customer).await;
    until(20, "the delivery's survey", || async {
        (invitations_of(&app, &customer).await.len() == 1).then_some(())
    })
    .await;
    // The service stops; its order-events cursor is lost; it starts again and reads
    // order-tracking's stream from the start.
    app.stop();
    let db = app.db(kefu_survey::SERVICE);
    db.execute_unprepared(
        "UPDATE kefu_consumer_cursor SET position = 0 WHERE consumer = 'survey.order-events'",
    )
    .await
    .unwrap();
    let restarted = app.inner().replica(|_| {}).await;
    let read_again = until(30, "the stream read again", || async {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT position FROM kefu_consumer_cursor WHERE consumer = 'survey.order-events'",
            ))
            .await
            .unwrap()?;
        let position: i64 = row.try_get("", "position").unwrap();
        (position > 0).then_some(position)
    })
    .await;
    assert!(read_again > 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count("scheduled_surveys").await, 1, "scheduled once");
    assert_eq!(app.count("invitations").await, 1, "sent once");
    assert_eq!(app.count("skipped_surveys").await, 0, "not even a skip");
    restarted.stop();
}
on_both!(sv3_a_trigger_fires_once_per_event_however_often_it_is_read);
