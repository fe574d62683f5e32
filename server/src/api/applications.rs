//! `ApplicationService`: applications and resource groups, the sources of routing.
use diesel_async::AsyncConnection as _;
use serde_json::json;
use uuid::Uuid;

use super::{
    AppState, audit, convert,
    paging::{Cursor, Page},
};
use crate::{
    auth::Caller,
    db::{self, applications as q},
    error::{ApiError, ApiResult},
    proto,
};

/// The application service over the shared state.
pub struct Applications {
    state: AppState,
}

impl Applications {
    /// A service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// Checks a platform application id: 1-255 printable characters, as the contract has it.
pub fn application_id(value: &str, field: &str) -> ApiResult<String> {
    convert::label(value, field, 255)
}

fn application_ids(values: &[String], field: &str) -> ApiResult<Vec<String>> {
    if values.len() > 1000 {
        return Err(ApiError::invalid(field, "at most 1000 applications per call"));
    }
    let mut ids: Vec<String> = values.iter().map(|v| application_id(v, field)).collect::<Result<_, _>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn app_to_proto(a: q::Application, groups: Vec<Uuid>) -> proto::Application {
    proto::Application {
        application_id: a.application_id,
        name: a.name,
        resource_group_ids: groups.iter().map(Uuid::to_string).collect(),
        create_time: Some(convert::timestamp(a.created_at)),
        update_time: Some(convert::timestamp(a.updated_at)),
    }
}

fn group_to_proto(g: q::Group, member_count: i64) -> proto::ResourceGroup {
    proto::ResourceGroup {
        resource_group_id: g.id.to_string(),
        name: g.name,
        description: g.description,
        member_count: i32::try_from(member_count).unwrap_or(i32::MAX),
        create_time: Some(convert::timestamp(g.created_at)),
        update_time: Some(convert::timestamp(g.updated_at)),
    }
}

fn group_view(g: &q::Group) -> serde_json::Value {
    json!({ "resource_group_id": g.id, "name": g.name, "description": g.description })
}

fn group_not_found() -> ApiError {
    ApiError::NotFound("resource group".into())
}

impl Applications {
    async fn with_groups(
        &self,
        conn: &mut db::DbConn,
        apps: Vec<q::Application>,
    ) -> ApiResult<Vec<proto::Application>> {
        let ids: Vec<String> = apps.iter().map(|a| a.application_id.clone()).collect();
        let tenant = apps.first().map(|a| a.tenant_id).unwrap_or_default();
        let memberships = q::groups_of(conn, tenant, &ids).await?;
        Ok(apps
            .into_iter()
            .map(|a| {
                let groups = memberships.iter().filter(|(app, _)| *app == a.application_id).map(|(_, g)| *g).collect();
                app_to_proto(a, groups)
            })
            .collect())
    }

    async fn group_proto(&self, conn: &mut db::DbConn, group: q::Group) -> ApiResult<proto::ResourceGroup> {
        let count = q::member_counts(conn, &[group.id]).await?.first().map_or(0, |(_, n)| *n);
        Ok(group_to_proto(group, count))
    }

    /// Commits a routing change: the local index is dropped at once, other replicas by NOTIFY.
    fn routing_changed(&self, tenant_id: Uuid) {
        self.state.routing.invalidate(tenant_id);
    }

    async fn upsert(
        &self,
        caller: Caller,
        r: proto::UpsertApplicationRequest,
    ) -> ApiResult<proto::UpsertApplicationResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = application_id(&r.application_id, "application_id")?;
        let name = if r.name.trim().is_empty() { id.clone() } else { convert::label(&r.name, "name", 200)? };
        let mut conn = self.state.pool.get().await?;
        let (app, created) = conn
            .transaction::<_, ApiError, _>(async |conn| {
                // A rename is a change: the trail keeps the name it had.
                let before = q::find_application(conn, tenant, &id).await?;
                let (app, created) = q::upsert_application(conn, tenant, &id, &name).await?;
                audit(
                    conn,
                    &caller,
                    tenant,
                    "UpsertApplication",
                    ("application", id.clone()),
                    before.map(|b| json!({ "application_id": b.application_id, "name": b.name })),
                    Some(json!({ "application_id": id, "name": name })),
                )
                .await?;
                Ok((app, created))
            })
            .await?;
        let application = self.with_groups(&mut conn, vec![app]).await?.pop();
        Ok(proto::UpsertApplicationResponse { application, created })
    }

    async fn list_apps(
        &self,
        caller: Caller,
        r: proto::ListApplicationsRequest,
    ) -> ApiResult<proto::ListApplicationsResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let group = if r.resource_group_id.is_empty() {
            None
        } else {
            Some(convert::uuid(&r.resource_group_id, "resource_group_id")?)
        };
        let mut conn = self.state.pool.get().await?;
        if let Some(group) = group {
            q::find_group(&mut conn, tenant, group).await?.ok_or_else(group_not_found)?;
        }
        let mut rows = q::list_applications(&mut conn, tenant, group, page.after_text()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |a| Cursor::Text(a.application_id.clone()));
        Ok(proto::ListApplicationsResponse { applications: self.with_groups(&mut conn, rows).await?, next_page_token })
    }

