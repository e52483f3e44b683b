//! CD-3: business time. A calendar says when the department works: hours per weekday in one
//! local time, holidays off, and make-up working days (调休: a weekend day worked in exchange
//! for a holiday) with Monday's hours. Deadlines are counted in the seconds it works.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Timelike as _, Utc,
};
use serde::{Deserialize, Serialize};

/// A calendar as settings write it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Local time of the hours and dates, in minutes east of UTC (Asia/Shanghai: 480).
    pub utc_offset_minutes: i32,
    /// Working hours per weekday ("mon" .. "sun"), e.g. `["09:00-12:00", "13:00-18:00"]`.
    /// A day that is missing or empty is off.
    pub working_hours: std::collections::BTreeMap<String, Vec<String>>,
    /// Days off ("2027-01-01").
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Days worked that would be off, with Monday's hours.
    #[serde(default)]
    pub make_up_days: Vec<String>,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Long enough for any deadline, short enough that a pathological calendar cannot spin.
const MAX_DAYS_SEARCHED: i64 = 3660;

/// A checked calendar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    offset: FixedOffset,
    /// Working intervals per weekday (Monday first), seconds after local midnight, ascending
    /// and disjoint.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
    make_up_days: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// The calendar `spec` describes, or what is wrong with it, each problem naming its key.
    pub fn new(spec: &CalendarSpec) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let offset = FixedOffset::east_opt(spec.utc_offset_minutes * 60);
        if offset.is_none() || !(-720..=840).contains(&spec.utc_offset_minutes) {
            problems.push((
                "utc_offset_minutes".to_owned(),
                "from -720 to 840".to_owned(),
            ));
        }
        for day in spec.working_hours.keys() {
            if !WEEKDAYS.contains(&day.as_str()) {
                problems.push((
                    format!("working_hours.{day}"),
                    "a weekday: mon, tue, wed, thu, fri, sat or sun".to_owned(),
                ));
            }
        }
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (i, day) in WEEKDAYS.iter().enumerate() {
            let Some(ranges) = spec.working_hours.get(*day) else {
                continue;
            };
            let key = format!("working_hours.{day}");
            match parse_ranges(ranges) {
                Ok(parsed) => week[i] = parsed,
                Err(problem) => problems.push((key, problem)),
            }
        }
        if week.iter().all(Vec::is_empty) {
            problems.push((
                "working_hours".to_owned(),
                "at least one weekday must have working hours".to_owned(),
            ));
        }
        let mut dates = |key: &str, values: &[String]| -> BTreeSet<NaiveDate> {
            let mut set = BTreeSet::new();
            for (i, value) in values.iter().enumerate() {
                match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                    Ok(date) => {
                        set.insert(date);
                    }
                    Err(_) => problems.push((format!("{key}[{i}]"), "a date as YYYY-MM-DD".into())),
                }
            }
            set
        };
        let holidays = dates("holidays", &spec.holidays);
        let make_up_days = dates("make_up_days", &spec.make_up_days);
        if let Some(both) = holidays.intersection(&make_up_days).next() {
            problems.push((
                "make_up_days".to_owned(),
                format!("{both} is also a holiday"),
            ));
        }
        match offset {
            Some(offset) if problems.is_empty() => Ok(Self {
                offset,
                week,
                holidays,
                make_up_days,
            }),
            _ => Err(problems),
        }
    }

    /// The working intervals of a local date.
    fn hours_on(&self, date: NaiveDate) -> &[(u32, u32)] {
        if self.holidays.contains(&date) {
            &[]
        } else if self.make_up_days.contains(&date) {
            &self.week[0]
        } else {
            &self.week[date.weekday().num_days_from_monday() as usize]
        }
    }

    /// The instant a local date begins.
    fn midnight(&self, date: NaiveDate) -> DateTime<Utc> {
        let local = date.and_time(NaiveTime::MIN);
        // A fixed offset maps every local time to exactly one instant.
        self.offset
            .from_local_datetime(&local)
            .single()
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.offset).date_naive()
    }

    /// The working intervals of each local day from the one holding `from`, as instants.
    fn working_intervals(
        &self,
        from: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let first = self.local_date(from);
        (0..MAX_DAYS_SEARCHED).flat_map(move |n| {
            let date = first + Duration::days(n);
            let midnight = self.midnight(date);
            self.hours_on(date).iter().map(move |&(start, end)| {
                (
                    midnight + Duration::seconds(i64::from(start)),
                    midnight + Duration::seconds(i64::from(end)),
                )
            })
        })
    }

    /// Working seconds in `[from, to)`; 0 when `to` is not after `from`.
    pub fn business_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        for (start, end) in self.working_intervals(from) {
            if start >= to {
                break;
            }
            let (a, b) = (start.max(from), end.min(to));
            if b > a {
                total += (b - a).num_seconds();
            }
        }
        total
    }

    /// The earliest instant at which `seconds` of working time have passed since `from`;
    /// `from` itself for zero.
    pub fn add_business(&self, from: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
        if seconds <= 0 {
            return from;
        }
        let mut remaining = seconds;
        let mut last = from;
        for (start, end) in self.working_intervals(from) {
            let a = start.max(from);
            if end <= a {
                continue;
            }
            let available = (end - a).num_seconds();
            if available >= remaining {
                return a + Duration::seconds(remaining);
            }
            remaining -= available;
            last = end;
        }
        last
    }

    /// The local offset of its dates and hours.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }
}

