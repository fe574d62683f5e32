//! Constructors and `with_*` builder methods for the messages a service author sends most,
//! and readers for the figures they get back. Every message stays a plain struct: set any
//! other field directly, or start from `Default::default()`.
use std::time::SystemTime;

use crate::{proto::*, time};

fn strings(values: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    values.into_iter().map(Into::into).collect()
}

impl SubmitEventRequest {
    /// An incident (an attack or exploit attempt seen at runtime) with its required fields.
    /// Add details with [`with_incident_type`](Self::with_incident_type),
    /// [`with_source_ips`](Self::with_source_ips) and [`with_request_urls`](Self::with_request_urls).
    pub fn incident(
        external_id: impl Into<String>,
        application_id: impl Into<String>,
        title: impl Into<String>,
        severity: Severity,
    ) -> Self {
        Self::event(Trigger::Incident, external_id, application_id, title, severity)
    }

    /// A vulnerability found in an application, with its required fields. Add details with
    /// [`with_vulnerability_type`](Self::with_vulnerability_type) and
    /// [`with_risk_score`](Self::with_risk_score).
    pub fn vulnerability(
        external_id: impl Into<String>,
        application_id: impl Into<String>,
        title: impl Into<String>,
        severity: Severity,
    ) -> Self {
        Self::event(Trigger::Vulnerability, external_id, application_id, title, severity)
    }

    fn event(
        kind: Trigger,
        external_id: impl Into<String>,
        application_id: impl Into<String>,
        title: impl Into<String>,
        severity: Severity,
    ) -> Self {
        Self {
            kind: kind as i32,
            external_id: external_id.into(),
            application_id: application_id.into(),
            title: title.into(),
            severity: severity as i32,
            ..Default::default()
        }
    }

    /// The URL of the finding in Northstar, linked from the ticket.
    pub fn with_link(mut self, link: impl Into<String>) -> Self {
        self.link = link.into();
        self
    }

    /// When Northstar detected the finding (a `SystemTime`, or chrono's `DateTime<Utc>`).
    pub fn with_detected_at(mut self, detected_at: impl Into<SystemTime>) -> Self {
        self.detected_at = Some(time::timestamp(detected_at));
        self
    }

    /// The finding's status (incidents: OPEN, RESOLVED; vulnerabilities: OPEN, REMEDIATED,
    /// CLOSED); unset means OPEN for a new event and unchanged for a known one.
    pub fn with_status(mut self, status: EventStatus) -> Self {
        self.status = status as i32;
        self
    }

    /// A human name for the application, used if this event registers it.
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Incidents: the type of attack, for example "Credential Stuffing".
    pub fn with_incident_type(mut self, incident_type: impl Into<String>) -> Self {
        self.incident_type = incident_type.into();
        self
    }

    /// Incidents: the attack's source IP addresses.
    pub fn with_source_ips(mut self, ips: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.source_ips = strings(ips);
        self
    }

    /// Incidents: the request URLs involved.
    pub fn with_request_urls(mut self, urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.request_urls = strings(urls);
        self
    }

    /// Vulnerabilities: the vulnerability type, for example "SQL Injection".
    pub fn with_vulnerability_type(mut self, vulnerability_type: impl Into<String>) -> Self {
        self.vulnerability_type = vulnerability_type.into();
        self
    }

    /// Vulnerabilities: Northstar's risk score, 0.0 to 10.0; it picks the Jira priority.
    pub fn with_risk_score(mut self, risk_score: f64) -> Self {
        self.risk_score = Some(risk_score);
        self
    }
}

/// Requests that address one event by `event_id` or by `external_id`.
macro_rules! event_addressing {
    ($($message:ident),*) => {$(
        impl $message {
            #[doc = concat!("A `", stringify!($message), "` for the event with this `external_id` (the platform's id of the finding).")]
            pub fn for_external_id(external_id: impl Into<String>) -> Self {
                Self { external_id: external_id.into(), ..Default::default() }
            }

            #[doc = concat!("A `", stringify!($message), "` for the event with this `event_id` (the server's UUID).")]
            pub fn for_event_id(event_id: impl Into<String>) -> Self {
                Self { event_id: event_id.into(), ..Default::default() }
            }
        }
    )*};
}
event_addressing!(GetEventRequest, UpdateEventStatusRequest, AddCommentRequest, DeleteCommentRequest);

