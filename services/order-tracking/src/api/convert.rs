//! The contract's messages to and from the domain's types. The order itself converts both
//! ways by `From`/`TryFrom`, which the stored document and the hot store use too: the stored
//! form of an order is the contract's `Order` message (an evolvable binary form), plus the
//! columns for what the contract does not show. A number the contract does not know is a bad
//! field on the way in, and a corrupt row on the way back.

use kefu_platform::error::{FieldViolation, Violations};
use kefu_platform::time::{from_timestamp, to_timestamp};
use kefu_proto::common as pc;
use kefu_proto::order as pb;
use pb::special_cargo::Kind as Special;

use crate::domain::cycle_time::Row;
use crate::domain::verify::NewOrder;
use crate::domain::{
    CargoLine, Channel, ExceptionKind, Handover, Money, Order, OrderException, OrderState, Package,
    PaymentStatus, PickLine, Place, Price, ReturnReason, ServiceLevel, SpecialCargo, StateChange,
    Surcharge,
};

macro_rules! enum_map {
    ($domain:ty, $proto:ty, $unspecified:path, $( $d:path => $p:path ),+ $(,)?) => {
        impl From<$domain> for $proto {
            fn from(value: $domain) -> Self {
                match value { $( $d => $p ),+ }
            }
        }

        impl From<$domain> for i32 {
            fn from(value: $domain) -> Self {
                <$proto>::from(value) as i32
            }
        }

        /// The domain's value of a number: `None` for UNSPECIFIED and for numbers the
        /// contract does not have.
        impl FromWire for $domain {
            fn from_wire(value: i32) -> Option<Self> {
                match <$proto>::try_from(value).ok()? {
                    $unspecified => None,
                    $( $p => Some($d) ),+
                }
            }
        }
    };
}

/// A contract enum number as the domain's value.
pub(crate) trait FromWire: Sized {
    fn from_wire(value: i32) -> Option<Self>;
}

enum_map!(Channel, pb::Channel, pb::Channel::Unspecified,
    Channel::Counter => pb::Channel::Counter,
    Channel::Phone => pb::Channel::Phone,
    Channel::Fax => pb::Channel::Fax,
    Channel::Web => pb::Channel::Web,
    Channel::Email => pb::Channel::Email,
    Channel::Api => pb::Channel::Api,
);

enum_map!(ServiceLevel, pb::ServiceLevel, pb::ServiceLevel::Unspecified,
    ServiceLevel::Economy => pb::ServiceLevel::Economy,
    ServiceLevel::Standard => pb::ServiceLevel::Standard,
    ServiceLevel::Express => pb::ServiceLevel::Express,
);

enum_map!(PaymentStatus, pb::PaymentStatus, pb::PaymentStatus::Unspecified,
    PaymentStatus::Unpaid => pb::PaymentStatus::Unpaid,
    PaymentStatus::Paid => pb::PaymentStatus::Paid,
    PaymentStatus::OnAccount => pb::PaymentStatus::OnAccount,
    PaymentStatus::Refunded => pb::PaymentStatus::Refunded,
);

enum_map!(OrderState, pb::OrderState, pb::OrderState::Unspecified,
    OrderState::Received => pb::OrderState::Received,
    OrderState::Verified => pb::OrderState::Verified,
    OrderState::Picking => pb::OrderState::Picking,
    OrderState::Packed => pb::OrderState::Packed,
    OrderState::Dispatched => pb::OrderState::Dispatched,
    OrderState::InTransit => pb::OrderState::InTransit,
    OrderState::Arrived => pb::OrderState::Arrived,
    OrderState::OutForDelivery => pb::OrderState::OutForDelivery,
    OrderState::Delivered => pb::OrderState::Delivered,
    OrderState::Completed => pb::OrderState::Completed,
    OrderState::Cancelled => pb::OrderState::Cancelled,
);

