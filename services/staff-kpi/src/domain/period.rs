//! SK-3: assessment periods are local calendar months ("2026-11") and quarters ("2026-Q4");
//! a formula's date ("2026-12-01") is a local day. Bounds are UTC instants at the configured
//! offset, the end excluded.

use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, TimeZone as _, Utc};

use super::{PeriodKind, PeriodState, Refusal, invalid};

/// A period as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// The label.
    pub id: String,
    pub kind: PeriodKind,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub state: PeriodState,
    pub closed_at: Option<DateTime<Utc>>,
    pub staff_count: i64,
    pub assessed_count: i64,
}

impl Period {
    /// A new open period from its kind and label.
    pub fn open(kind: PeriodKind, label: &str, offset: FixedOffset) -> Result<Period, Refusal> {
        let label = label.trim();
        let (first, next) = bounds(kind, label).ok_or_else(|| {
            invalid(
                "period.label",
                match kind {
                    PeriodKind::Monthly => "a month as YYYY-MM, e.g. 2026-11",
                    PeriodKind::Quarterly => "a quarter as YYYY-Qn, e.g. 2026-Q4",
                },
            )
        })?;
        Ok(Period {
            id: label.to_owned(),
            kind,
            start: local_midnight(first, offset),
            end: local_midnight(next, offset),
            state: PeriodState::Open,
            closed_at: None,
            staff_count: 0,
            assessed_count: 0,
        })
    }

    /// Facts received before this count: everything while open, what had arrived at the
    /// close after.
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.closed_at.unwrap_or(now)
    }

    /// SK-3: closing starts the final assessments; only after the period's end.
    pub fn close(&mut self, now: DateTime<Utc>, staff_count: i64) -> Result<(), Refusal> {
        if self.state != PeriodState::Open {
            return Err(Refusal::Precondition(format!(
                "period {} is already {}",
                self.id, self.state
            )));
        }
        if now < self.end {
            return Err(Refusal::Precondition(format!(
                "period {} ends at {}; it can be closed from then on",
                self.id,
                self.end.to_rfc3339()
            )));
        }
        self.state = PeriodState::Closing;
        self.closed_at = Some(now);
        self.staff_count = staff_count;
        Ok(())
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// The local first day of the period and of the one after.
fn bounds(kind: PeriodKind, label: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (year, rest) = label.split_once('-')?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let first_month = match kind {
        PeriodKind::Monthly if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) => {
            rest.parse::<u32>().ok().filter(|m| (1..=12).contains(m))?
        }
        PeriodKind::Quarterly => match rest {
            "Q1" => 1,
            "Q2" => 4,
            "Q3" => 7,
            "Q4" => 10,
            _ => return None,
        },
        PeriodKind::Monthly => return None,
    };
    let months = match kind {
        PeriodKind::Monthly => 1,
        PeriodKind::Quarterly => 3,
    };
    let first = NaiveDate::from_ymd_opt(year, first_month, 1)?;
    let next = first.checked_add_months(chrono::Months::new(months))?;
    Some((first, next))
}

/// The instant a local day starts.
pub fn local_midnight(day: NaiveDate, offset: FixedOffset) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    offset
        .from_local_datetime(&midnight)
        .single()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// A local day written "YYYY-MM-DD".
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    (text.len() == 10)
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

/// The local day of an instant.
pub fn local_day(t: DateTime<Utc>, offset: FixedOffset) -> NaiveDate {
    t.with_timezone(&offset).date_naive()
}

/// The label of the local month an instant falls in.
pub fn month_of(t: DateTime<Utc>, offset: FixedOffset) -> String {
    let day = local_day(t, offset);
    format!("{:04}-{:02}", day.year(), day.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn sk3_months_and_quarters_are_local_calendar_periods() {
        let november = Period::open(PeriodKind::Monthly, "2026-11", shanghai()).unwrap();
        assert_eq!(november.start, at("2026-10-31T16:00:00Z"));
        assert_eq!(november.end, at("2026-11-30T16:00:00Z"));
        assert!(november.contains(at("2026-11-30T15:59:59Z")));
        assert!(!november.contains(at("2026-11-30T16:00:00Z")));
        let q4 = Period::open(PeriodKind::Quarterly, "2026-Q4", shanghai()).unwrap();
        assert_eq!(q4.start, at("2026-09-30T16:00:00Z"));
        assert_eq!(q4.end, at("2026-12-31T16:00:00Z"));
        let december = Period::open(PeriodKind::Monthly, "2026-12", shanghai()).unwrap();
        assert_eq!(december.end, at("2026-12-31T16:00:00Z"));
    }

    #[test]
    fn sk3_labels_that_are_not_periods_are_refused() {
        for (kind, label) in [
            (PeriodKind::Monthly, "2026-13"),
            (PeriodKind::Monthly, "2026-1"),
            (PeriodKind::Monthly, "2026-Q4"),
            (PeriodKind::Quarterly, "2026-Q5"),
            (PeriodKind::Quarterly, "2026-11"),
            (PeriodKind::Monthly, "26-11"),
            (PeriodKind::Monthly, ""),
        ] {
            assert!(
                matches!(
                    Period::open(kind, label, shanghai()),
                    Err(Refusal::Invalid(_))
                ),
                "{label}"
            );
        }
    }

    #[test]
    fn sk3_a_period_closes_once_and_only_after_its_end() {
        let mut p = Period::open(PeriodKind::Monthly, "2026-11", shanghai()).unwrap();
        assert!(matches!(
            p.close(at("2026-11-30T15:00:00Z"), 3),
            Err(Refusal::Precondition(_))
        ));
        assert_eq!(
            p.cutoff(at("2026-11-15T00:00:00Z")),
            at("2026-11-15T00:00:00Z")
        );
        p.close(at("2026-12-01T00:00:00Z"), 3).unwrap();
        assert_eq!(p.state, PeriodState::Closing);
        assert_eq!(
            p.cutoff(at("2027-01-01T00:00:00Z")),
            at("2026-12-01T00:00:00Z")
        );
        assert!(matches!(
            p.close(at("2026-12-02T00:00:00Z"), 3),
            Err(Refusal::Precondition(_))
        ));
    }

    #[test]
    fn days_are_written_in_full() {
        assert!(parse_day("2026-12-01").is_some());
        assert!(parse_day("2026-12-1").is_none());
        assert!(parse_day("2026-02-30").is_none());
        assert_eq!(month_of(at("2026-11-30T16:30:00Z"), shanghai()), "2026-12");
    }
}
