//! OT-2: what an order must hold at intake, each special kind's extra fields included; and
//! OT-9: what a return's lines must be. Every bad field is named, all at once.

use chrono::{DateTime, Utc};
use kefu_platform::error::{FieldViolation, Violations};

use super::pricing::{MAX_DECLARED_FEN, MAX_LINE_CM3, MAX_LINE_GRAMS, MAX_LINES};
use super::{CargoLine, Channel, Money, Place, ServiceLevel, SpecialCargo};

const MAX_TEXT: usize = 500;
/// Pieces of one line: more is a typing error.
const MAX_PIECES: i32 = 1_000_000;
/// Road distances beyond this are typing errors, not routes.
const MAX_DISTANCE_KM: i32 = 10_000;

/// What a caller gives at intake (OT-1, OT-2); the rest of an order is made by Kefu.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_id: String,
    /// `None` when the caller named none (or one the contract does not know).
    pub channel: Option<Channel>,
    pub service_level: Option<ServiceLevel>,
    pub distance_km: i32,
    pub origin: Option<Place>,
    pub destination: Option<Place>,
    pub lines: Vec<CargoLine>,
}

/// OT-2: checks a new order under `order.`, with amounts in `currency`.
pub fn check_new_order(
    order: &NewOrder,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    v.check(
        !order.customer_id.trim().is_empty(),
        "order.customer_id",
        "required",
    );
    v.check(
        order.channel.is_some(),
        "order.channel",
        "required: counter, phone, fax, web, email or api",
    );
    v.check(
        order.service_level.is_some(),
        "order.service_level",
        "required: economy, standard or express",
    );
    v.check(
        order.distance_km > 0 && order.distance_km <= MAX_DISTANCE_KM,
        "order.distance_km",
        format!("a road distance from 1 to {MAX_DISTANCE_KM} km"),
    );
    check_place(&mut v, "order.origin", order.origin.as_ref());
    check_place(&mut v, "order.destination", order.destination.as_ref());
    check_lines(&mut v, "order.lines", &order.lines, currency, now);
    v.finish()
}

fn check_place(v: &mut Violations, path: &str, place: Option<&Place>) {
    let Some(place) = place else {
        v.add(path, "required: at least province and city");
        return;
    };
    v.check(
        !place.province.trim().is_empty(),
        format!("{path}.province"),
        "required",
    );
    v.check(
        !place.city.trim().is_empty(),
        format!("{path}.city"),
        "required",
    );
    v.check(
        place.street.chars().count() <= MAX_TEXT,
        format!("{path}.street"),
        "too long",
    );
    if !place.postal_code.is_empty() {
        v.check(
            place.postal_code.len() == 6 && place.postal_code.chars().all(|c| c.is_ascii_digit()),
            format!("{path}.postal_code"),
            "six digits",
        );
    }
}

/// Cargo lines (OT-2), including each special kind's extra fields.
pub fn check_lines(
    v: &mut Violations,
    path: &str,
    lines: &[CargoLine],
    currency: &str,
    now: DateTime<Utc>,
) {
    if lines.is_empty() {
        v.add(path, "at least one cargo line");
    }
    if lines.len() > MAX_LINES {
        v.add(path, format!("at most {MAX_LINES} lines"));
    }
    for (i, line) in lines.iter().enumerate() {
        let at = |f: &str| format!("{path}[{i}].{f}");
        v.check(
            !line.description.trim().is_empty(),
            at("description"),
            "required",
        );
        v.check(
            line.description.chars().count() <= MAX_TEXT,
            at("description"),
            "too long",
        );
        v.check(
            (1..=MAX_PIECES).contains(&line.pieces),
            at("pieces"),
            format!("from 1 to {MAX_PIECES}"),
        );
        v.check(
            (1..=MAX_LINE_GRAMS).contains(&line.weight_grams),
            at("weight_grams"),
            format!("more than 0, at most {MAX_LINE_GRAMS}"),
        );
        v.check(
            (1..=MAX_LINE_CM3).contains(&line.volume_cm3),
            at("volume_cm3"),
            format!("more than 0, at most {MAX_LINE_CM3}"),
        );
        v.check(
            line.declared_value
                .as_ref()
                .is_none_or(|m| m.minor_units <= MAX_DECLARED_FEN),
            at("declared_value.minor_units"),
            format!("at most {MAX_DECLARED_FEN}"),
        );
        check_money(
            v,
            &at("declared_value"),
            line.declared_value.as_ref(),
            currency,
            false,
        );
        if let Some(special) = line.special.as_ref() {
            check_special(
                v,
                &at("special"),
                special,
                line.declared_value.as_ref(),
                currency,
                now,
            );
        }
    }
}

