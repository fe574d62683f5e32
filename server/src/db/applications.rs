//! Queries on `applications`, `resource_groups` and `group_members`. Every query is scoped by
//! tenant, and every change to routing inputs notifies the replicas' routing caches.
use chrono::{DateTime, Utc};
use diesel::{dsl::count_star, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{applications, group_members, resource_groups};

/// The channel on which a tenant's routing inputs are announced as changed.
pub const ROUTING_CHANNEL: &str = "northstar_routing";

/// Tells every replica, at commit, that `tenant_id`'s routing must be rebuilt.
pub async fn notify_routing_changed(conn: &mut AsyncPgConnection, tenant_id: Uuid) -> QueryResult<()> {
    diesel::sql_query(format!("SELECT pg_notify('{ROUTING_CHANNEL}', $1)"))
        .bind::<diesel::sql_types::Text, _>(tenant_id.to_string())
        .execute(conn)
        .await
        .map(drop)
}

/// An application row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = applications)]
pub struct Application {
    pub tenant_id: Uuid,
    pub application_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A resource group row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = resource_groups)]
pub struct Group {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One application of a tenant.
pub async fn find_application(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: &str,
) -> QueryResult<Option<Application>> {
    applications::table.find((tenant_id, id)).select(Application::as_select()).first(conn).await.optional()
}

/// Creates or renames an application; true when it was created.
pub async fn upsert_application(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: &str,
    name: &str,
) -> QueryResult<(Application, bool)> {
    let existed = find_application(conn, tenant_id, id).await?.is_some();
    let row = diesel::insert_into(applications::table)
        .values((
            applications::tenant_id.eq(tenant_id),
            applications::application_id.eq(id),
            applications::name.eq(name),
        ))
        .on_conflict((applications::tenant_id, applications::application_id))
        .do_update()
        .set((applications::name.eq(name), applications::updated_at.eq(Utc::now())))
        .returning(Application::as_returning())
        .get_result(conn)
        .await?;
    Ok((row, !existed))
}

/// Registers applications not seen before (named after their id); returns how many were new.
pub async fn register_missing(conn: &mut AsyncPgConnection, tenant_id: Uuid, ids: &[String]) -> QueryResult<usize> {
    let rows: Vec<_> = ids
        .iter()
        .map(|id| {
            (applications::tenant_id.eq(tenant_id), applications::application_id.eq(id), applications::name.eq(id))
        })
        .collect();
    diesel::insert_into(applications::table).values(rows).on_conflict_do_nothing().execute(conn).await
}

/// [`register_missing`] for (tenant, application id) pairs of several tenants, in one statement.
pub async fn register_missing_many(conn: &mut AsyncPgConnection, ids: &[(Uuid, String)]) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = ids
        .iter()
        .map(|(tenant_id, id)| {
            (applications::tenant_id.eq(*tenant_id), applications::application_id.eq(id), applications::name.eq(id))
        })
        .collect();
    diesel::insert_into(applications::table).values(rows).on_conflict_do_nothing().execute(conn).await
}

/// Which of `ids` the tenant has not registered.
pub async fn missing_applications(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    ids: &[String],
) -> QueryResult<Vec<String>> {
    let found: Vec<String> = applications::table
        .filter(applications::tenant_id.eq(tenant_id))
        .filter(applications::application_id.eq_any(ids))
        .select(applications::application_id)
        .load(conn)
        .await?;
    Ok(ids.iter().filter(|id| !found.contains(id)).cloned().collect())
}

