//! OT-3: the price of an order from its chargeable weight, distance band, service level and
//! special cargo, in integer fen, with every part shown.

use std::collections::BTreeMap;

use kefu_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::{CargoLine, Money, Price, ServiceLevel, Surcharge};

/// OT-3's rate table.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateTable {
    pub currency: String,
    pub volumetric_divisor: u64,
    /// "economy", "standard", "express" -> percent.
    pub service_level_percent: BTreeMap<String, u32>,
    pub bands: Vec<DistanceBand>,
    /// Special-cargo kind -> surcharge.
    pub surcharges: BTreeMap<String, SurchargeRule>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DistanceBand {
    pub name: String,
    pub max_km: u32,
    pub base_fen: i64,
    pub per_kg_fen: i64,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct SurchargeRule {
    pub percent: u32,
    pub fixed_fen: i64,
    pub declared_value_permille: u32,
}

/// The most lines an order has (OT-2).
pub const MAX_LINES: usize = 200;
/// The heaviest line: 1,000 tonnes.
pub const MAX_LINE_GRAMS: i64 = 1_000_000_000;
/// The bulkiest line: 10,000 cubic metres.
pub const MAX_LINE_CM3: i64 = 10_000_000_000;
/// The largest declared value: a hundred billion yuan, in fen.
pub const MAX_DECLARED_FEN: i64 = 10_000_000_000_000;

/// `amount * percent / 100`, rounded half away from zero, without floats.
fn percent_of(amount: i64, percent: i64) -> i64 {
    let product = i128::from(amount) * i128::from(percent);
    let rounded = (product.abs() * 2 + 100) / 200;
    (if product < 0 { -rounded } else { rounded }) as i64
}

fn per_mille_of(amount: i64, per_mille: i64) -> i64 {
    let product = i128::from(amount) * i128::from(per_mille);
    ((product.abs() * 2 + 1000) / 2000) as i64 * product.signum() as i64
}

/// Prices `lines` over `distance_km` at `level` with `table`. Lines beyond the bounds above
/// are not priced, so that no sum of them can overflow; the intake's checks name them.
pub fn quote(
    lines: &[CargoLine],
    distance_km: i32,
    level: Option<ServiceLevel>,
    table: &RateTable,
) -> Result<Price, Vec<FieldViolation>> {
    let money = |minor_units: i64| Money {
        currency: table.currency.clone(),
        minor_units,
    };
    let mut violations = Vec::new();
    let band = table
        .bands
        .iter()
        .find(|b| i64::from(b.max_km) >= i64::from(distance_km));
    if band.is_none() {
        violations.push(FieldViolation {
            field: "distance_km".into(),
            description: format!(
                "beyond the rate table's last band ({} km)",
                table.bands.last().map_or(0, |b| b.max_km)
            ),
        });
    }
    let percent = level.and_then(|level| table.service_level_percent.get(level.code()));
    if percent.is_none() {
        violations.push(FieldViolation {
            field: "service_level".into(),
            description: "required: economy, standard or express".into(),
        });
    }
    let within = |value: i64, max: i64| (0..=max).contains(&value);
    if lines.len() > MAX_LINES
        || !lines.iter().all(|l| {
            within(l.weight_grams, MAX_LINE_GRAMS)
                && within(l.volume_cm3, MAX_LINE_CM3)
                && l.declared_value
                    .as_ref()
                    .is_none_or(|m| within(m.minor_units, MAX_DECLARED_FEN))
        })
    {
        violations.push(FieldViolation {
            field: "lines".into(),
            description: "beyond what can be priced".into(),
        });
    }
    let (Some(band), Some(percent), Some(level), true) =
        (band, percent, level, violations.is_empty())
    else {
        return Err(violations);
    };

    let actual_grams: i64 = lines.iter().map(|l| l.weight_grams).sum();
    let volume_cm3: i64 = lines.iter().map(|l| l.volume_cm3).sum();
    // grams = cm3 * 1000 / (cm3 per kg), rounded up.
    let divisor = table.volumetric_divisor as i64;
    let volumetric_grams = (volume_cm3 * 1000 + divisor - 1) / divisor;
    let chargeable_grams = actual_grams.max(volumetric_grams);
    let chargeable_kg = ((chargeable_grams + 999) / 1000).max(1);

    let base = band.base_fen;
    let weight_charge = band.per_kg_fen * chargeable_kg;
    let subtotal = base + weight_charge;
    let level_charge = percent_of(subtotal, i64::from(*percent) - 100);

    let mut surcharges = Vec::new();
    let mut kinds_seen = Vec::new();
    for line in lines {
        let Some(special) = &line.special else {
            continue;
        };
        let code = special.code();
        if kinds_seen.contains(&code) {
            continue;
        }
        kinds_seen.push(code);
        let rule = table.surcharges.get(code).copied().unwrap_or_default();
        let declared: i64 = lines
            .iter()
            .filter(|l| l.special.as_ref().map(|s| s.code()) == Some(code))
            .filter_map(|l| l.declared_value.as_ref().map(|m| m.minor_units))
            .sum();
        let amount = percent_of(subtotal, i64::from(rule.percent))
            + rule.fixed_fen
            + per_mille_of(declared, i64::from(rule.declared_value_permille));
        surcharges.push(Surcharge {
            reason: code.to_owned(),
            amount: money(amount),
        });
    }
    let total =
        subtotal + level_charge + surcharges.iter().map(|s| s.amount.minor_units).sum::<i64>();
    Ok(Price {
        chargeable_weight_grams: chargeable_grams,
        distance_band: band.name.clone(),
        service_level: level,
        base: money(base),
        weight_charge: money(weight_charge),
        service_level_charge: money(level_charge),
        surcharges,
        total: money(total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SpecialCargo;

    /// The rate table as embedded (order_tracking.pricing in defaults.toml).
    fn table() -> RateTable {
        #[derive(Deserialize)]
        struct Defaults {
            order_tracking: Section,
        }
        #[derive(Deserialize)]
        struct Section {
            pricing: RateTable,
        }
        let defaults = include_str!("../defaults.toml");
        let parsed: Result<Defaults, _> = toml::from_str(defaults);
        parsed.unwrap().order_tracking.pricing
    }

    fn line(weight_grams: i64, volume_cm3: i64) -> CargoLine {
        CargoLine {
            description: "goods".into(),
            pieces: 1,
            weight_grams,
            volume_cm3,
            declared_value: Some(Money {
                currency: "CNY".into(),
                minor_units: 100_000,
            }),
            special: None,
        }
    }

    fn total(b: &Price) -> i64 {
        b.total.minor_units
    }

    const STANDARD: Option<ServiceLevel> = Some(ServiceLevel::Standard);

    #[test]
    fn ot3_a_worked_example_by_hand() {
        // 12.3 kg actual, 30,000 cm3 = 5 kg volumetric -> 13 kg chargeable.
        // Regional band (200 km): 1,500 base + 13 * 400 = 6,700; standard level 100%.
        let b = quote(&[line(12_300, 30_000)], 200, STANDARD, &table()).unwrap();
        assert_eq!(b.chargeable_weight_grams, 12_300);
        assert_eq!(b.distance_band, "regional");
        assert_eq!(b.base.minor_units, 1_500);
        assert_eq!(b.weight_charge.minor_units, 5_200);
        assert_eq!(b.service_level_charge.minor_units, 0);
        assert_eq!(total(&b), 6_700);
        assert_eq!(b.total.currency, "CNY");
    }

    /// OT-3: the largest order that can be priced prices without overflow, and one beyond it
    /// (found by the fuzz: 2,000 lines of 2^53 grams panicked the handler) is refused.
    #[test]
    fn ot3_the_largest_order_prices_and_a_larger_one_is_refused_not_overflowed() {
        let mut heaviest = line(MAX_LINE_GRAMS, MAX_LINE_CM3);
        heaviest.declared_value = Some(Money {
            currency: "CNY".into(),
            minor_units: MAX_DECLARED_FEN,
        });
        heaviest.special = Some(SpecialCargo::Valuables {
            insured_value: None,
            escort_required: false,
        });
        let largest = vec![heaviest.clone(); MAX_LINES];
        let price = quote(&largest, 5_000, Some(ServiceLevel::Express), &table()).unwrap();
        assert!(price.total.minor_units > 0);
        for beyond in [
            vec![line(1 << 53, 1); 2_000],
            vec![line(1, i64::MAX)],
            vec![line(-1, 1)],
            vec![heaviest; MAX_LINES + 1],
        ] {
            let refused = quote(&beyond, 10, STANDARD, &table()).unwrap_err();
            assert_eq!(refused[0].field, "lines");
        }
    }

    #[test]
    fn ot3_volume_outweighs_light_bulky_cargo() {
        // 1 kg actual, 120,000 cm3 = 20 kg volumetric.
        let b = quote(&[line(1_000, 120_000)], 10, STANDARD, &table()).unwrap();
        assert_eq!(b.chargeable_weight_grams, 20_000);
        assert_eq!(total(&b), 1_000 + 20 * 200);
    }

    #[test]
    fn ot3_distance_bands_switch_at_their_limits() {
        let band = |km| {
            quote(&[line(1_000, 1)], km, STANDARD, &table())
                .unwrap()
                .distance_band
        };
        assert_eq!(band(1), "local");
        assert_eq!(band(50), "local");
        assert_eq!(band(51), "regional");
        assert_eq!(band(500), "regional");
        assert_eq!(band(501), "national");
        assert_eq!(band(5_000), "national");
        let beyond = quote(&[line(1_000, 1)], 5_001, STANDARD, &table()).unwrap_err();
        assert_eq!(beyond[0].field, "distance_km");
    }

    #[test]
    fn ot3_service_levels_scale_the_charge() {
        let price = |level| total(&quote(&[line(10_000, 1)], 10, level, &table()).unwrap());
        // local: 1,000 + 10 * 200 = 3,000.
        assert_eq!(price(Some(ServiceLevel::Standard)), 3_000);
        assert_eq!(price(Some(ServiceLevel::Economy)), 2_400);
        assert_eq!(price(Some(ServiceLevel::Express)), 4_500);
    }

    #[test]
    fn ot3_special_cargo_surcharges_once_per_kind() {
        let fragile = SpecialCargo::Fragile {
            handling_instructions: "up".into(),
        };
        let valuables = SpecialCargo::Valuables {
            insured_value: None,
            escort_required: false,
        };
        let mut a = line(10_000, 1);
        a.special = Some(fragile.clone());
        let mut b = line(10_000, 1);
        b.special = Some(fragile);
        let mut c = line(10_000, 1);
        c.special = Some(valuables);
        // local: 1,000 + 30 kg * 200 = 7,000 subtotal.
        let priced = quote(&[a, b, c], 10, STANDARD, &table()).unwrap();
        let charge = |reason: &str| {
            priced
                .surcharges
                .iter()
                .find(|s| s.reason == reason)
                .unwrap()
                .amount
                .minor_units
        };
        assert_eq!(priced.surcharges.len(), 2, "fragile counted once");
        assert_eq!(charge("fragile"), 1_400, "20% of 7,000");
        assert_eq!(
            charge("valuables"),
            1_000 + 500,
            "fixed 1,000 + 5 per mille of 100,000"
        );
        assert_eq!(total(&priced), 7_000 + 1_400 + 1_500);
    }

    #[test]
    fn rounding_is_half_away_from_zero_in_integers() {
        assert_eq!(percent_of(5, 50), 3);
        assert_eq!(percent_of(5, -50), -3);
        assert_eq!(percent_of(7_000, -20), -1_400);
        assert_eq!(per_mille_of(1_500, 1), 2);
        assert_eq!(per_mille_of(0, 5), 0);
    }
}
