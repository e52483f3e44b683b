//! OT-4: the only legal moves of an order, each recorded on it with time, actor, location
//! and note; PACKED only once packing is recorded with no short pick open (OT-5), and
//! DELIVERED only through a signed handover (OT-6).

use std::fmt;

use chrono::{DateTime, Utc};

use super::{Order, PickLine, Refusal, StateChange};

/// The states of OT-4, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderState {
    Received,
    Verified,
    Picking,
    Packed,
    Dispatched,
    InTransit,
    Arrived,
    OutForDelivery,
    Delivered,
    Completed,
    Cancelled,
}

impl OrderState {
    pub const ALL: [OrderState; 11] = [
        OrderState::Received,
        OrderState::Verified,
        OrderState::Picking,
        OrderState::Packed,
        OrderState::Dispatched,
        OrderState::InTransit,
        OrderState::Arrived,
        OrderState::OutForDelivery,
        OrderState::Delivered,
        OrderState::Completed,
        OrderState::Cancelled,
    ];

    /// The code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            OrderState::Received => "received",
            OrderState::Verified => "verified",
            OrderState::Picking => "picking",
            OrderState::Packed => "packed",
            OrderState::Dispatched => "dispatched",
            OrderState::InTransit => "in_transit",
            OrderState::Arrived => "arrived",
            OrderState::OutForDelivery => "out_for_delivery",
            OrderState::Delivered => "delivered",
            OrderState::Completed => "completed",
            OrderState::Cancelled => "cancelled",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The one state the main line moves on to.
    pub fn next(self) -> Option<OrderState> {
        use OrderState::*;
        match self {
            Received => Some(Verified),
            Verified => Some(Picking),
            Picking => Some(Packed),
            Packed => Some(Dispatched),
            Dispatched => Some(InTransit),
            InTransit => Some(Arrived),
            Arrived => Some(OutForDelivery),
            OutForDelivery => Some(Delivered),
            Delivered => Some(Completed),
            Completed | Cancelled => None,
        }
    }

    /// No move leaves these.
    pub fn is_terminal(self) -> bool {
        matches!(self, OrderState::Completed | OrderState::Cancelled)
    }

    /// Cancelling is allowed only before the goods leave (OT-4).
    pub fn can_cancel(self) -> bool {
        self < OrderState::Dispatched
    }

