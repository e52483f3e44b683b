//! OT-2, OT-5, OT-6, OT-9: what an order and each recorded step must hold. Every bad field is
//! named, and all of them are reported at once.

use chrono::{DateTime, Utc};
use kefu_platform::error::{FieldViolation, Violations};
use kefu_proto::common::{Address, Money};
use kefu_proto::order as pb;
use pb::special_cargo::Kind as Special;

const MAX_LINES: usize = 200;
const MAX_TEXT: usize = 500;
/// Road distances beyond this are typing errors, not routes.
const MAX_DISTANCE_KM: i32 = 10_000;

/// The order fields a caller gives at intake (OT-1, OT-2), checked under `order.`.
pub fn check_new_order(order: &pb::Order, currency: &str) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    v.check(
        !order.customer_id.trim().is_empty(),
        "order.customer_id",
        "required",
    );
    match pb::Channel::try_from(order.channel) {
        Ok(pb::Channel::Unspecified) | Err(_) => v.add(
            "order.channel",
            "required: counter, phone, fax, web, email or api",
        ),
        Ok(_) => {}
    }
    match pb::ServiceLevel::try_from(order.service_level) {
        Ok(pb::ServiceLevel::Unspecified) | Err(_) => v.add(
            "order.service_level",
            "required: economy, standard or express",
        ),
        Ok(_) => {}
    }
    v.check(
        order.distance_km > 0 && order.distance_km <= MAX_DISTANCE_KM,
        "order.distance_km",
        format!("a road distance from 1 to {MAX_DISTANCE_KM} km"),
    );
    check_place(&mut v, "order.origin", order.origin.as_ref());
    check_place(&mut v, "order.destination", order.destination.as_ref());
    check_lines(&mut v, "order.lines", &order.lines, currency);
    v.finish()
}

fn check_place(v: &mut Violations, path: &str, place: Option<&Address>) {
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
pub fn check_lines(v: &mut Violations, path: &str, lines: &[pb::CargoLine], currency: &str) {
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
        v.check(line.pieces >= 1, at("pieces"), "at least 1");
        v.check(line.weight_grams > 0, at("weight_grams"), "more than 0");
        v.check(line.volume_cm3 > 0, at("volume_cm3"), "more than 0");
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
                m.currency_code == currency,
                format!("{path}.currency_code"),
                format!("must be {currency}"),
            );
        }
    }
}