/// A page of applications by id, optionally only one group's members.
pub async fn list_applications(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    group: Option<Uuid>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<Application>> {
    let mut query = applications::table
        .filter(applications::tenant_id.eq(tenant_id))
        .select(Application::as_select())
        .order(applications::application_id)
        .limit(limit)
        .into_boxed();
    if let Some(group) = group {
        let members =
            group_members::table.filter(group_members::group_id.eq(group)).select(group_members::application_id);
        query = query.filter(applications::application_id.eq_any(members));
    }
    if let Some(after) = after {
        query = query.filter(applications::application_id.gt(after));
    }
    query.load(conn).await
}

/// Deletes an application (and its memberships); false when there was none.
pub async fn delete_application(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: &str) -> QueryResult<bool> {
    let n = diesel::delete(applications::table.find((tenant_id, id))).execute(conn).await?;
    Ok(n > 0)
}

/// The groups of each of `application_ids`.
pub async fn groups_of(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    application_ids: &[String],
) -> QueryResult<Vec<(String, Uuid)>> {
    group_members::table
        .filter(group_members::tenant_id.eq(tenant_id))
        .filter(group_members::application_id.eq_any(application_ids))
        .select((group_members::application_id, group_members::group_id))
        .order((group_members::application_id, group_members::group_id))
        .load(conn)
        .await
}

/// Every membership of a tenant, for the routing index.
pub async fn all_memberships(conn: &mut AsyncPgConnection, tenant_id: Uuid) -> QueryResult<Vec<(String, Uuid)>> {
    group_members::table
        .filter(group_members::tenant_id.eq(tenant_id))
        .select((group_members::application_id, group_members::group_id))
        .load(conn)
        .await
}

/// Inserts a group.
pub async fn insert_group(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    name: &str,
    description: &str,
) -> QueryResult<Group> {
    diesel::insert_into(resource_groups::table)
        .values((
            resource_groups::id.eq(id),
            resource_groups::tenant_id.eq(tenant_id),
            resource_groups::name.eq(name),
            resource_groups::description.eq(description),
        ))
        .returning(Group::as_returning())
        .get_result(conn)
        .await
}

/// One group of a tenant.
pub async fn find_group(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: Uuid) -> QueryResult<Option<Group>> {
    resource_groups::table
        .filter(resource_groups::tenant_id.eq(tenant_id))
        .filter(resource_groups::id.eq(id))
        .select(Group::as_select())
        .first(conn)
        .await
        .optional()
}

/// Which of `ids` are not groups of the tenant.
pub async fn missing_groups(conn: &mut AsyncPgConnection, tenant_id: Uuid, ids: &[Uuid]) -> QueryResult<Vec<Uuid>> {
    let found: Vec<Uuid> = resource_groups::table
        .filter(resource_groups::tenant_id.eq(tenant_id))
        .filter(resource_groups::id.eq_any(ids))
        .select(resource_groups::id)
        .load(conn)
        .await?;
    Ok(ids.iter().filter(|id| !found.contains(id)).copied().collect())
}

/// A page of groups in id order, optionally only those holding an application.
pub async fn list_groups(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    application: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Group>> {
    let mut query = resource_groups::table
        .filter(resource_groups::tenant_id.eq(tenant_id))
        .select(Group::as_select())
        .order(resource_groups::id)
        .limit(limit)
        .into_boxed();
    if let Some(application) = application {
        let holding = group_members::table
            .filter(group_members::tenant_id.eq(tenant_id))
            .filter(group_members::application_id.eq(application.to_owned()))
            .select(group_members::group_id);
        query = query.filter(resource_groups::id.eq_any(holding));
    }
    if let Some(after) = after {
        query = query.filter(resource_groups::id.gt(after));
    }
    query.load(conn).await
}

/// Renames or redescribes a group.
pub async fn update_group(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
) -> QueryResult<Option<Group>> {
    let scope =
        resource_groups::table.filter(resource_groups::tenant_id.eq(tenant_id)).filter(resource_groups::id.eq(id));
    if let Some(name) = name {
        diesel::update(scope).set(resource_groups::name.eq(name)).execute(conn).await?;
    }
    if let Some(description) = description {
        diesel::update(scope).set(resource_groups::description.eq(description)).execute(conn).await?;
    }
    diesel::update(scope)
        .set(resource_groups::updated_at.eq(Utc::now()))
        .returning(Group::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes a group; false when there was none. A configuration routing from it blocks this.
pub async fn delete_group(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: Uuid) -> QueryResult<bool> {
    let scope =
        resource_groups::table.filter(resource_groups::tenant_id.eq(tenant_id)).filter(resource_groups::id.eq(id));
    Ok(diesel::delete(scope).execute(conn).await? > 0)
}

/// Adds members (already members are skipped); returns how many were added.
pub async fn add_members(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    group: Uuid,
    ids: &[String],
) -> QueryResult<usize> {
    let rows: Vec<_> = ids
        .iter()
        .map(|id| {
            (
                group_members::tenant_id.eq(tenant_id),
                group_members::group_id.eq(group),
                group_members::application_id.eq(id),
            )
        })
        .collect();
    diesel::insert_into(group_members::table).values(rows).on_conflict_do_nothing().execute(conn).await
}

/// Removes members; returns how many were removed.
pub async fn remove_members(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    group: Uuid,
    ids: &[String],
) -> QueryResult<usize> {
    diesel::delete(
        group_members::table
            .filter(group_members::tenant_id.eq(tenant_id))
            .filter(group_members::group_id.eq(group))
            .filter(group_members::application_id.eq_any(ids)),
    )
    .execute(conn)
    .await
}

/// A group's members.
pub async fn members(conn: &mut AsyncPgConnection, tenant_id: Uuid, group: Uuid) -> QueryResult<Vec<Application>> {
    applications::table
        .inner_join(
            group_members::table.on(group_members::tenant_id
                .eq(applications::tenant_id)
                .and(group_members::application_id.eq(applications::application_id))),
        )
        .filter(group_members::tenant_id.eq(tenant_id))
        .filter(group_members::group_id.eq(group))
        .select(Application::as_select())
        .order(applications::application_id)
        .load(conn)
        .await
}

/// Member counts of groups.
pub async fn member_counts(conn: &mut AsyncPgConnection, groups: &[Uuid]) -> QueryResult<Vec<(Uuid, i64)>> {
    group_members::table
        .filter(group_members::group_id.eq_any(groups))
        .group_by(group_members::group_id)
        .select((group_members::group_id, count_star()))
        .load(conn)
        .await
}