impl UpdateEventStatusRequest {
    /// The new status.
    pub fn with_status(mut self, status: EventStatus) -> Self {
        self.status = status as i32;
        self
    }
}

impl AddCommentRequest {
    /// The comment, plain text.
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
}

impl DeleteCommentRequest {
    /// The comment to delete (its `comment_id`).
    pub fn with_comment_id(mut self, comment_id: impl Into<String>) -> Self {
        self.comment_id = comment_id.into();
        self
    }
}

impl GetEventResponse {
    /// The tickets that exist in Jira (open or done), leaving out pending, failed and
    /// unlinked ones.
    pub fn filed_tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.iter().filter(|t| matches!(t.state(), TicketState::Open | TicketState::Done))
    }
}

impl WatchEventChangesRequest {
    /// Only the changes made after the stream starts.
    pub fn from_now() -> Self {
        Self::default()
    }

    /// Resume right after `cursor` (the `cursor` of the last message received). Pass the same
    /// filters as before.
    pub fn resume_after(cursor: impl Into<String>) -> Self {
        Self { cursor: cursor.into(), ..Default::default() }
    }

    /// Only changes from this origin (for example [`Origin::Jira`], to follow people in Jira).
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin as i32;
        self
    }

    /// Only changes to events of this kind.
    pub fn with_kind(mut self, kind: Trigger) -> Self {
        self.kind = kind as i32;
        self
    }

    /// Only these kinds of change.
    pub fn with_change_types(mut self, change_types: impl IntoIterator<Item = EventChangeType>) -> Self {
        self.change_types = change_types.into_iter().map(|t| t as i32).collect();
        self
    }
}

impl CreateTenantRequest {
    /// A tenant named `name` (operator only).
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl CreateApiKeyRequest {
    /// A key named `name` with `role` in tenant `tenant_id` (empty: the caller's own tenant,
    /// for a tenant ADMIN).
    pub fn new(tenant_id: impl Into<String>, name: impl Into<String>, role: Role) -> Self {
        Self { tenant_id: tenant_id.into(), name: name.into(), role: role as i32 }
    }
}

impl CreateCredentialRequest {
    /// A Jira credential: the site's base URL, the account's email and its API token.
    pub fn new(
        name: impl Into<String>,
        jira_url: impl Into<String>,
        email: impl Into<String>,
        api_token: impl Into<String>,
    ) -> Self {
        Self { name: name.into(), jira_url: jira_url.into(), email: email.into(), api_token: api_token.into() }
    }
}

impl TestConnectionRequest {
    /// A test of the stored credential `credential_id`.
    pub fn for_credential(credential_id: impl Into<String>) -> Self {
        Self { credential_id: credential_id.into(), ..Default::default() }
    }
}

impl UpsertApplicationRequest {
    /// Registers (or renames) the application `application_id`.
    pub fn new(application_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self { application_id: application_id.into(), name: name.into() }
    }
}

impl CreateResourceGroupRequest {
    /// A resource group named `name` with these (registered) applications.
    pub fn new(name: impl Into<String>, application_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self { name: name.into(), application_ids: strings(application_ids), ..Default::default() }
    }

    /// A free-text description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

impl CreateConfigurationRequest {
    /// A configuration filing tickets for `trigger` events in project `jira_project_key` with
    /// `issue_type`, using credential `credential_id`. It routes nothing until given
    /// [`with_application_ids`](Self::with_application_ids) or
    /// [`with_resource_group_ids`](Self::with_resource_group_ids).
    pub fn new(
        name: impl Into<String>,
        credential_id: impl Into<String>,
        trigger: Trigger,
        jira_project_key: impl Into<String>,
        issue_type: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            credential_id: credential_id.into(),
            trigger: trigger as i32,
            jira_project_key: jira_project_key.into(),
            default_issue_type: issue_type.into(),
            ..Default::default()
        }
    }

    /// Routes events of these applications (platform application ids).
    pub fn with_application_ids(mut self, application_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.application_ids = strings(application_ids);
        self
    }

    /// Routes events of every application in these resource groups (UUIDs).
    pub fn with_resource_group_ids(mut self, resource_group_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.resource_group_ids = strings(resource_group_ids);
        self
    }

    /// Text put before the event's title in the ticket summary.
    pub fn with_title_prefix(mut self, title_prefix: impl Into<String>) -> Self {
        self.title_prefix = title_prefix.into();
        self
    }

