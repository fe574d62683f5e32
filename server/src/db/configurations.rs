//! Queries on `configurations` and their application and group links. Every query is scoped
//! by tenant.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{configuration_applications, configuration_groups, configurations, group_members};

/// A configuration row (links in their own tables).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = configurations)]
#[diesel(treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct Row {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub credential_id: Uuid,
    pub trigger: String,
    pub jira_project_key: String,
    pub default_issue_type: String,
    pub title_prefix: Option<String>,
    pub default_epic_key: Option<String>,
    pub default_assignee_account_id: Option<String>,
    pub additional_fields: serde_json::Value,
    pub severities: Vec<String>,
    pub priority_mapping: serde_json::Value,
    pub priority_field: String,
    pub bidirectional: bool,
    pub enabled_at: Option<DateTime<Utc>>,
    pub status_mapping: Vec<String>,
    pub recurrence_policy: String,
    pub webhook_secret_ciphertext: Option<Vec<u8>>,
    pub webhook_secret_nonce: Option<Vec<u8>>,
    pub webhook_secret_key_id: Option<String>,
    pub webhook_secret_rotated_at: Option<DateTime<Utc>>,
    pub jira_webhook_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A configuration with its links.
#[derive(Debug, Clone)]
pub struct Stored {
    pub row: Row,
    pub application_ids: Vec<String>,
    pub group_ids: Vec<Uuid>,
}

/// Inserts a configuration and its links.
pub async fn insert(conn: &mut AsyncPgConnection, row: &Row, apps: &[String], groups: &[Uuid]) -> QueryResult<()> {
    diesel::insert_into(configurations::table).values(row).execute(conn).await?;
    set_links(conn, row.tenant_id, row.id, apps, groups).await
}

/// Replaces a configuration's links.
pub async fn set_links(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    apps: &[String],
    groups: &[Uuid],
) -> QueryResult<()> {
    diesel::delete(configuration_applications::table.filter(configuration_applications::configuration_id.eq(id)))
        .execute(conn)
        .await?;
    diesel::delete(configuration_groups::table.filter(configuration_groups::configuration_id.eq(id)))
        .execute(conn)
        .await?;
    let app_rows: Vec<_> = apps
        .iter()
        .map(|a| {
            (
                configuration_applications::tenant_id.eq(tenant_id),
                configuration_applications::configuration_id.eq(id),
                configuration_applications::application_id.eq(a),
            )
        })
        .collect();
    if !app_rows.is_empty() {
        diesel::insert_into(configuration_applications::table).values(app_rows).execute(conn).await?;
    }
    let group_rows: Vec<_> = groups
        .iter()
        .map(|g| {
            (
                configuration_groups::tenant_id.eq(tenant_id),
                configuration_groups::configuration_id.eq(id),
                configuration_groups::group_id.eq(g),
            )
        })
        .collect();
    if !group_rows.is_empty() {
        diesel::insert_into(configuration_groups::table).values(group_rows).execute(conn).await?;
    }
    Ok(())
}

/// Replaces a configuration's columns.
pub async fn update(conn: &mut AsyncPgConnection, row: &Row) -> QueryResult<()> {
    diesel::update(
        configurations::table.filter(configurations::tenant_id.eq(row.tenant_id)).filter(configurations::id.eq(row.id)),
    )
    .set(row)
    .execute(conn)
    .await
    .map(drop)
}

async fn with_links(conn: &mut AsyncPgConnection, rows: Vec<Row>) -> QueryResult<Vec<Stored>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let apps: Vec<(Uuid, String)> = configuration_applications::table
        .filter(configuration_applications::configuration_id.eq_any(&ids))
        .select((configuration_applications::configuration_id, configuration_applications::application_id))
        .order(configuration_applications::application_id)
        .load(conn)
        .await?;
    let groups: Vec<(Uuid, Uuid)> = configuration_groups::table
        .filter(configuration_groups::configuration_id.eq_any(&ids))
        .select((configuration_groups::configuration_id, configuration_groups::group_id))
        .order(configuration_groups::group_id)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Stored {
            application_ids: apps.iter().filter(|(c, _)| *c == row.id).map(|(_, a)| a.clone()).collect(),
            group_ids: groups.iter().filter(|(c, _)| *c == row.id).map(|(_, g)| *g).collect(),
            row,
        })
        .collect())
}

