//! What the server says when it refuses: a request body that is not the method's message is
//! the caller's fault (INVALID_ARGUMENT, where tonic answers INTERNAL), and no refusal echoes
//! a request's megabytes back in its headers, which clients reject whole (HTTP/2 header lists
//! are limited, to 16 KiB by hyper's client).

use std::task::{Context, Poll};

use futures::future::{BoxFuture, FutureExt as _};
use http::HeaderValue;

/// What tonic's prost decoder says before the decoder's own words.
const UNDECODABLE: &str = "failed to decode Protobuf message: ";

/// Longest `grpc-message` sent, in bytes of its percent-encoded form.
const MAX_MESSAGE: usize = 1024;

/// Largest `grpc-status-details-bin` sent; larger details are left out, the message stays.
const MAX_DETAILS: usize = 8 * 1024;

#[derive(Clone, Copy, Debug, Default)]
pub struct AnswersLayer;

impl<S> tower::Layer<S> for AnswersLayer {
    type Service = AnswersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AnswersService { inner }
    }
}

#[derive(Clone, Debug)]
pub struct AnswersService<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for AnswersService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        async move {
            let mut response = inner.call(request).await?;
            tidy(response.headers_mut());
            Ok(response)
        }
        .boxed()
    }
}

/// Rewrites a trailers-only refusal's headers (every error a handler or tonic returns before
/// a message is one).
fn tidy(headers: &mut http::HeaderMap) {
    let Some(message) = headers.get("grpc-message").map(HeaderValue::as_bytes) else {
        return;
    };
    let mut message = message.to_vec();
    if headers.get("grpc-status").map(HeaderValue::as_bytes) == Some(b"13") {
        let decoded = percent_decode(&message);
        if let Some(reason) = decoded.strip_prefix(UNDECODABLE) {
            headers.insert("grpc-status", HeaderValue::from_static("3"));
            message = percent_encode(&format!(
                "the request is not a message of this method: {reason}"
            ));
        }
    }
    if message.len() > MAX_MESSAGE {
        // Cut whole characters of the decoded text, so the cut never splits an escape or a
        // character's bytes.
        let mut kept = String::new();
        let mut encoded = 0;
        for c in percent_decode(&message).chars() {
            let width = if (' '..='~').contains(&c) && c != '%' {
                1
            } else {
                3 * c.len_utf8()
            };
            if encoded + width > MAX_MESSAGE {
                break;
            }
            encoded += width;
            kept.push(c);
        }
        kept.push_str("… (cut)");
        message = percent_encode(&kept);
    }
    if let Ok(value) = HeaderValue::from_bytes(&message) {
        headers.insert("grpc-message", value);
    }
    if headers
        .get("grpc-status-details-bin")
        .is_some_and(|d| d.len() > MAX_DETAILS)
    {
        headers.remove("grpc-status-details-bin");
    }
}

/// gRPC's percent-encoding of `grpc-message`: bytes outside printable ASCII, and `%`.
fn percent_encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for byte in text.bytes() {
        if (b' '..=b'~').contains(&byte) && byte != b'%' {
            out.push(byte);
        } else {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        }
    }
    out
}

fn percent_decode(encoded: &[u8]) -> String {
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        let hex = encoded
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (encoded[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: tonic::Status) -> http::HeaderMap {
        let mut headers = status.into_http::<()>().into_parts().0.headers;
        tidy(&mut headers);
        headers
    }

    #[test]
    fn an_undecodable_request_is_the_callers_fault() {
        let headers = refusal(tonic::Status::internal(
            "failed to decode Protobuf message: GetOrderRequest.order_id: invalid string value: data is not UTF-8 encoded",
        ));
        let status = tonic::Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "the request is not a message of this method: GetOrderRequest.order_id: invalid string value: data is not UTF-8 encoded"
        );
        let ours = refusal(tonic::Status::internal("internal error; trace id 42"));
        assert_eq!(
            tonic::Status::from_header_map(&ours).unwrap().code(),
            tonic::Code::Internal,
            "a fault of the server stays INTERNAL"
        );
    }

    #[test]
    fn a_refusal_never_carries_the_request_back_whole() {
        let huge = "客".repeat(50_000);
        let headers = refusal(tonic::Status::not_found(format!("order {huge} not found")));
        let message = headers.get("grpc-message").unwrap();
        assert!(message.len() <= MAX_MESSAGE + 20);
        let status = tonic::Status::from_header_map(&headers).unwrap();
        assert!(status.message().starts_with("order 客客"));
        assert!(
            status.message().ends_with("… (cut)"),
            "{}",
            status.message()
        );
    }
}