    async fn delete_app(&self, caller: Caller, r: proto::DeleteApplicationRequest) -> ApiResult<()> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = application_id(&r.application_id, "application_id")?;
        let mut conn = self.state.pool.get().await?;
        conn.transaction::<_, ApiError, _>(async |conn| {
            let before = q::find_application(conn, tenant, &id)
                .await?
                .ok_or_else(|| ApiError::NotFound("application".into()))?;
            q::delete_application(conn, tenant, &id)
                .await
                .map_err(|e| in_use(e, "a configuration names this application"))?;
            q::notify_routing_changed(conn, tenant).await?;
            audit(
                conn,
                &caller,
                tenant,
                "DeleteApplication",
                ("application", id.clone()),
                Some(json!({ "application_id": before.application_id, "name": before.name })),
                None,
            )
            .await?;
            Ok(())
        })
        .await?;
        self.routing_changed(tenant);
        Ok(())
    }

    async fn create_group(
        &self,
        caller: Caller,
        r: proto::CreateResourceGroupRequest,
    ) -> ApiResult<proto::ResourceGroup> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let name = convert::label(&r.name, "name", 200)?;
        let description = description(&r.description)?;
        let members = application_ids(&r.application_ids, "application_ids")?;
        let mut conn = self.state.pool.get().await?;
        let group = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let missing = q::missing_applications(conn, tenant, &members).await?;
                if let Some(first) = missing.first() {
                    return Err(ApiError::invalid(
                        "application_ids",
                        format!("unknown application {first:?}; register it with UpsertApplication first"),
                    ));
                }
                let group = q::insert_group(conn, tenant, Uuid::now_v7(), &name, &description).await?;
                q::add_members(conn, tenant, group.id, &members).await?;
                q::notify_routing_changed(conn, tenant).await?;
                let mut after = group_view(&group);
                after["application_ids"] = json!(members);
                audit(
                    conn,
                    &caller,
                    tenant,
                    "CreateResourceGroup",
                    ("resource_group", group.id.to_string()),
                    None,
                    Some(after),
                )
                .await?;
                Ok(group)
            })
            .await?;
        self.routing_changed(tenant);
        self.group_proto(&mut conn, group).await
    }

    async fn get_group(
        &self,
        caller: Caller,
        r: proto::GetResourceGroupRequest,
    ) -> ApiResult<proto::GetResourceGroupResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.resource_group_id, "resource_group_id")?;
        let mut conn = self.state.pool.get().await?;
        let group = q::find_group(&mut conn, tenant, id).await?.ok_or_else(group_not_found)?;
        let members = q::members(&mut conn, tenant, id).await?;
        let members = self.with_groups(&mut conn, members).await?;
        let mut proto_group = self.group_proto(&mut conn, group).await?;
        proto_group.member_count = i32::try_from(members.len()).unwrap_or(i32::MAX);
        Ok(proto::GetResourceGroupResponse { resource_group: Some(proto_group), members })
    }

    async fn list_groups(
        &self,
        caller: Caller,
        r: proto::ListResourceGroupsRequest,
    ) -> ApiResult<proto::ListResourceGroupsResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let app =
            if r.application_id.is_empty() { None } else { Some(application_id(&r.application_id, "application_id")?) };
        let mut conn = self.state.pool.get().await?;
        let mut rows = q::list_groups(&mut conn, tenant, app.as_deref(), page.after()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |g| Cursor::Id(g.id));
        let counts = q::member_counts(&mut conn, &rows.iter().map(|g| g.id).collect::<Vec<_>>()).await?;
        let resource_groups = rows
            .into_iter()
            .map(|g| {
                let n = counts.iter().find(|(id, _)| *id == g.id).map_or(0, |(_, n)| *n);
                group_to_proto(g, n)
            })
            .collect();
        Ok(proto::ListResourceGroupsResponse { resource_groups, next_page_token })
    }

    async fn update_group(
        &self,
        caller: Caller,
        r: proto::UpdateResourceGroupRequest,
    ) -> ApiResult<proto::ResourceGroup> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.resource_group_id, "resource_group_id")?;
        let paths = convert::mask_paths(r.update_mask.as_ref(), &["name", "description"])?;
        let name = if paths.iter().any(|p| p == "name") { Some(convert::label(&r.name, "name", 200)?) } else { None };
        let desc = if paths.iter().any(|p| p == "description") { Some(description(&r.description)?) } else { None };
        let mut conn = self.state.pool.get().await?;
        let group = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let before = q::find_group(conn, tenant, id).await?.ok_or_else(group_not_found)?;
                let after = q::update_group(conn, tenant, id, name.as_deref(), desc.as_deref())
                    .await?
                    .ok_or_else(group_not_found)?;
                audit(
                    conn,
                    &caller,
                    tenant,
                    "UpdateResourceGroup",
                    ("resource_group", id.to_string()),
                    Some(group_view(&before)),
                    Some(group_view(&after)),
                )
                .await?;
                Ok(after)
            })
            .await?;
        self.group_proto(&mut conn, group).await
    }

    async fn delete_group(&self, caller: Caller, r: proto::DeleteResourceGroupRequest) -> ApiResult<()> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.resource_group_id, "resource_group_id")?;
        let mut conn = self.state.pool.get().await?;
        conn.transaction::<_, ApiError, _>(async |conn| {
            let before = q::find_group(conn, tenant, id).await?.ok_or_else(group_not_found)?;
            q::delete_group(conn, tenant, id).await.map_err(|e| in_use(e, "a configuration routes from this group"))?;
            q::notify_routing_changed(conn, tenant).await?;
            audit(
                conn,
                &caller,
                tenant,
                "DeleteResourceGroup",
                ("resource_group", id.to_string()),
                Some(group_view(&before)),
                None,
            )
            .await?;
            Ok(())
        })
        .await?;
        self.routing_changed(tenant);
        Ok(())
    }

    async fn change_members(
        &self,
        caller: Caller,
        group_id: &str,
        ids: &[String],
        register_missing: bool,
        add: bool,
    ) -> ApiResult<(proto::ResourceGroup, usize)> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(group_id, "resource_group_id")?;
        let members = application_ids(ids, "application_ids")?;
        if members.is_empty() {
            return Err(ApiError::invalid("application_ids", "name at least one application"));
        }
        let mut conn = self.state.pool.get().await?;
        let (group, changed) = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let group = q::find_group(conn, tenant, id).await?.ok_or_else(group_not_found)?;
                let mut before = group_view(&group);
                before["member_count"] = json!(q::member_counts(conn, &[id]).await?.first().map_or(0, |(_, n)| *n));
                let changed = if add {
                    if register_missing {
                        q::register_missing(conn, tenant, &members).await?;
                    } else if let Some(first) = q::missing_applications(conn, tenant, &members).await?.first() {
                        return Err(ApiError::invalid(
                            "application_ids",
                            format!("unknown application {first:?}; register it first or set register_missing"),
                        ));
                    }
                    q::add_members(conn, tenant, id, &members).await?
                } else {
                    q::remove_members(conn, tenant, id, &members).await?
                };
                if changed > 0 {
                    q::notify_routing_changed(conn, tenant).await?;
                }
                let action = if add { "AddGroupMembers" } else { "RemoveGroupMembers" };
                let mut after = group_view(&group);
                after["member_count"] = json!(q::member_counts(conn, &[id]).await?.first().map_or(0, |(_, n)| *n));
                after["application_ids"] = json!(members);
                after["changed"] = json!(changed);
                audit(conn, &caller, tenant, action, ("resource_group", id.to_string()), Some(before), Some(after))
                    .await?;
                Ok((group, changed))
            })
            .await?;
        self.routing_changed(tenant);
        Ok((self.group_proto(&mut conn, group).await?, changed))
    }
}

