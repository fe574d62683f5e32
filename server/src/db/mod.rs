//! PostgreSQL access: the pool, embedded migrations, and one query module per table group.
//! Query functions take `&mut AsyncPgConnection` so callers decide the transaction.
pub mod applications;
pub mod audit;
pub mod changes;
pub mod configurations;
pub mod connect;
pub mod credentials;
pub mod deliveries;
pub mod events;
pub mod metrics;
pub mod secrets;
pub mod tenants;
pub mod webhooks;

use std::time::Duration;

use diesel_async::{
    AsyncPgConnection, RunQueryDsl as _,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
        deadpool::{BuildError, Object, Pool},
    },
};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

/// The migrations in `migrations/`, compiled into the binary and applied at startup.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Held while migrating so replicas starting together apply migrations once, in turn.
const MIGRATION_LOCK_KEY: i64 = 0x6e73_6a5f_6d69_6772; // "nsj_migr"

/// The connection pool type every part of the server uses.
pub type DbPool = Pool<AsyncPgConnection>;
/// A connection checked out of the pool.
pub type DbConn = Object<AsyncPgConnection>;

/// Builds the pool. deadpool rather than bb8: it was the faster of the two in the measured stack
/// notes, and its wait and create timeouts give callers a bounded answer while the database is
/// down. Recycling is `Fast`: the default `Verified` runs `SELECT 1` on every checkout, which
/// costs a third of the throughput; broken connections are still discarded by `is_broken`.
pub fn pool(url: &str, max_size: u32) -> Result<DbPool, BuildError> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(|url| Box::pin(connect::establish(url)));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(max_size as usize)
        .wait_timeout(Some(Duration::from_secs(2)))
        .create_timeout(Some(Duration::from_secs(2)))
        .recycle_timeout(Some(Duration::from_secs(2)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
}

/// Errors of the migration step at startup.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Could not connect.
    #[error("connecting to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// A query failed.
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    /// A migration failed.
    #[error("applying migrations: {0}")]
    Migration(String),
    /// The blocking task died.
    #[error("migration task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Applies pending migrations under a session advisory lock, on a dedicated connection.
/// diesel_migrations is synchronous: it runs on a blocking thread through the async wrapper,
/// which works on any runtime flavour (the async harness panics on current-thread runtimes).
pub async fn run_migrations(url: &str) -> Result<(), MigrateError> {
    use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
    // Opened here, where TLS can be set up; the wrapper runs it from the blocking thread.
    let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(connect::establish(url).await?);
    tokio::task::spawn_blocking(move || {
        use diesel_migrations::MigrationHarness as _;
        let lock = |sql: String, conn: &mut AsyncConnectionWrapper<AsyncPgConnection>| {
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), conn)
        };
        lock(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"), &mut conn)?;
        let result =
            conn.run_pending_migrations(MIGRATIONS).map(|_| ()).map_err(|e| MigrateError::Migration(e.to_string()));
        lock(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"), &mut conn)?;
        result
    })
    .await?
}

/// True when a trivial query succeeds within `timeout`: the health probe.
/// Tells the database's triggers that this transaction's caller announces its changes after
/// the commit (through [`crate::notify::Wakeups`]), so they NOTIFY nothing themselves.
pub async fn notify_after_commit(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl as _;
    diesel::sql_query("SET LOCAL northstar.notify_after_commit = 'on'").execute(conn).await.map(drop)
}

/// Bounds this transaction's lock waits from here on (`None`: back to the server's default).
pub async fn set_lock_timeout(
    conn: &mut AsyncPgConnection,
    timeout: Option<std::time::Duration>,
) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl as _;
    let sql = match timeout {
        Some(t) => format!("SET LOCAL lock_timeout = '{}ms'", t.as_millis().max(1)),
        None => "SET LOCAL lock_timeout TO DEFAULT".to_owned(),
    };
    diesel::sql_query(sql).execute(conn).await.map(drop)
}

pub async fn ping(pool: &DbPool, timeout: Duration) -> bool {
    let probe = async {
        let mut conn = pool.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Some(_)))
}

/// Wakes `wake` whenever `NOTIFY channel` is sent (and once per (re)connection, since a
/// notification may have been missed meanwhile), until `shutdown`. Reconnects after errors.
pub fn spawn_listener(
    database_url: String,
    channel: &'static str,
    wake: std::sync::Arc<tokio::sync::Notify>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let listen = async {
                let mut conn = connect::establish(&database_url).await?;
                diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn).await?;
                wake.notify_one();
                let stream = conn.notifications_stream();
                let mut stream = std::pin::pin!(stream);
                while let Some(n) = futures_util::StreamExt::next(&mut stream).await {
                    n?;
                    wake.notify_one();
                }
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                result = listen => if let Err(err) = result {
                    tracing::debug!(error = %err, channel, "listener reconnecting");
                },
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}
