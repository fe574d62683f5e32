//! The rules of keeping a ticket and its event in step, both ways: which transition moves a
//! ticket where its event's status says it belongs, what a resubmission may overwrite, what a
//! recurring finding does to a closed ticket, which of two issues with one marker stays, and
//! what a Jira status means for the event.
use chrono::{DateTime, Utc};

use super::{
    configuration::RecurrencePolicy,
    model::{EventStatus, Trigger},
};

/// Where an event's status puts its tickets: Jira's `done` category or out of it.
pub fn wants_done(status: EventStatus) -> bool {
    status.is_closed()
}

/// A transition as Jira offers it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionOption {
    /// Its id.
    pub id: String,
    /// Its name (e.g. "Reopen").
    pub name: String,
    /// The target status's category key (`new`, `indeterminate`, `done`), when Jira says.
    pub to_category: Option<String>,
    /// The target status's name, when Jira says.
    pub to_status: Option<String>,
}

/// The transition that takes a ticket into `done` (`to_done`) or out of it. Into `done`: the
/// first whose target is in the `done` category. Out of it: one named like a reopening, else one
/// into `new` (To Do), else into `indeterminate`. Workflows differ per project, so ids are never
/// assumed.
pub fn choose_transition(options: &[TransitionOption], to_done: bool) -> Option<&TransitionOption> {
    fn category(o: &TransitionOption) -> &str {
        o.to_category.as_deref().unwrap_or("")
    }
    if to_done {
        return options.iter().find(|o| category(o) == "done");
    }
    let open: Vec<&TransitionOption> = options.iter().filter(|o| !matches!(category(o), "done" | "")).collect();
    open.iter()
        .find(|o| o.name.to_ascii_lowercase().contains("reopen"))
        .or_else(|| open.iter().find(|o| category(o) == "new"))
        .or_else(|| open.first())
        .copied()
}

/// What a resubmission sends to a ticket, given what we last sent and what Jira holds now. A
/// field a person changed in Jira since we last sent it is theirs: it is never overwritten
/// again (`priority_overridden` remembers it across later changes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldUpdate {
    /// New summary, if it should change.
    pub summary: Option<String>,
    /// New priority name, if it should change.
    pub priority: Option<String>,
    /// Whether a person's edit of the priority was detected now or earlier.
    pub priority_overridden: bool,
}

/// One field's values for [`plan_update`].
#[derive(Debug, Clone, Copy)]
pub struct FieldState<'a> {
    /// What we last sent (`None` when unknown, e.g. a ticket from before this was tracked).
    pub sent: Option<&'a str>,
    /// What Jira holds now.
    pub current: Option<&'a str>,
    /// What the event says it should be.
    pub desired: &'a str,
}

/// Decides a resubmission's update of summary and priority.
pub fn plan_update(summary: FieldState<'_>, priority: FieldState<'_>, overridden_before: bool) -> FieldUpdate {
    let changed_by_person = |f: &FieldState<'_>| matches!((f.sent, f.current), (Some(s), Some(c)) if s != c);
    let wanted = |f: &FieldState<'_>| f.current != Some(f.desired);
    let priority_overridden = overridden_before || changed_by_person(&priority);
    FieldUpdate {
        summary: (!changed_by_person(&summary) && wanted(&summary)).then(|| summary.desired.to_owned()),
        priority: (!priority_overridden && wanted(&priority)).then(|| priority.desired.to_owned()),
        priority_overridden,
    }
}

/// What a finding that comes back (OPEN after being closed) does to one configuration's ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recurrence {
    /// Move the ticket out of `done`.
    Reopen,
    /// File a new ticket (the next generation); the closed one stays closed.
    NewTicket,
    /// Leave the ticket closed and say so in a comment.
    Comment,
}