enum_map!(ExceptionKind, pb::ExceptionKind, pb::ExceptionKind::Unspecified,
    ExceptionKind::Damage => pb::ExceptionKind::Damage,
    ExceptionKind::Loss => pb::ExceptionKind::Loss,
    ExceptionKind::Delay => pb::ExceptionKind::Delay,
    ExceptionKind::HandoverDispute => pb::ExceptionKind::HandoverDispute,
);

enum_map!(ReturnReason, pb::ReturnReason, pb::ReturnReason::Unspecified,
    ReturnReason::Discrepancy => pb::ReturnReason::Discrepancy,
    ReturnReason::Damage => pb::ReturnReason::Damage,
    ReturnReason::Shortage => pb::ReturnReason::Shortage,
);

/// A filter's enum: `Ok(None)` for UNSPECIFIED (no filter), a bad field for an unknown number.
pub(crate) fn filter<T: FromWire>(value: i32, field: &str) -> Result<Option<T>, FieldViolation> {
    match T::from_wire(value) {
        Some(v) => Ok(Some(v)),
        None if value == 0 => Ok(None),
        None => Err(FieldViolation {
            field: field.into(),
            description: "unknown value".into(),
        }),
    }
}

impl From<&Money> for pc::Money {
    fn from(m: &Money) -> Self {
        pc::Money {
            currency_code: m.currency.clone(),
            minor_units: m.minor_units,
        }
    }
}

pub(crate) fn money(m: pc::Money) -> Money {
    Money {
        currency: m.currency_code,
        minor_units: m.minor_units,
    }
}

fn place_to(p: &Place) -> pc::Address {
    pc::Address {
        label: p.label.clone(),
        province: p.province.clone(),
        city: p.city.clone(),
        district: p.district.clone(),
        street: p.street.clone(),
        postal_code: p.postal_code.clone(),
    }
}

fn place(a: pc::Address) -> Place {
    Place {
        label: a.label,
        province: a.province,
        city: a.city,
        district: a.district,
        street: a.street,
        postal_code: a.postal_code,
    }
}

fn special_to(s: &SpecialCargo) -> pb::SpecialCargo {
    let kind = match s {
        SpecialCargo::Fragile {
            handling_instructions,
        } => Special::Fragile(pb::Fragile {
            handling_instructions: handling_instructions.clone(),
        }),
        SpecialCargo::Perishable {
            min_temperature_celsius,
            max_temperature_celsius,
            expires_at,
        } => Special::Perishable(pb::Perishable {
            min_temperature_celsius: *min_temperature_celsius,
            max_temperature_celsius: *max_temperature_celsius,
            expire_time: expires_at.map(to_timestamp),
        }),
        SpecialCargo::Dangerous {
            un_number,
            hazard_class,
            packing_group,
        } => Special::Dangerous(pb::Dangerous {
            un_number: un_number.clone(),
            hazard_class: hazard_class.clone(),
            packing_group: packing_group.clone(),
        }),
        SpecialCargo::Valuables {
            insured_value,
            escort_required,
        } => Special::Valuables(pb::Valuables {
            insured_value: insured_value.as_ref().map(pc::Money::from),
            escort_required: *escort_required,
        }),
        SpecialCargo::HumanRemains {
            death_certificate_number,
            transport_permit_number,
            consignee_relationship,
        } => Special::HumanRemains(pb::HumanRemains {
            death_certificate_number: death_certificate_number.clone(),
            transport_permit_number: transport_permit_number.clone(),
            consignee_relationship: consignee_relationship.clone(),
        }),
    };
    pb::SpecialCargo { kind: Some(kind) }
}

fn special(kind: Special) -> SpecialCargo {
    match kind {
        Special::Fragile(f) => SpecialCargo::Fragile {
            handling_instructions: f.handling_instructions,
        },
        Special::Perishable(p) => SpecialCargo::Perishable {
            min_temperature_celsius: p.min_temperature_celsius,
            max_temperature_celsius: p.max_temperature_celsius,
            expires_at: p.expire_time.as_ref().and_then(from_timestamp),
        },
        Special::Dangerous(d) => SpecialCargo::Dangerous {
            un_number: d.un_number,
            hazard_class: d.hazard_class,
            packing_group: d.packing_group,
        },
        Special::Valuables(v) => SpecialCargo::Valuables {
            insured_value: v.insured_value.map(money),
            escort_required: v.escort_required,
        },
        Special::HumanRemains(h) => SpecialCargo::HumanRemains {
            death_certificate_number: h.death_certificate_number,
            transport_permit_number: h.transport_permit_number,
            consignee_relationship: h.consignee_relationship,
        },
    }
}

