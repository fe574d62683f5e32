//! Everything the chaos run sets up and does, decided up front from a seed: the routing each
//! tenant gets (applications, groups, configurations), the events, and who changes what on
//! which side. The tickets an event must get are computed here from this description alone,
//! never asked of the server, so a routing mistake of the server shows as lost or unexpected
//! tickets.
use northstar_jira_client::proto::{EventStatus, Severity, Trigger};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng, seq::IndexedRandom as _};

/// Applications per tenant: `app-0` .. `app-5`.
pub const APPLICATIONS: usize = 6;

/// A resource group of every tenant.
pub struct GroupSpec {
    pub name: &'static str,
    pub apps: &'static [usize],
}

pub const GROUPS: [GroupSpec; 2] =
    [GroupSpec { name: "even", apps: &[0, 2, 4] }, GroupSpec { name: "front", apps: &[0, 1] }];

/// A configuration of every tenant. The set is chosen so that some events match through a group,
/// some through an application and a group at once (still one ticket), some match two
/// configurations (two tickets), some match none, and one configuration is disabled.
pub struct ConfigSpec {
    pub name: &'static str,
    pub trigger: Trigger,
    pub apps: &'static [usize],
    pub groups: &'static [usize],
    /// Empty: every severity.
    pub severities: &'static [Severity],
    /// Jira project key before the tenant's letter.
    pub project: &'static str,
    /// Which of the tenant's two credentials it uses (each credential has its own Jira budget).
    pub credential: usize,
    pub bidirectional: bool,
    pub enabled: bool,
    pub title_prefix: &'static str,
}

pub const CONFIGS: [ConfigSpec; 5] = [
    ConfigSpec {
        name: "vulnerabilities-even",
        trigger: Trigger::Vulnerability,
        apps: &[],
        groups: &[0],
        severities: &[],
        project: "SEC",
        credential: 0,
        bidirectional: true,
        enabled: true,
        title_prefix: "[AppSec]",
    },
    ConfigSpec {
        name: "vulnerabilities-core",
        trigger: Trigger::Vulnerability,
        apps: &[0, 1, 3],
        groups: &[],
        severities: &[],
        project: "SIM",
        credential: 1,
        bidirectional: true,
        enabled: true,
        title_prefix: "",
    },
    ConfigSpec {
        name: "incidents-ops",
        trigger: Trigger::Incident,
        apps: &[0, 1, 2, 3, 4],
        groups: &[1],
        severities: &[],
        project: "OPS",
        credential: 0,
        bidirectional: true,
        enabled: true,
        title_prefix: "[Incident]",
    },
    ConfigSpec {
        name: "incidents-urgent",
        trigger: Trigger::Incident,
        apps: &[],
        groups: &[1],
        severities: &[Severity::Critical, Severity::High],
        project: "SIM",
        credential: 1,
        bidirectional: false,
        enabled: true,
        title_prefix: "[Urgent]",
    },
    ConfigSpec {
        name: "vulnerabilities-paused",
        trigger: Trigger::Vulnerability,
        apps: &[5],
        groups: &[],
        severities: &[],
        project: "SEC",
        credential: 1,
        bidirectional: false,
        enabled: false,
        title_prefix: "",
    },
];

/// Jira projects every tenant uses (before the tenant's letter).
pub const PROJECTS: [&str; 3] = ["SEC", "SIM", "OPS"];

impl ConfigSpec {
    /// Whether an event of `kind`, application `app` and `severity` gets a ticket from this
    /// configuration.
    pub fn matches(&self, kind: Trigger, app: usize, severity: Severity) -> bool {
        self.enabled
            && self.trigger == kind
            && (self.apps.contains(&app) || self.groups.iter().any(|&g| GROUPS[g].apps.contains(&app)))
            && (self.severities.is_empty() || self.severities.contains(&severity))
    }
}

/// The letter that names tenant `t` in its projects and names (at most 26 tenants).
pub fn letter(tenant: usize) -> char {
    char::from(b'A' + u8::try_from(tenant % 26).unwrap_or(0))
}

/// The Jira project of a configuration in tenant `t`.
pub fn project_key(prefix: &str, tenant: usize) -> String {
    format!("{prefix}{}", letter(tenant))
}

/// Share of events whose ticket a person closes in Jira.
const PERSON_STATUS: f64 = 0.08;
/// Share of events whose ticket a person comments on in Jira.
const PERSON_COMMENT: f64 = 0.08;
/// Share of events whose status we change through UpdateEventStatus.
const OUR_STATUS: f64 = 0.05;
/// Share of events we comment on through AddComment.
const OUR_COMMENT: f64 = 0.05;
/// Share of events submitted again with a new title.
const NEW_TITLE: f64 = 0.03;

/// A person closes one ticket of the event in Jira.
#[derive(Debug, Clone)]
pub struct PersonStatus {
    /// The configuration whose ticket they close.
    pub config: usize,
    /// The resolution they pick.
    pub resolution: &'static str,
    /// What the event must become.
    pub expected: EventStatus,
}

/// A person comments on one ticket of the event in Jira.
#[derive(Debug, Clone)]
pub struct PersonComment {
    pub config: usize,
    pub body: String,
}

/// One event and everything that happens to it.
#[derive(Debug, Clone)]
pub struct EventPlan {
    pub tenant: usize,
    pub external_id: String,
    pub kind: Trigger,
    pub app: usize,
    pub severity: Severity,
    pub risk_score: Option<f64>,
    pub title: String,
    /// The configurations (indexes into [`CONFIGS`]) that must each file one ticket.
    pub configs: Vec<usize>,
    pub person_status: Option<PersonStatus>,
    pub person_comment: Option<PersonComment>,
    /// A status we set through UpdateEventStatus.
    pub our_status: Option<EventStatus>,
    /// A comment we add through AddComment.
    pub our_comment: Option<String>,
    /// A title a later submission changes it to.
    pub new_title: Option<String>,
}

