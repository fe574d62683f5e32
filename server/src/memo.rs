//! Rows read from the database and held in memory until a NOTIFY says they may have changed.
//! Every replica forgets all it holds when it hears one on the memo's channel (or when its
//! listener reconnects, since what it missed is unknown); the replica that made the change
//! forgets at once, before it answers. A bounded age covers a listener that is down, and a read
//! raced by a change is not kept.
use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::notify::Notifier;

/// When a read started, as [`Memo::put`] needs it: the NOTIFYs heard and the local clears done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    heard: u64,
    cleared: u64,
}

/// Values by key, as last read.
pub struct Memo<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    changes: watch::Receiver<u64>,
    seen: AtomicU64,
    // Bumped by `clear`, so a read that started before a local change is not kept either, even
    // before this replica's listener hears the change's own NOTIFY.
    cleared: AtomicU64,
    max_age: Duration,
    max_len: usize,
    _notifier: Option<Arc<Notifier>>,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// A memo that forgets on every NOTIFY of `channel` on the database at `url`.
    pub fn listening(url: &str, channel: &'static str, max_age: Duration, max_len: usize) -> Self {
        let notifier = Notifier::for_channel(url, channel);
        let changes = notifier.subscribe();
        Self::with_changes(changes, max_age, max_len, Some(notifier))
    }

    fn with_changes(
        changes: watch::Receiver<u64>,
        max_age: Duration,
        max_len: usize,
        notifier: Option<Arc<Notifier>>,
    ) -> Self {
        // Whatever the listener has heard so far predates every entry.
        let seen = AtomicU64::new(*changes.borrow());
        Self {
            entries: Mutex::default(),
            changes,
            seen,
            cleared: AtomicU64::new(0),
            max_age,
            max_len,
            _notifier: notifier,
        }
    }

    /// The value of `key` if it was read recently and nothing changed since.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let heard = *self.changes.borrow();
        if self.seen.swap(heard, Ordering::AcqRel) != heard {
            entries.clear();
            return None;
        }
        match entries.get(key) {
            Some((value, read)) if read.elapsed() < self.max_age => Some(value.clone()),
            _ => None,
        }
    }

    /// The value of `key`, held or read by `load` (and then held, unless a change raced the read).
    /// Nothing is held for a key `load` does not find.
    pub async fn get_or_load<E, Fut>(&self, key: K, load: impl FnOnce() -> Fut) -> Result<Option<V>, E>
    where
        Fut: std::future::Future<Output = Result<Option<V>, E>>,
    {
        if let Some(value) = self.get(&key) {
            return Ok(Some(value));
        }
        let stamp = self.generation();
        let found = load().await?;
        if let Some(value) = &found {
            self.put(key, value.clone(), stamp);
        }
        Ok(found)
    }

    /// The stamp to pass to [`Memo::put`] for a read that starts now.
    pub fn generation(&self) -> Stamp {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = Stamp { heard: *self.changes.borrow(), cleared: self.cleared.load(Ordering::Acquire) };
        drop(entries);
        stamp
    }

    /// Remembers a value read after [`Memo::generation`] gave `before_read`.
    pub fn put(&self, key: K, value: V, before_read: Stamp) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Stamp { heard: *self.changes.borrow(), cleared: self.cleared.load(Ordering::Acquire) };
        if now != before_read {
            // A change raced the read: what was read may be older than it.
            return;
        }
        if entries.len() >= self.max_len {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Changes a held value in place (keeping its age), if it is held.
    pub fn update<Q>(&self, key: &Q, change: impl FnOnce(&mut V))
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some((value, _)) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get_mut(key) {
            change(value);
        }
    }

    /// Forgets everything, and every read already under way (this replica changed something).
    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.cleared.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo() -> (Memo<String, u32>, watch::Sender<u64>) {
        let (tx, changes) = watch::channel(0);
        (Memo::with_changes(changes, Duration::from_secs(30), 100, None), tx)
    }

    #[test]
    fn a_change_heard_forgets_everything() {
        let (memo, tx) = memo();
        memo.put("a".into(), 1, memo.generation());
        assert_eq!(memo.get("a"), Some(1));
        tx.send_modify(|n| *n += 1);
        assert_eq!(memo.get("a"), None);
        assert_eq!(memo.get("a"), None, "forgotten, not only skipped once");
    }

    #[test]
    fn a_read_raced_by_a_change_is_not_kept() {
        let (memo, tx) = memo();
        let before = memo.generation();
        tx.send_modify(|n| *n += 1);
        memo.put("a".into(), 1, before);
        assert_eq!(memo.get("a"), None);
    }

    #[test]
    fn a_read_under_way_when_this_replica_clears_is_not_kept() {
        let (memo, _tx) = memo();
        let before = memo.generation();
        memo.clear();
        memo.put("a".into(), 1, before);
        assert_eq!(memo.get("a"), None, "read before the local change, put after it");
    }

    #[test]
    fn clear_forgets_at_once_and_update_keeps_the_entry() {
        let (memo, _tx) = memo();
        memo.put("a".into(), 1, memo.generation());
        memo.update("a", |v| *v = 2);
        assert_eq!(memo.get("a"), Some(2));
        memo.clear();
        assert_eq!(memo.get("a"), None);
    }

    #[test]
    fn old_entries_are_read_again() {
        let (tx, changes) = watch::channel(0);
        let memo: Memo<String, u32> = Memo::with_changes(changes, Duration::ZERO, 100, None);
        memo.put("a".into(), 1, memo.generation());
        assert_eq!(memo.get("a"), None);
        drop(tx);
    }
}
