//! What one service asks another before it writes: customer-registry's facts about a customer
//! and its tier's service plan (CR-12), order-tracking's facts about an order. Each call goes
//! over a channel that carries the asking service's own token and the peer's deadline; no
//! answer in time is [`LookupError::Unavailable`], and the asking service writes nothing.

#![forbid(unsafe_code)]

mod customers;
mod orders;

pub use customers::{CustomerDirectory, CustomerFacts, PlanFacts, tier_code, tier_from_code};
pub use orders::{OrderDirectory, OrderFacts};

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("not found")]
    NotFound,
    #[error("unavailable: {0}")]
    Unavailable(String),
}

fn unavailable(status: tonic::Status) -> LookupError {
    LookupError::Unavailable(format!("{:?}: {}", status.code(), status.message()))
}

fn refused(status: tonic::Status) -> LookupError {
    if status.code() == tonic::Code::NotFound {
        LookupError::NotFound
    } else {
        unavailable(status)
    }
}
