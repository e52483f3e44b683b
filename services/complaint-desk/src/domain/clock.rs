//! CD-3: where a case stands against one deadline, computed from its history alone (when the
//! clock started, how much business time it allows, when it was paused, when the work was
//! done) and a calendar. Nothing here is stored: a new calendar or policy gives new standings
//! for every case, with no stale due time left anywhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;

/// A stretch of time the clock stood still; open while it lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// One deadline's history.
#[derive(Clone, Copy, Debug)]
pub struct Clock<'a> {
    pub started: DateTime<Utc>,
    /// Business seconds allowed.
    pub allowed: i64,
    /// Every stop of the case, oldest first; those before `started` do not count.
    pub stops: &'a [Stop],
    /// When the work the deadline is for was done.
    pub done: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    Running,
    Paused,
    Met,
    Breached,
}

/// Where the case stands against the deadline at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub state: DeadlineState,
    /// When it falls (or fell) due; `None` while a stop that began before then lasts.
    pub due: Option<DateTime<Utc>>,
    pub allowed: i64,
    /// Business seconds used, stops excluded, up to the work or the instant asked about.
    pub used: i64,
    /// `allowed - used`: negative once breached.
    pub remaining: i64,
    /// When the warning share of the allowed time is (or was) used.
    pub warning_at: Option<DateTime<Utc>>,
    pub done: Option<DateTime<Utc>>,
    /// When the allowed time ran out, if it ran out before the work was done.
    pub breached_at: Option<DateTime<Utc>>,
}