/// "09:00-12:00" ranges as seconds after midnight, ascending and disjoint.
fn parse_ranges(ranges: &[String]) -> Result<Vec<(u32, u32)>, String> {
    let mut parsed = Vec::new();
    for range in ranges {
        let bad = || format!("{range:?} is not a range like \"09:00-18:00\"");
        let (start, end) = range.split_once('-').ok_or_else(bad)?;
        let seconds = |s: &str| -> Option<u32> {
            if s.trim() == "24:00" {
                return Some(86_400);
            }
            let time = NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()?;
            Some(time.num_seconds_from_midnight())
        };
        let (Some(start), Some(end)) = (seconds(start), seconds(end)) else {
            return Err(bad());
        };
        if end <= start {
            return Err(format!("{range:?} ends before it starts"));
        }
        parsed.push((start, end));
    }
    parsed.sort_unstable();
    if parsed.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err("ranges overlap".to_owned());
    }
    Ok(parsed)
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone as _;
    use proptest::prelude::*;

    use super::*;

    /// Monday to Friday 09:00-12:00 and 13:00-18:00 in Asia/Shanghai, New Year's Day off,
    /// Sunday 2026-12-27 worked.
    pub(crate) fn office() -> Calendar {
        let day = vec!["09:00-12:00".to_owned(), "13:00-18:00".to_owned()];
        let spec = CalendarSpec {
            utc_offset_minutes: 480,
            working_hours: ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|d| ((*d).to_owned(), day.clone()))
                .collect(),
            holidays: vec!["2027-01-01".into()],
            make_up_days: vec!["2026-12-27".into()],
        };
        Calendar::new(&spec).unwrap()
    }

    /// Local Asia/Shanghai time.
    pub(crate) fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    const HOUR: i64 = 3600;

    #[test]
    fn cd3_deadlines_skip_nights_lunch_weekends_and_holidays() {
        let cal = office();
        // Thursday 2026-12-31 17:00 plus 2 working hours: Thursday 17-18, New Year's Day off,
        // the weekend off, so Monday 2027-01-04 10:00.
        assert_eq!(
            cal.add_business(local(2026, 12, 31, 17, 0), 2 * HOUR),
            local(2027, 1, 4, 10, 0)
        );
        // Over lunch: Monday 11:30 plus 1 hour is 13:30.
        assert_eq!(
            cal.add_business(local(2026, 11, 30, 11, 30), HOUR),
            local(2026, 11, 30, 13, 30)
        );
        // Registered at night: the clock starts at 09:00.
        assert_eq!(
            cal.add_business(local(2026, 11, 30, 22, 0), HOUR),
            local(2026, 12, 1, 10, 0)
        );
        // Saturday 2026-12-26 counts nothing, the make-up Sunday counts Monday's hours.
        assert_eq!(
            cal.business_seconds(local(2026, 12, 26, 0, 0), local(2026, 12, 28, 0, 0)),
            8 * HOUR
        );
        assert_eq!(
            cal.business_seconds(local(2026, 12, 31, 0, 0), local(2027, 1, 2, 0, 0)),
            8 * HOUR,
            "Thursday counts, New Year's Day does not"
        );
        // Exactly at the end of a day's hours, not the next morning.
        assert_eq!(
            cal.add_business(local(2026, 11, 30, 9, 0), 8 * HOUR),
            local(2026, 11, 30, 18, 0)
        );
        assert_eq!(
            cal.add_business(local(2026, 11, 30, 22, 0), 0),
            local(2026, 11, 30, 22, 0)
        );
    }

    #[test]
    fn cd3_a_bad_calendar_names_every_bad_key() {
        let spec = CalendarSpec {
            utc_offset_minutes: 2000,
            working_hours: [
                ("mon".to_owned(), vec!["18:00-09:00".to_owned()]),
                ("funday".to_owned(), vec![]),
            ]
            .into_iter()
            .collect(),
            holidays: vec!["2027-13-01".into()],
            make_up_days: vec![],
        };
        let problems = Calendar::new(&spec).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        for key in [
            "utc_offset_minutes",
            "working_hours.funday",
            "working_hours.mon",
            "working_hours",
            "holidays[0]",
        ] {
            assert!(keys.contains(&key), "{key} in {problems:?}");
        }
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        // Four weeks around the New Year, to the second.
        (0i64..28 * 86_400).prop_map(|s| local(2026, 12, 20, 0, 0) + Duration::seconds(s))
    }

    proptest! {
        #[test]
        fn cd3_adding_business_time_lands_exactly_that_far_and_never_before_the_start(
            start in instant(),
            seconds in 0i64..200 * HOUR,
        ) {
            let cal = office();
            let due = cal.add_business(start, seconds);
            prop_assert!(due >= start);
            prop_assert_eq!(cal.business_seconds(start, due), seconds);
            // And not later than needed: a second earlier is short (unless it is the start).
            if seconds > 0 {
                prop_assert!(cal.business_seconds(start, due - Duration::seconds(1)) < seconds);
            }
        }

        #[test]
        fn cd3_more_allowed_time_never_falls_due_sooner(
            start in instant(),
            a in 0i64..100 * HOUR,
            b in 0i64..100 * HOUR,
        ) {
            let cal = office();
            let (less, more) = (a.min(b), a.max(b));
            prop_assert!(cal.add_business(start, less) <= cal.add_business(start, more));
        }

        #[test]
        fn cd3_business_time_adds_up_over_any_split(
            a in instant(),
            b in instant(),
            c in instant(),
        ) {
            let cal = office();
            let mut t = [a, b, c];
            t.sort();
            prop_assert_eq!(
                cal.business_seconds(t[0], t[2]),
                cal.business_seconds(t[0], t[1]) + cal.business_seconds(t[1], t[2])
            );
        }
    }
}
