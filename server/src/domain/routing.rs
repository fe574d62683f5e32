//! The routing engine: which configurations an event gets a ticket from.
//!
//! A configuration routes from applications named directly and from resource groups; an
//! application in a group inherits the group's configurations with no other step, because the
//! index is rebuilt from the memberships whenever a tenant's rules change. Rules are additive
//! and each configuration applies at most once per event, however many paths lead to it.
//!
//! The index maps (application, trigger) to the configurations that can apply, precomputed, so
//! a decision costs in proportion to the configurations that match, not to all of them.
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Severity, SeveritySet, Trigger};

/// What routing needs of a configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The configuration id.
    pub id: Uuid,
    /// The trigger type it is for.
    pub trigger: Trigger,
    /// Applications named directly.
    pub application_ids: Vec<String>,
    /// Resource groups it routes from.
    pub group_ids: Vec<Uuid>,
    /// Severities that create tickets.
    pub severities: SeveritySet,
    /// When it was last enabled; `None` while disabled.
    pub enabled_at: Option<DateTime<Utc>>,
}

/// What routing needs of an event.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    /// The platform's application id.
    pub application_id: &'a str,
    /// Incident or vulnerability.
    pub trigger: Trigger,
    /// Its severity.
    pub severity: Severity,
    /// When the service first saw it.
    pub first_seen_at: DateTime<Utc>,
}

/// Why a configuration that reaches an event does not apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The configuration is disabled.
    Disabled,
    /// The event's severity is filtered out.
    SeverityExcluded,
    /// The event was first seen before the configuration was enabled.
    FirstSeenBeforeEnabled,
}

/// How a configuration reaches an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The configuration id.
    pub rule_id: Uuid,
    /// It names the application directly.
    pub by_application: bool,
    /// Groups of the application it routes from.
    pub via_groups: Vec<Uuid>,
    /// `None` when it applies; otherwise why not.
    pub skip: Option<Skip>,
}

#[derive(Debug, Default)]
struct Entry {
    /// Indexes into `rules`, sorted and unique, per trigger.
    rules: [Vec<u32>; 2],
}

/// One tenant's rules, indexed for routing.
#[derive(Debug, Default)]
pub struct RoutingIndex {
    rules: Vec<Rule>,
    by_application: HashMap<String, Entry>,
    groups_of: HashMap<String, Vec<Uuid>>,
}

fn slot(trigger: Trigger) -> usize {
    match trigger {
        Trigger::Incident => 0,
        Trigger::Vulnerability => 1,
    }
}