/// The recurrence rule: vulnerabilities follow their configuration's policy; a new ticket is only
/// filed once the old one is closed in Jira (until then the old one is still the place to work);
/// incidents always reopen.
pub fn recurrence(trigger: Trigger, policy: RecurrencePolicy, ticket_closed: bool) -> Recurrence {
    match (trigger, policy) {
        (Trigger::Incident, _) | (Trigger::Vulnerability, RecurrencePolicy::Reopen) => Recurrence::Reopen,
        (Trigger::Vulnerability, RecurrencePolicy::NewTicket) if ticket_closed => Recurrence::NewTicket,
        (Trigger::Vulnerability, RecurrencePolicy::NewTicket) => Recurrence::Reopen,
        (Trigger::Vulnerability, RecurrencePolicy::Comment) => Recurrence::Comment,
    }
}

/// An issue found by its marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedIssue {
    /// Numeric id.
    pub id: String,
    /// Key.
    pub key: String,
    /// Creation time, when Jira gave it.
    pub created: Option<DateTime<Utc>>,
}

/// Splits issues sharing one marker into the one to keep (the oldest: the first a person may
/// already work on) and the duplicates. Ties and missing times fall back to the numeric id,
/// which Jira allocates in creation order.
pub fn split_duplicates(mut issues: Vec<MarkedIssue>) -> Option<(MarkedIssue, Vec<MarkedIssue>)> {
    issues.sort_by_key(|i| (i.created.unwrap_or(DateTime::<Utc>::MAX_UTC), i.id.parse::<u64>().unwrap_or(u64::MAX)));
    issues.dedup_by(|a, b| a.id == b.id);
    let mut iter = issues.into_iter();
    let keep = iter.next()?;
    Some((keep, iter.collect()))
}

/// Resolutions that close a vulnerability without a fix, unless a configuration lists its own.
pub const DEFAULT_CLOSING_RESOLUTIONS: [&str; 5] =
    ["Won't Do", "Won't Fix", "Duplicate", "Cannot Reproduce", "Declined"];