    /// Only events of these severities file tickets.
    pub fn with_severities(mut self, severities: impl IntoIterator<Item = Severity>) -> Self {
        self.severities = severities.into_iter().map(|s| s as i32).collect();
        self
    }

    /// Whether status and comments also flow back from Jira (register the webhook with
    /// `RegisterJiraWebhook` afterwards).
    pub fn with_bidirectional(mut self, bidirectional: bool) -> Self {
        self.bidirectional = bidirectional;
        self
    }

    /// Whether the configuration files tickets from the start (default: yes).
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }
}

impl RegisterJiraWebhookRequest {
    /// Registers the webhook of configuration `configuration_id` in Jira.
    pub fn new(configuration_id: impl Into<String>) -> Self {
        Self { configuration_id: configuration_id.into() }
    }
}

impl GetMetricsRequest {
    /// The metrics of the window from `start` to `end` (each a `SystemTime` or chrono time).
    pub fn between(start: impl Into<SystemTime>, end: impl Into<SystemTime>) -> Self {
        Self { start_time: Some(time::timestamp(start)), end_time: Some(time::timestamp(end)), ..Default::default() }
    }

    /// The metrics of the last `window` up to now.
    pub fn last(window: std::time::Duration) -> Self {
        let now = SystemTime::now();
        Self::between(now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH), now)
    }

    /// Operator only: the metrics of this tenant (UUID) rather than of all tenants.
    pub fn for_tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }
}

impl Metrics {
    /// The MTTR figures of one trigger type, if the snapshot has them.
    pub fn mttr(&self, trigger: Trigger) -> Option<&RemediationTime> {
        self.mttr_by_trigger.iter().find(|m| m.trigger() == trigger)
    }

    /// The number of tickets created in the window for one trigger type.
    pub fn tickets_created_for(&self, trigger: Trigger) -> i64 {
        self.ticket_volume_by_trigger.iter().filter(|v| v.trigger() == trigger).map(|v| v.ticket_count).sum()
    }
}

impl RemediationTime {
    /// The mean time to remediate (MTTR); None when no ticket closed in the window.
    pub fn mean_duration(&self) -> Option<std::time::Duration> {
        self.mean.as_ref().and_then(time::to_duration)
    }

    /// The median time to remediate; None when no ticket closed in the window.
    pub fn median_duration(&self) -> Option<std::time::Duration> {
        self.median.as_ref().and_then(time::to_duration)
    }

    /// The 90th percentile of the time to remediate; None when no ticket closed in the window.
    pub fn p90_duration(&self) -> Option<std::time::Duration> {
        self.p90.as_ref().and_then(time::to_duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_the_fields_the_server_requires() {
        let incident = SubmitEventRequest::incident("inc-1", "web", "Credential stuffing", Severity::High)
            .with_incident_type("Brute Force")
            .with_source_ips(["203.0.113.7"]);
        assert_eq!((incident.kind(), incident.severity()), (Trigger::Incident, Severity::High));
        assert_eq!(incident.source_ips, ["203.0.113.7"]);
        let vulnerability =
            SubmitEventRequest::vulnerability("v-1", "web", "SQLi", Severity::Critical).with_risk_score(9.1);
        assert_eq!((vulnerability.kind(), vulnerability.risk_score), (Trigger::Vulnerability, Some(9.1)));

        let status = UpdateEventStatusRequest::for_external_id("v-1").with_status(EventStatus::Remediated);
        assert_eq!((status.external_id.as_str(), status.status()), ("v-1", EventStatus::Remediated));
        assert_eq!(GetEventRequest::for_event_id("u").event_id, "u");

        let config = CreateConfigurationRequest::new("c", "cred", Trigger::Vulnerability, "SEC", "Bug")
            .with_resource_group_ids(["g"])
            .with_bidirectional(true);
        assert_eq!(
            (config.trigger(), config.resource_group_ids.as_slice()),
            (Trigger::Vulnerability, &["g".into()][..])
        );
    }

    #[test]
    fn metrics_readers_find_the_trigger() {
        let metrics = Metrics {
            mttr_by_trigger: vec![RemediationTime {
                trigger: Trigger::Vulnerability as i32,
                count: 1,
                mean: Some(prost_types::Duration { seconds: 90, nanos: 0 }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mttr = metrics.mttr(Trigger::Vulnerability).unwrap();
        assert_eq!(mttr.mean_duration(), Some(std::time::Duration::from_secs(90)));
        assert!(metrics.mttr(Trigger::Incident).is_none());
    }
}
