//! Times on the wire: `google.protobuf.Timestamp` to and from UTC times, the same way in every
//! service.

use chrono::{DateTime, Utc};

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
