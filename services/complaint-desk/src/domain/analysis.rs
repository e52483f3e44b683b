//! CD-7: counts, rates and causes of the cases registered in an interval, grouped by
//! category, tier, agent or local period, and the complaint rate against order volume.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use kefu_platform::time::{Period, period_start};

use super::{CaseType, Category, RootCause, State};

/// What the analysis reads of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFigures {
    pub created_at: DateTime<Utc>,
    pub kind: CaseType,
    pub category: Category,
    pub tier: String,
    pub assignee_id: String,
    pub state: State,
    pub first_response_met: Option<bool>,
    pub resolution_met: Option<bool>,
    /// Business seconds from registration to the latest resolution.
    pub resolution_seconds: Option<i64>,
    pub compensation_fen: i64,
    pub reopened: bool,
    pub escalated: bool,
    pub root_cause: Option<RootCause>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Category,
    Tier,
    Agent,
    Period(Period),
}

/// What a row groups.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Category(Category),
    Tier(String),
    Agent(String),
    Period(DateTime<Utc>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub case_count: i64,
    pub complaint_count: i64,
    pub closed_count: i64,
    pub first_response_met_count: i64,
    pub resolution_met_count: i64,
    pub reopened_count: i64,
    pub escalated_count: i64,
    /// Nearest-rank median of the resolved cases; `None` when none was resolved.
    pub median_resolution_seconds: Option<i64>,
    pub compensation_fen: i64,
    /// Most frequent first, ties by code; at most three.
    pub top_causes: Vec<(RootCause, i64)>,
    /// Orders created in the period (period rows only).
    pub order_count: i64,
}

/// Order volume: orders created in the hour starting at each instant.
pub type Volume = [(DateTime<Utc>, i64)];

/// Groups `cases` by `dimension`; rows in group order. Period rows carry the orders created
/// in their period.
pub fn analyse(
    cases: &[CaseFigures],
    dimension: Dimension,
    offset: FixedOffset,
    volume: &Volume,
) -> Vec<(Group, Row)> {
    // Per group: the counts, the resolution times, and the causes seen.
    type Tally = (Row, Vec<i64>, BTreeMap<RootCause, i64>);
    let mut groups: BTreeMap<Group, Tally> = BTreeMap::new();
    for case in cases {
        let group = match dimension {
            Dimension::Category => Group::Category(case.category),
            Dimension::Tier => Group::Tier(case.tier.clone()),
            Dimension::Agent => Group::Agent(case.assignee_id.clone()),
            Dimension::Period(period) => {
                Group::Period(period_start(case.created_at, period, offset))
            }
        };
        let (row, resolution_times, causes) = groups.entry(group).or_default();
        row.case_count += 1;
        row.complaint_count += i64::from(case.kind == CaseType::Complaint);
        row.closed_count += i64::from(case.state == State::Closed);
        row.first_response_met_count += i64::from(case.first_response_met == Some(true));
        row.resolution_met_count += i64::from(case.resolution_met == Some(true));
        row.reopened_count += i64::from(case.reopened);
        row.escalated_count += i64::from(case.escalated);
        row.compensation_fen += case.compensation_fen;
        resolution_times.extend(case.resolution_seconds);
        if let Some(cause) = case.root_cause {
            *causes.entry(cause).or_default() += 1;
        }
    }
    if let Dimension::Period(period) = dimension {
        for (hour, orders) in volume {
            let group = Group::Period(period_start(*hour, period, offset));
            if let Some((row, _, _)) = groups.get_mut(&group) {
                row.order_count += orders;
            }
        }
    }
    groups
        .into_iter()
        .map(|(group, (mut row, mut times, causes))| {
            times.sort_unstable();
            row.median_resolution_seconds = median(&times);
            let mut ranked: Vec<(RootCause, i64)> = causes.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.truncate(3);
            row.top_causes = ranked;
            (group, row)
        })
        .collect()
}

/// The nearest-rank median of sorted values.
fn median(sorted: &[i64]) -> Option<i64> {
    let rank = sorted.len().div_ceil(2);
    (rank > 0).then(|| sorted[rank - 1])
}

/// Complaints per 1,000 orders; 0 without orders.
pub fn rate_per_mille(complaints: i64, orders: i64) -> f64 {
    if orders <= 0 {
        0.0
    } else {
        complaints as f64 * 1000.0 / orders as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn figures(created: &str, category: Category, agent: &str) -> CaseFigures {
        CaseFigures {
            created_at: at(created),
            kind: CaseType::Complaint,
            category,
            tier: "small".into(),
            assignee_id: agent.into(),
            state: State::Closed,
            first_response_met: Some(true),
            resolution_met: Some(false),
            resolution_seconds: Some(3600),
            compensation_fen: 100,
            reopened: false,
            escalated: false,
            root_cause: Some(RootCause::Packaging),
        }
    }

    #[test]
    fn cd7_counts_rates_and_causes_by_category_agent_and_local_day() {
        let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
        let mut cases = vec![
            figures("2026-11-30T01:00:00Z", Category::Damage, "a1"),
            figures("2026-11-30T02:00:00Z", Category::Damage, "a2"),
            figures("2026-11-30T17:00:00Z", Category::Delay, "a1"),
        ];
        cases[1].resolution_seconds = Some(7200);
        cases[1].root_cause = Some(RootCause::Handling);
        cases[2].kind = CaseType::Inquiry;
        cases[2].state = State::Resolved;
        cases[2].first_response_met = Some(false);
        cases[2].resolution_seconds = None;

        let by_category = analyse(&cases, Dimension::Category, shanghai, &[]);
        assert_eq!(by_category.len(), 2);
        let (group, damage) = &by_category[0];
        assert_eq!(group, &Group::Category(Category::Damage));
        assert_eq!(
            (
                damage.case_count,
                damage.complaint_count,
                damage.closed_count
            ),
            (2, 2, 2)
        );
        assert_eq!(
            damage.median_resolution_seconds,
            Some(3600),
            "nearest rank of 1h, 2h"
        );
        assert_eq!(damage.compensation_fen, 200);
        assert_eq!(
            damage.top_causes,
            vec![(RootCause::Packaging, 1), (RootCause::Handling, 1)]
        );
        let (_, delay) = &by_category[1];
        assert_eq!(
            (delay.complaint_count, delay.first_response_met_count),
            (0, 0)
        );
        assert_eq!(delay.median_resolution_seconds, None);

        let by_agent = analyse(&cases, Dimension::Agent, shanghai, &[]);
        assert_eq!(
            by_agent[0],
            (Group::Agent("a1".into()), by_agent[0].1.clone())
        );
        assert_eq!(by_agent[0].1.case_count, 2);

        // 2026-11-30T17:00Z is December 1st in Shanghai: two local days.
        let volume = [
            (at("2026-11-30T01:00:00Z"), 40),
            (at("2026-11-30T15:00:00Z"), 10),
            (at("2026-11-30T16:00:00Z"), 7),
        ];
        let by_day = analyse(&cases, Dimension::Period(Period::Day), shanghai, &volume);
        assert_eq!(by_day.len(), 2);
        assert_eq!((by_day[0].1.case_count, by_day[0].1.order_count), (2, 50));
        assert_eq!((by_day[1].1.case_count, by_day[1].1.order_count), (1, 7));
        assert_eq!(rate_per_mille(2, 50), 40.0);
        assert_eq!(rate_per_mille(2, 0), 0.0);
    }
}
