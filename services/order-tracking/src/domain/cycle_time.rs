//! OT-10: order cycle time, RECEIVED to DELIVERED, summarised per channel, tier and period
//! with its median and 90th percentile.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
pub use kefu_platform::time::{Period, period_start};

use super::Channel;

/// One delivered order.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub channel: Channel,
    pub tier: String,
    pub received_at: DateTime<Utc>,
    pub delivered_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub channel: Channel,
    pub tier: String,
    pub period_start: DateTime<Utc>,
    pub count: i64,
    pub median_seconds: i64,
    pub p90_seconds: i64,
}

/// The nearest-rank percentile of sorted values (p in 1..=100).
fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Groups deliveries by channel, tier and period; rows in that order.
pub fn summarize(orders: &[Delivered], period: Period, offset: FixedOffset) -> Vec<Row> {
    let mut groups: BTreeMap<(Channel, String, DateTime<Utc>), Vec<i64>> = BTreeMap::new();
    for o in orders {
        let seconds = (o.delivered_at - o.received_at).num_seconds().max(0);
        groups
            .entry((
                o.channel,
                o.tier.clone(),
                period_start(o.received_at, period, offset),
            ))
            .or_default()
            .push(seconds);
    }
    groups
        .into_iter()
        .map(|((channel, tier, period_start), mut seconds)| {
            seconds.sort_unstable();
            Row {
                channel,
                tier,
                period_start,
                count: seconds.len() as i64,
                median_seconds: percentile(&seconds, 50),
                p90_seconds: percentile(&seconds, 90),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn shanghai() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    #[test]
    fn ot10_median_and_p90_by_nearest_rank() {
        let values: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&values, 50), 5);
        assert_eq!(percentile(&values, 90), 9);
        assert_eq!(percentile(&[7], 90), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn ot10_groups_by_channel_tier_and_local_period() {
        let order = |channel, tier: &str, received: &str, hours: i64| Delivered {
            channel,
            tier: tier.into(),
            received_at: at(received),
            delivered_at: at(received) + Duration::hours(hours),
        };
        let orders = vec![
            order(Channel::Counter, "large", "2026-11-02T01:00:00Z", 10),
            order(Channel::Counter, "large", "2026-11-02T02:00:00Z", 20),
            order(Channel::Counter, "large", "2026-11-02T03:00:00Z", 30),
            // 17:00 UTC is already the next day in Shanghai.
            order(Channel::Counter, "large", "2026-11-02T17:00:00Z", 5),
            order(Channel::Phone, "large", "2026-11-02T01:00:00Z", 1),
            order(Channel::Counter, "small", "2026-11-02T01:00:00Z", 2),
        ];
        let rows = summarize(&orders, Period::Day, shanghai());
        assert_eq!(rows.len(), 4);
        let first = &rows[0];
        assert_eq!(
            (first.channel, first.tier.as_str(), first.count),
            (Channel::Counter, "large", 3)
        );
        assert_eq!(
            first.period_start,
            at("2026-11-01T16:00:00Z"),
            "local midnight of 2 Nov"
        );
        assert_eq!(first.median_seconds, 20 * 3600);
        assert_eq!(first.p90_seconds, 30 * 3600);
        let monthly = summarize(&orders, Period::Month, shanghai());
        assert_eq!(
            monthly
                .iter()
                .find(|r| r.channel == Channel::Counter && r.tier == "large")
                .unwrap()
                .count,
            4
        );
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-28 is a Saturday.
        let start = period_start(at("2026-11-28T12:00:00Z"), Period::Week, shanghai());
        assert_eq!(start, at("2026-11-22T16:00:00Z"));
    }
}
