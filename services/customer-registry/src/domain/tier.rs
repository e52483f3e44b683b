//! CR-2: a customer's tier from facts, never typed in: uses in a calendar month for personal
//! customers, logistics spend over a rolling year for enterprises, the registered level for
//! government and institution customers. Thresholds are settings; these are the rules.

use chrono::{DateTime, Utc};

use super::{GovernmentLevel, Kind, Refusal, Tier, invalid};

/// The thresholds of CR-2 (settings; the seed's values are the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierRules {
    /// A personal customer is `frequent` from this many uses in a calendar month.
    pub frequent_min_monthly_uses: u32,
    /// An enterprise is `medium` from this annual spend, in fen.
    pub medium_min_annual_spend_fen: i64,
    /// An enterprise is `large` from this annual spend, in fen.
    pub large_min_annual_spend_fen: i64,
}

impl Default for TierRules {
    /// The seed's thresholds: 3 uses a month; 100,000 and 500,000 CNY a year.
    fn default() -> Self {
        Self {
            frequent_min_monthly_uses: 3,
            medium_min_annual_spend_fen: 100_000 * 100,
            large_min_annual_spend_fen: 500_000 * 100,
        }
    }
}

/// What a tier is computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageFacts {
    /// Uses in the busier of the current and the previous calendar month (in the configured
    /// time zone): a month of 3 uses makes a customer frequent through the month after it,
    /// not only until the month ends.
    pub monthly_uses: u32,
    /// The month those uses are from, as YYYYMM; 0 when not known.
    pub month: u32,
    /// Logistics spend over the last 365 days, in fen.
    pub annual_spend_fen: i64,
}

impl UsageFacts {
    fn month_label(&self) -> String {
        match self.month {
            0 => "this month".to_owned(),
            m => format!("in {}-{:02}", m / 100, m % 100),
        }
    }
}

/// The tier the facts give, and the facts that gave it, in words for the tier history.
pub fn tier_for(
    kind: Kind,
    level: Option<GovernmentLevel>,
    facts: UsageFacts,
    rules: &TierRules,
) -> (Tier, String) {
    match kind {
        Kind::Personal => {
            let tier = if facts.monthly_uses >= rules.frequent_min_monthly_uses {
                Tier::Frequent
            } else {
                Tier::Occasional
            };
            (
                tier,
                format!(
                    "{} uses {} (frequent from {})",
                    facts.monthly_uses,
                    facts.month_label(),
                    rules.frequent_min_monthly_uses
                ),
            )
        }
        Kind::Enterprise => {
            let tier = if facts.annual_spend_fen >= rules.large_min_annual_spend_fen {
                Tier::Large
            } else if facts.annual_spend_fen >= rules.medium_min_annual_spend_fen {
                Tier::Medium
            } else {
                Tier::Small
            };
            (
                tier,
                format!("annual logistics spend {}", yuan(facts.annual_spend_fen)),
            )
        }
        Kind::Government => {
            let tier = super::initial_tier(kind, level);
            let level = level.map_or("unregistered", GovernmentLevel::code);
            (tier, format!("registered level {level}"))
        }
    }
}

/// One change of tier with the reason and facts behind it (CR-2's history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierChange {
    pub customer_id: String,
    pub old: Tier,
    pub new: Tier,
    pub reason: String,
    /// A manager's override (or its removal), not the facts.
    pub manual: bool,
    /// A staff id, or "system".
    pub actor_id: String,
    pub facts: UsageFacts,
    pub at: DateTime<Utc>,
}

/// What a manager asks of a customer's tier (CR-2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierOverride {
    /// Set this tier, for this reason.
    Set(Tier, String),
    /// Hand the tier back to the facts, for this reason (may be empty).
    Clear(String),
}

const MAX_OVERRIDE_REASON: usize = 500;

impl TierOverride {
    /// A manager's override must fit the customer's kind and say why; the reason it records.
    pub fn check(&self, kind: Kind) -> Result<(Tier, String), Refusal> {
        let TierOverride::Set(tier, reason) = self else {
            return Err(invalid("tier", "an override clears nothing to set"));
        };
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_OVERRIDE_REASON {
            return Err(invalid(
                "reason",
                format!(
                    "required: why the facts do not decide (at most {MAX_OVERRIDE_REASON} characters)"
                ),
            ));
        }
        if !fits(kind, *tier) {
            return Err(invalid(
                "tier",
                format!("not a tier of a {} customer", kind.code()),
            ));
        }
        Ok((*tier, format!("manual override: {reason}")))
    }
}

/// What clearing an override records: the manager's reason, when one is given, then the facts
/// that decide the tier from now on.
pub fn clearing_reason(reason: &str, facts: &str) -> Result<String, Refusal> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_OVERRIDE_REASON {
        return Err(invalid(
            "reason",
            format!("at most {MAX_OVERRIDE_REASON} characters"),
        ));
    }
    Ok(if reason.is_empty() {
        format!("override cleared; {facts}")
    } else {
        format!("override cleared: {reason}; {facts}")
    })
}