/// The event status a Jira ticket's state means: out of `done` is OPEN; into `done` resolves an
/// incident, and remediates a vulnerability unless the resolution is a closing one (then
/// CLOSED). Resolution names compare without case, as Jira sites spell them variously.
pub fn status_from_jira(
    trigger: Trigger,
    category_done: bool,
    resolution: Option<&str>,
    closing_resolutions: &[String],
) -> EventStatus {
    if !category_done {
        return EventStatus::Open;
    }
    match trigger {
        Trigger::Incident => EventStatus::Resolved,
        Trigger::Vulnerability => {
            let closing = |r: &str| {
                if closing_resolutions.is_empty() {
                    DEFAULT_CLOSING_RESOLUTIONS.iter().any(|c| c.eq_ignore_ascii_case(r))
                } else {
                    closing_resolutions.iter().any(|c| c.eq_ignore_ascii_case(r))
                }
            };
            match resolution {
                Some(r) if closing(r) => EventStatus::Closed,
                _ => EventStatus::Remediated,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn option(id: &str, name: &str, category: &str) -> TransitionOption {
        TransitionOption { id: id.into(), name: name.into(), to_category: Some(category.into()), to_status: None }
    }

    #[test]
    fn transitions_are_chosen_by_category_not_id() {
        let options = [
            option("11", "To Do", "new"),
            option("21", "In Progress", "indeterminate"),
            option("31", "Done", "done"),
            option("41", "Reopen", "new"),
        ];
        assert_eq!(choose_transition(&options, true).unwrap().id, "31");
        assert_eq!(choose_transition(&options, false).unwrap().id, "41");
        assert_eq!(choose_transition(&options[..3], false).unwrap().id, "11");
        assert_eq!(choose_transition(&options[1..3], false).unwrap().id, "21");
        assert!(choose_transition(&options[..2], true).is_none());
        let unknown = [TransitionOption { id: "7".into(), name: "Reopen".into(), to_category: None, to_status: None }];
        assert!(choose_transition(&unknown, false).is_none(), "a target of unknown category is never guessed");
    }

    fn field<'a>(sent: Option<&'a str>, current: Option<&'a str>, desired: &'a str) -> FieldState<'a> {
        FieldState { sent, current, desired }
    }

    #[test]
    fn a_persons_priority_wins_over_a_resubmission() {
        let plan = plan_update(field(Some("A"), Some("A"), "B"), field(Some("High"), Some("Low"), "Highest"), false);
        assert_eq!(plan.summary.as_deref(), Some("B"));
        assert_eq!(plan.priority, None);
        assert!(plan.priority_overridden);
        // Once overridden, always theirs, even when Jira happens to hold what we sent.
        let plan = plan_update(field(Some("B"), Some("B"), "B"), field(Some("High"), Some("High"), "Low"), true);
        assert_eq!(plan, FieldUpdate { summary: None, priority: None, priority_overridden: true });
    }

    #[test]
    fn unchanged_fields_send_nothing_and_changed_ones_are_sent() {
        let plan = plan_update(field(Some("A"), Some("A"), "A"), field(Some("High"), Some("High"), "High"), false);
        assert_eq!(plan, FieldUpdate::default());
        let plan = plan_update(field(Some("A"), Some("A"), "A2"), field(Some("High"), Some("High"), "Low"), false);
        assert_eq!(plan.summary.as_deref(), Some("A2"));
        assert_eq!(plan.priority.as_deref(), Some("Low"));
        // A person renamed the ticket: the new title does not overwrite their summary.
        let plan = plan_update(field(Some("A"), Some("Mine"), "A2"), field(None, Some("High"), "Low"), false);
        assert_eq!(plan.summary, None);
        assert_eq!(plan.priority.as_deref(), Some("Low"));
    }

    #[test]
    fn recurrence_follows_the_policy_for_vulnerabilities_only() {
        use RecurrencePolicy::*;
        let v = Trigger::Vulnerability;
        assert_eq!(recurrence(v, Reopen, true), Recurrence::Reopen);
        assert_eq!(recurrence(v, NewTicket, true), Recurrence::NewTicket);
        assert_eq!(recurrence(v, NewTicket, false), Recurrence::Reopen);
        assert_eq!(recurrence(v, Comment, true), Recurrence::Comment);
        assert_eq!(recurrence(Trigger::Incident, NewTicket, true), Recurrence::Reopen);
        assert_eq!(recurrence(Trigger::Incident, Comment, true), Recurrence::Reopen);
    }

    #[test]
    fn the_oldest_issue_is_kept() {
        let at = |s| Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s).unwrap());
        let issue = |id: &str, created| MarkedIssue { id: id.into(), key: format!("SEC-{id}"), created };
        let (keep, dups) =
            split_duplicates(vec![issue("12", at(5)), issue("10", at(9)), issue("11", at(5)), issue("11", at(5))])
                .unwrap();
        assert_eq!(keep.id, "11");
        assert_eq!(dups.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["12", "10"]);
        assert!(split_duplicates(vec![]).is_none());
        let (keep, dups) = split_duplicates(vec![issue("9", None), issue("10", None)]).unwrap();
        assert_eq!((keep.id.as_str(), dups.len()), ("9", 1));
    }

    #[test]
    fn jira_status_maps_to_event_status() {
        let (i, v) = (Trigger::Incident, Trigger::Vulnerability);
        assert_eq!(status_from_jira(i, true, Some("Done"), &[]), EventStatus::Resolved);
        assert_eq!(status_from_jira(i, true, Some("Won't Do"), &[]), EventStatus::Resolved);
        assert_eq!(status_from_jira(i, false, None, &[]), EventStatus::Open);
        assert_eq!(status_from_jira(v, true, Some("Done"), &[]), EventStatus::Remediated);
        assert_eq!(status_from_jira(v, true, None, &[]), EventStatus::Remediated);
        assert_eq!(status_from_jira(v, true, Some("won't do"), &[]), EventStatus::Closed);
        assert_eq!(status_from_jira(v, true, Some("Declined"), &[]), EventStatus::Closed);
        let custom = vec!["Not a bug".to_owned()];
        assert_eq!(status_from_jira(v, true, Some("Declined"), &custom), EventStatus::Remediated);
        assert_eq!(status_from_jira(v, true, Some("Not a Bug"), &custom), EventStatus::Closed);
        assert_eq!(status_from_jira(v, false, Some("Won't Do"), &custom), EventStatus::Open);
    }
}
