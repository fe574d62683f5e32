//! Group commit, generically: callers hand in items one at a time and wait; a task takes
//! whatever has gathered (up to a bound) and commits it as one group, then answers each caller
//! with its own result. While a group commits the next one gathers, so the busier the service,
//! the larger the groups and the fewer the commits, and durability stays what one commit per
//! item gives: nobody is answered before the commit holding their item.
use std::{future::Future, sync::Arc};

use tokio::sync::{Semaphore, mpsc, oneshot};

/// How groups form.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    /// Items in one group at most.
    pub max_group: usize,
    /// Groups committing at once.
    pub concurrent_groups: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self { max_group: 256, concurrent_groups: 1 }
    }
}

/// The handle items go through; cheap to clone. The task ends when every handle is gone.
pub struct Batcher<T, R> {
    queue: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone() }
    }
}

/// Why an item got no result.
#[derive(Debug)]
pub enum Unanswered<T> {
    /// The group task is gone (the server is stopping) before taking the item, which comes back.
    Closed(T),
    /// The task took the item and vanished before answering: whether it was committed is unknown.
    Lost,
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts the group task; `commit` gets each group and returns one result per item, in order.
    pub fn spawn<F, Fut>(config: GroupConfig, name: &'static str, commit: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let max_group = config.max_group.max(1);
        let (queue, mut pending) = mpsc::channel::<(T, oneshot::Sender<R>)>(max_group * 4);
        let slots = Arc::new(Semaphore::new(config.concurrent_groups.max(1)));
        tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                let mut group = Vec::new();
                if pending.recv_many(&mut group, max_group).await == 0 {
                    return;
                }
                metrics::histogram!("northstar_group_commit_items", "group" => name).record(group.len() as f64);
                let (items, replies): (Vec<T>, Vec<_>) = group.into_iter().unzip();
                let committing = commit(items);
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    let results = committing.await;
                    metrics::histogram!("northstar_group_commit_seconds", "group" => name)
                        .record(started.elapsed().as_secs_f64());
                    debug_assert_eq!(results.len(), replies.len(), "one result per item");
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
                    }
                    drop(slot);
                });
            }
        });
        Self { queue }
    }

    /// Puts `item` in the next group and waits for its result.
    pub async fn submit(&self, item: T) -> Result<R, Unanswered<T>> {
        let (reply, result) = oneshot::channel();
        if let Err(mpsc::error::SendError((item, _))) = self.queue.send((item, reply)).await {
            return Err(Unanswered::Closed(item));
        }
        result.await.map_err(|_| Unanswered::Lost)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_items_share_groups_and_each_gets_its_own_result() {
        let groups = Arc::new(AtomicUsize::new(0));
        let counted = groups.clone();
        let batcher =
            Batcher::spawn(GroupConfig { max_group: 64, concurrent_groups: 1 }, "test", move |items: Vec<u32>| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    items.into_iter().map(|i| i * 2).collect::<Vec<_>>()
                }
            });
        let calls = (0..200u32).map(|i| {
            let batcher = batcher.clone();
            async move { (i, batcher.submit(i).await.unwrap()) }
        });
        for (i, doubled) in futures_util::future::join_all(calls).await {
            assert_eq!(doubled, i * 2);
        }
        let n = groups.load(Ordering::SeqCst);
        assert!((200 / 64..200).contains(&n), "{n} groups for 200 items");
    }
}