fn line_to(l: &CargoLine) -> pb::CargoLine {
    pb::CargoLine {
        description: l.description.clone(),
        pieces: l.pieces,
        weight_grams: l.weight_grams,
        volume_cm3: l.volume_cm3,
        declared_value: l.declared_value.as_ref().map(pc::Money::from),
        special: l.special.as_ref().map(special_to),
    }
}

/// Cargo lines as a caller gave them, under `path`: a special marked with no kind is a bad
/// field (the domain never sees one).
pub(crate) fn lines(given: Vec<pb::CargoLine>, path: &str, v: &mut Violations) -> Vec<CargoLine> {
    given
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let special = match l.special {
                None => None,
                Some(pb::SpecialCargo { kind: None }) => {
                    v.add(
                        format!("{path}[{i}].special"),
                        "name the kind: fragile, perishable, dangerous, valuables or human_remains",
                    );
                    None
                }
                Some(pb::SpecialCargo { kind: Some(kind) }) => Some(special(kind)),
            };
            CargoLine {
                description: l.description,
                pieces: l.pieces,
                weight_grams: l.weight_grams,
                volume_cm3: l.volume_cm3,
                declared_value: l.declared_value.map(money),
                special,
            }
        })
        .collect()
}

/// What a caller gives at intake, with what cannot even be read named in `v`.
pub(crate) fn new_order(o: pb::Order, v: &mut Violations) -> NewOrder {
    NewOrder {
        customer_id: o.customer_id,
        channel: Channel::from_wire(o.channel),
        service_level: ServiceLevel::from_wire(o.service_level),
        distance_km: o.distance_km,
        origin: o.origin.map(place),
        destination: o.destination.map(place),
        lines: lines(o.lines, "order.lines", v),
    }
}

pub(crate) fn price_to(p: &Price) -> pb::PriceBreakdown {
    pb::PriceBreakdown {
        chargeable_weight_grams: p.chargeable_weight_grams,
        distance_band: p.distance_band.clone(),
        service_level: p.service_level.into(),
        base: Some((&p.base).into()),
        weight_charge: Some((&p.weight_charge).into()),
        service_level_charge: Some((&p.service_level_charge).into()),
        surcharges: p
            .surcharges
            .iter()
            .map(|s| pb::Surcharge {
                reason: s.reason.clone(),
                amount: Some((&s.amount).into()),
            })
            .collect(),
        total: Some((&p.total).into()),
    }
}

pub(crate) fn pick_lines(given: Vec<pb::PickLine>) -> Vec<PickLine> {
    given
        .into_iter()
        .map(|p| PickLine {
            line_number: p.line_number,
            pieces_ordered: p.pieces_ordered,
            pieces_picked: p.pieces_picked,
            short: p.short,
            resolution: p.resolution,
        })
        .collect()
}

pub(crate) fn packages(given: Vec<pb::Package>) -> Vec<Package> {
    given
        .into_iter()
        .map(|p| Package {
            package_id: p.package_id,
            line_numbers: p.line_numbers,
            weight_grams: p.weight_grams,
        })
        .collect()
}

pub(crate) fn handover(h: pb::Handover) -> Handover {
    Handover {
        document_numbers: h.document_numbers,
        handed_by: h.handed_by,
        signer_name: h.signer_name,
        signed_at: h.sign_time.as_ref().and_then(from_timestamp),
        proof_uri: h.proof_uri,
    }
}

