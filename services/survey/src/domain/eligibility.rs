//! SV-3: who may be asked now. A customer who opted out is never surveyed; one invited within
//! the quiet period (30 days) is not asked again, whatever the channel or trigger. A survey
//! refused for either reason is logged as skipped, never queued.

use chrono::{DateTime, Duration, Utc};

use super::SkipReason;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Invite,
    Skip {
        reason: SkipReason,
        /// For the quiet period: when the customer may be asked again.
        quiet_until: Option<DateTime<Utc>>,
    },
}

/// Whether a customer may be invited at `now`.
pub fn decide(
    opted_out: bool,
    last_invited: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    quiet_period: Duration,
) -> Decision {
    if opted_out {
        return Decision::Skip {
            reason: SkipReason::OptedOut,
            quiet_until: None,
        };
    }
    match last_invited.map(|t| t + quiet_period) {
        Some(until) if now < until => Decision::Skip {
            reason: SkipReason::QuietPeriod,
            quiet_until: Some(until),
        },
        _ => Decision::Invite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sv3_the_quiet_period_and_the_opt_out_hold() {
        let now = Utc::now();
        let quiet = Duration::days(30);
        assert_eq!(decide(false, None, now, quiet), Decision::Invite);
        let asked = now - Duration::days(10);
        assert_eq!(
            decide(false, Some(asked), now, quiet),
            Decision::Skip {
                reason: SkipReason::QuietPeriod,
                quiet_until: Some(asked + quiet),
            }
        );
        assert_eq!(
            decide(false, Some(now - quiet), now, quiet),
            Decision::Invite,
            "the period is over at its end"
        );
        assert!(matches!(
            decide(true, None, now, quiet),
            Decision::Skip {
                reason: SkipReason::OptedOut,
                ..
            }
        ));
    }
}
