//! `kefu call`: any RPC of a served service, its request given as protobuf JSON and each
//! answer printed as protobuf JSON, driven by the contract's own descriptors; a new RPC needs
//! no code here. Streams print one answer per line.

use std::time::Duration;

use bytes::Buf;
use clap::Args;
use futures::StreamExt as _;
use kefu_platform::config::Settings;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::connection::{Connection, explain};
use crate::output;

#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// `Service/Method`, the service by its short or full name:
    /// `OrderTrackingService/GetOrder` or `kefu.order.v1.OrderTrackingService/GetOrder`.
    method: String,
    /// The request as protobuf JSON (field names in camelCase or as in the .proto); `-`
    /// reads it from standard input.
    #[arg(long, default_value = "{}")]
    data: String,
    /// For a stream: keep following it; without this, stop once it is quiet for a second.
    #[arg(long)]
    follow: bool,
    #[command(flatten)]
    connection: Connection,
}

pub(crate) async fn call(settings: &Settings, args: CallArgs) -> anyhow::Result<()> {
    let method = find_method(&args.method)?;
    if method.is_client_streaming() {
        anyhow::bail!("{} streams its requests; kefu call sends one", args.method);
    }
    let text = if args.data == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        args.data.clone()
    };
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let body = DynamicMessage::deserialize(method.input(), &mut deserializer)
        .map_err(|e| anyhow::anyhow!("--data is not a {}: {e}", method.input().full_name()))?;
    deserializer.end()?;
    let streaming = method.is_server_streaming();
    let mut grpc = tonic::client::Grpc::new(args.connection.channel(settings, streaming)?);
    grpc.ready()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the server: {e}"))?;
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name()).parse()?;
    let request = args.connection.request(body)?;
    let codec = DynamicCodec(method.output());
    if !streaming {
        let answer = grpc
            .unary(request, path, codec)
            .await
            .map_err(explain)?
            .into_inner();
        println!("{}", output::dynamic_json(&answer)?);
        return Ok(());
    }
    let mut answers = grpc
        .server_streaming(request, path, codec)
        .await
        .map_err(explain)?
        .into_inner();
    let idle = if args.follow {
        Duration::MAX
    } else {
        Duration::from_secs(1)
    };
    loop {
        match tokio::time::timeout(idle, answers.next()).await {
            Err(_) | Ok(None) => return Ok(()),
            Ok(Some(answer)) => println!("{}", output::dynamic_json(&answer.map_err(explain)?)?),
        }
    }
}

/// The method `Service/Method` names; the service by full name, or by short name when only
/// one package has it.
fn find_method(name: &str) -> anyhow::Result<MethodDescriptor> {
    let (service, method) = name
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| {
            anyhow::anyhow!(
                "name the RPC as Service/Method, e.g. CustomerRegistryService/GetCustomer"
            )
        })?;
    let pool = output::pool()?;
    let mut services: Vec<_> = pool
        .services()
        .filter(|s| s.full_name() == service || s.name() == service)
        .collect();
    let service = match (services.pop(), services.is_empty()) {
        (Some(found), true) => found,
        (Some(_), false) => {
            anyhow::bail!("{service} is in more than one package; give its full name")
        }
        (None, _) => {
            let known: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
            anyhow::bail!(
                "no service {service}; the contract has {}",
                known.join(", ")
            )
        }
    };
    service
        .methods()
        .find(|m| m.name() == method)
        .ok_or_else(|| {
            let known: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
            anyhow::anyhow!(
                "{} has no method {method}; it has {}",
                service.full_name(),
                known.join(", ")
            )
        })
}

/// Encodes any message and decodes answers of the method's output type.
pub(crate) struct DynamicCodec(pub(crate) MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.0.clone())
    }
}

pub(crate) struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(&mut *dst)
            .map_err(|e| Status::internal(format!("encoding the request: {e}")))
    }
}

pub(crate) struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        DynamicMessage::decode(self.0.clone(), bytes)
            .map(Some)
            .map_err(|e| Status::internal(format!("decoding the answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_found_by_short_or_full_service_name() {
        let by_short = find_method("CustomerRegistryService/GetCustomer").unwrap();
        let by_full = find_method("kefu.order.v1.OrderTrackingService/WatchOrder").unwrap();
        assert_eq!(
            by_short.input().full_name(),
            "kefu.customer.v1.GetCustomerRequest"
        );
        assert!(by_full.is_server_streaming());
        for wrong in [
            "GetCustomer",
            "NoSuchService/Get",
            "CustomerRegistryService/Nope",
        ] {
            assert!(find_method(wrong).is_err(), "{wrong}");
        }
    }
}