pub(crate) fn exception_to(e: &OrderException) -> pb::OrderException {
    pb::OrderException {
        id: e.id.clone(),
        order_id: e.order_id.clone(),
        kind: e.kind.into(),
        description: e.description.clone(),
        reporter_id: e.reporter_id.clone(),
        raise_time: Some(to_timestamp(e.raised_at)),
    }
}

pub(crate) fn cycle_row(r: Row) -> pb::CycleTimeRow {
    pb::CycleTimeRow {
        channel: r.channel.into(),
        tier: format!("TIER_{}", r.tier.to_ascii_uppercase()),
        period_start_time: Some(to_timestamp(r.period_start)),
        order_count: r.count,
        median_seconds: r.median_seconds,
        p90_seconds: r.p90_seconds,
    }
}

impl From<&Order> for pb::Order {
    fn from(o: &Order) -> Self {
        pb::Order {
            id: o.id.clone(),
            customer_id: o.customer_id.clone(),
            channel: o.channel.into(),
            state: o.state.into(),
            lines: o.lines.iter().map(line_to).collect(),
            origin: Some(place_to(&o.origin)),
            destination: Some(place_to(&o.destination)),
            distance_km: o.distance_km,
            service_level: o.service_level.into(),
            price: Some(price_to(&o.price)),
            payment_status: o.payment_status.into(),
            promised_delivery_time: Some(to_timestamp(o.promised_at)),
            pick_lines: o
                .pick_lines
                .iter()
                .map(|p| pb::PickLine {
                    line_number: p.line_number,
                    pieces_ordered: p.pieces_ordered,
                    pieces_picked: p.pieces_picked,
                    short: p.short,
                    resolution: p.resolution.clone(),
                })
                .collect(),
            packages: o
                .packages
                .iter()
                .map(|p| pb::Package {
                    package_id: p.package_id.clone(),
                    line_numbers: p.line_numbers.clone(),
                    weight_grams: p.weight_grams,
                })
                .collect(),
            handover: o.handover.as_ref().map(|h| pb::Handover {
                document_numbers: h.document_numbers.clone(),
                handed_by: h.handed_by.clone(),
                signer_name: h.signer_name.clone(),
                sign_time: h.signed_at.map(to_timestamp),
                proof_uri: h.proof_uri.clone(),
            }),
            exceptions: o.exceptions.iter().map(exception_to).collect(),
            history: o
                .history
                .iter()
                .map(|c| pb::StateChange {
                    from_state: c.from.map_or(0, i32::from),
                    to_state: c.to.into(),
                    actor_id: c.actor_id.clone(),
                    location: c.location.clone(),
                    note: c.note.clone(),
                    change_time: Some(to_timestamp(c.at)),
                })
                .collect(),
            original_order_id: o.original_order_id.clone(),
            return_reason: o.return_reason.map_or(0, i32::from),
            create_time: Some(to_timestamp(o.created_at)),
            update_time: Some(to_timestamp(o.updated_at)),
            version: o.version,
        }
    }
}

/// Reading back a document that makes no order: what is wrong with it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub &'static str);

fn known<T: FromWire>(value: i32, what: &'static str) -> Result<T, Unreadable> {
    T::from_wire(value).ok_or(Unreadable(what))
}

fn time(
    t: Option<prost_types::Timestamp>,
    what: &'static str,
) -> Result<chrono::DateTime<chrono::Utc>, Unreadable> {
    t.as_ref().and_then(from_timestamp).ok_or(Unreadable(what))
}

fn stored_money(m: Option<pc::Money>, what: &'static str) -> Result<Money, Unreadable> {
    m.map(money).ok_or(Unreadable(what))
}

/// An order read back from its document (stored or hot). The store fills in what only its
/// columns hold: the tier at intake and the delay flag.
impl TryFrom<pb::Order> for Order {
    type Error = Unreadable;

