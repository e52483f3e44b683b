//! How the client reaches a server and speaks for someone: endpoint, token, stated purpose,
//! deadline and `--json`, shared by every subcommand; and how a refusal reads.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use kefu_platform::auth::{Role, SCOPE_PII_READ, TokenKeys};
use kefu_platform::client::{ChannelOptions, Credentials, KefuChannel, NO_DEADLINE, channel};
use kefu_platform::config::Settings;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use tonic::Request;

use crate::output;

/// Where and as whom the client calls.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// Server address; defaults to http://<server.listen>.
    #[arg(long, global = true, env = "KEFU_ENDPOINT")]
    endpoint: Option<String>,
    /// Bearer token; without one, a manager token is minted from the configured key when it
    /// is the development key.
    #[arg(long, global = true, env = "KEFU_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Why personal data is read (CR-9); with a pii:read token, answers come unmasked and
    /// the read is audited.
    #[arg(long, global = true)]
    purpose: Option<String>,
    /// Print protobuf JSON instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Call deadline in milliseconds.
    #[arg(long, global = true, default_value_t = 10_000)]
    deadline_ms: u64,
}

impl Connection {
    pub(crate) fn channel(
        &self,
        settings: &Settings,
        streaming: bool,
    ) -> anyhow::Result<KefuChannel> {
        let endpoint = self.endpoint.clone().unwrap_or_else(|| {
            kefu_platform::tls::local_endpoint(&settings.tls, settings.server.listen)
        });
        self.channel_at(settings, endpoint, streaming)
    }

    /// As [`Connection::channel`], to `endpoint` rather than the one given.
    pub(crate) fn channel_at(
        &self,
        settings: &Settings,
        endpoint: String,
        streaming: bool,
    ) -> anyhow::Result<KefuChannel> {
        let token =
            match &self.token {
                Some(token) => token.clone(),
                None if settings.uses_development_signing_key() => TokenKeys::new(&settings.auth)
                    .mint("kefu-cli", Role::Manager, &[SCOPE_PII_READ], "", 3600),
                None => {
                    bail!("no token: pass --token or set KEFU_TOKEN (mint one with `kefu token`)")
                }
            };
        channel(&ChannelOptions {
            endpoint,
            connect_timeout: Duration::from_secs(3),
            // A followed stream has no end; only its connection attempt is bounded.
            call_deadline: if streaming {
                NO_DEADLINE
            } else {
                Duration::from_millis(self.deadline_ms)
            },
            credentials: Credentials::Bearer(token),
            tls: Some(kefu_platform::tls::client(&settings.tls)?),
        })
    }

    /// A channel that carries no token: for the one RPC a customer calls with a credential
    /// of its own (survey's online answer).
    pub(crate) fn anonymous_channel(&self, settings: &Settings) -> anyhow::Result<KefuChannel> {
        channel(&ChannelOptions {
            endpoint: self.endpoint.clone().unwrap_or_else(|| {
                kefu_platform::tls::local_endpoint(&settings.tls, settings.server.listen)
            }),
            connect_timeout: Duration::from_secs(3),
            call_deadline: Duration::from_millis(self.deadline_ms),
            credentials: Credentials::None,
            tls: Some(kefu_platform::tls::client(&settings.tls)?),
        })
    }

    /// Prints `message` as protobuf JSON when `--json` was given; whether it did.
    pub(crate) fn printed_json<M: prost::Message + prost::Name>(
        &self,
        message: &M,
    ) -> anyhow::Result<bool> {
        if self.json {
            println!("{}", output::json(message)?);
        }
        Ok(self.json)
    }

    /// A customer-registry client for one call.
    pub(crate) fn customers(
        &self,
        settings: &Settings,
    ) -> anyhow::Result<CustomerRegistryServiceClient<KefuChannel>> {
        Ok(CustomerRegistryServiceClient::new(
            self.channel(settings, false)?,
        ))
    }

    pub(crate) fn request<T>(&self, body: T) -> anyhow::Result<Request<T>> {
        let mut request = Request::new(body);
        if let Some(purpose) = &self.purpose {
            request.metadata_mut().insert(
                kefu_customer_registry::api::PURPOSE_HEADER,
                purpose.parse().context("--purpose")?,
            );
        }
        Ok(request)
    }
}

/// A status as one readable line, field violations included.
pub(crate) fn explain(status: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt as _;
    let text = match status.get_details_bad_request() {
        Some(bad) => bad
            .field_violations
            .iter()
            .fold(format!("{:?}:", status.code()), |text, v| {
                format!("{text}\n  {}: {}", v.field, v.description)
            }),
        None => format!("{:?}: {}", status.code(), status.message()),
    };
    anyhow::anyhow!(text)
}