impl RoutingIndex {
    /// Builds the index from a tenant's configurations and group memberships
    /// (`(application_id, group_id)` pairs).
    pub fn build(rules: Vec<Rule>, memberships: impl IntoIterator<Item = (String, Uuid)>) -> Self {
        let mut groups_of: HashMap<String, Vec<Uuid>> = HashMap::new();
        for (application, group) in memberships {
            groups_of.entry(application).or_default().push(group);
        }
        let mut rules_of_group: HashMap<Uuid, Vec<u32>> = HashMap::new();
        let mut by_application: HashMap<String, Entry> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            for group in &rule.group_ids {
                rules_of_group.entry(*group).or_default().push(i);
            }
            for application in &rule.application_ids {
                by_application.entry(application.clone()).or_default().rules[slot(rule.trigger)].push(i);
            }
        }
        for (application, groups) in &groups_of {
            let entry = by_application.entry(application.clone()).or_default();
            for group in groups {
                for &i in rules_of_group.get(group).into_iter().flatten() {
                    entry.rules[slot(rules[i as usize].trigger)].push(i);
                }
            }
        }
        for entry in by_application.values_mut() {
            for list in &mut entry.rules {
                list.sort_unstable();
                list.dedup();
            }
        }
        for groups in groups_of.values_mut() {
            groups.sort_unstable();
            groups.dedup();
        }
        Self { rules, by_application, groups_of }
    }

    fn candidates(&self, event: &EventFacts<'_>) -> &[u32] {
        self.by_application.get(event.application_id).map_or(&[], |e| &e.rules[slot(event.trigger)])
    }

    fn skip(rule: &Rule, event: &EventFacts<'_>) -> Option<Skip> {
        match rule.enabled_at {
            None => Some(Skip::Disabled),
            Some(_) if !rule.severities.contains(event.severity) => Some(Skip::SeverityExcluded),
            Some(enabled_at) if event.first_seen_at < enabled_at => Some(Skip::FirstSeenBeforeEnabled),
            Some(_) => None,
        }
    }

    /// The configurations that apply to `event`, each once.
    pub fn route<'a>(&'a self, event: &'a EventFacts<'a>) -> impl Iterator<Item = Uuid> + 'a {
        self.candidates(event)
            .iter()
            .map(|&i| &self.rules[i as usize])
            .filter(|rule| Self::skip(rule, event).is_none())
            .map(|rule| rule.id)
    }

    /// Every configuration that reaches `event`, with how and whether it applies (for previews).
    pub fn explain(&self, event: &EventFacts<'_>) -> Vec<Path> {
        let groups: BTreeSet<Uuid> = self.groups_of.get(event.application_id).into_iter().flatten().copied().collect();
        self.candidates(event)
            .iter()
            .map(|&i| {
                let rule = &self.rules[i as usize];
                Path {
                    rule_id: rule.id,
                    by_application: rule.application_ids.iter().any(|a| a == event.application_id),
                    via_groups: rule.group_ids.iter().filter(|g| groups.contains(g)).copied().collect(),
                    skip: Self::skip(rule, event),
                }
            })
            .collect()
    }

    /// Number of configurations indexed.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the tenant has no configurations.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn rule(trigger: Trigger, apps: &[&str], groups: &[Uuid]) -> Rule {
        Rule {
            id: Uuid::new_v4(),
            trigger,
            application_ids: apps.iter().map(|s| s.to_string()).collect(),
            group_ids: groups.to_vec(),
            severities: SeveritySet::ALL,
            enabled_at: Some(Utc::now() - TimeDelta::hours(1)),
        }
    }

    fn event(app: &str, trigger: Trigger) -> EventFacts<'_> {
        EventFacts { application_id: app, trigger, severity: Severity::High, first_seen_at: Utc::now() }
    }

    #[test]
    fn applications_inherit_their_groups_rules_and_each_rule_applies_once() {
        let group = Uuid::new_v4();
        let both = rule(Trigger::Vulnerability, &["app-1"], &[group]);
        let by_group = rule(Trigger::Vulnerability, &[], &[group]);
        let incidents = rule(Trigger::Incident, &[], &[group]);
        let index = RoutingIndex::build(
            vec![both.clone(), by_group.clone(), incidents.clone()],
            [("app-1".to_string(), group), ("app-2".to_string(), group)],
        );
        let mut routed: Vec<Uuid> = index.route(&event("app-1", Trigger::Vulnerability)).collect();
        routed.sort();
        let mut expected = vec![both.id, by_group.id];
        expected.sort();
        assert_eq!(routed, expected, "additive, and `both` only once");
        assert_eq!(index.route(&event("app-2", Trigger::Incident)).collect::<Vec<_>>(), [incidents.id]);
        assert_eq!(index.route(&event("unknown", Trigger::Incident)).count(), 0);

        let paths = index.explain(&event("app-1", Trigger::Vulnerability));
        let both_path = paths.iter().find(|p| p.rule_id == both.id).unwrap();
        assert!(both_path.by_application);
        assert_eq!(both_path.via_groups, [group]);
    }

    #[test]
    fn filters_by_enablement_severity_and_first_sighting() {
        let mut disabled = rule(Trigger::Incident, &["a"], &[]);
        disabled.enabled_at = None;
        let mut critical_only = rule(Trigger::Incident, &["a"], &[]);
        critical_only.severities = SeveritySet::of([Severity::Critical]);
        let mut later = rule(Trigger::Incident, &["a"], &[]);
        later.enabled_at = Some(Utc::now() + TimeDelta::hours(1));
        let index = RoutingIndex::build(vec![disabled.clone(), critical_only.clone(), later.clone()], []);
        let e = event("a", Trigger::Incident);
        assert_eq!(index.route(&e).count(), 0);
        let skips: HashMap<Uuid, Option<Skip>> = index.explain(&e).into_iter().map(|p| (p.rule_id, p.skip)).collect();
        assert_eq!(skips[&disabled.id], Some(Skip::Disabled));
        assert_eq!(skips[&critical_only.id], Some(Skip::SeverityExcluded));
        assert_eq!(skips[&later.id], Some(Skip::FirstSeenBeforeEnabled));
        let critical = EventFacts { severity: Severity::Critical, ..e };
        assert_eq!(index.route(&critical).collect::<Vec<_>>(), [critical_only.id]);
    }
}
