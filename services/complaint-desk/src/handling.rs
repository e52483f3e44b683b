//! Working a case (CD-2, CD-3): reclassifying it, assigning it, the first answer to the
//! customer, the customer's later contacts, and pausing the clock while the case waits on
//! the customer. Each goes through the one write path.

use crate::cases::{Desk, Requester, Retry};
use crate::domain::case::Reclassification;
use crate::domain::{Case, ContactChannel, PauseReason};
use crate::error::{Error, Result};

impl Desk {
    /// CD-2: a new classification or new texts; an order named anew must be the customer's.
    pub(crate) async fn reclassify(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        change: Reclassification,
    ) -> Result<Case> {
        if let Some(order_id) = change.order_id.as_deref().map(str::trim)
            && !order_id.is_empty()
        {
            let current = self.read(who, id).await?;
            self.check_order(&current.customer_id, order_id).await?;
        }
        self.change(who, retry, id, Some(expected_version), |case, _, now| {
            case.reclassify(change, now)
        })
        .await
    }

    async fn check_order(&self, customer_id: &str, order_id: &str) -> Result<()> {
        use kefu_directory::LookupError;
        match self.orders.lookup(order_id).await {
            Ok(order) if order.customer_id == customer_id => Ok(()),
            Ok(_) => Err(crate::error::invalid(
                "complaint.order_id",
                "an order of another customer",
            )),
            Err(LookupError::NotFound) => {
                Err(crate::error::invalid("complaint.order_id", "no such order"))
            }
            Err(e) => Err(Error::Unavailable {
                service: "order-tracking",
                why: e.to_string(),
            }),
        }
    }

    /// Gives the case to an agent; agents keep cases within their own teams.
    pub(crate) async fn assign(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        assignee: &str,
        team: Option<&str>,
    ) -> Result<Case> {
        if let Some(team) = team.map(str::trim).filter(|t| !t.is_empty())
            && !who.viewer.may_hand_to(team)
        {
            return Err(Error::PermissionDenied(format!(
                "team {team} is not yours to hand cases to"
            )));
        }
        self.change(who, retry, id, Some(expected_version), |case, _, _| {
            case.assign(assignee, team)
        })
        .await
    }

    /// CD-3: the first answer to the customer.
    pub(crate) async fn respond(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        message: &str,
    ) -> Result<Case> {
        self.change(
            who,
            retry,
            id,
            Some(expected_version),
            |case, policy, now| case.respond(message, &who.subject, policy, now),
        )
        .await
    }

    /// The customer came back about the case.
    pub(crate) async fn record_contact(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        channel: Option<ContactChannel>,
        note: &str,
    ) -> Result<Case> {
        self.change(who, retry, id, Some(expected_version), |case, _, now| {
            case.contact(channel, note, &who.subject, now)
        })
        .await
    }

    /// CD-3: the case waits on the customer.
    pub(crate) async fn pause(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        reason: Option<PauseReason>,
        note: &str,
    ) -> Result<Case> {
        self.change(who, retry, id, Some(expected_version), |case, _, now| {
            case.pause(reason, note, &who.subject, now)
        })
        .await
    }

    /// CD-3: the clocks run again.
    pub(crate) async fn resume(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
    ) -> Result<Case> {
        self.change(who, retry, id, Some(expected_version), |case, _, now| {
            case.resume(now)
        })
        .await
    }
}
