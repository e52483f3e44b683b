//! Another service's `StreamEvents` as an [`EventSource`]: every service's stream has the same
//! request and answer on the wire, so one client reads them all.

use futures::StreamExt as _;
use futures::stream::BoxStream;
use kefu_proto::common::{Event, EventFilter};
use tonic::codegen::http::uri::PathAndQuery;

use super::EventSource;
use crate::client::KefuChannel;

/// The wire form of every `<package>.StreamEventsRequest` (a test holds each package to it).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StreamEventsRequest {
    #[prost(uint64, tag = "1")]
    pub(crate) after_position: u64,
    #[prost(message, optional, tag = "2")]
    pub(crate) filter: Option<EventFilter>,
}

/// The wire form of every `<package>.StreamEventsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StreamEventsResponse {
    #[prost(message, optional, tag = "1")]
    pub(crate) event: Option<Event>,
}

/// Reads the events of the service behind `channel` from a position on.
#[derive(Clone, Debug)]
pub struct RemoteEvents {
    channel: KefuChannel,
    path: PathAndQuery,
    filter: EventFilter,
    /// The producing service's name, for metrics ("order-tracking").
    name: String,
}

impl RemoteEvents {
    /// `grpc_service` is the producer's fully-qualified service name.
    pub fn new(channel: KefuChannel, grpc_service: &str) -> anyhow::Result<Self> {
        Ok(Self {
            channel,
            path: format!("/{grpc_service}/StreamEvents").parse()?,
            filter: EventFilter::default(),
            name: grpc_service.to_owned(),
        })
    }

    /// Names the producer as the suite does ("order-tracking"), as its own metrics name it.
    pub fn named(mut self, service: &str) -> Self {
        self.name = service.to_owned();
        self
    }

    /// Only events of these types (the producer filters them).
    pub fn only(mut self, types: &[&str]) -> Self {
        self.filter.types = types.iter().map(|t| (*t).to_owned()).collect();
        self
    }
}

#[async_trait::async_trait]
impl EventSource for RemoteEvents {
    fn name(&self) -> &str {
        &self.name
    }

    async fn subscribe(
        &self,
        after: u64,
    ) -> Result<BoxStream<'static, Result<Event, tonic::Status>>, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("event source not ready: {e}")))?;
        let request = tonic::Request::new(StreamEventsRequest {
            after_position: after,
            filter: Some(self.filter.clone()),
        });
        let codec = tonic_prost::ProstCodec::<StreamEventsRequest, StreamEventsResponse>::default();
        let answers = grpc
            .server_streaming(request, self.path.clone(), codec)
            .await?
            .into_inner();
        Ok(answers
            .map(|answer| answer.map(|a| a.event.unwrap_or_default()))
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use prost_reflect::{DescriptorPool, Kind};

    /// A service whose StreamEvents messages drifted from the shared wire form could not be
    /// consumed by the others; every package of the contract is held to it here.
    #[test]
    fn every_stream_events_message_has_the_shared_wire_form() {
        let pool = DescriptorPool::decode(kefu_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut checked = 0;
        for service in pool.services() {
            let Some(method) = service.methods().find(|m| m.name() == "StreamEvents") else {
                continue;
            };
            let request = method.input();
            let after = request.get_field_by_name("after_position").unwrap();
            assert_eq!(
                (after.number(), after.kind()),
                (1, Kind::Uint64),
                "{}",
                request.full_name()
            );
            let filter = request.get_field_by_name("filter").unwrap();
            assert_eq!(filter.number(), 2);
            assert!(
                matches!(filter.kind(), Kind::Message(m) if m.full_name() == "kefu.common.v1.EventFilter")
            );
            let event = method.output().get_field_by_name("event").unwrap();
            assert_eq!(event.number(), 1);
            assert!(
                matches!(event.kind(), Kind::Message(m) if m.full_name() == "kefu.common.v1.Event")
            );
            assert!(method.is_server_streaming());
            checked += 1;
        }
        assert!(checked >= 5, "every service has a stream; found {checked}");
    }
}
