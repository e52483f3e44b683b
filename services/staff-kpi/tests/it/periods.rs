//! SK-3, SK-4 across periods: last month closed with its final assessments and the outcomes
//! the rules decide at their boundaries; a new formula version that changes only the periods
//! from its date; an upheld dispute in a closed period that decides the outcomes again; and
//! a quarter read over the same facts.

use chrono::{Datelike as _, Duration, Utc};
use kefu_platform::auth::Role;
use kefu_proto::common::Money;
use kefu_proto::staff as pb;
use kefu_testkit::on_both;
use tonic::Code;

use crate::support::{App, Backend, Staff, ago, figure, last_month, local, spawn, this_month};

fn cny(fen: i64) -> Option<Money> {
    Some(Money {
        currency_code: "CNY".into(),
        minor_units: fen,
    })
}

fn kpi_at_least(kpi: pb::Kpi, threshold: i64) -> pb::RuleCondition {
    pb::RuleCondition {
        subject: pb::RuleSubject::Kpi as i32,
        kpi: kpi as i32,
        comparison: pb::Comparison::AtLeast as i32,
        threshold,
        grade: 0,
    }
}

async fn rule(
    staff: &mut Staff,
    kind: pb::RewardPenaltyKind,
    fen: i64,
    conditions: Vec<pb::RuleCondition>,
) -> pb::RewardRule {
    staff
        .create_reward_rule(pb::CreateRewardRuleRequest {
            rule: Some(pb::RewardRule {
                display_name: format!("{kind:?} rule"),
                kind: kind as i32,
                amount: cny(fen),
                conditions,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn outcomes(app: &App, period: &str) -> Vec<pb::RewardPenalty> {
    let mut all = app
        .staff()
        .await
        .list_reward_penalties(pb::ListRewardPenaltiesRequest {
            period_id: period.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reward_penalties;
    all.sort_by(|a, b| {
        (&a.staff_id, a.assessment_revision).cmp(&(&b.staff_id, b.assessment_revision))
    });
    all
}

async fn latest(staff: &mut Staff, who: &str, period: &str, revision: i32) -> pb::Assessment {
    staff
        .get_assessment(pb::GetAssessmentRequest {
            staff_id: who.into(),
            period_id: period.into(),
            revision,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn sk3_sk4_a_closed_month_keeps_its_formulas_and_its_rules_decide_at_their_boundaries(
    backend: Backend,
) {
    let app = spawn(backend).await;
    app.organisation().await;
    let this = this_month().await;
    let (last, middle) = last_month(Utc::now());
    app.period(pb::PeriodKind::Monthly, &last).await;
    app.period(pb::PeriodKind::Monthly, &this).await;
    let mut staff = app.staff().await;

    // Last month: training evaluated at 90 (ann), 89 (bob) and 85 (carl) (SK-6); a breach of
    // bob's and two of carl's (SK-5).
    app.training(
        middle,
        &[
            ("ann", pb::Attendance::Attended, 90),
            ("bob", pb::Attendance::Attended, 89),
            ("carl", pb::Attendance::Attended, 85),
        ],
    )
    .await;
    app.breach("sue", "bob", middle).await;
    let carls = [
        app.breach("dora", "carl", middle).await,
        app.breach("max", "carl", middle + Duration::hours(1)).await,
    ];
    // SK-4: a reward for training at 90 or better with at least a B; a penalty for two or
    // more breaches.
    let reward = rule(
        &mut staff,
        pb::RewardPenaltyKind::Reward,
        50_000,
        vec![
            kpi_at_least(pb::Kpi::Training, 900),
            pb::RuleCondition {
                subject: pb::RuleSubject::Grade as i32,
                comparison: pb::Comparison::AtLeast as i32,
                grade: pb::Grade::B as i32,
                ..Default::default()
            },
        ],
    )
    .await;
    let penalty = rule(
        &mut staff,
        pb::RewardPenaltyKind::Penalty,
        20_000,
        vec![kpi_at_least(pb::Kpi::Conduct, 2)],
    )
    .await;

    // Not before the month is over.
    let early = staff
        .close_period(pb::ClosePeriodRequest {
            period_id: this.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    let closed = app.close(&last).await;
    assert_eq!(closed.assessed_count, closed.staff_count);
    assert_eq!(
        closed.staff_count, 6,
        "everyone of the organisation worked last month"
    );

    // Training weighs 5, complaints against (none: 100) 10, conduct 5:
    // ann (5*900 + 10*1000 + 5*1000) / 20 = 975, A;
    // bob (5*890 + 10*1000 + 5*500) / 20 = 847.5 -> 848, B;
    // carl (5*850 + 10*1000 + 5*0) / 20 = 712.5 -> 713, C.
    let grades: Vec<(Option<i32>, pb::Grade)> = {
        let mut v = Vec::new();
        for who in ["ann", "bob", "carl", "sue"] {
            let a = latest(&mut staff, who, &last, 0).await;
            assert_eq!(a.cause(), pb::AssessmentCause::Final);
            v.push((a.score_tenths, a.grade()));
        }
        v
    };
    assert_eq!(
        grades,
        [
            (Some(975), pb::Grade::A),
            (Some(848), pb::Grade::B),
            (Some(713), pb::Grade::C),
            (None, pb::Grade::Unspecified)
        ]
    );
    // At the boundaries: ann's 900 is rewarded, bob's 890 is not; carl's two breaches are
    // penalised, bob's one is not.
    let decided = outcomes(&app, &last).await;
    let summary: Vec<(&str, pb::RewardPenaltyKind, &str, i64)> = decided
        .iter()
        .map(|o| {
            (
                o.staff_id.as_str(),
                o.kind(),
                o.rule_id.as_str(),
                o.rule_version,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ann", pb::RewardPenaltyKind::Reward, reward.id.as_str(), 1),
            (
                "carl",
                pb::RewardPenaltyKind::Penalty,
                penalty.id.as_str(),
                1
            )
        ]
    );

    // A new version of the reward rule decides nothing already decided; the old one stays
    // readable.
    let mut changed = reward.clone();
    changed.amount = cny(80_000);
    let v2 = staff
        .update_reward_rule(pb::UpdateRewardRuleRequest {
            rule: Some(changed),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["amount".into()],
            }),
            expected_version: 1,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.version, 2);
    let v1 = staff
        .get_reward_rule(pb::GetRewardRuleRequest {
            rule_id: reward.id.clone(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1.amount.unwrap().minor_units, 50_000);
    assert_eq!(outcomes(&app, &last).await, decided);

    // SK-3: a formula version dated into the closed month is refused; one from this month on
    // changes this month only.
    let conduct = staff
        .get_kpi_definition(pb::GetKpiDefinitionRequest {
            kpi: pb::Kpi::Conduct as i32,
        })
        .await
        .unwrap()
        .into_inner();
    let formula = |day: String| pb::AddKpiFormulaRequest {
        kpi: pb::Kpi::Conduct as i32,
        expected_version: conduct.version,
        formula: Some(pb::KpiFormula {
            effective_from_date: day,
            weight: 5,
            deduction_points: 25,
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let first_day = |label: &str| format!("{label}-01");
    let refused = staff
        .add_kpi_formula(formula(first_day(&last)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let added = staff
        .add_kpi_formula(formula(first_day(&this)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.formulas.len(), 2);
    assert_eq!(added.version, conduct.version + 1);
    app.breach("dora", "carl", ago(Duration::minutes(10))).await;
    let carl_last = latest(&mut staff, "carl", &last, 0).await;
    let recomputed = staff
        .recompute_assessment(pb::RecomputeAssessmentRequest {
            staff_id: "carl".into(),
            period_id: last.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        recomputed, carl_last,
        "a closed month recomputes to what it said"
    );
    assert_eq!(figure(&recomputed, pb::Kpi::Conduct).formula_version, 1);
    let carl_now = app
        .assessed_when("carl", &this, "carl's breach this month", |a| {
            figure(a, pb::Kpi::Conduct).numerator == 1
        })
        .await;
    let conduct_now = figure(&carl_now, pb::Kpi::Conduct);
    assert_eq!(
        (conduct_now.formula_version, conduct_now.score_tenths),
        (2, Some(750))
    );

    // SK-3: carl disputes one of last month's breaches; dora upholds it. The month gets a
    // new revision, the penalty is withdrawn and nothing replaces it (one breach is below
    // the rule's two), and both revisions stay readable.
    let mut carl = app.staff_as("carl", Role::Agent, "email").await;
    let dispute = carl
        .create_dispute(pb::CreateDisputeRequest {
            dispute: Some(pb::Dispute {
                staff_id: "carl".into(),
                period_id: last.clone(),
                kpi: pb::Kpi::Conduct as i32,
                event_id: carls[1].event_id.clone(),
                reason: "the hamper was for the whole depot and went back the same day".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    app.staff_as("dora", Role::Supervisor, "")
        .await
        .decide_dispute(pb::DecideDisputeRequest {
            dispute_id: dispute.id.clone(),
            expected_version: dispute.version,
            decision: pb::DisputeState::Upheld as i32,
            decision_note: "the depot's log confirms it".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let after = latest(&mut staff, "carl", &last, 0).await;
    assert_eq!(after.revision, carl_last.revision + 1);
    assert_eq!(after.cause(), pb::AssessmentCause::DisputeUpheld);
    assert_eq!(after.dispute_id, dispute.id);
    assert_eq!(figure(&after, pb::Kpi::Conduct).value, Some(1));
    // (5*850 + 10*1000 + 5*500) / 20 = 837.5 -> 838, B.
    assert_eq!(
        (after.score_tenths, after.grade()),
        (Some(838), pb::Grade::B)
    );
    let before = latest(&mut staff, "carl", &last, carl_last.revision).await;
    assert_eq!(before, carl_last);
    let redecided = outcomes(&app, &last).await;
    let carl_outcomes: Vec<(pb::RewardPenaltyState, i32)> = redecided
        .iter()
        .filter(|o| o.staff_id == "carl")
        .map(|o| (o.state(), o.assessment_revision))
        .collect();
    assert_eq!(
        carl_outcomes,
        [(pb::RewardPenaltyState::Withdrawn, carl_last.revision)]
    );
    let breach = carl
        .get_conduct_breach(pb::GetConductBreachRequest {
            breach_id: carls[1].id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(breach.upheld_dispute_id, dispute.id);

    // SK-3: a quarter reads the same facts over its three months.
    let month = middle.with_timezone(&local()).month();
    let quarter = format!(
        "{}-Q{}",
        middle.with_timezone(&local()).year(),
        (month - 1) / 3 + 1
    );
    app.period(pb::PeriodKind::Quarterly, &quarter).await;
    let same_quarter = (month - 1) / 3 == (Utc::now().with_timezone(&local()).month() - 1) / 3
        && middle.with_timezone(&local()).year() == Utc::now().with_timezone(&local()).year();
    let q = app
        .assessed_when("carl", &quarter, "carl's quarter", |_| true)
        .await;
    let breaches = figure(&q, pb::Kpi::Conduct);
    // The upheld dispute holds in every period; this month's breach counts if the quarter
    // holds this month.
    assert_eq!(breaches.numerator, 1 + i64::from(same_quarter));
    assert_eq!(figure(&q, pb::Kpi::Training).value, Some(850));
}
on_both!(sk3_sk4_a_closed_month_keeps_its_formulas_and_its_rules_decide_at_their_boundaries);
