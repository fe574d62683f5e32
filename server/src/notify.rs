//! Process-wide LISTEN connections for long-lived streams: one per database and channel, shared
//! by every stream that waits on it, so a thousand watchers cost one connection.
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex, Weak},
    time::Duration,
};

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
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
            let mut conn = AsyncPgConnection::establish(&url).await?;
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
