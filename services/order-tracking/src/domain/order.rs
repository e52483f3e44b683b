//! The order and everything recorded on it (OT-1 to OT-9), as order-tracking's own types.

use chrono::{DateTime, Utc};

use super::Refusal;
use super::lifecycle::OrderState;

/// An amount in integer minor units (fen for CNY).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Money {
    pub currency: String,
    pub minor_units: i64,
}

/// OT-1: where the order came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Counter,
    Phone,
    Fax,
    Web,
    Email,
    /// Another company system, through the API.
    Api,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Counter,
        Channel::Phone,
        Channel::Fax,
        Channel::Web,
        Channel::Email,
        Channel::Api,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Channel::Counter => "counter",
            Channel::Phone => "phone",
            Channel::Fax => "fax",
            Channel::Web => "web",
            Channel::Email => "email",
            Channel::Api => "api",
        }
    }
}

/// OT-3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceLevel {
    Economy,
    Standard,
    Express,
}

impl ServiceLevel {
    pub fn code(self) -> &'static str {
        match self {
            ServiceLevel::Economy => "economy",
            ServiceLevel::Standard => "standard",
            ServiceLevel::Express => "express",
        }
    }
}

/// OT-3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    Unpaid,
    Paid,
    /// Billed to the customer's account under its contract.
    OnAccount,
    Refunded,
}

/// A place of pick-up or delivery. The street is personal data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub label: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub street: String,
    pub postal_code: String,
}

/// OT-2: special cargo, each kind with the fields it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecialCargo {
    Fragile {
        handling_instructions: String,
    },
    Perishable {
        min_temperature_celsius: i32,
        max_temperature_celsius: i32,
        expires_at: Option<DateTime<Utc>>,
    },
    Dangerous {
        un_number: String,
        hazard_class: String,
        packing_group: String,
    },
    Valuables {
        insured_value: Option<Money>,
        escort_required: bool,
    },
    HumanRemains {
        death_certificate_number: String,
        transport_permit_number: String,
        consignee_relationship: String,
    },
}

impl SpecialCargo {
    /// The code its surcharge is configured under.
    pub fn code(&self) -> &'static str {
        match self {
            SpecialCargo::Fragile { .. } => "fragile",
            SpecialCargo::Perishable { .. } => "perishable",
            SpecialCargo::Dangerous { .. } => "dangerous",
            SpecialCargo::Valuables { .. } => "valuables",
            SpecialCargo::HumanRemains { .. } => "human_remains",
        }
    }
}

/// OT-2: one line of cargo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CargoLine {
    pub description: String,
    pub pieces: i32,
    /// The line's total weight, grams.
    pub weight_grams: i64,
    /// The line's total volume, cubic centimetres.
    pub volume_cm3: i64,
    pub declared_value: Option<Money>,
    pub special: Option<SpecialCargo>,
}

/// OT-3: a surcharge and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Surcharge {
    pub reason: String,
    pub amount: Money,
}

/// OT-3: how a price was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub chargeable_weight_grams: i64,
    pub distance_band: String,
    pub service_level: ServiceLevel,
    pub base: Money,
    pub weight_charge: Money,
    pub service_level_charge: Money,
    pub surcharges: Vec<Surcharge>,
    pub total: Money,
}

/// OT-5: one line of the pick list and what was picked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PickLine {
    pub line_number: i32,
    pub pieces_ordered: i32,
    pub pieces_picked: i32,
    /// A short pick stays open until resolved.
    pub short: bool,
    pub resolution: String,
}

/// OT-5: one package of the packing list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Package {
    pub package_id: String,
    pub line_numbers: Vec<i32>,
    pub weight_grams: i64,
}

/// OT-6: the signed handover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handover {
    pub document_numbers: Vec<String>,
    /// The courier's side.
    pub handed_by: String,
    /// Who signed on the customer's side.
    pub signer_name: String,
    pub signed_at: Option<DateTime<Utc>>,
    /// Reference of the proof in the document store.
    pub proof_uri: String,
}

/// OT-7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExceptionKind {
    Damage,
    Loss,
    Delay,
    HandoverDispute,
}

impl ExceptionKind {
    pub const ALL: [ExceptionKind; 4] = [
        ExceptionKind::Damage,
        ExceptionKind::Loss,
        ExceptionKind::Delay,
        ExceptionKind::HandoverDispute,
    ];
}

/// OT-7: an exception recorded on an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderException {
    pub id: String,
    pub order_id: String,
    pub kind: ExceptionKind,
    pub description: String,
    /// Staff id, or "system" for an automatic delay (OT-8).
    pub reporter_id: String,
    pub raised_at: DateTime<Utc>,
}

/// OT-9: why goods come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnReason {
    /// 误差: wrong goods or quantity.
    Discrepancy,
    Damage,
    /// 缺漏: missing goods.
    Shortage,
}