    fn try_from(o: pb::Order) -> Result<Self, Unreadable> {
        let price = o.price.ok_or(Unreadable("price"))?;
        let mut v = Violations::new();
        let lines = lines(o.lines, "lines", &mut v);
        if !v.is_empty() {
            return Err(Unreadable("special cargo"));
        }
        Ok(Order {
            id: o.id,
            customer_id: o.customer_id,
            channel: known(o.channel, "channel")?,
            state: known(o.state, "state")?,
            lines,
            origin: place(o.origin.ok_or(Unreadable("origin"))?),
            destination: place(o.destination.ok_or(Unreadable("destination"))?),
            distance_km: o.distance_km,
            service_level: known(o.service_level, "service_level")?,
            price: Price {
                chargeable_weight_grams: price.chargeable_weight_grams,
                distance_band: price.distance_band,
                service_level: known(price.service_level, "price.service_level")?,
                base: stored_money(price.base, "price.base")?,
                weight_charge: stored_money(price.weight_charge, "price.weight_charge")?,
                service_level_charge: stored_money(
                    price.service_level_charge,
                    "price.service_level_charge",
                )?,
                surcharges: price
                    .surcharges
                    .into_iter()
                    .map(|s| {
                        Ok(Surcharge {
                            reason: s.reason,
                            amount: stored_money(s.amount, "price.surcharges")?,
                        })
                    })
                    .collect::<Result<_, Unreadable>>()?,
                total: stored_money(price.total, "price.total")?,
            },
            payment_status: known(o.payment_status, "payment_status")?,
            promised_at: time(o.promised_delivery_time, "promised_delivery_time")?,
            pick_lines: pick_lines(o.pick_lines),
            packages: packages(o.packages),
            handover: o.handover.map(handover),
            exceptions: o
                .exceptions
                .into_iter()
                .map(|e| {
                    Ok(OrderException {
                        kind: known(e.kind, "exceptions.kind")?,
                        raised_at: time(e.raise_time, "exceptions.raise_time")?,
                        id: e.id,
                        order_id: e.order_id,
                        description: e.description,
                        reporter_id: e.reporter_id,
                    })
                })
                .collect::<Result<_, Unreadable>>()?,
            history: o
                .history
                .into_iter()
                .map(|c| {
                    Ok(StateChange {
                        from: OrderState::from_wire(c.from_state),
                        to: known(c.to_state, "history.to_state")?,
                        at: time(c.change_time, "history.change_time")?,
                        actor_id: c.actor_id,
                        location: c.location,
                        note: c.note,
                    })
                })
                .collect::<Result<_, Unreadable>>()?,
            original_order_id: o.original_order_id,
            return_reason: ReturnReason::from_wire(o.return_reason),
            created_at: time(o.create_time, "create_time")?,
            updated_at: time(o.update_time, "update_time")?,
            version: o.version,
            tier: String::new(),
            delay_raised: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_survives_its_document_and_unknown_numbers_are_caught() {
        let mut order = crate::domain::verify::tests::stored_order();
        order.lines[0].special = Some(SpecialCargo::Valuables {
            insured_value: Some(order.price.total.clone()),
            escort_required: true,
        });
        order.return_reason = Some(ReturnReason::Shortage);
        let document = pb::Order::from(&order);
        let mut back = Order::try_from(document.clone()).unwrap();
        back.tier.clone_from(&order.tier);
        assert_eq!(back, order);
        let mut broken = document;
        broken.state = 99;
        assert_eq!(Order::try_from(broken), Err(Unreadable("state")));
    }

    #[test]
    fn a_special_without_a_kind_and_unknown_enums_are_bad_fields_at_intake() {
        let mut v = Violations::new();
        let given = pb::Order {
            channel: 42,
            lines: vec![pb::CargoLine {
                special: Some(pb::SpecialCargo { kind: None }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let draft = new_order(given, &mut v);
        assert_eq!(
            draft.channel, None,
            "an unknown channel reads as none: required"
        );
        let fields: Vec<_> = v.into_vec().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["order.lines[0].special"]);
        assert_eq!(filter::<OrderState>(0, "state").unwrap(), None);
        assert!(filter::<OrderState>(99, "state").is_err());
    }
}