fn description(value: &str) -> ApiResult<String> {
    if value.chars().count() > 2000 {
        return Err(ApiError::invalid("description", "must be at most 2000 characters"));
    }
    convert::storable(value, "description")?;
    Ok(value.trim().to_owned())
}

/// A refused delete because something still refers to the row, said plainly.
pub(crate) fn in_use(err: diesel::result::Error, why: &str) -> ApiError {
    match err {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _) => {
            ApiError::FailedPrecondition(format!("{why}; change or delete that configuration first"))
        }
        other => other.into(),
    }
}

super::grpc_service! {
    application_service_server::ApplicationService for Applications {
        upsert_application(UpsertApplicationRequest) -> UpsertApplicationResponse = |s, c, r| s.upsert(c, r).await;
        list_applications(ListApplicationsRequest) -> ListApplicationsResponse = |s, c, r| s.list_apps(c, r).await;
        delete_application(DeleteApplicationRequest) -> DeleteApplicationResponse =
            |s, c, r| s.delete_app(c, r).await.map(|()| proto::DeleteApplicationResponse {});
        create_resource_group(CreateResourceGroupRequest) -> CreateResourceGroupResponse =
            |s, c, r| s.create_group(c, r).await.map(|g| proto::CreateResourceGroupResponse { resource_group: Some(g) });
        get_resource_group(GetResourceGroupRequest) -> GetResourceGroupResponse = |s, c, r| s.get_group(c, r).await;
        list_resource_groups(ListResourceGroupsRequest) -> ListResourceGroupsResponse = |s, c, r| s.list_groups(c, r).await;
        update_resource_group(UpdateResourceGroupRequest) -> UpdateResourceGroupResponse =
            |s, c, r| s.update_group(c, r).await.map(|g| proto::UpdateResourceGroupResponse { resource_group: Some(g) });
        delete_resource_group(DeleteResourceGroupRequest) -> DeleteResourceGroupResponse =
            |s, c, r| s.delete_group(c, r).await.map(|()| proto::DeleteResourceGroupResponse {});
        add_group_members(AddGroupMembersRequest) -> AddGroupMembersResponse = |s, c, r| s
            .change_members(c, &r.resource_group_id, &r.application_ids, r.register_missing, true)
            .await
            .map(|(g, n)| proto::AddGroupMembersResponse { resource_group: Some(g), added_count: n as i32 });
        remove_group_members(RemoveGroupMembersRequest) -> RemoveGroupMembersResponse = |s, c, r| s
            .change_members(c, &r.resource_group_id, &r.application_ids, false, false)
            .await
            .map(|(g, n)| proto::RemoveGroupMembersResponse { resource_group: Some(g), removed_count: n as i32 });
    }
}