    /// Still on its way to the customer: a passed promise raises a delay (OT-8).
    pub fn awaits_delivery(self) -> bool {
        self < OrderState::Delivered
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A move OT-4 does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot move from {from} to {to}")]
pub struct IllegalMove {
    pub from: OrderState,
    pub to: OrderState,
}

/// Checks one move against OT-4.
pub fn check_move(from: OrderState, to: OrderState) -> Result<(), IllegalMove> {
    let legal = from.next() == Some(to) || (to == OrderState::Cancelled && from.can_cancel());
    if legal {
        Ok(())
    } else {
        Err(IllegalMove { from, to })
    }
}

/// Longest location or note of a move.
pub const MAX_NOTE: usize = 1000;

impl Order {
    /// Refuses a change made against a version other than the current one (0: any).
    pub fn check_version(&self, expected: i64) -> Result<(), Refusal> {
        if expected != 0 && expected != self.version {
            return Err(Refusal::Stale(format!(
                "order is at version {}, not {expected}; read it again",
                self.version
            )));
        }
        Ok(())
    }

    /// OT-4: a move asked for by a caller. Its gates: PACKED needs the packing recorded and
    /// no short pick open (OT-5); DELIVERED comes only with a signed handover (OT-6).
    pub fn request_move(
        &mut self,
        to: OrderState,
        actor: &str,
        location: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<StateChange, Refusal> {
        match to {
            OrderState::Packed => self.check_packed()?,
            OrderState::Delivered => {
                return Err(Refusal::Precondition(
                    "an order is delivered by RecordHandover, with signer and proof (OT-6)".into(),
                ));
            }
            _ => {}
        }
        self.advance(to, actor, location.trim(), note.trim(), now)
    }

    /// OT-5: PACKED once every short pick is resolved and the packing list is recorded.
    fn check_packed(&self) -> Result<(), Refusal> {
        let open = super::picking::open_short_picks(&self.pick_lines);
        if !open.is_empty() {
            return Err(Refusal::Precondition(format!(
                "short picks on lines {open:?} are not resolved (OT-5)"
            )));
        }
        if self.packages.is_empty() {
            return Err(Refusal::Precondition(
                "record the packing list first (OT-5)".into(),
            ));
        }
        Ok(())
    }

    /// Records one legal move on the order and returns it.
    pub(crate) fn advance(
        &mut self,
        to: OrderState,
        actor: &str,
        location: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<StateChange, Refusal> {
        check_move(self.state, to)?;
        let change = StateChange {
            from: Some(self.state),
            to,
            actor_id: actor.to_owned(),
            location: location.to_owned(),
            note: note.to_owned(),
            at: now,
        };
        self.state = to;
        self.history.push(change.clone());
        if to == OrderState::Picking && self.pick_lines.is_empty() {
            // OT-5: the pick list is the order's lines, one entry each.
            self.pick_lines = self
                .lines
                .iter()
                .enumerate()
                .map(|(i, line)| PickLine {
                    line_number: i32::try_from(i).unwrap_or(i32::MAX),
                    pieces_ordered: line.pieces,
                    ..Default::default()
                })
                .collect();
        }
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::OrderState::*;
    use super::*;
    use crate::domain::Package;
    use proptest::prelude::*;

    /// OT-4: every (from, to) pair, legal or not.
    #[test]
    fn ot4_every_move_is_legal_exactly_when_the_rule_says() {
        let legal: &[(OrderState, OrderState)] = &[
            (Received, Verified),
            (Verified, Picking),
            (Picking, Packed),
            (Packed, Dispatched),
            (Dispatched, InTransit),
            (InTransit, Arrived),
            (Arrived, OutForDelivery),
            (OutForDelivery, Delivered),
            (Delivered, Completed),
            (Received, Cancelled),
            (Verified, Cancelled),
            (Picking, Cancelled),
            (Packed, Cancelled),
        ];
        let mut checked = 0;
        for from in OrderState::ALL {
            for to in OrderState::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(check_move(from, to).is_ok(), expected, "{from} -> {to}");
                checked += 1;
            }
        }
        assert_eq!(checked, 121);
    }

    #[test]
    fn codes_round_trip() {
        for state in OrderState::ALL {
            assert_eq!(OrderState::from_code(state.code()), Some(state));
        }
        assert_eq!(OrderState::from_code("lost"), None);
    }

    proptest! {
        /// OT-4: along any random sequence of attempted moves, only legal ones apply, nothing
        /// leaves a terminal state, and each accepted move is one step of history.
        #[test]
        fn ot4_random_move_sequences_never_break_the_rules(attempts in proptest::collection::vec(0usize..11, 0..60)) {
            let mut state = Received;
            let mut history = Vec::new();
            for i in attempts {
                let to = OrderState::ALL[i];
                let terminal = state.is_terminal();
                match check_move(state, to) {
                    Ok(()) => {
                        prop_assert!(!terminal, "moved out of terminal {}", state);
                        prop_assert!(to == Cancelled || Some(to) == state.next());
                        history.push((state, to));
                        state = to;
                    }
                    Err(e) => prop_assert_eq!(e, IllegalMove { from: state, to }),
                }
            }
            for pair in history.windows(2) {
                prop_assert_eq!(pair[0].1, pair[1].0, "history is one connected path");
            }
        }
    }

    fn order_at(state: OrderState) -> Order {
        let mut order = crate::domain::verify::tests::stored_order();
        order.state = state;
        order
    }

    #[test]
    fn ot4_a_move_is_recorded_with_actor_location_and_note() {
        let mut order = order_at(Received);
        let now = chrono::Utc::now();
        let change = order
            .request_move(Verified, "agent-7", " Fuzhou hub ", " checked ", now)
            .unwrap();
        assert_eq!(order.state, Verified);
        assert_eq!(change.from, Some(Received));
        assert_eq!(
            (change.location.as_str(), change.note.as_str()),
            ("Fuzhou hub", "checked")
        );
        assert_eq!(order.history.last(), Some(&change));
        assert!(matches!(
            order.request_move(Completed, "a", "", "", now),
            Err(Refusal::Precondition(_))
        ));
        order.request_move(Picking, "a", "", "", now).unwrap();
        assert_eq!(
            order.pick_lines.len(),
            order.lines.len(),
            "OT-5: the pick list is made"
        );
    }

    #[test]
    fn ot5_packed_only_after_packing_with_no_short_pick_open() {
        let now = chrono::Utc::now();
        let mut order = order_at(Verified);
        order.request_move(Picking, "a", "", "", now).unwrap();
        let refused = order.request_move(Packed, "a", "", "", now).unwrap_err();
        assert!(format!("{refused}").contains("packing list"), "{refused}");
        order.pick_lines[0].pieces_picked = 1;
        order.pick_lines[0].short = true;
        order.packages = vec![Package {
            package_id: "P1".into(),
            line_numbers: vec![0],
            weight_grams: 100,
        }];
        let refused = order.request_move(Packed, "a", "", "", now).unwrap_err();
        assert!(
            format!("{refused}").contains("short picks on lines [0]"),
            "{refused}"
        );
        order.pick_lines[0].resolution = "customer accepts fewer".into();
        order.request_move(Packed, "a", "", "", now).unwrap();
        assert_eq!(order.state, Packed);
    }

    #[test]
    fn ot6_delivered_only_through_a_handover() {
        let mut order = order_at(OutForDelivery);
        let refused = order
            .request_move(Delivered, "a", "", "", chrono::Utc::now())
            .unwrap_err();
        assert!(format!("{refused}").contains("RecordHandover"), "{refused}");
        assert_eq!(order.state, OutForDelivery, "nothing changed");
    }

    #[test]
    fn a_stale_version_is_refused() {
        let order = order_at(Received);
        assert!(order.check_version(0).is_ok());
        assert!(order.check_version(order.version).is_ok());
        assert!(matches!(
            order.check_version(order.version + 1),
            Err(Refusal::Stale(_))
        ));
    }
}
