//! OT-3: the price of an order from its chargeable weight, distance band, service level and
//! special cargo, in integer fen, with every part shown.

use crate::settings::PricingSettings;
use kefu_platform::error::FieldViolation;
use kefu_proto::common::Money;
use kefu_proto::order as pb;
use pb::special_cargo::Kind as Special;

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

fn special_code(kind: &Special) -> &'static str {
    match kind {
        Special::Fragile(_) => "fragile",
        Special::Perishable(_) => "perishable",
        Special::Dangerous(_) => "dangerous",
        Special::Valuables(_) => "valuables",
        Special::HumanRemains(_) => "human_remains",
    }
}

fn level_code(level: pb::ServiceLevel) -> Option<&'static str> {
    match level {
        pb::ServiceLevel::Economy => Some("economy"),
        pb::ServiceLevel::Standard => Some("standard"),
        pb::ServiceLevel::Express => Some("express"),
        pb::ServiceLevel::Unspecified => None,
    }
}

/// Prices `lines` over `distance_km` at `level` with `table`. Lines are assumed verified.
pub fn quote(
    lines: &[pb::CargoLine],
    distance_km: i32,
    level: pb::ServiceLevel,
    table: &PricingSettings,
) -> Result<pb::PriceBreakdown, Vec<FieldViolation>> {
    let money = |minor_units: i64| {
        Some(Money {
            currency_code: table.currency.clone(),
            minor_units,
        })
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
    let percent = level_code(level).and_then(|code| table.service_level_percent.get(code));
    if percent.is_none() {
        violations.push(FieldViolation {
            field: "service_level".into(),
            description: "required: economy, standard or express".into(),
        });
    }
    let (Some(band), Some(percent)) = (band, percent) else {
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
        let Some(kind) = line.special.as_ref().and_then(|s| s.kind.as_ref()) else {
            continue;
        };
        let code = special_code(kind);
        if kinds_seen.contains(&code) {
            continue;
        }
        kinds_seen.push(code);
        let rule = table.surcharges.get(code).copied().unwrap_or_default();
        let declared: i64 = lines
            .iter()
            .filter(|l| {
                l.special
                    .as_ref()
                    .and_then(|s| s.kind.as_ref())
                    .map(special_code)
                    == Some(code)
            })
            .filter_map(|l| l.declared_value.as_ref().map(|m| m.minor_units))
            .sum();
        let amount = percent_of(subtotal, i64::from(rule.percent))
            + rule.fixed_fen
            + per_mille_of(declared, i64::from(rule.declared_value_permille));
        surcharges.push(pb::Surcharge {
            reason: code.to_owned(),
            amount: money(amount),
        });
    }
    let total = subtotal
        + level_charge
        + surcharges
            .iter()
            .filter_map(|s| s.amount.as_ref())
            .map(|m| m.minor_units)
            .sum::<i64>();
    Ok(pb::PriceBreakdown {
        chargeable_weight_grams: chargeable_grams,
        distance_band: band.name.clone(),
        service_level: level as i32,
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

    fn table() -> PricingSettings {
        crate::settings::embedded().pricing
    }

    fn line(weight_grams: i64, volume_cm3: i64) -> pb::CargoLine {
        pb::CargoLine {
            description: "goods".into(),
            pieces: 1,
            weight_grams,
            volume_cm3,
            declared_value: Some(Money {
                currency_code: "CNY".into(),
                minor_units: 100_000,
            }),
            special: None,
        }
    }

    fn total(b: &pb::PriceBreakdown) -> i64 {
        b.total.as_ref().unwrap().minor_units
    }

    #[test]
    fn ot3_a_worked_example_by_hand() {
        // 12.3 kg actual, 30,000 cm3 = 5 kg volumetric -> 13 kg chargeable.
        // Regional band (200 km): 1,500 base + 13 * 400 = 6,700; standard level 100%.
        let b = quote(
            &[line(12_300, 30_000)],
            200,
            pb::ServiceLevel::Standard,
            &table(),
        )
        .unwrap();
        assert_eq!(b.chargeable_weight_grams, 12_300);
        assert_eq!(b.distance_band, "regional");
        assert_eq!(b.base.as_ref().unwrap().minor_units, 1_500);
        assert_eq!(b.weight_charge.as_ref().unwrap().minor_units, 5_200);
        assert_eq!(b.service_level_charge.as_ref().unwrap().minor_units, 0);
        assert_eq!(total(&b), 6_700);
        assert_eq!(b.total.as_ref().unwrap().currency_code, "CNY");
    }

    #[test]
    fn ot3_volume_outweighs_light_bulky_cargo() {
        // 1 kg actual, 120,000 cm3 = 20 kg volumetric.
        let b = quote(
            &[line(1_000, 120_000)],
            10,
            pb::ServiceLevel::Standard,
            &table(),
        )
        .unwrap();
        assert_eq!(b.chargeable_weight_grams, 20_000);
        assert_eq!(total(&b), 1_000 + 20 * 200);
    }

    #[test]
    fn ot3_distance_bands_switch_at_their_limits() {
        let band = |km| {
            quote(&[line(1_000, 1)], km, pb::ServiceLevel::Standard, &table())
                .unwrap()
                .distance_band
        };
        assert_eq!(band(1), "local");
        assert_eq!(band(50), "local");
        assert_eq!(band(51), "regional");
        assert_eq!(band(500), "regional");
        assert_eq!(band(501), "national");
        assert_eq!(band(5_000), "national");
        let beyond = quote(
            &[line(1_000, 1)],
            5_001,
            pb::ServiceLevel::Standard,
            &table(),
        )
        .unwrap_err();
        assert_eq!(beyond[0].field, "distance_km");
    }

    #[test]
    fn ot3_service_levels_scale_the_charge() {
        let price = |level| total(&quote(&[line(10_000, 1)], 10, level, &table()).unwrap());
        // local: 1,000 + 10 * 200 = 3,000.
        assert_eq!(price(pb::ServiceLevel::Standard), 3_000);
        assert_eq!(price(pb::ServiceLevel::Economy), 2_400);
        assert_eq!(price(pb::ServiceLevel::Express), 4_500);
    }

    #[test]
    fn ot3_special_cargo_surcharges_once_per_kind() {
        let fragile = pb::SpecialCargo {
            kind: Some(Special::Fragile(pb::Fragile {
                handling_instructions: "up".into(),
            })),
        };
        let valuables = pb::SpecialCargo {
            kind: Some(Special::Valuables(pb::Valuables {
                insured_value: None,
                escort_required: false,
            })),
        };
        let mut a = line(10_000, 1);
        a.special = Some(fragile.clone());
        let mut b = line(10_000, 1);
        b.special = Some(fragile);
        let mut c = line(10_000, 1);
        c.special = Some(valuables);
        // local: 1,000 + 30 kg * 200 = 7,000 subtotal.
        let priced = quote(&[a, b, c], 10, pb::ServiceLevel::Standard, &table()).unwrap();
        let charge = |reason: &str| {
            priced
                .surcharges
                .iter()
                .find(|s| s.reason == reason)
                .unwrap()
                .amount
                .as_ref()
                .unwrap()
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
