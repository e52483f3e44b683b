//! OT-11's use case: one order watched live, its current state first and then its state
//! after each change, until it ends (COMPLETED or CANCELLED). Changes close together may
//! arrive as one; the history keeps every move.

use futures::{Stream, StreamExt as _};
use kefu_proto::common::EventFilter;
use tokio_util::sync::CancellationToken;

use crate::domain::Order;
use crate::error::{Error, Result};
use crate::events::subject;
use crate::orders::{Orders, Requester};
use crate::store;

impl Orders {
    /// The order as the caller may see it, then after every change; ends with the order, or
    /// with an error (the server stopping says so, for the watcher to resume).
    pub(crate) async fn watch(
        &self,
        who: &Requester,
        order_id: &str,
        stop: CancellationToken,
    ) -> Result<impl Stream<Item = Result<Order>> + Send + 'static> {
        // The head first, then the state: a change after the read is positioned above it.
        let head = self.log.head().await?;
        let first = self.read(who, order_id).await?;
        let filter = EventFilter {
            types: vec![],
            subjects: vec![subject(order_id)],
        };
        let changes = Box::pin(self.log.stream(head, filter, stop));
        let orders = self.clone();
        let order_id = order_id.to_owned();
        let done = first.state.is_terminal();
        let initial = futures::stream::once(futures::future::ready(Ok(first.clone())));
        let updates = futures::stream::unfold(
            (changes, first.version, done),
            move |(mut changes, mut last_version, done)| {
                let orders = orders.clone();
                let order_id = order_id.clone();
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        match changes.next().await? {
                            Err(e) => {
                                return Some((Err(Error::from(e)), (changes, last_version, true)));
                            }
                            Ok(_) => {
                                let stored =
                                    match store::get(&orders.db, &orders.cipher, &order_id).await {
                                        Ok(Some(stored)) => stored,
                                        Ok(None) => continue,
                                        Err(e) => {
                                            return Some((
                                                Err(e.into()),
                                                (changes, last_version, true),
                                            ));
                                        }
                                    };
                                if stored.version <= last_version {
                                    continue;
                                }
                                last_version = stored.version;
                                let finished = stored.state.is_terminal();
                                return Some((
                                    Ok(stored.masked()),
                                    (changes, last_version, finished),
                                ));
                            }
                        }
                    }
                }
            },
        );
        Ok(initial.chain(updates))
    }
}
