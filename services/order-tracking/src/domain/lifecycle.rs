//! OT-4: the only legal moves of an order.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::OrderState::*;
    use super::*;
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
}
