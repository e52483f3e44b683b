//! The one body behind every service's `StreamEvents`: the log's stream from the caller's
//! position, ended with a resumable status when the server stops.

use std::pin::Pin;

use futures::{Stream, StreamExt as _};
use kefu_proto::common::{Event, EventFilter};
use tokio_util::sync::CancellationToken;

use super::EventLog;

/// What a `StreamEvents` handler returns, whatever the service's response type.
pub type EventResponses<R> = Pin<Box<dyn Stream<Item = Result<R, tonic::Status>> + Send>>;

impl EventLog {
    /// Every event after `after_position` that passes `filter`, each wrapped by `respond` in
    /// the service's own response message; ends when `stop` is cancelled.
    pub fn serve<R: Send + 'static>(
        &self,
        after_position: u64,
        filter: Option<EventFilter>,
        stop: CancellationToken,
        respond: fn(Event) -> R,
    ) -> EventResponses<R> {
        Box::pin(
            self.stream(after_position, filter.unwrap_or_default(), stop)
                .map(move |item| item.map(respond).map_err(tonic::Status::from)),
        )
    }
}
