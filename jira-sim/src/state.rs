//! The shared simulator core: data, clock, faults, request log, webhooks.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::SimConfig;
use crate::error::ApiError;
use crate::events::Events;
use crate::faults::{Faults, RequestLog};
use crate::model::Store;
use crate::ops::Ctx;
use crate::time::Clock;
use crate::webhooks::{self, Dispatcher};

pub(crate) struct Core {
    /// Base URL for `self` links, without a trailing slash.
    pub base: String,
    pub config: SimConfig,
    pub store: Mutex<Store>,
    pub clock: Clock,
    pub faults: Faults,
    pub requests: RequestLog,
    pub dispatcher: Arc<Dispatcher>,
}

impl Core {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock would be a simulator bug; keep serving.
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one change as `actor`, then hands the webhook deliveries it
    /// produced to the dispatcher. Deliveries are routed while the store is
    /// still locked so JQL filters see the state the event describes.
    pub(crate) fn mutate<T>(
        &self,
        actor: &str,
        f: impl FnOnce(&mut Store, &mut Events, &Ctx<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let now = self.clock.now();
        let (out, deliveries) = {
            let mut store = self.store();
            let mut events = Events::new(now);
            let ctx = Ctx { now, base: &self.base, actor };
            let out = f(&mut store, &mut events, &ctx)?;
            let deliveries = webhooks::route(&store, events, now);
            (out, deliveries)
        };
        self.dispatcher.enqueue(deliveries);
        Ok(out)
    }
}
