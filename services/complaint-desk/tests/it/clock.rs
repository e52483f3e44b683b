//! CD-3, CD-8 through the API and the clock pass: a late case is warned about, breached and
//! escalated, once each; a new calendar or policy recomputes every open case from its history.

use std::time::Duration;

use chrono::Utc;
use kefu_complaint_desk::domain::policy::Policy;
use kefu_complaint_desk::domain::{Case, DeadlineKind};
use kefu_complaint_desk::settings::ComplaintDeskSettings;
use kefu_complaint_desk::store::entity::complaints;
use kefu_proto::complaint as pb;
use kefu_testkit::{Spawn, on_both};
use sea_orm::EntityTrait as _;

use crate::support::{
    App, Backend, QUICK_PLAN, SERVICES, complaint, create, eventually, quick_clocks, spawn_with,
};

async fn quick(backend: Backend) -> App {
    let mut spawn = Spawn::new(&SERVICES, backend).change(quick_clocks);
    for (key, value) in QUICK_PLAN {
        spawn = spawn.env(key, value);
    }
    spawn_with(spawn).await
}

/// A critical complaint: 3.6 s to the first response, warned at half.
async fn critical(app: &App) -> pb::Complaint {
    let customer = app.customer("t1").await;
    let order = app.order(&customer).await;
    let mut new = complaint(&customer, &order);
    new.severity = pb::Severity::Critical as i32;
    app.desk()
        .await
        .create_complaint(create(new))
        .await
        .unwrap()
        .into_inner()
}

// CD-3 warns and breaches, CD-8 escalates: each once.
async fn cd3_cd8_a_late_case_is_warned_breached_and_escalated_once_each(backend: Backend) {
    let app = quick(backend).await;
    let case = critical(&app).await;
    let first = case.first_response_deadline.unwrap();
    assert_eq!(
        first.allowed.unwrap().seconds,
        4,
        "an hour at 0.1%: 3.6 s, rounded"
    );
    assert!(first.warning_time.is_some());
    // The clock pass does the rest by itself.
    eventually(20, "both ladder steps", || async {
        app.events_of::<pb::ComplaintEscalated>().await.len() >= 2
    })
    .await;
    // Passes keep running; nothing is announced twice.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let warnings = app.events_of::<pb::DeadlineWarning>().await;
    let first_response_warnings = warnings
        .iter()
        .filter(|w| w.deadline == pb::DeadlineKind::FirstResponse as i32)
        .count();
    assert_eq!(first_response_warnings, 1);
    let breaches = app.events_of::<pb::DeadlineBreached>().await;
    assert_eq!(
        breaches
            .iter()
            .filter(|b| b.deadline == pb::DeadlineKind::FirstResponse as i32)
            .count(),
        1
    );
    let steps: Vec<(i32, i32, bool)> = app
        .events_of::<pb::ComplaintEscalated>()
        .await
        .iter()
        .map(|e| (e.escalation_level, e.target, e.automatic))
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, pb::EscalationTarget::Supervisor as i32, true),
            (2, pb::EscalationTarget::Manager as i32, true),
        ]
    );
    let now = app
        .desk()
        .await
        .get_complaint(pb::GetComplaintRequest {
            complaint_id: case.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let shown = now.first_response_deadline.unwrap();
    assert_eq!(shown.state(), pb::DeadlineState::Breached);
    assert!(
        shown.remaining.unwrap().seconds < 0,
        "overdue shows negative"
    );
    assert!(shown.breach_time.is_some());
    assert_eq!(now.escalation_level, 2);
    assert_eq!(now.escalations.len(), 2);
}
on_both!(cd3_cd8_a_late_case_is_warned_breached_and_escalated_once_each);

/// The row of a case: its stored figures, and the case as its document holds it.
async fn row(app: &App, id: &str) -> (complaints::Model, Case) {
    let model = complaints::Entity::find_by_id(id.to_owned())
        .one(app.db(kefu_complaint_desk::SERVICE))
        .await
        .unwrap()
        .unwrap();
    // Documents are sealed at rest; the test opens them with the suite's key.
    let cipher = kefu_platform::pii::PiiCipher::from_settings(&app.settings.security).unwrap();
    let json = cipher
        .decrypt(
            &kefu_complaint_desk::store::document_binding(id),
            &model.document,
        )
        .unwrap();
    let case: Case = serde_json::from_str(&json).unwrap();
    (model, case)
}

fn policy_of(app: &kefu_testkit::App) -> Policy {
    app.settings
        .section::<ComplaintDeskSettings>(kefu_complaint_desk::SERVICE)
        .unwrap()
        .policy()
        .unwrap()
}

async fn cd3_a_new_calendar_recomputes_open_cases_from_their_history(backend: Backend) {
    // Under the default calendar (office hours on weekdays), a critical case of the quick
    // plan is due in a quarter of an office hour: at night, tomorrow morning.
    let mut spawn = Spawn::new(&SERVICES, backend);
    for (key, value) in QUICK_PLAN {
        spawn = spawn.env(key, value);
    }
    let app = spawn_with(spawn).await;
    let customer = app.customer("t1").await;
    let order = app.order(&customer).await;
    let mut new = complaint(&customer, &order);
    new.severity = pb::Severity::Critical as i32;
    let case = app
        .desk()
        .await
        .create_complaint(create(new))
        .await
        .unwrap()
        .into_inner();
    let (before, _) = row(&app, &case.id).await;
    assert_eq!(before.clock_policy, policy_of(app.inner()).fingerprint);

    // The operator moves to round-the-clock hours and 0.1% for critical cases. The old
    // server stops; one started with the new settings recomputes the case from its
    // history at its first pass.
    app.stop();
    let replica = app.replica(quick_clocks).await;
    let policy = policy_of(&replica);
    assert_ne!(before.clock_policy, policy.fingerprint);
    eventually(20, "the case's breach under the new policy", || async {
        !app.events_of_at::<pb::DeadlineBreached>(&replica)
            .await
            .is_empty()
    })
    .await;
    let (stored, history) = row(&app, &case.id).await;
    assert_eq!(
        stored.clock_policy, policy.fingerprint,
        "recomputed under the new policy"
    );
    // The figures stored are what the history gives under the new policy, from scratch.
    let from_scratch = history.next_check(&policy, Utc::now());
    let close = |a: Option<chrono::DateTime<Utc>>, b: Option<chrono::DateTime<Utc>>| match (a, b) {
        (Some(a), Some(b)) => (a - b).num_milliseconds().abs() <= 1,
        (a, b) => a == b,
    };
    assert!(
        close(stored.next_check_at, from_scratch),
        "stored {:?}, from scratch {from_scratch:?}",
        stored.next_check_at
    );
    let standing = history.standing(DeadlineKind::FirstResponse, &policy, Utc::now());
    assert_eq!(standing.allowed, 4);
    assert_eq!(
        standing.due,
        Some(history.created_at + chrono::Duration::seconds(4)),
        "round the clock: due 4 s after registration, whenever that was"
    );
    assert_ne!(
        before.next_check_at, stored.next_check_at,
        "nothing of the old calendar's schedule is left"
    );
    replica.stop();
}
on_both!(cd3_a_new_calendar_recomputes_open_cases_from_their_history);
