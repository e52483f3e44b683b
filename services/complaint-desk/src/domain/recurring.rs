//! CD-10: a root cause that recurs above a threshold within one local period is flagged for
//! improvement, once per cause and period.

use chrono::{DateTime, FixedOffset, Utc};
use kefu_platform::time::{Period, period_end, period_start};

/// The rule as settings give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recurrence {
    /// Occurrences in one period that raise the flag.
    pub threshold: u32,
    pub period: Period,
    pub offset: FixedOffset,
}

impl Recurrence {
    /// The period an investigation recorded at `t` counts in.
    pub fn period_of(&self, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = period_start(t, self.period, self.offset);
        (start, period_end(start, self.period, self.offset))
    }

    /// Whether `occurrences` in one period call for the flag.
    pub fn recurs(&self, occurrences: i64) -> bool {
        occurrences >= i64::from(self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cd10_a_cause_recurs_at_the_threshold_within_one_local_month() {
        let rule = Recurrence {
            threshold: 3,
            period: Period::Month,
            offset: FixedOffset::east_opt(8 * 3600).unwrap(),
        };
        assert!(!rule.recurs(2));
        assert!(rule.recurs(3));
        // 2026-11-30 20:00 UTC is already December in Shanghai.
        let t = DateTime::parse_from_rfc3339("2026-11-30T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (start, end) = rule.period_of(t);
        assert_eq!(start.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-31T16:00:00+00:00");
    }
}
