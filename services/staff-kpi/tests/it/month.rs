//! SK-2, SK-3 over a month of the other services' work, made through their APIs: every KPI's
//! figure and each agent's score and grade as computed here by hand, the events behind each
//! figure, and a recomputation that gives the same.

use chrono::{Duration, Utc};
use kefu_platform::auth::Role;
use kefu_proto::complaint as dpb;
use kefu_proto::staff as pb;
use kefu_testkit::on_both;

use crate::support::{Backend, ago, figure, sources, spawn, this_month};

async fn sk2_sk3_a_month_of_events_gives_the_hand_computed_figures_and_grades(backend: Backend) {
    let app = spawn(backend).await;
    app.organisation().await;
    let month = this_month().await;
    app.period(pb::PeriodKind::Monthly, &month).await;
    let now = Utc::now();

    // ann: a case answered, resolved at the first contact and followed up; a case resolved
    // after the customer called again, never followed up.
    let a1 = app.complaint("", None).await;
    let a1 = app.work_case(&a1, "ann", 0).await;
    app.follow_up(&a1, "ann", dpb::FollowUpOutcome::Satisfied)
        .await;
    let a2 = app.complaint("", None).await;
    let a2 = app.work_case(&a2, "ann", 1).await;
    // bob works a complaint about ann's attitude; its follow-up reaches nobody.
    let b1 = app.complaint("ann", None).await;
    let b1 = app.work_case(&b1, "bob", 0).await;
    app.follow_up(&b1, "bob", dpb::FollowUpOutcome::NoContact)
        .await;
    // ann delivered an order whose customer then complained of damage, naming nobody.
    let customer = app.customer().await;
    let delivered = app.order(&customer, Some("ann")).await;
    app.complaint("", Some((&customer, &delivered))).await;
    // The customers rate the cases.
    let questionnaire = app.questionnaire().await;
    app.rate(&questionnaire, &a1, "ann", 5).await;
    app.rate(&questionnaire, &a2, "ann", 3).await;
    app.rate(&questionnaire, &b1, "bob", 4).await;
    // ann visits a new customer (no plan yet: on plan), and a graded one long after its
    // visit was due (CR-5: the day-report's event carries the due date).
    let new = app.customer().await;
    app.visit("ann", &new, ago(Duration::hours(2))).await;
    let graded = app.customer().await;
    app.grade(&graded).await;
    app.visit("ann", &graded, now - Duration::days(200)).await;
    app.visit("ann", &graded, ago(Duration::hours(1))).await;
    // Training: ann evaluated at 80, bob absent; bob accepted a gift.
    app.training(
        ago(Duration::hours(1)),
        &[
            ("ann", pb::Attendance::Attended, 80),
            ("bob", pb::Attendance::Absent, 0),
        ],
    )
    .await;
    app.breach("sue", "bob", ago(Duration::hours(1))).await;

    // ann's 17 events: 2 first responses, 2 resolutions (time), 3 for the follow-ups (2
    // resolutions, 1 follow-up), 2 visits, 2 answers, 3 for the complaints (the one naming
    // her; the other's registration and her delivery), 2 resolutions (first contact) and a
    // training.
    let ann = app
        .assessed_when("ann", &month, "ann's events arrived", |a| sources(a) >= 17)
        .await;
    let expect = |a: &pb::Assessment,
                  kpi: pb::Kpi,
                  value: Option<i64>,
                  n: i64,
                  d: i64,
                  score: Option<i32>| {
        let f = figure(a, kpi);
        assert_eq!(
            (
                f.value,
                f.numerator,
                f.denominator,
                f.score_tenths,
                f.formula_version
            ),
            (value, n, d, score, 1),
            "{} {kpi:?}",
            a.staff_id
        );
    };
    use pb::Kpi::*;
    expect(&ann, FirstResponseMet, Some(1000), 2, 2, Some(1000));
    let time = figure(&ann, ResolutionTime);
    assert_eq!(time.denominator, 2);
    assert_eq!(time.value, Some(0), "seconds of business time: 0 minutes");
    assert_eq!(time.score_tenths, Some(1000));
    expect(&ann, FollowUpDone, Some(500), 1, 2, Some(500));
    expect(&ann, VisitsOnPlan, Some(500), 1, 2, Some(500));
    expect(&ann, Csat, Some(500), 1, 2, Some(500));
    expect(&ann, ComplaintsAgainst, Some(2), 2, 0, Some(600));
    expect(&ann, FirstContactResolution, Some(500), 1, 2, Some(500));
    expect(&ann, Conduct, Some(0), 0, 0, Some(1000));
    expect(&ann, Training, Some(800), 800, 1, Some(800));
    // (20*1000 + 15*1000 + 10*500 + 10*500 + 20*500 + 10*600 + 10*500 + 5*1000 + 5*800)
    // / 105 = 714.3
    assert_eq!(ann.score_tenths, Some(714));
    assert_eq!(ann.grade(), pb::Grade::C);
    assert_eq!(sources(&ann), 17);

    let bob = app
        .assessed_when("bob", &month, "bob's events arrived", |a| sources(a) >= 7)
        .await;
    expect(&bob, FirstResponseMet, Some(1000), 1, 1, Some(1000));
    expect(&bob, FollowUpDone, Some(0), 0, 1, Some(0));
    expect(&bob, VisitsOnPlan, None, 0, 0, None);
    expect(&bob, Csat, Some(1000), 1, 1, Some(1000));
    expect(&bob, ComplaintsAgainst, Some(0), 0, 0, Some(1000));
    expect(&bob, FirstContactResolution, Some(1000), 1, 1, Some(1000));
    expect(&bob, Conduct, Some(1), 1, 0, Some(500));
    expect(&bob, Training, Some(0), 0, 1, Some(0));
    // (20*1000 + 15*1000 + 10*0 + 20*1000 + 10*1000 + 10*1000 + 5*500 + 5*0) / 95 = 815.8;
    // visits have no data and weigh nothing.
    assert_eq!(bob.score_tenths, Some(816));
    assert_eq!(bob.grade(), pb::Grade::B);

    // carl did nothing this month: deductions alone make no score.
    let carl = app
        .assessed_when("carl", &month, "carl assessed", |_| true)
        .await;
    assert_eq!(
        (carl.score_tenths, carl.grade()),
        (None, pb::Grade::Unspecified)
    );

    // The same events give the same figures: no new revision.
    let mut staff = app.staff().await;
    let again = staff
        .recompute_assessment(pb::RecomputeAssessmentRequest {
            staff_id: "ann".into(),
            period_id: month.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.revision, ann.revision);
    assert_eq!(again.figures, ann.figures);

    // The figure shows its events, paged.
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = staff
            .list_figure_sources(pb::ListFigureSourcesRequest {
                staff_id: "ann".into(),
                period_id: month.clone(),
                kpi: ComplaintsAgainst as i32,
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.sources);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed.len(), 3);
    let mut types: Vec<&str> = listed.iter().map(|s| s.event_type.as_str()).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "kefu.complaint.v1.ComplaintRegistered",
            "kefu.complaint.v1.ComplaintRegistered",
            "kefu.order.v1.OrderMoved"
        ]
    );
    assert!(listed.iter().all(|s| s.counted));
    assert!(
        listed
            .iter()
            .any(|s| s.subject_id == b1.id && s.source == "complaint-desk")
    );
    assert!(
        listed
            .iter()
            .any(|s| s.subject_id == delivered && s.source == "order-tracking")
    );

    // The team's list: the latest revision of each person the caller may see.
    let team = app
        .staff_as("sue", Role::Supervisor, "")
        .await
        .list_assessments(pb::ListAssessmentsRequest {
            period_id: month.clone(),
            team_id: "hotline".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let people: Vec<(&str, i32)> = team
        .assessments
        .iter()
        .map(|a| (a.staff_id.as_str(), a.revision))
        .collect();
    assert_eq!(people, [("ann", ann.revision), ("bob", bob.revision)]);
}
on_both!(sk2_sk3_a_month_of_events_gives_the_hand_computed_figures_and_grades);