fn check_special(
    v: &mut Violations,
    path: &str,
    special: &pb::SpecialCargo,
    declared: Option<&Money>,
    currency: &str,
) {
    match special.kind.as_ref() {
        None => v.add(
            path,
            "name the kind: fragile, perishable, dangerous, valuables or human_remains",
        ),
        Some(Special::Fragile(f)) => v.check(
            !f.handling_instructions.trim().is_empty(),
            format!("{path}.fragile.handling_instructions"),
            "required for fragile cargo",
        ),
        Some(Special::Perishable(p)) => {
            v.check(
                p.min_temperature_celsius < p.max_temperature_celsius,
                format!("{path}.perishable.max_temperature_celsius"),
                "must be above min_temperature_celsius",
            );
            v.check(
                (-80..=60).contains(&p.min_temperature_celsius)
                    && (-80..=60).contains(&p.max_temperature_celsius),
                format!("{path}.perishable.min_temperature_celsius"),
                "temperatures from -80 to 60 °C",
            );
            match p.expire_time.as_ref().and_then(to_time) {
                None => v.add(
                    format!("{path}.perishable.expire_time"),
                    "required for perishable cargo",
                ),
                Some(t) if t <= Utc::now() => {
                    v.add(format!("{path}.perishable.expire_time"), "already passed")
                }
                Some(_) => {}
            }
        }
        Some(Special::Dangerous(d)) => {
            v.check(
                is_un_number(&d.un_number),
                format!("{path}.dangerous.un_number"),
                "\"UN\" and four digits, e.g. UN1203",
            );
            v.check(
                is_hazard_class(&d.hazard_class),
                format!("{path}.dangerous.hazard_class"),
                "a class from 1 to 9, e.g. 3 or 2.1",
            );
            v.check(
                d.packing_group.is_empty()
                    || matches!(d.packing_group.as_str(), "I" | "II" | "III"),
                format!("{path}.dangerous.packing_group"),
                "I, II or III",
            );
        }
        Some(Special::Valuables(val)) => {
            check_money(
                v,
                &format!("{path}.valuables.insured_value"),
                val.insured_value.as_ref(),
                currency,
                true,
            );
            let insured = val.insured_value.as_ref().map_or(0, |m| m.minor_units);
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
        Some(Special::HumanRemains(h)) => {
            v.check(
                !h.death_certificate_number.trim().is_empty(),
                format!("{path}.human_remains.death_certificate_number"),
                "required",
            );
            v.check(
                !h.transport_permit_number.trim().is_empty(),
                format!("{path}.human_remains.transport_permit_number"),
                "required",
            );
            v.check(
                !h.consignee_relationship.trim().is_empty(),
                format!("{path}.human_remains.consignee_relationship"),
                "required",
            );
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

pub fn to_time(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// OT-5: a pick report against the pick list: every line once, picked pieces within range.
pub fn check_pick(
    pick_list: &[pb::PickLine],
    reported: &[pb::PickLine],
) -> Result<Vec<pb::PickLine>, Vec<FieldViolation>> {
    let mut v = Violations::new();
    let mut updated = pick_list.to_vec();
    if reported.is_empty() {
        v.add("pick_lines", "report at least one line");
    }
    let mut seen = std::collections::HashSet::new();
    for (i, line) in reported.iter().enumerate() {
        let at = |f: &str| format!("pick_lines[{i}].{f}");
        if !seen.insert(line.line_number) {
            v.add(at("line_number"), "reported twice");
            continue;
        }
        match updated
            .iter_mut()
            .find(|p| p.line_number == line.line_number)
        {
            None => v.add(at("line_number"), "not on the pick list"),
            Some(entry) => {
                if line.pieces_picked < 0 || line.pieces_picked > entry.pieces_ordered {
                    v.add(
                        at("pieces_picked"),
                        format!("from 0 to {} pieces", entry.pieces_ordered),
                    );
                } else {
                    entry.pieces_picked = line.pieces_picked;
                    entry.short = line.pieces_picked < entry.pieces_ordered;
                    entry.resolution.clear();
                }
            }
        }
    }
    v.finish().map(|()| updated)
}

/// A short pick still waiting for its resolution blocks PACKED (OT-5).
pub fn open_short_picks(pick_list: &[pb::PickLine]) -> Vec<i32> {
    pick_list
        .iter()
        .filter(|p| p.short && p.resolution.trim().is_empty())
        .map(|p| p.line_number)
        .collect()
}

/// OT-5: every picked line is in exactly one package, and nothing unpicked is packed.
pub fn check_packing(
    pick_list: &[pb::PickLine],
    packages: &[pb::Package],
) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    if packages.is_empty() {
        v.add("packages", "at least one package");
    }
    let mut packed = std::collections::HashMap::new();
    for (i, package) in packages.iter().enumerate() {
        v.check(
            !package.package_id.trim().is_empty(),
            format!("packages[{i}].package_id"),
            "required",
        );
        v.check(
            package.weight_grams > 0,
            format!("packages[{i}].weight_grams"),
            "more than 0",
        );
        v.check(
            !package.line_numbers.is_empty(),
            format!("packages[{i}].line_numbers"),
            "at least one line",
        );
        for line in &package.line_numbers {
            if let Some(first) = packed.insert(*line, i) {
                v.add(
                    format!("packages[{i}].line_numbers"),
                    format!("line {line} is already in packages[{first}]"),
                );
            }
            if !pick_list
                .iter()
                .any(|p| p.line_number == *line && p.pieces_picked > 0)
            {
                v.add(
                    format!("packages[{i}].line_numbers"),
                    format!("line {line} has nothing picked"),
                );
            }
        }
    }
    for pick in pick_list.iter().filter(|p| p.pieces_picked > 0) {
        v.check(
            packed.contains_key(&pick.line_number),
            "packages",
            format!("picked line {} is in no package", pick.line_number),
        );
    }
    v.finish()
}

/// OT-6: the handover names both sides, the signer, the time and the proof.
pub fn check_handover(handover: Option<&pb::Handover>) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    let Some(h) = handover else {
        v.add("handover", "required");
        return v.finish();
    };
    v.check(
        !h.document_numbers.is_empty(),
        "handover.document_numbers",
        "at least one handover document",
    );
    v.check(
        !h.handed_by.trim().is_empty(),
        "handover.handed_by",
        "required: who handed over",
    );
    v.check(
        !h.signer_name.trim().is_empty(),
        "handover.signer_name",
        "required: who signed",
    );
    v.check(
        !h.proof_uri.trim().is_empty(),
        "handover.proof_uri",
        "required: the signature or photo",
    );
    match h.sign_time.as_ref().and_then(to_time) {
        None => v.add("handover.sign_time", "required"),
        Some(t) if t > Utc::now() + chrono::Duration::minutes(5) => {
            v.add("handover.sign_time", "in the future")
        }
        Some(_) => {}
    }
    v.finish()
}

/// OT-9: a return's lines each match a line of the original, in no more pieces.
pub fn check_return(
    original: &[pb::CargoLine],
    returned: &[pb::CargoLine],
    currency: &str,
) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    check_lines(&mut v, "lines", returned, currency);
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
mod tests {
    use super::*;

    pub(crate) fn money(units: i64) -> Money {
        Money {
            currency_code: "CNY".into(),
            minor_units: units,
        }
    }

    fn place(city: &str) -> Address {
        Address {
            province: "Fujian".into(),
            city: city.into(),
            ..Default::default()
        }
    }

    fn order() -> pb::Order {
        pb::Order {
            customer_id: "c1".into(),
            channel: pb::Channel::Phone as i32,
            service_level: pb::ServiceLevel::Standard as i32,
            distance_km: 200,
            origin: Some(place("Fuzhou")),
            destination: Some(place("Xiamen")),
            lines: vec![pb::CargoLine {
                description: "boxes of tea".into(),
                pieces: 3,
                weight_grams: 12_000,
                volume_cm3: 60_000,
                declared_value: Some(money(50_000)),
                special: None,
            }],
            ..Default::default()
        }
    }

    fn special(kind: Special) -> pb::Order {
        let mut o = order();
        o.lines[0].special = Some(pb::SpecialCargo { kind: Some(kind) });
        o
    }

    fn violated(o: &pb::Order) -> Vec<String> {
        check_new_order(o, "CNY")
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn ot2_a_complete_order_passes() {
        assert_eq!(violated(&order()), Vec::<String>::new());
        let future = prost_types::Timestamp {
            seconds: Utc::now().timestamp() + 86_400,
            nanos: 0,
        };
        let complete_specials = [
            Special::Fragile(pb::Fragile {
                handling_instructions: "this side up".into(),
            }),
            Special::Perishable(pb::Perishable {
                min_temperature_celsius: 0,
                max_temperature_celsius: 4,
                expire_time: Some(future),
            }),
            Special::Dangerous(pb::Dangerous {
                un_number: "UN1203".into(),
                hazard_class: "3".into(),
                packing_group: "II".into(),
            }),
            Special::Valuables(pb::Valuables {
                insured_value: Some(money(60_000)),
                escort_required: true,
            }),
            Special::HumanRemains(pb::HumanRemains {
                death_certificate_number: "D-1".into(),
                transport_permit_number: "P-1".into(),
                consignee_relationship: "son".into(),
            }),
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
        type Case = (&'static str, fn() -> pb::Order, &'static str);
        let cases: &[Case] = &[
            (
                "no customer",
                || pb::Order {
                    customer_id: " ".into(),
                    ..order()
                },
                "order.customer_id",
            ),
            (
                "no channel",
                || pb::Order {
                    channel: 0,
                    ..order()
                },
                "order.channel",
            ),
            (
                "unknown channel",
                || pb::Order {
                    channel: 42,
                    ..order()
                },
                "order.channel",
            ),
            (
                "no service level",
                || pb::Order {
                    service_level: 0,
                    ..order()
                },
                "order.service_level",
            ),
            (
                "no distance",
                || pb::Order {
                    distance_km: 0,
                    ..order()
                },
                "order.distance_km",
            ),
            (
                "no origin",
                || pb::Order {
                    origin: None,
                    ..order()
                },
                "order.origin",
            ),
            (
                "no destination city",
                || pb::Order {
                    destination: Some(Address {
                        province: "Fujian".into(),
                        ..Default::default()
                    }),
                    ..order()
                },
                "order.destination.city",
            ),
            (
                "no lines",
                || pb::Order {
                    lines: vec![],
                    ..order()
                },
                "order.lines",
            ),
            (
                "no description",
                || {
                    let mut o = order();
                    o.lines[0].description.clear();
                    o
                },
                "order.lines[0].description",
            ),
            (
                "no pieces",
                || {
                    let mut o = order();
                    o.lines[0].pieces = 0;
                    o
                },
                "order.lines[0].pieces",
            ),
            (
                "no weight",
                || {
                    let mut o = order();
                    o.lines[0].weight_grams = 0;
                    o
                },
                "order.lines[0].weight_grams",
            ),
            (
                "no volume",
                || {
                    let mut o = order();
                    o.lines[0].volume_cm3 = -1;
                    o
                },
                "order.lines[0].volume_cm3",
            ),
            (
                "negative value",
                || {
                    let mut o = order();
                    o.lines[0].declared_value = Some(money(-1));
                    o
                },
                "order.lines[0].declared_value.minor_units",
            ),
            (
                "other currency",
                || {
                    let mut o = order();
                    o.lines[0].declared_value = Some(Money {
                        currency_code: "USD".into(),
                        minor_units: 1,
                    });
                    o
                },
                "order.lines[0].declared_value.currency_code",
            ),
            (
                "special without kind",
                || {
                    let mut o = order();
                    o.lines[0].special = Some(pb::SpecialCargo { kind: None });
                    o
                },
                "order.lines[0].special",
            ),
            (
                "fragile without instructions",
                || special(Special::Fragile(pb::Fragile::default())),
                "order.lines[0].special.fragile.handling_instructions",
            ),
            (
                "perishable without expiry",
                || {
                    special(Special::Perishable(pb::Perishable {
                        min_temperature_celsius: 0,
                        max_temperature_celsius: 4,
                        expire_time: None,
                    }))
                },
                "order.lines[0].special.perishable.expire_time",
            ),
            (
                "perishable range upside down",
                || {
                    special(Special::Perishable(pb::Perishable {
                        min_temperature_celsius: 8,
                        max_temperature_celsius: 2,
                        expire_time: None,
                    }))
                },
                "order.lines[0].special.perishable.max_temperature_celsius",
            ),
            (
                "perishable expired",
                || {
                    special(Special::Perishable(pb::Perishable {
                        min_temperature_celsius: 0,
                        max_temperature_celsius: 4,
                        expire_time: Some(prost_types::Timestamp {
                            seconds: 1,
                            nanos: 0,
                        }),
                    }))
                },
                "order.lines[0].special.perishable.expire_time",
            ),
            (
                "dangerous UN number",
                || {
                    special(Special::Dangerous(pb::Dangerous {
                        un_number: "1203".into(),
                        hazard_class: "3".into(),
                        packing_group: String::new(),
                    }))
                },
                "order.lines[0].special.dangerous.un_number",
            ),
            (
                "dangerous class",
                || {
                    special(Special::Dangerous(pb::Dangerous {
                        un_number: "UN1203".into(),
                        hazard_class: "10".into(),
                        packing_group: String::new(),
                    }))
                },
                "order.lines[0].special.dangerous.hazard_class",
            ),
            (
                "dangerous packing group",
                || {
                    special(Special::Dangerous(pb::Dangerous {
                        un_number: "UN1203".into(),
                        hazard_class: "2.1".into(),
                        packing_group: "IV".into(),
                    }))
                },
                "order.lines[0].special.dangerous.packing_group",
            ),
            (
                "valuables uninsured",
                || {
                    special(Special::Valuables(pb::Valuables {
                        insured_value: None,
                        escort_required: false,
                    }))
                },
                "order.lines[0].special.valuables.insured_value",
            ),
            (
                "valuables underinsured",
                || {
                    special(Special::Valuables(pb::Valuables {
                        insured_value: Some(money(1)),
                        escort_required: false,
                    }))
                },
                "order.lines[0].special.valuables.insured_value",
            ),
            (
                "remains without certificate",
                || {
                    special(Special::HumanRemains(pb::HumanRemains {
                        transport_permit_number: "P".into(),
                        consignee_relationship: "son".into(),
                        ..Default::default()
                    }))
                },
                "order.lines[0].special.human_remains.death_certificate_number",
            ),
            (
                "remains without permit",
                || {
                    special(Special::HumanRemains(pb::HumanRemains {
                        death_certificate_number: "D".into(),
                        consignee_relationship: "son".into(),
                        ..Default::default()
                    }))
                },
                "order.lines[0].special.human_remains.transport_permit_number",
            ),
            (
                "remains without consignee",
                || {
                    special(Special::HumanRemains(pb::HumanRemains {
                        death_certificate_number: "D".into(),
                        transport_permit_number: "P".into(),
                        ..Default::default()
                    }))
                },
                "order.lines[0].special.human_remains.consignee_relationship",
            ),
        ];
        for (name, make, field) in cases {
            let fields = violated(&make());
            assert!(
                fields.iter().any(|f| f == field),
                "{name}: expected {field} in {fields:?}"
            );
        }
    }

    fn pick_list() -> Vec<pb::PickLine> {
        vec![
            pb::PickLine {
                line_number: 0,
                pieces_ordered: 3,
                ..Default::default()
            },
            pb::PickLine {
                line_number: 1,
                pieces_ordered: 2,
                ..Default::default()
            },
        ]
    }

    #[test]
    fn ot5_short_picks_are_recorded_and_block_packing_until_resolved() {
        let reported = vec![
            pb::PickLine {
                line_number: 0,
                pieces_picked: 3,
                ..Default::default()
            },
            pb::PickLine {
                line_number: 1,
                pieces_picked: 1,
                ..Default::default()
            },
        ];
        let mut picked = check_pick(&pick_list(), &reported).unwrap();
        assert_eq!(open_short_picks(&picked), [1]);
        picked[1].resolution = "customer accepts one piece".into();
        assert!(open_short_picks(&picked).is_empty());
        let over = vec![pb::PickLine {
            line_number: 0,
            pieces_picked: 4,
            ..Default::default()
        }];
        assert!(check_pick(&pick_list(), &over).is_err());
        let unknown = vec![pb::PickLine {
            line_number: 9,
            pieces_picked: 1,
            ..Default::default()
        }];
        assert!(check_pick(&pick_list(), &unknown).is_err());
    }

    #[test]
    fn ot5_packing_covers_every_picked_line_once() {
        let picked = check_pick(
            &pick_list(),
            &[
                pb::PickLine {
                    line_number: 0,
                    pieces_picked: 3,
                    ..Default::default()
                },
                pb::PickLine {
                    line_number: 1,
                    pieces_picked: 2,
                    ..Default::default()
                },
            ],
        )
        .unwrap();
        let package = |id: &str, lines: Vec<i32>| pb::Package {
            package_id: id.into(),
            line_numbers: lines,
            weight_grams: 500,
        };
        assert!(check_packing(&picked, &[package("P1", vec![0, 1])]).is_ok());
        assert!(
            check_packing(&picked, &[package("P1", vec![0])]).is_err(),
            "line 1 unpacked"
        );
        assert!(
            check_packing(
                &picked,
                &[package("P1", vec![0, 1]), package("P2", vec![1])]
            )
            .is_err(),
            "line 1 twice"
        );
        assert!(check_packing(&picked, &[]).is_err());
    }

    #[test]
    fn ot6_handover_needs_documents_both_sides_signer_time_and_proof() {
        let now = prost_types::Timestamp {
            seconds: Utc::now().timestamp(),
            nanos: 0,
        };
        let full = pb::Handover {
            document_numbers: vec!["WB-1".into()],
            handed_by: "courier 7".into(),
            signer_name: "Wang".into(),
            sign_time: Some(now),
            proof_uri: "docs://proof/1".into(),
        };
        assert!(check_handover(Some(&full)).is_ok());
        let missing = |h: pb::Handover| {
            check_handover(Some(&h))
                .err()
                .unwrap()
                .into_iter()
                .map(|v| v.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            missing(pb::Handover {
                signer_name: String::new(),
                ..full.clone()
            }),
            ["handover.signer_name"]
        );
        assert_eq!(
            missing(pb::Handover {
                proof_uri: String::new(),
                ..full.clone()
            }),
            ["handover.proof_uri"]
        );
        assert_eq!(
            missing(pb::Handover {
                sign_time: None,
                ..full.clone()
            }),
            ["handover.sign_time"]
        );
        assert_eq!(
            missing(pb::Handover {
                document_numbers: vec![],
                ..full.clone()
            }),
            ["handover.document_numbers"]
        );
        assert_eq!(
            missing(pb::Handover {
                handed_by: String::new(),
                ..full
            }),
            ["handover.handed_by"]
        );
        assert!(check_handover(None).is_err());
    }

    #[test]
    fn ot9_returns_match_lines_of_the_original() {
        let original = order().lines;
        assert!(check_return(&original, &original, "CNY").is_ok());
        let mut more = original.clone();
        more[0].pieces = 4;
        assert!(check_return(&original, &more, "CNY").is_err());
        let mut other = original.clone();
        other[0].description = "coffee".into();
        assert!(check_return(&original, &other, "CNY").is_err());
    }
}
