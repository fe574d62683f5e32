//! Process-wide LISTEN connections for long-lived streams: one per database and channel, shared
//! by every stream that waits on it, so a thousand watchers cost one connection.
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex, Weak},
    time::Duration,
};

use diesel_async::RunQueryDsl as _;
use futures_util::StreamExt as _;
use tokio::sync::watch;

/// Wakes every waiter on one database and channel when a `NOTIFY` arrives. One per process,
/// database URL (test processes run servers on several databases) and channel, alive while some
/// stream uses it: the last stream to end stops its LISTEN connection.
pub struct Notifier {
    wake: watch::Receiver<u64>,
    listener: tokio::task::AbortHandle,
}

/// Live notifiers by (database URL, channel).
type Registry = Mutex<HashMap<(String, &'static str), Weak<Notifier>>>;

static NOTIFIERS: LazyLock<Registry> = LazyLock::new(Registry::default);

impl Notifier {
    /// The notifier of `channel` on the database at `url`, shared by everyone in the process who
    /// asks while any holder keeps it.
    pub fn for_channel(url: &str, channel: &'static str) -> Arc<Self> {
        let mut notifiers = NOTIFIERS.lock().unwrap_or_else(|e| e.into_inner());
        let key = (url.to_owned(), channel);
        if let Some(notifier) = notifiers.get(&key).and_then(Weak::upgrade) {
            return notifier;
        }
        notifiers.retain(|_, n| n.strong_count() > 0);
        let (tx, wake) = watch::channel(0u64);
        let listener = tokio::spawn(listen(url.to_owned(), channel, tx)).abort_handle();
        let notifier = Arc::new(Self { wake, listener });
        notifiers.insert(key, Arc::downgrade(&notifier));
        notifier
    }

    /// A receiver that changes whenever a notification arrives (or the listener reconnects).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.clone()
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

async fn listen(url: String, channel: &'static str, tx: watch::Sender<u64>) {
    let bump = || tx.send_modify(|n| *n = n.wrapping_add(1));
    loop {
        let result = async {
            let mut conn = crate::db::connect::establish(&url).await?;
            diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn).await?;
            // Whatever was announced while nobody listened is unknown: everyone reads once.
            bump();
            let notifications = conn.notifications_stream();
            let mut notifications = std::pin::pin!(notifications);
            while let Some(notification) = notifications.next().await {
                notification?;
                bump();
            }
            Err::<(), Box<dyn std::error::Error + Send + Sync>>("notification stream ended".into())
        }
        .await;
        if let Err(err) = result {
            // Watchers keep polling meanwhile; only their latency suffers.
            tracing::warn!(error = %err, channel, "listener lost its connection; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Notifications sent after the transaction they announce has committed, a few milliseconds
/// late and coalesced. A transaction that NOTIFYs holds a database-wide lock from its commit
/// until its WAL is flushed, so at hundreds of commits a second the hot paths (a stored ticket,
/// a received webhook) would commit one at a time; they raise a wake-up here after their commit
/// instead, and one small statement announces everything raised meanwhile.
pub struct Wakeups {
    pending: Mutex<std::collections::HashSet<(&'static str, String)>>,
    kick: tokio::sync::Notify,
}

/// How long raised wake-ups wait for company before they are sent.
const COALESCE: Duration = Duration::from_millis(5);

impl Wakeups {
    /// Starts the sender on `pool`; it stops at `shutdown` (sending what is pending first).
    pub fn spawn(pool: crate::db::DbPool, shutdown: tokio_util::sync::CancellationToken) -> Arc<Self> {
        let wakeups = Arc::new(Self { pending: Mutex::default(), kick: tokio::sync::Notify::new() });
        let this = wakeups.clone();
        tokio::spawn(async move {
            loop {
                let stopping = tokio::select! {
                    () = this.kick.notified() => false,
                    () = shutdown.cancelled() => true,
                };
                if !stopping {
                    tokio::time::sleep(COALESCE).await;
                }
                let batch: Vec<_> =
                    std::mem::take(&mut *this.pending.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
                if !batch.is_empty()
                    && let Err(err) = send(&pool, &batch).await
                {
                    // Listeners also poll; a lost wake-up only delays them.
                    tracing::warn!(error = %err, "sending wake-ups");
                }
                if stopping {
                    return;
                }
            }
        });
        wakeups
    }

    /// Announces on `channel` (with `payload`) soon; call it after the commit.
    pub fn raise(&self, channel: &'static str, payload: impl Into<String>) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert((channel, payload.into()));
        self.kick.notify_one();
    }
}

async fn send(pool: &crate::db::DbPool, batch: &[(&'static str, String)]) -> Result<(), crate::error::ApiError> {
    use diesel::sql_types::{Array, Text};
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS x(c, p)")
        .bind::<Array<Text>, _>(batch.iter().map(|(c, _)| *c).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(batch.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>())
        .execute(&mut conn)
        .await?;
    Ok(())
}