impl EventPlan {
    /// The status the event must end in.
    pub fn final_status(&self) -> EventStatus {
        match (&self.person_status, self.our_status) {
            (Some(p), _) => p.expected,
            (None, Some(s)) => s,
            (None, None) => EventStatus::Open,
        }
    }

    fn bidirectional_configs(&self) -> Vec<usize> {
        self.configs.iter().copied().filter(|&c| CONFIGS[c].bidirectional).collect()
    }
}

/// The whole plan of a run.
pub struct Plan {
    pub tenants: usize,
    pub events: Vec<EventPlan>,
}

impl Plan {
    /// `events` events over `tenants` tenants, reproducible from `seed`; `run` keeps external ids
    /// apart from any earlier run on the same database.
    pub fn new(events: usize, tenants: usize, seed: u64, run: &str) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let severities = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Note];
        let titles = ["SQL injection in /login", "Stored XSS in comments", "Open redirect", "SSRF via webhook URL"];
        let events = (0..events)
            .map(|i| {
                let tenant = i % tenants.max(1);
                let kind = if rng.random_bool(0.6) { Trigger::Vulnerability } else { Trigger::Incident };
                let app = rng.random_range(0..APPLICATIONS);
                let severity = *severities.choose(&mut rng).unwrap_or(&Severity::High);
                let risk_score = (kind == Trigger::Vulnerability && rng.random_bool(0.8))
                    .then(|| (rng.random_range(0.0..10.0_f64) * 10.0).round() / 10.0);
                let external_id = format!("chaos-{run}-{i}");
                let title = format!("{} #{i}", titles.choose(&mut rng).unwrap_or(&"Finding"));
                let configs: Vec<usize> =
                    (0..CONFIGS.len()).filter(|&c| CONFIGS[c].matches(kind, app, severity)).collect();
                let mut event = EventPlan {
                    tenant,
                    external_id,
                    kind,
                    app,
                    severity,
                    risk_score,
                    title,
                    configs,
                    person_status: None,
                    person_comment: None,
                    our_status: None,
                    our_comment: None,
                    new_title: None,
                };
                let bidirectional = event.bidirectional_configs();
                if let Some(&config) = bidirectional.choose(&mut rng)
                    && rng.random_bool(PERSON_STATUS)
                {
                    let (resolution, expected) = match kind {
                        Trigger::Incident => ("Done", EventStatus::Resolved),
                        _ if rng.random_bool(0.5) => ("Done", EventStatus::Remediated),
                        _ => ("Won't Do", EventStatus::Closed),
                    };
                    event.person_status = Some(PersonStatus { config, resolution, expected });
                }
                if let Some(&config) = bidirectional.choose(&mut rng)
                    && rng.random_bool(PERSON_COMMENT)
                {
                    let body = format!("Looked at {} in Jira: reproduced, fix planned", event.external_id);
                    event.person_comment = Some(PersonComment { config, body });
                }
                let ticketed = !event.configs.is_empty();
                // Not on events a person closes: which side wins would depend on timing.
                if ticketed && event.person_status.is_none() && rng.random_bool(OUR_STATUS) {
                    event.our_status = Some(match kind {
                        Trigger::Incident => EventStatus::Resolved,
                        _ if rng.random_bool(0.5) => EventStatus::Remediated,
                        _ => EventStatus::Closed,
                    });
                }
                if ticketed && rng.random_bool(OUR_COMMENT) {
                    event.our_comment =
                        Some(format!("Northstar note on {}: patch deployed to staging", event.external_id));
                }
                if ticketed && rng.random_bool(NEW_TITLE) {
                    event.new_title = Some(format!("{} (confirmed on rescan)", event.title));
                }
                event
            })
            .collect();
        Self { tenants, events }
    }

    /// Tickets the run must end with.
    pub fn expected_tickets(&self) -> usize {
        self.events.iter().map(|e| e.configs.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_covers_groups_overlaps_filters_and_disabled_configurations() {
        let hits = |kind, app, severity| -> Vec<&str> {
            CONFIGS.iter().filter(|c| c.matches(kind, app, severity)).map(|c| c.name).collect()
        };
        // Through a group and an application list at once: two configurations, two tickets.
        assert_eq!(hits(Trigger::Vulnerability, 0, Severity::Low), ["vulnerabilities-even", "vulnerabilities-core"]);
        // The disabled configuration files nothing.
        assert!(hits(Trigger::Vulnerability, 5, Severity::High).is_empty());
        // Application and group of one configuration: still one ticket from it; severities filter.
        assert_eq!(hits(Trigger::Incident, 1, Severity::High), ["incidents-ops", "incidents-urgent"]);
        assert_eq!(hits(Trigger::Incident, 1, Severity::Low), ["incidents-ops"]);
        assert!(hits(Trigger::Incident, 5, Severity::Critical).is_empty());
    }

    #[test]
    fn plans_are_reproducible_and_keep_sides_apart() {
        let a = Plan::new(2000, 3, 7, "r");
        let b = Plan::new(2000, 3, 7, "r");
        assert_eq!(a.expected_tickets(), b.expected_tickets());
        assert!(a.events.iter().all(|e| !(e.person_status.is_some() && e.our_status.is_some())));
        assert!(a.events.iter().any(|e| e.person_status.is_some()));
        assert!(a.events.iter().any(|e| e.configs.len() == 2));
        assert!(a.events.iter().any(|e| e.configs.is_empty()));
    }
}
