//! Each tenant's routing index, kept in memory and rebuilt when that tenant's rules change on
//! any replica: writers `NOTIFY` in their transaction, every replica `LISTEN`s and drops the
//! tenant's index; the next event rebuilds it. A generation counter keeps a rebuild that raced
//! with a change from being cached, and a lost listener connection drops every index.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use diesel_async::RunQueryDsl as _;
use futures_util::StreamExt as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    db::{self, DbPool, applications::ROUTING_CHANNEL},
    domain::{
        configuration::Configuration,
        routing::{RoutingIndex, Rule},
    },
    error::{ApiError, ApiResult},
};

/// A tenant's index and the configurations it was built from.
pub struct TenantRouting {
    /// The index.
    pub index: RoutingIndex,
    /// The configurations, by id.
    pub configurations: HashMap<Uuid, Configuration>,
}

/// How long one LISTEN connection is trusted before it is replaced.
const RELISTEN_EVERY: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Slots {
    generation: u64,
    tenants: HashMap<Uuid, Arc<TenantRouting>>,
}

/// The routing indexes of this replica.
#[derive(Clone)]
pub struct RoutingCache {
    pool: DbPool,
    slots: Arc<Mutex<Slots>>,
}

impl RoutingCache {
    /// An empty cache over `pool`.
    pub fn new(pool: DbPool) -> Self {
        Self { pool, slots: Arc::default() }
    }

    /// The tenant's routing, built on first use after a change.
    pub async fn tenant(&self, tenant_id: Uuid) -> ApiResult<Arc<TenantRouting>> {
        let generation = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(routing) = slots.tenants.get(&tenant_id) {
                return Ok(routing.clone());
            }
            slots.generation
        };
        let mut conn = self.pool.get().await?;
        let stored = db::configurations::all_of_tenant(&mut conn, tenant_id).await?;
        let memberships = db::applications::all_memberships(&mut conn, tenant_id).await?;
        drop(conn);
        let mut configurations = HashMap::new();
        let mut rules = Vec::with_capacity(stored.len());
        for s in &stored {
            let config = db::configurations::to_domain(s).map_err(ApiError::internal)?;
            rules.push(Rule {
                id: config.id,
                trigger: config.trigger,
                application_ids: config.application_ids.clone(),
                group_ids: config.resource_group_ids.clone(),
                severities: config.severities,
                enabled_at: config.enabled_at,
            });
            configurations.insert(config.id, config);
        }
        let routing = Arc::new(TenantRouting { index: RoutingIndex::build(rules, memberships), configurations });
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.generation == generation {
            slots.tenants.insert(tenant_id, routing.clone());
        }
        Ok(routing)
    }

    /// Drops a tenant's index (after a local change, or a notification).
    pub fn invalidate(&self, tenant_id: Uuid) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.generation += 1;
        slots.tenants.remove(&tenant_id);
    }

    fn invalidate_all(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.generation += 1;
        slots.tenants.clear();
    }

    /// Listens for changes from every replica until `shutdown`, reconnecting after failures.
    pub fn spawn_listener(&self, database_url: String, shutdown: CancellationToken) {
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                // A LISTEN connection that died silently would never say so: reconnecting every few
                // minutes (dropping every index) bounds how stale a replica's routing can get.
                let result = tokio::select! {
                    () = shutdown.cancelled() => return,
                    r = tokio::time::timeout(RELISTEN_EVERY, cache.listen(&database_url)) => r.unwrap_or(Ok(())),
                };
                // Whatever was announced while we were not listening is unknown: start afresh.
                cache.invalidate_all();
                if let Err(err) = result {
                    tracing::warn!(error = %err, "routing listener lost its connection; reconnecting");
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }

    async fn listen(&self, database_url: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = crate::db::connect::establish(database_url).await?;
        diesel::sql_query(format!("LISTEN {ROUTING_CHANNEL}")).execute(&mut conn).await?;
        self.invalidate_all();
        let notifications = conn.notifications_stream();
        let mut notifications = std::pin::pin!(notifications);
        while let Some(notification) = notifications.next().await {
            let notification = notification?;
            match Uuid::parse_str(&notification.payload) {
                Ok(tenant) => self.invalidate(tenant),
                Err(_) => self.invalidate_all(),
            }
        }
        Err("notification stream ended".into())
    }
}
