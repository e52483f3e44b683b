//! SV-2, SV-4: scores and quality figures, overall or per local period, tier or agent. The
//! quality figures join the survey's answers with what order-tracking and complaint-desk
//! announced: complaints per 1,000 orders (in tenths, rounded half up) and the medians of
//! delivery time and of complaint resolution time.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use kefu_platform::time::{Period, period_start};

use super::scores::{self, Score};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Overall,
    Period(Period),
    Tier,
    Agent,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Overall,
    Period(DateTime<Utc>),
    Tier(String),
    Agent(String),
}

/// One answer's measures, with what it is grouped by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rated {
    pub at: DateTime<Utc>,
    pub tier: String,
    pub agent: String,
    pub csat: Option<i32>,
    pub nps: Option<i32>,
    pub effort: Option<i32>,
}

/// One order, as order-tracking announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderFact {
    pub at: DateTime<Utc>,
    pub tier: String,
    /// Who recorded the delivery.
    pub agent: String,
    pub delivery_seconds: Option<i64>,
}

/// One case, as complaint-desk announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComplaintFact {
    pub at: DateTime<Utc>,
    pub tier: String,
    pub agent: String,
    /// A complaint, not a request.
    pub complaint: bool,
    pub resolution_seconds: Option<i64>,
}

fn group(at: DateTime<Utc>, tier: &str, agent: &str, by: Dimension, offset: FixedOffset) -> Group {
    match by {
        Dimension::Overall => Group::Overall,
        Dimension::Period(period) => Group::Period(period_start(at, period, offset)),
        Dimension::Tier => Group::Tier(tier.to_owned()),
        Dimension::Agent => Group::Agent(agent.to_owned()),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScoreRow {
    pub responses: i64,
    pub csat: Score,
    pub nps: Score,
    pub effort: Score,
}

/// SV-2: the scores of `rated`, grouped.
pub fn score_rows(rated: &[Rated], by: Dimension, offset: FixedOffset) -> Vec<(Group, ScoreRow)> {
    let mut groups: BTreeMap<Group, Vec<&Rated>> = BTreeMap::new();
    for r in rated {
        groups
            .entry(group(r.at, &r.tier, &r.agent, by, offset))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(g, rs)| {
            let of =
                |f: fn(&Rated) -> Option<i32>| rs.iter().filter_map(|r| f(r)).collect::<Vec<_>>();
            let row = ScoreRow {
                responses: rs.len() as i64,
                csat: scores::csat(&of(|r| r.csat)),
                nps: scores::nps(&of(|r| r.nps)),
                effort: scores::effort(&of(|r| r.effort)),
            };
            (g, row)
        })
        .collect()
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QualityRow {
    pub csat: Score,
    pub nps: Score,
    pub complaints: i64,
    pub orders: i64,
    /// Complaints per 1,000 orders in tenths; `None` without orders.
    pub rate_tenths_per_mille: Option<i64>,
    pub median_delivery_seconds: Option<i64>,
    pub median_resolution_seconds: Option<i64>,
}

/// The nearest-rank median.
fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    let rank = values.len().div_ceil(2);
    (rank > 0).then(|| values[rank - 1])
}

/// SV-4: satisfaction, complaint rate and service time, grouped.
pub fn quality_rows(
    rated: &[Rated],
    orders: &[OrderFact],
    complaints: &[ComplaintFact],
    by: Dimension,
    offset: FixedOffset,
) -> Vec<(Group, QualityRow)> {
    #[derive(Default)]
    struct Tally {
        csat: Vec<i32>,
        nps: Vec<i32>,
        complaints: i64,
        orders: i64,
        delivery: Vec<i64>,
        resolution: Vec<i64>,
    }
    let mut groups: BTreeMap<Group, Tally> = BTreeMap::new();
    for r in rated {
        let t = groups
            .entry(group(r.at, &r.tier, &r.agent, by, offset))
            .or_default();
        t.csat.extend(r.csat);
        t.nps.extend(r.nps);
    }
    for o in orders {
        let t = groups
            .entry(group(o.at, &o.tier, &o.agent, by, offset))
            .or_default();
        t.orders += 1;
        t.delivery.extend(o.delivery_seconds);
    }
    for c in complaints {
        let t = groups
            .entry(group(c.at, &c.tier, &c.agent, by, offset))
            .or_default();
        t.complaints += i64::from(c.complaint);
        t.resolution.extend(c.resolution_seconds);
    }
    groups
        .into_iter()
        .map(|(g, t)| {
            let rate = (t.orders > 0).then(|| (t.complaints * 20_000 + t.orders) / (2 * t.orders));
            let row = QualityRow {
                csat: scores::csat(&t.csat),
                nps: scores::nps(&t.nps),
                complaints: t.complaints,
                orders: t.orders,
                rate_tenths_per_mille: rate,
                median_delivery_seconds: median(t.delivery),
                median_resolution_seconds: median(t.resolution),
            };
            (g, row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn sv4_quality_joins_answers_orders_and_complaints_per_group() {
        let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
        let rated = vec![
            Rated {
                at: at("2026-11-30T01:00:00Z"),
                tier: "large".into(),
                agent: "a1".into(),
                csat: Some(5),
                nps: Some(10),
                effort: None,
            },
            Rated {
                at: at("2026-11-30T02:00:00Z"),
                tier: "small".into(),
                agent: "a2".into(),
                csat: Some(2),
                nps: Some(3),
                effort: Some(4),
            },
        ];
        let orders: Vec<OrderFact> = (0..3)
            .map(|i| OrderFact {
                at: at("2026-11-30T03:00:00Z"),
                tier: if i == 0 {
                    "large".into()
                } else {
                    "small".into()
                },
                agent: "a1".into(),
                delivery_seconds: Some(3600 * (i + 1)),
            })
            .collect();
        let complaints = vec![ComplaintFact {
            at: at("2026-11-30T04:00:00Z"),
            tier: "small".into(),
            agent: "a2".into(),
            complaint: true,
            resolution_seconds: Some(7200),
        }];
        let overall = quality_rows(&rated, &orders, &complaints, Dimension::Overall, shanghai);
        assert_eq!(overall.len(), 1);
        let row = &overall[0].1;
        assert_eq!(row.csat.tenths, Some(500));
        assert_eq!(row.nps.tenths, Some(0), "one promoter, one detractor");
        assert_eq!((row.complaints, row.orders), (1, 3));
        // 1 per 3 orders: 333.33.. per 1,000 -> 3333.3 tenths -> 3333.
        assert_eq!(row.rate_tenths_per_mille, Some(3333));
        assert_eq!(row.median_delivery_seconds, Some(7200));
        assert_eq!(row.median_resolution_seconds, Some(7200));
        let by_tier = quality_rows(&rated, &orders, &complaints, Dimension::Tier, shanghai);
        let small = &by_tier
            .iter()
            .find(|(g, _)| *g == Group::Tier("small".into()))
            .unwrap()
            .1;
        assert_eq!((small.orders, small.complaints), (2, 1));
        assert_eq!(small.rate_tenths_per_mille, Some(5000));
        let scores = score_rows(&rated, Dimension::Agent, shanghai);
        assert_eq!(scores[0].0, Group::Agent("a1".into()));
        assert_eq!(scores[1].1.effort.tenths, Some(1000));
        assert_eq!(
            scores[0].1.effort,
            Score {
                answers: 0,
                tenths: None
            }
        );
    }
}