/// OT-4: one accepted move; the first entry of every order has no `from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub from: Option<OrderState>,
    pub to: OrderState,
    pub actor_id: String,
    pub location: String,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// An order as order-tracking keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub channel: Channel,
    pub state: OrderState,
    pub lines: Vec<CargoLine>,
    pub origin: Place,
    pub destination: Place,
    pub distance_km: i32,
    pub service_level: ServiceLevel,
    pub price: Price,
    pub payment_status: PaymentStatus,
    /// OT-8: when delivery was promised.
    pub promised_at: DateTime<Utc>,
    pub pick_lines: Vec<PickLine>,
    pub packages: Vec<Package>,
    pub handover: Option<Handover>,
    pub exceptions: Vec<OrderException>,
    /// Oldest first.
    pub history: Vec<StateChange>,
    /// OT-9: set on a return order.
    pub original_order_id: String,
    pub return_reason: Option<ReturnReason>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases with every change.
    pub version: i64,
    /// The customer's tier code at intake (OT-10's reports group by it).
    pub tier: String,
    /// OT-8: the automatic delay was raised.
    pub delay_raised: bool,
}

impl Order {
    /// When the order reached DELIVERED, from its history.
    pub fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.history
            .iter()
            .rev()
            .find(|c| c.to == OrderState::Delivered)
            .map(|c| c.at)
    }

    /// OT-3: records a payment or a change of payment status; a cancelled order is never
    /// paid.
    pub fn set_payment_status(&mut self, status: PaymentStatus) -> Result<(), Refusal> {
        if self.state == OrderState::Cancelled && status == PaymentStatus::Paid {
            return Err(Refusal::Precondition(
                "a cancelled order cannot be paid".into(),
            ));
        }
        self.payment_status = status;
        Ok(())
    }

    /// CR-11 for orders: empties every text that may name or locate a person (streets and
    /// place labels, cargo descriptions and handling notes, the signer, notes, locations,
    /// exception descriptions, pick resolutions), keeping the codes, amounts and times that
    /// the anonymous history needs. Whether anything was left to empty.
    pub fn erase(&mut self) -> bool {
        let mut texts: Vec<&mut String> = Vec::new();
        for place in [&mut self.origin, &mut self.destination] {
            texts.push(&mut place.street);
            texts.push(&mut place.label);
        }
        for line in &mut self.lines {
            texts.push(&mut line.description);
            match &mut line.special {
                Some(SpecialCargo::Fragile {
                    handling_instructions,
                }) => texts.push(handling_instructions),
                Some(SpecialCargo::HumanRemains {
                    death_certificate_number,
                    transport_permit_number,
                    consignee_relationship,
                }) => texts.extend([
                    death_certificate_number,
                    transport_permit_number,
                    consignee_relationship,
                ]),
                _ => {}
            }
        }
        for pick in &mut self.pick_lines {
            texts.push(&mut pick.resolution);
        }
        if let Some(handover) = &mut self.handover {
            texts.push(&mut handover.signer_name);
        }
        for exception in &mut self.exceptions {
            texts.push(&mut exception.description);
        }
        for change in &mut self.history {
            texts.push(&mut change.note);
            texts.push(&mut change.location);
        }
        let mut erased = false;
        for text in texts {
            erased |= !text.is_empty();
            text.clear();
        }
        erased
    }

    /// The order as every caller sees it: street-level addresses masked.
    pub fn masked(&self) -> Order {
        let mut shown = self.clone();
        for place in [&mut shown.origin, &mut shown.destination] {
            place.street = kefu_platform::pii::mask_all(&place.street);
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::verify::tests::stored_order;

    #[test]
    fn ot3_a_cancelled_order_is_never_paid_but_may_be_refunded() {
        let mut order = stored_order();
        order.set_payment_status(PaymentStatus::Paid).unwrap();
        order.state = OrderState::Cancelled;
        assert!(matches!(
            order.set_payment_status(PaymentStatus::Paid),
            Err(Refusal::Precondition(_))
        ));
        order.set_payment_status(PaymentStatus::Refunded).unwrap();
        assert_eq!(order.payment_status, PaymentStatus::Refunded);
    }

    #[test]
    fn cr11_erasure_empties_every_text_and_keeps_the_history() {
        let mut order = stored_order();
        order.origin.street = "1 Wusi Rd".into();
        order.handover = Some(Handover {
            signer_name: "Canary Lin".into(),
            handed_by: "courier-7".into(),
            ..Default::default()
        });
        order.history[0].note = "left with the neighbour".into();
        let before = order.clone();
        assert!(order.erase());
        assert!(order.origin.street.is_empty());
        assert!(order.handover.as_ref().unwrap().signer_name.is_empty());
        assert!(order.history[0].note.is_empty());
        assert_eq!(order.handover.as_ref().unwrap().handed_by, "courier-7");
        assert_eq!(order.history.len(), before.history.len());
        assert_eq!(order.price, before.price);
        assert_eq!(order.origin.city, before.origin.city);
        assert!(!order.erase(), "nothing is left the second time");
    }

    #[test]
    fn x4_answers_mask_streets_but_keep_cities() {
        let mut order = stored_order();
        order.origin.street = "1 Wusi Rd".into();
        let shown = order.masked();
        assert_eq!(shown.origin.street, "***");
        assert_eq!(shown.origin.city, order.origin.city);
        assert_eq!(
            order.origin.street, "1 Wusi Rd",
            "the stored order keeps it"
        );
    }
}