impl Clock<'_> {
    /// The stops that matter: from the start on, clipped to it.
    fn stops(&self) -> impl Iterator<Item = Stop> + '_ {
        self.stops
            .iter()
            .filter(|s| s.end.is_none_or(|end| end > self.started))
            .map(|s| Stop {
                start: s.start.max(self.started),
                end: s.end,
            })
    }

    /// Business seconds the clock ran from its start to `until`.
    pub fn used(&self, calendar: &Calendar, until: DateTime<Utc>) -> i64 {
        let mut used = calendar.business_seconds(self.started, until);
        for stop in self.stops() {
            let end = stop.end.map_or(until, |end| end.min(until));
            used -= calendar.business_seconds(stop.start, end);
        }
        used.max(0)
    }

    /// The instant `budget` business seconds have run, stops skipped; `None` when a stop
    /// still open began before then.
    pub fn reach(&self, calendar: &Calendar, budget: i64) -> Option<DateTime<Utc>> {
        let mut remaining = budget.max(0);
        let mut cursor = self.started;
        for stop in self.stops() {
            let start = stop.start.max(cursor);
            let available = calendar.business_seconds(cursor, start);
            if available >= remaining {
                return Some(calendar.add_business(cursor, remaining));
            }
            remaining -= available;
            cursor = cursor.max(stop.end?);
        }
        Some(calendar.add_business(cursor, remaining))
    }

    /// Where the case stands at `now`, with the warning at `warning_percent` of the time.
    pub fn standing(
        &self,
        calendar: &Calendar,
        warning_percent: u32,
        now: DateTime<Utc>,
    ) -> Standing {
        let due = self.reach(calendar, self.allowed);
        let warning_at = self.reach(
            calendar,
            self.allowed * i64::from(warning_percent.min(100)) / 100,
        );
        let until = self.done.unwrap_or(now);
        let used = self.used(calendar, until);
        // Done at the due instant is in time; not done by then is late from that instant.
        let late = match self.done {
            Some(done) => due.is_some_and(|due| done > due),
            None => due.is_some_and(|due| now >= due),
        };
        let paused = self.stops().any(|s| s.end.is_none());
        let state = match (self.done, late) {
            (_, true) => DeadlineState::Breached,
            (Some(_), false) => DeadlineState::Met,
            (None, false) if paused => DeadlineState::Paused,
            (None, false) => DeadlineState::Running,
        };
        Standing {
            state,
            due,
            allowed: self.allowed,
            used,
            remaining: self.allowed - used,
            warning_at,
            done: self.done,
            breached_at: if state == DeadlineState::Breached {
                due
            } else {
                None
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::super::calendar::tests::{local, office};
    use super::*;

    const HOUR: i64 = 3600;

    #[test]
    fn cd3_a_stop_moves_the_due_time_by_the_business_time_it_took() {
        let cal = office();
        // Monday 09:00, 8 working hours: due at 18:00 the same day.
        let started = local(2026, 11, 30, 9, 0);
        let none = Clock {
            started,
            allowed: 8 * HOUR,
            stops: &[],
            done: None,
        };
        assert_eq!(none.reach(&cal, 8 * HOUR), Some(local(2026, 11, 30, 18, 0)));
        // Waiting on the customer from 10:00 to 14:00 (3 working hours): due at 12:00 Tuesday.
        let stops = [Stop {
            start: local(2026, 11, 30, 10, 0),
            end: Some(local(2026, 11, 30, 14, 0)),
        }];
        let paused_once = Clock {
            stops: &stops,
            ..none
        };
        let standing = paused_once.standing(&cal, 80, local(2026, 11, 30, 15, 0));
        assert_eq!(standing.due, Some(local(2026, 12, 1, 12, 0)));
        assert_eq!(standing.state, DeadlineState::Running);
        assert_eq!(standing.used, 2 * HOUR, "09-10 and 14-15");
        // Warning at 80%: 6.4 hours in (1 before the stop, 4 after it on Monday), Tuesday
        // 10:24.
        assert_eq!(standing.warning_at, Some(local(2026, 12, 1, 10, 24)));
        // Still waiting: no due time, the clock shows paused.
        let open = [Stop {
            start: local(2026, 11, 30, 10, 0),
            end: None,
        }];
        let waiting = Clock {
            stops: &open,
            ..none
        };
        let standing = waiting.standing(&cal, 80, local(2026, 12, 3, 9, 0));
        assert_eq!(standing.state, DeadlineState::Paused);
        assert_eq!(standing.due, None);
        assert_eq!(standing.used, HOUR);
    }

    #[test]
    fn cd3_work_done_in_time_is_met_late_work_is_breached_with_its_breach_time() {
        let cal = office();
        let started = local(2026, 11, 30, 9, 0);
        let clock = |done| Clock {
            started,
            allowed: 2 * HOUR,
            stops: &[],
            done,
        };
        let met =
            clock(Some(local(2026, 11, 30, 10, 59))).standing(&cal, 80, local(2026, 12, 9, 0, 0));
        assert_eq!(met.state, DeadlineState::Met);
        assert_eq!(met.breached_at, None);
        let late =
            clock(Some(local(2026, 11, 30, 11, 30))).standing(&cal, 80, local(2026, 12, 9, 0, 0));
        assert_eq!(late.state, DeadlineState::Breached);
        assert_eq!(late.breached_at, Some(local(2026, 11, 30, 11, 0)));
        assert_eq!(late.remaining, -30 * 60);
        let open = clock(None).standing(&cal, 80, local(2026, 11, 30, 11, 0));
        assert_eq!(open.state, DeadlineState::Breached, "due at 11:00 exactly");
        let before = clock(None).standing(&cal, 80, local(2026, 11, 30, 10, 59));
        assert_eq!(before.state, DeadlineState::Running);
        // A stop that starts after the deadline passed does not hide the breach.
        let stops = [Stop {
            start: local(2026, 11, 30, 15, 0),
            end: None,
        }];
        let paused_late = Clock {
            stops: &stops,
            ..clock(None)
        };
        let standing = paused_late.standing(&cal, 80, local(2026, 11, 30, 16, 0));
        assert_eq!(standing.state, DeadlineState::Breached);
        assert_eq!(standing.due, Some(local(2026, 11, 30, 11, 0)));
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..21 * 86_400).prop_map(|s| local(2026, 12, 20, 0, 0) + Duration::seconds(s))
    }

    fn stops() -> impl Strategy<Value = Vec<Stop>> {
        proptest::collection::vec((instant(), 0i64..3 * 86_400), 0..4).prop_map(|raw| {
            // Disjoint and in order, as a case records them.
            let mut raw = raw;
            raw.sort();
            let mut stops: Vec<Stop> = Vec::new();
            for (start, length) in raw {
                let start = stops
                    .last()
                    .and_then(|s| s.end)
                    .map_or(start, |end| start.max(end));
                stops.push(Stop {
                    start,
                    end: Some(start + Duration::seconds(length)),
                });
            }
            stops
        })
    }

    proptest! {
        #[test]
        fn cd3_stops_only_ever_push_a_deadline_later_and_it_is_never_before_the_start(
            started in instant(),
            allowed in 0i64..60 * HOUR,
            stops in stops(),
        ) {
            let cal = office();
            let plain = Clock { started, allowed, stops: &[], done: None };
            let paused = Clock { stops: &stops, ..plain };
            let (Some(plain_due), Some(paused_due)) =
                (plain.reach(&cal, allowed), paused.reach(&cal, allowed))
            else {
                return Err(TestCaseError::fail("closed stops never hide the due time"));
            };
            prop_assert!(plain_due >= started);
            prop_assert!(paused_due >= plain_due);
            // At the due time exactly the allowed time is used, stops excluded.
            prop_assert_eq!(paused.used(&cal, paused_due), allowed);
        }

        #[test]
        fn cd3_more_allowed_time_never_falls_due_sooner_with_stops(
            started in instant(),
            a in 0i64..60 * HOUR,
            b in 0i64..60 * HOUR,
            stops in stops(),
        ) {
            let cal = office();
            let clock = Clock { started, allowed: 0, stops: &stops, done: None };
            prop_assert!(clock.reach(&cal, a.min(b)) <= clock.reach(&cal, a.max(b)));
        }
    }
}
