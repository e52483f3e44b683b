//! Times on the wire: `google.protobuf.Timestamp` to and from UTC times, the same way in every
//! service; and the local days, weeks and months reports group by.

use chrono::{DateTime, Datelike as _, Duration, FixedOffset, Months, TimeZone as _, Utc};

/// A report's period length, counted in local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Day,
    /// Monday to Sunday.
    Week,
    Month,
}

/// Start of the period holding `t`, in local time at `offset`.
pub fn period_start(t: DateTime<Utc>, period: Period, offset: FixedOffset) -> DateTime<Utc> {
    let local = t.with_timezone(&offset).date_naive();
    let day = match period {
        Period::Day => local,
        Period::Week => local - Duration::days(i64::from(local.weekday().num_days_from_monday())),
        Period::Month => local.with_day(1).unwrap_or(local),
    };
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    offset
        .from_local_datetime(&midnight)
        .single()
        .map_or(t, |l| l.with_timezone(&Utc))
}

/// Start of the period after the one starting at `start` (itself a period start).
pub fn period_end(start: DateTime<Utc>, period: Period, offset: FixedOffset) -> DateTime<Utc> {
    match period {
        Period::Day => start + Duration::days(1),
        Period::Week => start + Duration::days(7),
        Period::Month => {
            let local = start.with_timezone(&offset);
            local
                .checked_add_months(Months::new(1))
                .map_or(start + Duration::days(31), |l| l.with_timezone(&Utc))
        }
    }
}

/// To the microsecond, the finest time PostgreSQL keeps, so a time reads back as it was
/// written.
pub fn to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: (t.timestamp_subsec_micros() * 1000) as i32,
    }
}

/// `None` for a timestamp no UTC time has (nanos out of range, or out of chrono's years).
pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_local_midnight_and_months_end_at_the_next_month() {
        let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
        // 2026-11-30 23:30 in Shanghai is 15:30 UTC: a Monday, the last day of November.
        let t = DateTime::parse_from_rfc3339("2026-11-30T15:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let day = period_start(t, Period::Day, shanghai);
        assert_eq!(day.to_rfc3339(), "2026-11-29T16:00:00+00:00");
        assert_eq!(period_start(t, Period::Week, shanghai), day, "a Monday");
        let month = period_start(t, Period::Month, shanghai);
        assert_eq!(month.to_rfc3339(), "2026-10-31T16:00:00+00:00");
        assert_eq!(
            period_end(month, Period::Month, shanghai).to_rfc3339(),
            "2026-11-30T16:00:00+00:00"
        );
        assert_eq!(
            period_end(day, Period::Week, shanghai) - day,
            Duration::days(7)
        );
    }

    #[test]
    fn times_round_trip_to_the_microsecond_and_nonsense_is_none() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T10:41:32.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let back = from_timestamp(&to_timestamp(t)).unwrap();
        assert_eq!(back.to_rfc3339(), "2026-11-30T10:41:32.123456+00:00");
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(from_timestamp(&bad).is_none());
    }
}
