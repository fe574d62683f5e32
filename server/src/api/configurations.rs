//! `ConfigurationService`: routing rules, live validation against Jira, dry-run previews, and
//! the webhook secrets of bidirectional configurations.
use base64::Engine as _;
use chrono::Utc;
use diesel_async::AsyncConnection as _;
use serde_json::json;
use uuid::Uuid;

use super::{
    AppState,
    applications::application_id,
    audit, convert,
    credentials::site_of,
    paging::{Cursor, Page},
};
use crate::{
    auth::Caller,
    db::{self, configurations::Row},
    domain::{
        configuration::{
            self as rules, AdditionalField, Configuration, FieldError, FieldValue, PriorityField, RecurrencePolicy,
        },
        model::{Severity, Trigger},
        priority::Band,
        routing::{EventFacts, Skip},
        ticket,
    },
    error::{ApiError, ApiResult},
    jira::JiraError,
    proto,
};

/// The configuration service over the shared state.
pub struct Configurations {
    state: AppState,
}

impl Configurations {
    /// A service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn field(e: FieldError) -> ApiError {
    ApiError::InvalidArgument { field: e.field, message: e.message }
}

fn not_found() -> ApiError {
    ApiError::NotFound("configuration".into())
}

/// The proto fields shared by create and update requests, borrowed.
struct Fields<'a> {
    name: &'a str,
    credential_id: &'a str,
    application_ids: &'a [String],
    resource_group_ids: &'a [String],
    jira_project_key: &'a str,
    default_issue_type: &'a str,
    title_prefix: &'a str,
    default_epic_key: &'a str,
    default_assignee_account_id: &'a str,
    additional_fields: &'a [proto::AdditionalField],
    severities: &'a [i32],
    priority_mapping: &'a [proto::PriorityBand],
    priority_field: &'a str,
    bidirectional: bool,
    enabled: Option<bool>,
    status_mapping: &'a [String],
    recurrence_policy: i32,
}

macro_rules! fields_of {
    ($r:expr) => {
        Fields {
            name: &$r.name,
            credential_id: &$r.credential_id,
            application_ids: &$r.application_ids,
            resource_group_ids: &$r.resource_group_ids,
            jira_project_key: &$r.jira_project_key,
            default_issue_type: &$r.default_issue_type,
            title_prefix: &$r.title_prefix,
            default_epic_key: &$r.default_epic_key,
            default_assignee_account_id: &$r.default_assignee_account_id,
            additional_fields: &$r.additional_fields,
            severities: &$r.severities,
            priority_mapping: &$r.priority_mapping,
            priority_field: &$r.priority_field,
            bidirectional: $r.bidirectional,
            enabled: $r.enabled,
            status_mapping: &$r.status_mapping,
            recurrence_policy: $r.recurrence_policy,
        }
    };
}