/// Whether `tier` is one a customer of `kind` can have (a manager's override must be).
pub fn fits(kind: Kind, tier: Tier) -> bool {
    match kind {
        Kind::Personal => matches!(tier, Tier::Frequent | Tier::Occasional),
        Kind::Enterprise => matches!(tier, Tier::Large | Tier::Medium | Tier::Small),
        Kind::Government => matches!(
            tier,
            Tier::GovernmentA | Tier::GovernmentB | Tier::GovernmentC
        ),
    }
}

/// "1234.50 CNY" from fen.
pub(crate) fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02} CNY", fen / 100, fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn personal(uses: u32) -> Tier {
        tier_for(
            Kind::Personal,
            None,
            UsageFacts {
                monthly_uses: uses,
                ..Default::default()
            },
            &TierRules::default(),
        )
        .0
    }

    fn enterprise(cny: i64) -> Tier {
        tier_for(
            Kind::Enterprise,
            None,
            UsageFacts {
                annual_spend_fen: cny * 100,
                ..Default::default()
            },
            &TierRules::default(),
        )
        .0
    }

    /// CR-2 at every boundary of the seed's thresholds.
    #[test]
    fn cr2_personal_customers_are_frequent_from_three_uses_a_month() {
        for (uses, tier) in [
            (0, Tier::Occasional),
            (2, Tier::Occasional),
            (3, Tier::Frequent),
            (4, Tier::Frequent),
        ] {
            assert_eq!(personal(uses), tier, "{uses} uses");
        }
    }

    #[test]
    fn cr2_enterprises_by_annual_spend() {
        let cases = [
            (0, Tier::Small),
            (99_999, Tier::Small),
            (100_000, Tier::Medium),
            (499_999, Tier::Medium),
            (500_000, Tier::Large),
            (2_000_000, Tier::Large),
        ];
        for (cny, tier) in cases {
            assert_eq!(enterprise(cny), tier, "{cny} CNY");
        }
        // One fen below a threshold is below it.
        let just_below = UsageFacts {
            annual_spend_fen: 100_000 * 100 - 1,
            ..Default::default()
        };
        assert_eq!(
            tier_for(Kind::Enterprise, None, just_below, &TierRules::default()).0,
            Tier::Small
        );
    }

    #[test]
    fn cr2_government_customers_by_registered_level_whatever_they_spend() {
        let lots = UsageFacts {
            monthly_uses: 99,
            month: 202611,
            annual_spend_fen: i64::MAX / 2,
        };
        let tier = |level| tier_for(Kind::Government, Some(level), lots, &TierRules::default()).0;
        assert_eq!(tier(GovernmentLevel::National), Tier::GovernmentA);
        assert_eq!(tier(GovernmentLevel::Provincial), Tier::GovernmentB);
        assert_eq!(tier(GovernmentLevel::Prefecture), Tier::GovernmentC);
    }

    #[test]
    fn cr2_overrides_stay_within_the_kinds_tiers() {
        assert!(fits(Kind::Personal, Tier::Frequent));
        assert!(!fits(Kind::Personal, Tier::Large));
        assert!(fits(Kind::Enterprise, Tier::Medium));
        assert!(!fits(Kind::Enterprise, Tier::GovernmentA));
        assert!(fits(Kind::Government, Tier::GovernmentC));
        assert!(!fits(Kind::Government, Tier::Occasional));
    }

    #[test]
    fn cr2_thresholds_are_settings_and_reasons_name_the_facts() {
        let rules = TierRules {
            frequent_min_monthly_uses: 5,
            ..TierRules::default()
        };
        let facts = UsageFacts {
            monthly_uses: 4,
            month: 202611,
            annual_spend_fen: 0,
        };
        let (tier, reason) = tier_for(Kind::Personal, None, facts, &rules);
        assert_eq!(tier, Tier::Occasional);
        assert_eq!(reason, "4 uses in 2026-11 (frequent from 5)");
        let (_, reason) = tier_for(
            Kind::Enterprise,
            None,
            UsageFacts {
                annual_spend_fen: 12_345_678,
                ..Default::default()
            },
            &rules,
        );
        assert_eq!(reason, "annual logistics spend 123456.78 CNY");
    }

    #[test]
    fn cr2_clearing_an_override_records_the_reason_then_the_facts() {
        assert_eq!(
            clearing_reason("  ", "0 uses").unwrap(),
            "override cleared; 0 uses"
        );
        assert_eq!(
            clearing_reason("moved office", "0 uses").unwrap(),
            "override cleared: moved office; 0 uses"
        );
        assert!(clearing_reason(&"x".repeat(501), "0 uses").is_err());
    }
}
