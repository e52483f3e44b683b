//! Starts the suite in-process exactly as `kefu serve --service all` assembles it, for
//! journeys that cross services through their public gRPC APIs.

use std::net::SocketAddr;

use kefu_platform::auth::{Role, SCOPE_PII_READ, TokenKeys};
use kefu_platform::config::Settings;
use kefu_platform::server::Lifecycle;
use kefu_testkit::TestDatabase;

/// A running suite on 127.0.0.1:0 over fresh databases.
#[derive(Debug)]
pub struct Suite {
    pub addr: SocketAddr,
    pub settings: Settings,
    pub lifecycle: Lifecycle,
    _databases: Vec<TestDatabase>,
}

impl Suite {
    /// Every implemented service on PostgreSQL, migrated as `kefu migrate` does.
    pub async fn on_postgres() -> anyhow::Result<Self> {
        let registry = TestDatabase::postgres().await?;
        let orders = TestDatabase::postgres().await?;
        let settings = kefu_testkit::settings(
            kefu::SERVICES,
            &[
                ("customer-registry", &registry.url),
                ("order-tracking", &orders.url),
            ],
            &[],
        );
        kefu::migrate(&settings, kefu::SERVICES).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let lifecycle = Lifecycle::new();
        let running = kefu::start(&settings, kefu::SERVICES, listener, lifecycle.clone())
            .await?
            .server;
        let addr = running.local_addr;
        tokio::spawn(running.wait());
        Ok(Self {
            addr,
            settings,
            lifecycle,
            _databases: vec![registry, orders],
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A token for `role`, signed with the suite's key.
    pub fn token(&self, role: Role) -> String {
        TokenKeys::new(&self.settings.auth).mint("journey", role, &[SCOPE_PII_READ], "", 600)
    }

    /// A channel that sends `role`'s token with every call.
    pub fn channel(&self, role: Role) -> anyhow::Result<kefu_platform::client::KefuChannel> {
        kefu_platform::client::channel(&kefu_platform::client::ChannelOptions {
            endpoint: self.endpoint(),
            connect_timeout: std::time::Duration::from_secs(3),
            call_deadline: std::time::Duration::from_secs(30),
            credentials: kefu_platform::client::Credentials::Bearer(self.token(role)),
            tls: None,
        })
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        self.lifecycle.begin_shutdown(std::time::Duration::ZERO);
    }
}