fn check_money(
    v: &mut Violations,
    path: &str,
    money: Option<&Money>,
    currency: &str,
    required: bool,
) {
    match money {
        None if required => v.add(path, "required"),
        None => {}
        Some(m) => {
            v.check(
                m.minor_units >= 0,
                format!("{path}.minor_units"),
                "must not be negative",
            );
            v.check(
                m.currency == currency,
                format!("{path}.currency_code"),
                format!("must be {currency}"),
            );
        }
    }
}

fn check_special(
    v: &mut Violations,
    path: &str,
    special: &SpecialCargo,
    declared: Option<&Money>,
    currency: &str,
    now: DateTime<Utc>,
) {
    match special {
        SpecialCargo::Fragile {
            handling_instructions,
        } => v.check(
            !handling_instructions.trim().is_empty(),
            format!("{path}.fragile.handling_instructions"),
            "required for fragile cargo",
        ),
        SpecialCargo::Perishable {
            min_temperature_celsius: min,
            max_temperature_celsius: max,
            expires_at,
        } => {
            v.check(
                min < max,
                format!("{path}.perishable.max_temperature_celsius"),
                "must be above min_temperature_celsius",
            );
            v.check(
                (-80..=60).contains(min) && (-80..=60).contains(max),
                format!("{path}.perishable.min_temperature_celsius"),
                "temperatures from -80 to 60 °C",
            );
            match expires_at {
                None => v.add(
                    format!("{path}.perishable.expire_time"),
                    "required for perishable cargo",
                ),
                Some(t) if *t <= now => {
                    v.add(format!("{path}.perishable.expire_time"), "already passed")
                }
                Some(_) => {}
            }
        }
        SpecialCargo::Dangerous {
            un_number,
            hazard_class,
            packing_group,
        } => {
            v.check(
                is_un_number(un_number),
                format!("{path}.dangerous.un_number"),
                "\"UN\" and four digits, e.g. UN1203",
            );
            v.check(
                is_hazard_class(hazard_class),
                format!("{path}.dangerous.hazard_class"),
                "a class from 1 to 9, e.g. 3 or 2.1",
            );
            v.check(
                packing_group.is_empty() || matches!(packing_group.as_str(), "I" | "II" | "III"),
                format!("{path}.dangerous.packing_group"),
                "I, II or III",
            );
        }
        SpecialCargo::Valuables { insured_value, .. } => {
            check_money(
                v,
                &format!("{path}.valuables.insured_value"),
                insured_value.as_ref(),
                currency,
                true,
            );
            let insured = insured_value.as_ref().map_or(0, |m| m.minor_units);
            let declared_units = declared.map_or(0, |m| m.minor_units);
            v.check(
                declared.is_some_and(|m| m.minor_units > 0),
                format!("{path}.valuables"),
                "valuables need a declared value",
            );
            v.check(
                insured >= declared_units,
                format!("{path}.valuables.insured_value"),
                "at least the declared value",
            );
        }
        SpecialCargo::HumanRemains {
            death_certificate_number,
            transport_permit_number,
            consignee_relationship,
        } => {
            for (field, value) in [
                ("death_certificate_number", death_certificate_number),
                ("transport_permit_number", transport_permit_number),
                ("consignee_relationship", consignee_relationship),
            ] {
                v.check(
                    !value.trim().is_empty(),
                    format!("{path}.human_remains.{field}"),
                    "required",
                );
            }
        }
    }
}