fn optional(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fn additional_field(f: &proto::AdditionalField) -> AdditionalField {
    use proto::additional_field::Value as V;
    let value = match &f.value {
        Some(V::Labels(l)) => FieldValue::Labels(l.values.clone()),
        Some(V::Components(c)) => FieldValue::Components(c.values.clone()),
        Some(V::Text(t)) => FieldValue::Text(t.clone()),
        Some(V::Number(n)) => FieldValue::Number(*n),
        Some(V::OptionValue(o)) => FieldValue::Option(o.clone()),
        Some(V::OptionValues(o)) => FieldValue::Options(o.values.clone()),
        // No value: reported by the kind check as unsupported.
        None => FieldValue::Text(String::new()),
    };
    AdditionalField { field_id: f.field_id.trim().to_owned(), value }
}

fn additional_field_to_proto(f: &AdditionalField) -> proto::AdditionalField {
    use proto::additional_field::Value as V;
    let list = |v: &Vec<String>| proto::StringList { values: v.clone() };
    let value = match &f.value {
        FieldValue::Labels(l) => V::Labels(list(l)),
        FieldValue::Components(c) => V::Components(list(c)),
        FieldValue::Text(t) => V::Text(t.clone()),
        FieldValue::Number(n) => V::Number(*n),
        FieldValue::Option(o) => V::OptionValue(o.clone()),
        FieldValue::Options(o) => V::OptionValues(list(o)),
    };
    proto::AdditionalField { field_id: f.field_id.clone(), value: Some(value) }
}

fn recurrence(value: i32) -> ApiResult<RecurrencePolicy> {
    match proto::RecurrencePolicy::try_from(value) {
        Ok(proto::RecurrencePolicy::Unspecified | proto::RecurrencePolicy::Reopen) => Ok(RecurrencePolicy::Reopen),
        Ok(proto::RecurrencePolicy::NewTicket) => Ok(RecurrencePolicy::NewTicket),
        Ok(proto::RecurrencePolicy::Comment) => Ok(RecurrencePolicy::Comment),
        Err(_) => Err(ApiError::invalid("recurrence_policy", format!("unknown value {value}"))),
    }
}

fn recurrence_to_proto(p: RecurrencePolicy) -> proto::RecurrencePolicy {
    match p {
        RecurrencePolicy::Reopen => proto::RecurrencePolicy::Reopen,
        RecurrencePolicy::NewTicket => proto::RecurrencePolicy::NewTicket,
        RecurrencePolicy::Comment => proto::RecurrencePolicy::Comment,
    }
}

/// Applies the fields named in `paths` (all of them for a create) onto `c`, checking each.
fn apply(c: &mut Configuration, f: &Fields<'_>, paths: &[&str], now: chrono::DateTime<Utc>) -> ApiResult<()> {
    for path in paths {
        match *path {
            "name" => c.name = convert::label(f.name, "name", 200)?,
            "credential_id" => c.credential_id = convert::uuid(f.credential_id, "credential_id")?,
            "application_ids" => {
                let mut ids: Vec<String> =
                    f.application_ids.iter().map(|a| application_id(a, "application_ids")).collect::<Result<_, _>>()?;
                ids.sort();
                ids.dedup();
                c.application_ids = ids;
            }
            "resource_group_ids" => {
                let mut ids: Vec<Uuid> = f
                    .resource_group_ids
                    .iter()
                    .map(|g| convert::uuid(g, "resource_group_ids"))
                    .collect::<Result<_, _>>()?;
                ids.sort();
                ids.dedup();
                c.resource_group_ids = ids;
            }
            "jira_project_key" => {
                let key = f.jira_project_key.trim();
                rules::check_project_key(key).map_err(field)?;
                c.jira_project_key = key.to_owned();
            }
            "default_issue_type" => {
                c.default_issue_type = convert::label(f.default_issue_type, "default_issue_type", 255)?
            }
            "title_prefix" => {
                rules::check_title_prefix(f.title_prefix.trim()).map_err(field)?;
                c.title_prefix = optional(f.title_prefix);
            }
            "default_epic_key" => {
                c.default_epic_key = optional(f.default_epic_key);
                if let Some(epic) = &c.default_epic_key {
                    rules::check_issue_key(epic, "default_epic_key").map_err(field)?;
                }
            }
            "default_assignee_account_id" => {
                c.default_assignee_account_id = optional(f.default_assignee_account_id);
                if c.default_assignee_account_id.as_ref().is_some_and(|a| a.len() > 128) {
                    return Err(ApiError::invalid("default_assignee_account_id", "must be at most 128 characters"));
                }
                convert::storable(f.default_assignee_account_id, "default_assignee_account_id")?;
            }
            "additional_fields" => {
                let fields: Vec<AdditionalField> = f.additional_fields.iter().map(additional_field).collect();
                rules::check_additional_fields(&fields).map_err(field)?;
                c.additional_fields = fields;
            }
            "severities" => {
                let list: Vec<Severity> =
                    f.severities.iter().map(|s| convert::severity(*s, "severities")).collect::<Result<_, _>>()?;
                rules::check_severities(&list).map_err(field)?;
                c.severities = rules::severity_set(&list);
            }
            "priority_mapping" => {
                let bands = f
                    .priority_mapping
                    .iter()
                    .map(|b| Band { min_score: b.min_score, priority: b.priority.trim().to_owned() })
                    .collect();
                c.priority_mapping = rules::parse_priority_mapping(bands).map_err(field)?;
            }
            "priority_field" => {
                c.priority_field = rules::parse_priority_field(f.priority_field.trim()).map_err(field)?
            }
            "bidirectional" => c.bidirectional = f.bidirectional,
            "enabled" => {
                let enabled = f.enabled.unwrap_or(true);
                c.enabled_at = match (enabled, c.enabled_at) {
                    (true, Some(since)) => Some(since),
                    (true, None) => Some(now),
                    (false, _) => None,
                };
            }
            "status_mapping" => c.status_mapping = rules::parse_status_mapping(f.status_mapping).map_err(field)?,
            "recurrence_policy" => c.recurrence_policy = recurrence(f.recurrence_policy)?,
            other => return Err(ApiError::invalid("update_mask", format!("unknown field {other:?}"))),
        }
    }
    if c.application_ids.is_empty() && c.resource_group_ids.is_empty() {
        return Err(ApiError::invalid("application_ids", "name at least one application or resource group"));
    }
    Ok(())
}

const CREATE_PATHS: [&str; 17] = [
    "name",
    "credential_id",
    "application_ids",
    "resource_group_ids",
    "jira_project_key",
    "default_issue_type",
    "title_prefix",
    "default_epic_key",
    "default_assignee_account_id",
    "additional_fields",
    "severities",
    "priority_mapping",
    "priority_field",
    "bidirectional",
    "enabled",
    "status_mapping",
    "recurrence_policy",
];

fn blank(tenant_id: Uuid, id: Uuid, trigger: Trigger) -> Configuration {
    Configuration {
        id,
        tenant_id,
        name: String::new(),
        credential_id: Uuid::nil(),
        trigger,
        application_ids: Vec::new(),
        resource_group_ids: Vec::new(),
        jira_project_key: String::new(),
        default_issue_type: String::new(),
        title_prefix: None,
        default_epic_key: None,
        default_assignee_account_id: None,
        additional_fields: Vec::new(),
        severities: crate::domain::model::SeveritySet::ALL,
        priority_mapping: Default::default(),
        priority_field: PriorityField::Priority,
        bidirectional: false,
        enabled_at: None,
        status_mapping: Vec::new(),
        recurrence_policy: RecurrencePolicy::Reopen,
    }
}

/// A new configuration from a create request (a draft for validation, too).
fn from_create(tenant_id: Uuid, id: Uuid, r: &proto::CreateConfigurationRequest) -> ApiResult<Configuration> {
    let trigger = convert::trigger(r.trigger, "trigger")?;
    let mut c = blank(tenant_id, id, trigger);
    apply(&mut c, &fields_of!(r), &CREATE_PATHS, Utc::now())?;
    Ok(c)
}

/// A sealed webhook secret with its columns.
struct Secret {
    text: String,
    sealed: crate::crypto::Sealed,
}

/// The AAD that binds a sealed webhook secret to its configuration.
pub fn webhook_context(id: Uuid) -> String {
    format!("webhook:{id}")
}

fn new_secret(state: &AppState, id: Uuid) -> Secret {
    let text = format!("nsjwh_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
    let sealed = state.cipher.seal(&text, &webhook_context(id));
    Secret { text, sealed }
}

fn to_row(c: &Configuration, previous: Option<&Row>, secret: Option<&Secret>, keep_secret: bool) -> Row {
    let now = Utc::now();
    let (ciphertext, nonce, key_id, rotated) = match (secret, previous) {
        (Some(s), _) => {
            (Some(s.sealed.ciphertext.clone()), Some(s.sealed.nonce.clone()), Some(s.sealed.key_id.clone()), Some(now))
        }
        (None, Some(p)) if keep_secret => (
            p.webhook_secret_ciphertext.clone(),
            p.webhook_secret_nonce.clone(),
            p.webhook_secret_key_id.clone(),
            p.webhook_secret_rotated_at,
        ),
        _ => (None, None, None, None),
    };
    Row {
        id: c.id,
        tenant_id: c.tenant_id,
        name: c.name.clone(),
        credential_id: c.credential_id,
        trigger: c.trigger.as_str().to_owned(),
        jira_project_key: c.jira_project_key.clone(),
        default_issue_type: c.default_issue_type.clone(),
        title_prefix: c.title_prefix.clone(),
        default_epic_key: c.default_epic_key.clone(),
        default_assignee_account_id: c.default_assignee_account_id.clone(),
        additional_fields: serde_json::to_value(&c.additional_fields).unwrap_or_default(),
        severities: c.severities.members().iter().map(|s| s.as_str().to_owned()).collect(),
        priority_mapping: serde_json::to_value(&c.priority_mapping).unwrap_or_default(),
        priority_field: c.priority_field.as_str().to_owned(),
        bidirectional: c.bidirectional,
        enabled_at: c.enabled_at,
        status_mapping: c.status_mapping.clone(),
        recurrence_policy: c.recurrence_policy.as_str().to_owned(),
        webhook_secret_ciphertext: ciphertext,
        webhook_secret_nonce: nonce,
        webhook_secret_key_id: key_id,
        webhook_secret_rotated_at: rotated,
        jira_webhook_id: previous.and_then(|p| p.jira_webhook_id.clone()),
        created_at: previous.map_or(now, |p| p.created_at),
        updated_at: now,
    }
}

/// What the audit trail keeps of a configuration: everything but the webhook secret.
fn audit_view(c: &Configuration) -> serde_json::Value {
    json!({
        "configuration_id": c.id, "name": c.name, "credential_id": c.credential_id, "trigger": c.trigger.as_str(),
        "application_ids": c.application_ids, "resource_group_ids": c.resource_group_ids,
        "jira_project_key": c.jira_project_key, "default_issue_type": c.default_issue_type,
        "title_prefix": c.title_prefix, "default_epic_key": c.default_epic_key,
        "default_assignee_account_id": c.default_assignee_account_id, "additional_fields": c.additional_fields,
        "severities": c.severities.members().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "priority_mapping": c.priority_mapping, "priority_field": c.priority_field.as_str(),
        "bidirectional": c.bidirectional, "enabled": c.enabled_at.is_some(), "status_mapping": c.status_mapping,
        "recurrence_policy": c.recurrence_policy.as_str(), "webhook_secret": if c.bidirectional { "[REDACTED]" } else { "" },
    })
}

impl Configurations {
    fn webhook_url(&self, c: &Configuration) -> String {
        if c.bidirectional { format!("{}/webhooks/jira/{}", self.state.public_url, c.id) } else { String::new() }
    }

    fn to_proto(&self, c: &Configuration, row: &Row) -> proto::Configuration {
        proto::Configuration {
            configuration_id: c.id.to_string(),
            name: c.name.clone(),
            credential_id: c.credential_id.to_string(),
            trigger: convert::trigger_to_proto(c.trigger) as i32,
            application_ids: c.application_ids.clone(),
            resource_group_ids: c.resource_group_ids.iter().map(Uuid::to_string).collect(),
            jira_project_key: c.jira_project_key.clone(),
            default_issue_type: c.default_issue_type.clone(),
            title_prefix: c.title_prefix.clone().unwrap_or_default(),
            default_epic_key: c.default_epic_key.clone().unwrap_or_default(),
            default_assignee_account_id: c.default_assignee_account_id.clone().unwrap_or_default(),
            additional_fields: c.additional_fields.iter().map(additional_field_to_proto).collect(),
            severities: c
                .severities
                .members()
                .into_iter()
                .rev()
                .map(|s| convert::severity_to_proto(s) as i32)
                .collect(),
            priority_mapping: c
                .priority_mapping
                .bands()
                .iter()
                .map(|b| proto::PriorityBand { min_score: b.min_score, priority: b.priority.clone() })
                .collect(),
            priority_field: c.priority_field.as_str().to_owned(),
            bidirectional: c.bidirectional,
            enabled: c.enabled_at.is_some(),
            status_mapping: c.status_mapping.clone(),
            recurrence_policy: recurrence_to_proto(c.recurrence_policy) as i32,
            webhook_url: self.webhook_url(c),
            enable_time: c.enabled_at.map(convert::timestamp),
            webhook_secret_rotate_time: row.webhook_secret_rotated_at.map(convert::timestamp),
            jira_webhook_id: row.jira_webhook_id.clone().unwrap_or_default(),
            create_time: Some(convert::timestamp(row.created_at)),
            update_time: Some(convert::timestamp(row.updated_at)),
        }
    }

    /// Checks that the credential, applications and groups are the tenant's own.
    async fn check_references(&self, conn: &mut diesel_async::AsyncPgConnection, c: &Configuration) -> ApiResult<()> {
        if db::credentials::find(conn, c.tenant_id, c.credential_id).await?.is_none() {
            return Err(ApiError::invalid("credential_id", "no such credential in this tenant"));
        }
        if let Some(app) = db::applications::missing_applications(conn, c.tenant_id, &c.application_ids).await?.first()
        {
            return Err(ApiError::invalid(
                "application_ids",
                format!("unknown application {app:?}; register it with UpsertApplication first"),
            ));
        }
        if let Some(group) = db::applications::missing_groups(conn, c.tenant_id, &c.resource_group_ids).await?.first() {
            return Err(ApiError::invalid("resource_group_ids", format!("no resource group {group} in this tenant")));
        }
        Ok(())
    }

    async fn load(&self, conn: &mut db::DbConn, tenant: Uuid, id: Uuid, lock: bool) -> ApiResult<(Configuration, Row)> {
        let stored = db::configurations::find(conn, tenant, id, lock).await?.ok_or_else(not_found)?;
        let config = db::configurations::to_domain(&stored).map_err(ApiError::internal)?;
        Ok((config, stored.row))
    }

    async fn create(
        &self,
        caller: Caller,
        r: proto::CreateConfigurationRequest,
    ) -> ApiResult<proto::CreateConfigurationResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = Uuid::now_v7();
        let config = from_create(tenant, id, &r)?;
        let secret = config.bidirectional.then(|| new_secret(&self.state, id));
        let row = to_row(&config, None, secret.as_ref(), false);
        let mut conn = self.state.pool.get().await?;
        conn.transaction::<_, ApiError, _>(async |conn| {
            self.check_references(conn, &config).await?;
            db::configurations::insert(conn, &row, &config.application_ids, &config.resource_group_ids).await?;
            db::applications::notify_routing_changed(conn, tenant).await?;
            audit(
                conn,
                &caller,
                tenant,
                "CreateConfiguration",
                ("configuration", id.to_string()),
                None,
                Some(audit_view(&config)),
            )
            .await?;
            Ok(())
        })
        .await?;
        self.state.routing.invalidate(tenant);
        self.state.receivers.clear();
        tracing::info!(configuration_id = %id, trigger = config.trigger.as_str(), "configuration created");
        Ok(proto::CreateConfigurationResponse {
            configuration: Some(self.to_proto(&config, &row)),
            webhook_url: self.webhook_url(&config),
            webhook_secret: secret.map(|s| s.text).unwrap_or_default(),
        })
    }

    async fn get(
        &self,
        caller: Caller,
        r: proto::GetConfigurationRequest,
    ) -> ApiResult<proto::GetConfigurationResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.configuration_id, "configuration_id")?;
        let mut conn = self.state.pool.get().await?;
        let (config, row) = self.load(&mut conn, tenant, id, false).await?;
        Ok(proto::GetConfigurationResponse { configuration: Some(self.to_proto(&config, &row)) })
    }

    async fn list(
        &self,
        caller: Caller,
        r: proto::ListConfigurationsRequest,
    ) -> ApiResult<proto::ListConfigurationsResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let filter = db::configurations::Filter {
            trigger: match r.trigger {
                0 => None,
                t => Some(convert::trigger(t, "trigger")?.as_str().to_owned()),
            },
            credential_id: optional(&r.credential_id).map(|c| convert::uuid(&c, "credential_id")).transpose()?,
            application_id: optional(&r.application_id).map(|a| application_id(&a, "application_id")).transpose()?,
            group_id: optional(&r.resource_group_id).map(|g| convert::uuid(&g, "resource_group_id")).transpose()?,
            enabled: r.enabled,
        };
        let mut conn = self.state.pool.get().await?;
        let mut rows = db::configurations::list(&mut conn, tenant, &filter, page.after()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |s| Cursor::Id(s.row.id));
        let configurations = rows
            .iter()
            .map(|s| db::configurations::to_domain(s).map(|c| self.to_proto(&c, &s.row)).map_err(ApiError::internal))
            .collect::<Result<_, _>>()?;
        Ok(proto::ListConfigurationsResponse { configurations, next_page_token })
    }

    async fn update(
        &self,
        caller: Caller,
        r: proto::UpdateConfigurationRequest,
    ) -> ApiResult<proto::UpdateConfigurationResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.configuration_id, "configuration_id")?;
        let allowed: Vec<&str> = CREATE_PATHS.to_vec();
        let paths = convert::mask_paths(r.update_mask.as_ref(), &allowed)?;
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let mut conn = self.state.pool.get().await?;
        let (config, row, secret) = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let (before, previous) = self.load(conn, tenant, id, true).await?;
                let mut config = before.clone();
                apply(&mut config, &fields_of!(r), &paths, Utc::now())?;
                self.check_references(conn, &config).await?;
                // A secret is made when bidirectional flow is turned on, and dropped when it is turned off.
                let secret = (config.bidirectional && !before.bidirectional).then(|| new_secret(&self.state, id));
                let row = to_row(&config, Some(&previous), secret.as_ref(), config.bidirectional);
                db::configurations::update(conn, &row).await?;
                db::configurations::set_links(conn, tenant, id, &config.application_ids, &config.resource_group_ids)
                    .await?;
                db::applications::notify_routing_changed(conn, tenant).await?;
                audit(
                    conn,
                    &caller,
                    tenant,
                    "UpdateConfiguration",
                    ("configuration", id.to_string()),
                    Some(audit_view(&before)),
                    Some(audit_view(&config)),
                )
                .await?;
                Ok((config, row, secret))
            })
            .await?;
        self.state.routing.invalidate(tenant);
        self.state.receivers.clear();
        Ok(proto::UpdateConfigurationResponse {
            configuration: Some(self.to_proto(&config, &row)),
            webhook_url: self.webhook_url(&config),
            webhook_secret: secret.map(|s| s.text).unwrap_or_default(),
        })
    }

    async fn delete(&self, caller: Caller, r: proto::DeleteConfigurationRequest) -> ApiResult<()> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.configuration_id, "configuration_id")?;
        let mut conn = self.state.pool.get().await?;
        conn.transaction::<_, ApiError, _>(async |conn| {
            let (before, _) = self.load(conn, tenant, id, true).await?;
            db::configurations::delete(conn, tenant, id).await?;
            db::applications::notify_routing_changed(conn, tenant).await?;
            audit(
                conn,
                &caller,
                tenant,
                "DeleteConfiguration",
                ("configuration", id.to_string()),
                Some(audit_view(&before)),
                None,
            )
            .await?;
            Ok(())
        })
        .await?;
        self.state.routing.invalidate(tenant);
        self.state.receivers.clear();
        Ok(())
    }

    async fn rotate(
        &self,
        caller: Caller,
        r: proto::RotateWebhookSecretRequest,
    ) -> ApiResult<proto::RotateWebhookSecretResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.configuration_id, "configuration_id")?;
        let mut conn = self.state.pool.get().await?;
        let (config, row, secret) = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let (config, previous) = self.load(conn, tenant, id, true).await?;
                if !config.bidirectional {
                    return Err(ApiError::FailedPrecondition(
                        "the configuration is not bidirectional; enable bidirectional first".into(),
                    ));
                }
                let secret = new_secret(&self.state, id);
                let row = to_row(&config, Some(&previous), Some(&secret), true);
                db::configurations::update(conn, &row).await?;
                // Every replica's webhook endpoint forgets the old secret.
                db::applications::notify_routing_changed(conn, tenant).await?;
                let secret_view = |rotated: Option<chrono::DateTime<Utc>>| {
                    json!({ "webhook_secret": "[REDACTED]", "webhook_secret_rotate_time": rotated })
                };
                audit(
                    conn,
                    &caller,
                    tenant,
                    "RotateWebhookSecret",
                    ("configuration", id.to_string()),
                    Some(secret_view(previous.webhook_secret_rotated_at)),
                    Some(secret_view(row.webhook_secret_rotated_at)),
                )
                .await?;
                Ok((config, row, secret))
            })
            .await?;
        self.state.receivers.clear();
        Ok(proto::RotateWebhookSecretResponse {
            configuration: Some(self.to_proto(&config, &row)),
            webhook_url: self.webhook_url(&config),
            webhook_secret: secret.text,
        })
    }

    async fn register_webhook(
        &self,
        caller: Caller,
        r: proto::RegisterJiraWebhookRequest,
    ) -> ApiResult<proto::RegisterJiraWebhookResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.configuration_id, "configuration_id")?;
        let mut conn = self.state.pool.get().await?;
        let (config, row) = self.load(&mut conn, tenant, id, false).await?;
        if !config.bidirectional {
            return Err(ApiError::FailedPrecondition(
                "the configuration is not bidirectional; enable bidirectional first".into(),
            ));
        }
        let sealed = match (&row.webhook_secret_ciphertext, &row.webhook_secret_nonce, &row.webhook_secret_key_id) {
            (Some(c), Some(n), Some(k)) => {
                crate::crypto::Sealed { ciphertext: c.clone(), nonce: n.clone(), key_id: k.clone() }
            }
            _ => return Err(ApiError::internal("a bidirectional configuration without a webhook secret")),
        };
        let secret = self.state.cipher.open(&sealed, &webhook_context(id)).map_err(ApiError::internal)?;
        let credential = db::credentials::find(&mut conn, tenant, config.credential_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("credential".into()))?;
        drop(conn);
        let site = site_of(&self.state, &credential)?;
        let jql = format!("project = \"{}\"", config.jira_project_key);
        let events =
            ["jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated", "comment_deleted"];
        let body = json!({
            "name": format!("Northstar: {}", config.name),
            "url": self.webhook_url(&config),
            "events": events,
            "filters": { "issue-related-events-section": jql },
            "excludeBody": false,
            "secret": secrecy::ExposeSecret::expose_secret(&secret),
        });
        let refused = |e: JiraError| match e {
            e if e.is_retryable() => ApiError::Unavailable(format!("Jira: {e}")),
            JiraError::Forbidden(_) | JiraError::Unauthorized => ApiError::FailedPrecondition(format!(
                "Jira refused to register the webhook; the credential's account must be a Jira administrator: {e}"
            )),
            e => ApiError::FailedPrecondition(format!("Jira refused to register the webhook: {e}")),
        };
        let registered = match &row.jira_webhook_id {
            Some(previous) => match self.state.jira.update_webhook(&site, previous, &body).await {
                Err(JiraError::NotFound(_)) => self.state.jira.register_webhook(&site, &body).await,
                other => other,
            },
            None => self.state.jira.register_webhook(&site, &body).await,
        }
        .map_err(refused)?;
        let mut conn = self.state.pool.get().await?;
        let (config, row) = conn
            .transaction::<_, ApiError, _>(async |conn| {
                db::configurations::set_jira_webhook(conn, tenant, id, &registered).await?;
                audit(
                    conn,
                    &caller,
                    tenant,
                    "RegisterJiraWebhook",
                    ("configuration", id.to_string()),
                    Some(json!({ "jira_webhook_id": row.jira_webhook_id })),
                    Some(json!({ "jira_webhook_id": registered, "jql_filter": jql })),
                )
                .await?;
                self.load(conn, tenant, id, false).await
            })
            .await?;
        Ok(proto::RegisterJiraWebhookResponse {
            configuration: Some(self.to_proto(&config, &row)),
            jira_webhook_id: registered,
            jql_filter: jql,
            webhook_events: events.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    async fn preview(
        &self,
        caller: Caller,
        r: proto::PreviewRoutingRequest,
    ) -> ApiResult<proto::PreviewRoutingResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let event = r.event.as_ref().ok_or_else(|| ApiError::invalid("event", "is required"))?;
        let view = convert::event_view(event, "event.")?;
        super::events::requested_status(event, view.trigger, "event.status")?;
        let routing = self.state.routing.tenant(tenant).await?;
        let facts = EventFacts {
            application_id: &view.application_id,
            trigger: view.trigger,
            severity: view.severity,
            first_seen_at: Utc::now(),
        };
        let mut response = proto::PreviewRoutingResponse::default();
        for path in routing.index.explain(&facts) {
            let Some(config) = routing.configurations.get(&path.rule_id) else { continue };
            match path.skip {
                None => {
                    let marker =
                        ticket::marker_label(&tenant.to_string(), &view.external_id, &config.id.to_string(), 0);
                    let payload = ticket::create_payload(config, &view, &marker);
                    response.matches.push(proto::RoutingMatch {
                        configuration_id: config.id.to_string(),
                        configuration_name: config.name.clone(),
                        matched_by_application: path.by_application,
                        matched_resource_group_ids: path.via_groups.iter().map(Uuid::to_string).collect(),
                        jira_priority: ticket::priority(config, &view).to_owned(),
                        jira_payload: Some(convert::json_to_struct(&payload)),
                        existing_jira_issue_key: String::new(),
                    });
                }
                Some(skip) => {
                    let (reason, message) = match skip {
                        Skip::Disabled => {
                            (proto::RoutingSkipReason::Disabled, "the configuration is disabled".to_owned())
                        }
                        Skip::SeverityExcluded => (
                            proto::RoutingSkipReason::SeverityExcluded,
                            format!("severity {} is not among the configuration's severities", view.severity),
                        ),
                        Skip::FirstSeenBeforeEnabled => (
                            proto::RoutingSkipReason::FirstSeenBeforeEnabled,
                            "the event was first seen before the configuration was enabled".to_owned(),
                        ),
                    };
                    response.skipped.push(proto::RoutingSkip {
                        configuration_id: config.id.to_string(),
                        configuration_name: config.name.clone(),
                        reason: reason as i32,
                        message,
                    });
                }
            }
        }
        Ok(response)
    }

    async fn validate(
        &self,
        caller: Caller,
        r: proto::ValidateConfigurationRequest,
    ) -> ApiResult<proto::ValidateConfigurationResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let mut conn = self.state.pool.get().await?;
        let config = match (r.configuration_id.is_empty(), &r.draft) {
            (false, None) => {
                self.load(&mut conn, tenant, convert::uuid(&r.configuration_id, "configuration_id")?, false).await?.0
            }
            (true, Some(draft)) => match from_create(tenant, Uuid::nil(), draft) {
                Ok(config) => config,
                Err(ApiError::InvalidArgument { field, message }) => {
                    return Ok(problems(vec![(format!("draft.{field}"), message)]));
                }
                Err(other) => return Err(other),
            },
            _ => return Err(ApiError::invalid("configuration_id", "give either configuration_id or draft")),
        };
        if let Err(ApiError::InvalidArgument { field, message }) = self.check_references(&mut conn, &config).await {
            return Ok(problems(vec![(field, message)]));
        }
        let credential = db::credentials::find(&mut conn, tenant, config.credential_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("credential".into()))?;
        drop(conn);
        let site = site_of(&self.state, &credential)?;
        Ok(problems(live_problems(&self.state, &site, &config).await))
    }
}

