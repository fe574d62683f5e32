//! What every end-to-end test needs: its own database, the real server on loopback ports,
//! and clients that talk to it only through the client crate and HTTP.
pub mod db;
pub mod proxy;

use northstar_jira::{Config, Server};
use northstar_jira_client::{Client, proto};
use secrecy::SecretString;

pub use db::TestDb;

/// The master key every test server shares (32 bytes, base64).
pub const TEST_MASTER_KEY: &str = "bm9ydGhzdGFyLWppcmEgdGVzdCBtYXN0ZXIga2V5ISE=";

/// The operator token every test server is started with.
pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789";

/// A running server on its own database.
pub struct TestApp {
    pub server: Option<Server>,
    pub grpc_url: String,
    pub http_url: String,
    // Declared last: the database is dropped after the server stops.
    pub db: TestDb,
}

impl TestApp {
    /// A server on a fresh migrated database.
    pub async fn start() -> Self {
        Self::start_with(TestDb::new().await, |_| {}).await
    }

    /// A server on `db`, with the test's changes to the configuration.
    pub async fn start_with(db: TestDb, configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(&db.url);
        configure(&mut config);
        let server = Server::start(config).await.expect("server starts");
        Self {
            grpc_url: format!("http://{}", server.grpc_addr),
            http_url: format!("http://{}", server.http_addr),
            server: Some(server),
            db,
        }
    }

    /// A client authenticated as the operator.
    pub async fn operator(&self) -> Client {
        Client::connect(self.grpc_url.clone(), OPERATOR_TOKEN).await.unwrap()
    }

    /// A client authenticated with `key`.
    pub async fn client(&self, key: &str) -> Client {
        Client::connect(self.grpc_url.clone(), key).await.unwrap()
    }

    /// A client without credentials.
    pub async fn anonymous(&self) -> Client {
        Client::connect_anonymous(self.grpc_url.clone()).await.unwrap()
    }

    /// Creates a tenant and a key of `role` in it; returns the tenant id and the key's client.
    pub async fn tenant_with_key(&self, name: &str, role: proto::Role) -> (String, Client) {
        let operator = self.operator().await;
        let tenant = create_tenant(&operator, name).await;
        let key = self.create_key(&operator, &tenant.tenant_id, role).await;
        (tenant.tenant_id, self.client(&key).await)
    }

    /// Creates a key through `as_client`; returns the secret.
    pub async fn create_key(&self, as_client: &Client, tenant_id: &str, role: proto::Role) -> String {
        as_client
            .tenants()
            .create_api_key(proto::CreateApiKeyRequest {
                tenant_id: tenant_id.into(),
                name: format!("{role:?} key"),
                role: role as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .api_key
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.shutdown_token().cancel();
        }
    }
}

/// The configuration tests start from: loopback ports chosen by the OS, the operator token,
/// a fast health probe.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::for_database(database_url);
    // Replicas of one deployment share the master key, so every test server does too.
    config.master_key = northstar_jira::config::MasterKey::from_base64(TEST_MASTER_KEY).expect("a valid test key");
    config.bootstrap_token = Some(SecretString::from(OPERATOR_TOKEN));
    // Jira backoff as the operator documentation allows tests to shorten it.
    config.jira_backoff_base = std::time::Duration::from_millis(10);
    config.jira_backoff_max = std::time::Duration::from_millis(100);
    config.jira_search_settle = std::time::Duration::from_millis(200);
    config.jira_duplicate_sweep = std::time::Duration::from_millis(1500);
    config.delivery_lease = std::time::Duration::from_secs(2);
    config
}

/// Creates a tenant through `operator`.
pub async fn create_tenant(operator: &Client, name: &str) -> proto::Tenant {
    operator
        .tenants()
        .create_tenant(proto::CreateTenantRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap()
}

/// Initializes test logging once (`RUST_LOG` to see it).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Stores a credential for the simulator's API account; returns its id.
pub async fn sim_credential(admin: &Client, sim: &jira_sim::Simulator) -> String {
    admin
        .credentials()
        .create_credential(proto::CreateCredentialRequest {
            name: "sim".into(),
            jira_url: sim.base_url().into(),
            email: jira_sim::DEFAULT_EMAIL.into(),
            api_token: jira_sim::DEFAULT_TOKEN.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .credential_id
}

/// Polls `check` until it holds, for up to 15 s; the test fails naming `what` otherwise.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 15 s");
}

/// GetEvent by external id.
pub async fn get_event(client: &Client, external_id: &str) -> proto::GetEventResponse {
    client
        .events()
        .get_event(proto::GetEventRequest { external_id: external_id.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
}

/// Every log line of this thread at TRACE, until the guard drops. Under a current-thread
/// runtime the server's tasks run on this thread too, so the capture sees all of them.
pub fn capture_trace() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// Collects every log line written to it (a `tracing` writer), for tests that read the logs.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
