//! Verified API keys kept in memory, so an authenticated call costs no database round trip.
//! A key's access changes only by revocation (or its tenant's removal); the table's trigger
//! announces those on `api_keys_changed`, and every replica forgets all it holds when it hears one
//! (or when its listener reconnects, since what it missed is unknown). The replica that revokes
//! forgets at once, before it answers. A bounded age covers a listener that is down.
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::{db::tenants::ApiKey, notify::Notifier};

/// The channel the `api_keys` trigger notifies.
pub const CHANNEL: &str = "api_keys_changed";
/// The longest a key is trusted without reading it again.
const MAX_AGE: Duration = Duration::from_secs(30);
/// Beyond this many keys the cache starts over rather than grow.
const MAX_KEYS: usize = 10_000;

/// Keys by lookup prefix, as last read from the database.
pub struct KeyCache {
    keys: Mutex<HashMap<String, (ApiKey, Instant)>>,
    changes: watch::Receiver<u64>,
    seen: AtomicU64,
    _notifier: Option<Arc<Notifier>>,
}

impl KeyCache {
    /// A cache that listens for key changes on the database at `url`.
    pub fn listening(url: &str) -> Self {
        let notifier = Notifier::for_channel(url, CHANNEL);
        let changes = notifier.subscribe();
        // Whatever the listener has seen so far predates every entry.
        let seen = AtomicU64::new(*changes.borrow());
        Self { keys: Mutex::default(), changes, seen, _notifier: Some(notifier) }
    }

    /// The key with this prefix if it was read recently and nothing changed since.
    pub fn get(&self, prefix: &str) -> Option<ApiKey> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let heard = *self.changes.borrow();
        if self.seen.swap(heard, Ordering::AcqRel) != heard {
            keys.clear();
            return None;
        }
        match keys.get(prefix) {
            Some((key, read)) if read.elapsed() < MAX_AGE => Some(key.clone()),
            _ => None,
        }
    }

    /// Remembers a key just read (with the change counter read before the database was).
    pub fn put(&self, key: ApiKey, heard_before_read: u64) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if *self.changes.borrow() != heard_before_read {
            // A change raced the read: what was read may be older than it.
            return;
        }
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(key.prefix.clone(), (key, Instant::now()));
    }

    /// Notes that a held key's use was recorded (its access is what it was).
    pub fn mark_used(&self, prefix: &str, at: chrono::DateTime<chrono::Utc>) {
        if let Some((key, _)) = self.keys.lock().unwrap_or_else(|e| e.into_inner()).get_mut(prefix) {
            key.last_used_at = Some(at);
        }
    }

    /// The change counter, to pass to [`KeyCache::put`] for a read that starts now.
    pub fn generation(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Forgets every key (this replica changed one).
    pub fn clear(&self) {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    fn cache() -> (KeyCache, watch::Sender<u64>) {
        let (tx, changes) = watch::channel(0);
        (KeyCache { keys: Mutex::default(), changes, seen: AtomicU64::new(0), _notifier: None }, tx)
    }

    fn key(prefix: &str) -> ApiKey {
        ApiKey {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            name: "k".into(),
            role: "admin".into(),
            prefix: prefix.into(),
            secret_hash: vec![1; 32],
            created_at: Utc::now(),
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn a_change_heard_forgets_every_key() {
        let (cache, tx) = cache();
        cache.put(key("a"), cache.generation());
        assert!(cache.get("a").is_some());
        tx.send_modify(|n| *n += 1);
        assert!(cache.get("a").is_none());
        assert!(cache.get("a").is_none(), "forgotten, not only skipped once");
    }

    #[test]
    fn a_read_raced_by_a_change_is_not_kept() {
        let (cache, tx) = cache();
        let before = cache.generation();
        tx.send_modify(|n| *n += 1);
        cache.put(key("a"), before);
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn clear_forgets_at_once() {
        let (cache, _tx) = cache();
        cache.put(key("a"), cache.generation());
        cache.clear();
        assert!(cache.get("a").is_none());
    }
}