fn problems(list: Vec<(String, String)>) -> proto::ValidateConfigurationResponse {
    proto::ValidateConfigurationResponse {
        valid: list.is_empty(),
        problems: list.into_iter().map(|(field, message)| proto::ConfigurationProblem { field, message }).collect(),
    }
}

/// Every problem Jira itself would raise for this configuration's tickets, found through
/// createmeta, at once.
async fn live_problems(state: &AppState, site: &crate::jira::Site, c: &Configuration) -> Vec<(String, String)> {
    let jira = &state.jira;
    let mut out = Vec::new();
    let say = |e: &JiraError| match e {
        JiraError::NotFound(_) => "not found in Jira".to_owned(),
        other => other.to_string(),
    };
    let types = match jira.create_issue_types(site, &c.jira_project_key).await {
        Ok(types) => types,
        Err(e) => {
            out.push(("jira_project_key".into(), format!("project {}: {}", c.jira_project_key, say(&e))));
            return out;
        }
    };
    let Some(issue_type) = types.iter().find(|t| t.name.eq_ignore_ascii_case(&c.default_issue_type)) else {
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        out.push((
            "default_issue_type".into(),
            format!(
                "{:?} is not an issue type of {} (it offers: {})",
                c.default_issue_type,
                c.jira_project_key,
                names.join(", ")
            ),
        ));
        return out;
    };
    let fields = match jira.create_fields(site, &c.jira_project_key, &issue_type.id).await {
        Ok(fields) => fields,
        Err(e) => {
            out.push(("default_issue_type".into(), format!("create screen: {}", say(&e))));
            return out;
        }
    };
    let on_screen = |id: &str| fields.iter().find(|f| f.field_id == id);
    for (i, f) in c.additional_fields.iter().enumerate() {
        match on_screen(&f.field_id) {
            None => out.push((
                format!("additional_fields[{i}]"),
                format!("{} is not on the create screen of {} {}", f.field_id, c.jira_project_key, issue_type.name),
            )),
            Some(meta) => {
                let options: Vec<String> = meta
                    .allowed_values
                    .iter()
                    .filter_map(|v| v["value"].as_str().or(v["name"].as_str()).map(str::to_owned))
                    .collect();
                let wanted: Vec<&String> = match &f.value {
                    FieldValue::Option(v) => vec![v],
                    FieldValue::Options(vs) | FieldValue::Components(vs) => vs.iter().collect(),
                    _ => vec![],
                };
                for w in wanted {
                    if !options.contains(w) {
                        out.push((
                            format!("additional_fields[{i}]"),
                            format!("{w:?} is not an option of {}", f.field_id),
                        ));
                    }
                }
            }
        }
    }
    let priority_id = c.priority_field.as_str();
    match on_screen(priority_id) {
        None => out.push(("priority_field".into(), format!("{priority_id} is not on the create screen"))),
        Some(meta) => {
            let names: Vec<&str> =
                meta.allowed_values.iter().filter_map(|v| v["name"].as_str().or(v["value"].as_str())).collect();
            for (i, band) in c.priority_mapping.bands().iter().enumerate() {
                if !names.is_empty() && !names.contains(&band.priority.as_str()) {
                    out.push((
                        format!("priority_mapping[{i}]"),
                        format!(
                            "{:?} is not a priority of {} (allowed: {})",
                            band.priority,
                            priority_id,
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    if let Some(epic) = &c.default_epic_key {
        if on_screen("parent").is_none() {
            out.push(("default_epic_key".into(), "the create screen has no parent field".into()));
        } else if let Err(e) = jira.get_issue(site, epic, &["issuetype"]).await {
            out.push(("default_epic_key".into(), format!("{epic}: {}", say(&e))));
        }
    }
    if let Some(assignee) = &c.default_assignee_account_id {
        if on_screen("assignee").is_none() {
            out.push(("default_assignee_account_id".into(), "the create screen has no assignee field".into()));
        } else if let Err(e) = jira.user(site, assignee).await {
            out.push(("default_assignee_account_id".into(), format!("account {assignee}: {}", say(&e))));
        }
    }
    if on_screen("labels").is_none() {
        out.push((
            "jira_project_key".into(),
            "the create screen has no labels field, which tickets need for their marker".into(),
        ));
    }
    out
}

super::grpc_service! {
    configuration_service_server::ConfigurationService for Configurations {
        create_configuration(CreateConfigurationRequest) -> CreateConfigurationResponse = |s, c, r| s.create(c, r).await;
        get_configuration(GetConfigurationRequest) -> GetConfigurationResponse = |s, c, r| s.get(c, r).await;
        list_configurations(ListConfigurationsRequest) -> ListConfigurationsResponse = |s, c, r| s.list(c, r).await;
        update_configuration(UpdateConfigurationRequest) -> UpdateConfigurationResponse = |s, c, r| s.update(c, r).await;
        delete_configuration(DeleteConfigurationRequest) -> DeleteConfigurationResponse =
            |s, c, r| s.delete(c, r).await.map(|()| proto::DeleteConfigurationResponse {});
        validate_configuration(ValidateConfigurationRequest) -> ValidateConfigurationResponse = |s, c, r| s.validate(c, r).await;
        preview_routing(PreviewRoutingRequest) -> PreviewRoutingResponse = |s, c, r| s.preview(c, r).await;
        rotate_webhook_secret(RotateWebhookSecretRequest) -> RotateWebhookSecretResponse = |s, c, r| s.rotate(c, r).await;
        register_jira_webhook(RegisterJiraWebhookRequest) -> RegisterJiraWebhookResponse = |s, c, r| s.register_webhook(c, r).await;
    }
}