fn is_un_number(s: &str) -> bool {
    s.len() == 6 && s.starts_with("UN") && s[2..].chars().all(|c| c.is_ascii_digit())
}

fn is_hazard_class(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let class_ok = parts
        .next()
        .and_then(|c| c.parse::<u8>().ok())
        .is_some_and(|c| (1..=9).contains(&c));
    let division_ok = parts
        .next()
        .is_none_or(|d| d.len() == 1 && d.chars().all(|c| c.is_ascii_digit()));
    class_ok && division_ok
}

/// OT-9: a return's lines each match a line of the original, in no more pieces.
pub fn check_return(
    original: &[CargoLine],
    returned: &[CargoLine],
    currency: &str,
    now: DateTime<Utc>,
) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    check_lines(&mut v, "lines", returned, currency, now);
    for (i, line) in returned.iter().enumerate() {
        match original.iter().find(|o| o.description == line.description) {
            None => v.add(
                format!("lines[{i}].description"),
                "no line of the original order has this description",
            ),
            Some(o) => v.check(
                line.pieces <= o.pieces,
                format!("lines[{i}].pieces"),
                format!("at most the {} pieces ordered", o.pieces),
            ),
        }
    }
    v.finish()
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::{Order, OrderState, PaymentStatus, Price, StateChange};

    pub(crate) fn money(units: i64) -> Money {
        Money {
            currency: "CNY".into(),
            minor_units: units,
        }
    }

    fn place(city: &str) -> Place {
        Place {
            province: "Fujian".into(),
            city: city.into(),
            ..Default::default()
        }
    }

    pub(crate) fn tea() -> CargoLine {
        CargoLine {
            description: "boxes of tea".into(),
            pieces: 3,
            weight_grams: 12_000,
            volume_cm3: 60_000,
            declared_value: Some(money(50_000)),
            special: None,
        }
    }

    fn order() -> NewOrder {
        NewOrder {
            customer_id: "c1".into(),
            channel: Some(Channel::Phone),
            service_level: Some(ServiceLevel::Standard),
            distance_km: 200,
            origin: Some(place("Fuzhou")),
            destination: Some(place("Xiamen")),
            lines: vec![tea()],
        }
    }

    /// A stored order, as intake makes one, for the rules that change orders.
    pub(crate) fn stored_order() -> Order {
        use chrono::SubsecRound as _;
        // To the microsecond, as the store keeps times.
        let now = Utc::now().trunc_subsecs(6);
        Order {
            id: "o1".into(),
            customer_id: "c1".into(),
            channel: Channel::Phone,
            state: OrderState::Received,
            lines: vec![tea()],
            origin: place("Fuzhou"),
            destination: place("Xiamen"),
            distance_km: 200,
            service_level: ServiceLevel::Standard,
            price: Price {
                chargeable_weight_grams: 12_000,
                distance_band: "regional".into(),
                service_level: ServiceLevel::Standard,
                base: money(1_500),
                weight_charge: money(4_800),
                service_level_charge: money(0),
                surcharges: vec![],
                total: money(6_300),
            },
            payment_status: PaymentStatus::Unpaid,
            promised_at: now + Duration::hours(48),
            pick_lines: vec![],
            packages: vec![],
            handover: None,
            exceptions: vec![],
            history: vec![StateChange {
                from: None,
                to: OrderState::Received,
                actor_id: "agent".into(),
                location: String::new(),
                note: String::new(),
                at: now,
            }],
            original_order_id: String::new(),
            return_reason: None,
            created_at: now,
            updated_at: now,
            version: 1,
            tier: "small".into(),
            delay_raised: false,
        }
    }

    fn special(kind: SpecialCargo) -> NewOrder {
        let mut o = order();
        o.lines[0].special = Some(kind);
        o
    }

    fn violated(o: &NewOrder) -> Vec<String> {
        check_new_order(o, "CNY", Utc::now())
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn ot2_a_complete_order_passes() {
        assert_eq!(violated(&order()), Vec::<String>::new());
        let complete_specials = [
            SpecialCargo::Fragile {
                handling_instructions: "this side up".into(),
            },
            SpecialCargo::Perishable {
                min_temperature_celsius: 0,
                max_temperature_celsius: 4,
                expires_at: Some(Utc::now() + Duration::days(1)),
            },
            SpecialCargo::Dangerous {
                un_number: "UN1203".into(),
                hazard_class: "3".into(),
                packing_group: "II".into(),
            },
            SpecialCargo::Valuables {
                insured_value: Some(money(60_000)),
                escort_required: true,
            },
            SpecialCargo::HumanRemains {
                death_certificate_number: "D-1".into(),
                transport_permit_number: "P-1".into(),
                consignee_relationship: "son".into(),
            },
        ];
        for kind in complete_specials {
            assert_eq!(
                violated(&special(kind.clone())),
                Vec::<String>::new(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn ot2_each_bad_field_is_named() {
        type Case = (&'static str, fn() -> NewOrder, &'static str);
        let with_line = |f: fn(&mut CargoLine)| {
            let mut o = order();
            f(&mut o.lines[0]);
            o
        };
        let cases: &[Case] = &[
            (
                "no customer",
                || NewOrder {
                    customer_id: " ".into(),
                    ..order()
                },
                "order.customer_id",
            ),
            (
                "no channel",
                || NewOrder {
                    channel: None,
                    ..order()
                },
                "order.channel",
            ),
            (
                "no service level",
                || NewOrder {
                    service_level: None,
                    ..order()
                },
                "order.service_level",
            ),
            (
                "no distance",
                || NewOrder {
                    distance_km: 0,
                    ..order()
                },
                "order.distance_km",
            ),
            (
                "no origin",
                || NewOrder {
                    origin: None,
                    ..order()
                },
                "order.origin",
            ),
            (
                "no destination city",
                || NewOrder {
                    destination: Some(Place {
                        province: "Fujian".into(),
                        ..Default::default()
                    }),
                    ..order()
                },
                "order.destination.city",
            ),
            (
                "no lines",
                || NewOrder {
                    lines: vec![],
                    ..order()
                },
                "order.lines",
            ),
            (
                "special without details",
                || {
                    special(SpecialCargo::Fragile {
                        handling_instructions: " ".into(),
                    })
                },
                "order.lines[0].special.fragile.handling_instructions",
            ),
            (
                "perishable without expiry",
                || {
                    special(SpecialCargo::Perishable {
                        min_temperature_celsius: 0,
                        max_temperature_celsius: 4,
                        expires_at: None,
                    })
                },
                "order.lines[0].special.perishable.expire_time",
            ),
            (
                "perishable range upside down",
                || {
                    special(SpecialCargo::Perishable {
                        min_temperature_celsius: 8,
                        max_temperature_celsius: 2,
                        expires_at: None,
                    })
                },
                "order.lines[0].special.perishable.max_temperature_celsius",
            ),
            (
                "perishable expired",
                || {
                    special(SpecialCargo::Perishable {
                        min_temperature_celsius: 0,
                        max_temperature_celsius: 4,
                        expires_at: Some(Utc::now() - Duration::seconds(1)),
                    })
                },
                "order.lines[0].special.perishable.expire_time",
            ),
            (
                "dangerous UN number",
                || {
                    special(SpecialCargo::Dangerous {
                        un_number: "1203".into(),
                        hazard_class: "3".into(),
                        packing_group: String::new(),
                    })
                },
                "order.lines[0].special.dangerous.un_number",
            ),
            (
                "dangerous class",
                || {
                    special(SpecialCargo::Dangerous {
                        un_number: "UN1203".into(),
                        hazard_class: "10".into(),
                        packing_group: String::new(),
                    })
                },
                "order.lines[0].special.dangerous.hazard_class",
            ),
            (
                "dangerous packing group",
                || {
                    special(SpecialCargo::Dangerous {
                        un_number: "UN1203".into(),
                        hazard_class: "2.1".into(),
                        packing_group: "IV".into(),
                    })
                },
                "order.lines[0].special.dangerous.packing_group",
            ),
            (
                "valuables uninsured",
                || {
                    special(SpecialCargo::Valuables {
                        insured_value: None,
                        escort_required: false,
                    })
                },
                "order.lines[0].special.valuables.insured_value",
            ),
            (
                "valuables underinsured",
                || {
                    special(SpecialCargo::Valuables {
                        insured_value: Some(money(1)),
                        escort_required: false,
                    })
                },
                "order.lines[0].special.valuables.insured_value",
            ),
            (
                "remains without certificate",
                || {
                    special(SpecialCargo::HumanRemains {
                        death_certificate_number: String::new(),
                        transport_permit_number: "P".into(),
                        consignee_relationship: "son".into(),
                    })
                },
                "order.lines[0].special.human_remains.death_certificate_number",
            ),
            (
                "remains without permit",
                || {
                    special(SpecialCargo::HumanRemains {
                        death_certificate_number: "D".into(),
                        transport_permit_number: String::new(),
                        consignee_relationship: "son".into(),
                    })
                },
                "order.lines[0].special.human_remains.transport_permit_number",
            ),
            (
                "remains without consignee",
                || {
                    special(SpecialCargo::HumanRemains {
                        death_certificate_number: "D".into(),
                        transport_permit_number: "P".into(),
                        consignee_relationship: String::new(),
                    })
                },
                "order.lines[0].special.human_remains.consignee_relationship",
            ),
        ];
        type LineCase = (&'static str, fn(&mut CargoLine), &'static str);
        let line_cases: &[LineCase] = &[
            (
                "no description",
                |l| l.description.clear(),
                "order.lines[0].description",
            ),
            ("no pieces", |l| l.pieces = 0, "order.lines[0].pieces"),
            // Beyond any real cargo, and what would overflow the price's sums.
            (
                "too many pieces",
                |l| l.pieces = MAX_PIECES + 1,
                "order.lines[0].pieces",
            ),
            (
                "too heavy",
                |l| l.weight_grams = MAX_LINE_GRAMS + 1,
                "order.lines[0].weight_grams",
            ),
            (
                "too bulky",
                |l| l.volume_cm3 = MAX_LINE_CM3 + 1,
                "order.lines[0].volume_cm3",
            ),
            (
                "no weight",
                |l| l.weight_grams = 0,
                "order.lines[0].weight_grams",
            ),
            (
                "no volume",
                |l| l.volume_cm3 = -1,
                "order.lines[0].volume_cm3",
            ),
            (
                "negative value",
                |l| l.declared_value = Some(money(-1)),
                "order.lines[0].declared_value.minor_units",
            ),
            (
                "other currency",
                |l| {
                    l.declared_value = Some(Money {
                        currency: "USD".into(),
                        minor_units: 1,
                    })
                },
                "order.lines[0].declared_value.currency_code",
            ),
        ];
        for (name, make, field) in cases {
            let fields = violated(&make());
            assert!(
                fields.iter().any(|f| f == field),
                "{name}: expected {field} in {fields:?}"
            );
        }
        for (name, change, field) in line_cases {
            let fields = violated(&with_line(*change));
            assert!(
                fields.iter().any(|f| f == field),
                "{name}: expected {field} in {fields:?}"
            );
        }
    }

    #[test]
    fn ot9_returns_match_lines_of_the_original() {
        let original = vec![tea()];
        let now = Utc::now();
        assert!(check_return(&original, &original, "CNY", now).is_ok());
        let mut more = original.clone();
        more[0].pieces = 4;
        assert!(check_return(&original, &more, "CNY", now).is_err());
        let mut other = original.clone();
        other[0].description = "coffee".into();
        assert!(check_return(&original, &other, "CNY", now).is_err());
    }
}