/// One configuration of a tenant, optionally locked for update.
pub async fn find(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: Uuid, lock: bool) -> QueryResult<Option<Stored>> {
    let query = configurations::table
        .filter(configurations::tenant_id.eq(tenant_id))
        .filter(configurations::id.eq(id))
        .select(Row::as_select());
    let row = if lock { query.for_update().first(conn).await } else { query.first(conn).await }.optional()?;
    match row {
        Some(row) => Ok(with_links(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// List filters.
#[derive(Debug, Default)]
pub struct Filter {
    pub trigger: Option<String>,
    pub credential_id: Option<Uuid>,
    pub application_id: Option<String>,
    pub group_id: Option<Uuid>,
    pub enabled: Option<bool>,
}

/// A page of a tenant's configurations in id order.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    filter: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Stored>> {
    let mut query = configurations::table
        .filter(configurations::tenant_id.eq(tenant_id))
        .select(Row::as_select())
        .order(configurations::id)
        .limit(limit)
        .into_boxed();
    if let Some(trigger) = &filter.trigger {
        query = query.filter(configurations::trigger.eq(trigger.clone()));
    }
    if let Some(credential) = filter.credential_id {
        query = query.filter(configurations::credential_id.eq(credential));
    }
    if let Some(app) = &filter.application_id {
        // Configurations that reach the application, by name or through one of its groups.
        let naming = configuration_applications::table
            .filter(configuration_applications::application_id.eq(app.clone()))
            .select(configuration_applications::configuration_id);
        let groups = group_members::table
            .filter(group_members::tenant_id.eq(tenant_id))
            .filter(group_members::application_id.eq(app.clone()))
            .select(group_members::group_id);
        let through_groups = configuration_groups::table
            .filter(configuration_groups::group_id.eq_any(groups))
            .select(configuration_groups::configuration_id);
        query = query.filter(configurations::id.eq_any(naming).or(configurations::id.eq_any(through_groups)));
    }
    if let Some(group) = filter.group_id {
        let routing = configuration_groups::table
            .filter(configuration_groups::group_id.eq(group))
            .select(configuration_groups::configuration_id);
        query = query.filter(configurations::id.eq_any(routing));
    }
    match filter.enabled {
        Some(true) => query = query.filter(configurations::enabled_at.is_not_null()),
        Some(false) => query = query.filter(configurations::enabled_at.is_null()),
        None => {}
    }
    if let Some(after) = after {
        query = query.filter(configurations::id.gt(after));
    }
    let rows = query.load(conn).await?;
    with_links(conn, rows).await
}

/// Every configuration of a tenant, for the routing index.
pub async fn all_of_tenant(conn: &mut AsyncPgConnection, tenant_id: Uuid) -> QueryResult<Vec<Stored>> {
    let rows = configurations::table
        .filter(configurations::tenant_id.eq(tenant_id))
        .select(Row::as_select())
        .load(conn)
        .await?;
    with_links(conn, rows).await
}

/// Records the id of the admin webhook registered in Jira for a configuration.
pub async fn set_jira_webhook(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    webhook: &str,
) -> QueryResult<()> {
    diesel::update(
        configurations::table.filter(configurations::tenant_id.eq(tenant_id)).filter(configurations::id.eq(id)),
    )
    .set((configurations::jira_webhook_id.eq(webhook), configurations::updated_at.eq(chrono::Utc::now())))
    .execute(conn)
    .await
    .map(drop)
}

/// Every enabled bidirectional configuration, of every tenant, as (tenant, configuration).
pub async fn bidirectional(conn: &mut AsyncPgConnection) -> QueryResult<Vec<(Uuid, Uuid)>> {
    configurations::table
        .filter(configurations::bidirectional.eq(true))
        .filter(configurations::enabled_at.is_not_null())
        .select((configurations::tenant_id, configurations::id))
        .load(conn)
        .await
}

/// Names of configurations using a credential (to explain a refused delete).
pub async fn names_using_credential(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    credential: Uuid,
) -> QueryResult<Vec<String>> {
    configurations::table
        .filter(configurations::tenant_id.eq(tenant_id))
        .filter(configurations::credential_id.eq(credential))
        .select(configurations::name)
        .order(configurations::name)
        .load(conn)
        .await
}

/// Deletes a configuration and its links; false when there was none.
pub async fn delete(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: Uuid) -> QueryResult<bool> {
    let scope = configurations::table.filter(configurations::tenant_id.eq(tenant_id)).filter(configurations::id.eq(id));
    Ok(diesel::delete(scope).execute(conn).await? > 0)
}

/// A stored configuration as the domain type; an unreadable row is a bug, reported as such.
pub fn to_domain(stored: &Stored) -> Result<crate::domain::configuration::Configuration, String> {
    use crate::domain::{
        configuration::{self as c, Configuration, RecurrencePolicy},
        model::{Severity, Trigger},
    };
    let row = &stored.row;
    let severities: Vec<Severity> = row
        .severities
        .iter()
        .map(|s| Severity::parse(s).ok_or_else(|| format!("severity {s:?}")))
        .collect::<Result<_, _>>()?;
    Ok(Configuration {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name.clone(),
        credential_id: row.credential_id,
        trigger: Trigger::parse(&row.trigger).ok_or_else(|| format!("trigger {:?}", row.trigger))?,
        application_ids: stored.application_ids.clone(),
        resource_group_ids: stored.group_ids.clone(),
        jira_project_key: row.jira_project_key.clone(),
        default_issue_type: row.default_issue_type.clone(),
        title_prefix: row.title_prefix.clone(),
        default_epic_key: row.default_epic_key.clone(),
        default_assignee_account_id: row.default_assignee_account_id.clone(),
        additional_fields: serde_json::from_value(row.additional_fields.clone()).map_err(|e| e.to_string())?,
        severities: c::severity_set(&severities),
        priority_mapping: serde_json::from_value(row.priority_mapping.clone()).map_err(|e| e.to_string())?,
        priority_field: c::parse_priority_field(&row.priority_field).map_err(|e| e.to_string())?,
        bidirectional: row.bidirectional,
        enabled_at: row.enabled_at,
        status_mapping: row.status_mapping.clone(),
        recurrence_policy: RecurrencePolicy::parse(&row.recurrence_policy)
            .ok_or_else(|| format!("recurrence policy {:?}", row.recurrence_policy))?,
    })
}
