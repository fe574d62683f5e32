//! The end of the run: what Jira (the simulator) holds and what the service says, against the
//! plan. Tickets are found in Jira by their marker label; changes are counted in each event's
//! activity feed and in Jira's own record of who changed what (its webhook log, which has one
//! entry per issue event since every project has exactly one webhook).
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Instant,
};

use jira_sim::{IssueView, SimHandle};
use northstar_jira::domain::ticket::marker_label;
use northstar_jira_client::proto::{self, ActivityKind, DeliveryState, EventStatus, Origin};

use super::{
    ops::{Counters, Tenant, count_deliveries, get_event},
    plan::{CONFIGS, Plan},
};

/// One line of the result: what had to happen, what happened once, what is missing, what
/// happened more than once (or should not have happened at all).
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub expected: usize,
    pub once: usize,
    pub lost: usize,
    pub extra: usize,
}

impl Check {
    fn new(name: &'static str) -> Self {
        Self { name, expected: 0, once: 0, lost: 0, extra: 0 }
    }
}

/// Deliveries by state, over every tenant.
#[derive(Debug, Default, Clone)]
pub struct Deliveries {
    pub total: usize,
    pub by_state: Vec<(String, usize)>,
    pub succeeded: usize,
}

/// What the checks found.
pub struct Outcome {
    pub checks: Vec<Check>,
    pub deliveries: Deliveries,
    /// The first few failures, for whoever investigates.
    pub examples: Vec<String>,
}

impl Outcome {
    /// Lost and extra counts of every check, plus deliveries not SUCCEEDED.
    pub fn failures(&self) -> usize {
        self.checks.iter().map(|c| c.lost + c.extra).sum::<usize>()
            + (self.deliveries.total - self.deliveries.succeeded)
    }

    /// Whether anything is missing (which a late webhook or reconciliation could still bring),
    /// as opposed to only things that happened twice (which nothing undoes).
    pub fn missing_anything(&self) -> bool {
        self.checks.iter().any(|c| c.lost > 0) || self.deliveries.total != self.deliveries.succeeded
    }
}

/// What people did in Jira, by event.
pub struct PeopleDid<'a> {
    pub closed: &'a HashSet<usize>,
    pub commented: &'a HashSet<usize>,
}

pub async fn verify(
    plan: &Plan,
    tenants: &Arc<Vec<Tenant>>,
    sim: &SimHandle,
    people: &PeopleDid<'_>,
    counters: &Arc<Counters>,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let mut examples = Vec::new();
    let mut example = |line: String| {
        if examples.len() < 25 {
            examples.push(line);
        }
    };

    // Jira's side.
    let issues = sim.issues();
    let mut by_marker: HashMap<&str, Vec<&IssueView>> = HashMap::new();
    for issue in &issues {
        for label in issue.labels.iter().filter(|l| is_marker(l)) {
            by_marker.entry(label.as_str()).or_default().push(issue);
        }
    }
    let integration = sim
        .accounts()
        .into_iter()
        .find(|a| a.email == jira_sim::DEFAULT_EMAIL)
        .map(|a| a.account_id)
        .unwrap_or_default();
    let mut our_transitions: HashMap<String, usize> = HashMap::new();
    for record in sim.deliveries() {
        let body = &record.body;
        let by_us = body.pointer("/user/accountId").and_then(|v| v.as_str()) == Some(integration.as_str());
        let status_changed = body
            .pointer("/changelog/items")
            .and_then(|v| v.as_array())
            .is_some_and(|items| items.iter().any(|i| i.get("field").and_then(|f| f.as_str()) == Some("status")));
        if record.event == "jira:issue_updated"
            && by_us
            && status_changed
            && let Some(key) = body.pointer("/issue/key").and_then(|v| v.as_str())
        {
            *our_transitions.entry(key.to_owned()).or_default() += 1;
        }
    }

    // The service's side: every event, a few calls at a time.
    let feeds = {
        let mut set = tokio::task::JoinSet::new();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ids: Arc<Vec<(usize, String)>> =
            Arc::new(plan.events.iter().map(|e| (e.tenant, e.external_id.clone())).collect());
        for _ in 0..16 {
            let (tenants, counters, next, ids) = (tenants.clone(), counters.clone(), next.clone(), ids.clone());
            set.spawn(async move {
                let mut got = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((t, id)) = ids.get(i) else { return Ok::<_, anyhow::Error>(got) };
                    got.push((i, get_event(tenants[*t].client(i), id, &counters, deadline).await?));
                }
            });
        }
        let mut feeds: Vec<Option<proto::GetEventResponse>> = vec![None; plan.events.len()];
        while let Some(joined) = set.join_next().await {
            for (i, response) in joined?? {
                feeds[i] = Some(response);
            }
        }
        feeds
    };

    let mut tickets = Check::new("tickets in Jira, found by marker (event x configuration)");
    let mut stored = Check::new("tickets stored by the service = the issue in Jira");
    let mut person_status = Check::new("status changes people made in Jira, applied to the event");
    let mut person_comment = Check::new("comments people made in Jira, in the activity feed");
    let mut our_status = Check::new("our status changes (UpdateEventStatus), in the feed");
    let mut transitions = Check::new("our transitions in Jira, one per ticket that must move");
    let mut our_comment = Check::new("our comments (AddComment), in the feed");
    let mut our_copies = Check::new("our comments in Jira, one per ticket");
    let mut titles = Check::new("new titles in Jira summaries (resubmissions)");
    let mut unasked = Check::new("changes nobody made (tickets, statuses, transitions, comments)");

    let mut expected_markers = HashSet::new();
    for (e, event) in plan.events.iter().enumerate() {
        let tenant = &tenants[event.tenant];
        let Some(feed) = &feeds[e] else { continue };
        let status_changes = |origin: Origin| {
            feed.activities.iter().filter(move |a| a.kind() == ActivityKind::StatusChanged && a.origin() == origin)
        };
        let comments = |origin: Origin, body: &str| {
            feed.activities
                .iter()
                .filter(|a| a.kind() == ActivityKind::Comment)
                .filter_map(|a| a.comment.as_ref())
                .filter(|c| c.origin() == origin && c.body.trim() == body.trim())
                .count()
        };
        let closed_by_person = people.closed.contains(&e).then_some(event.person_status.as_ref()).flatten();
        let final_status = match (closed_by_person, event.our_status) {
            (Some(p), _) => p.expected,
            (None, Some(s)) => s,
            (None, None) => EventStatus::Open,
        };

        // Tickets: one issue per marker in Jira, and the service points at that very issue.
        let mut issue_of: HashMap<usize, &IssueView> = HashMap::new();
        for &c in &event.configs {
            let marker = marker_label(&tenant.id, &event.external_id, &tenant.configs[c], 0);
            tickets.expected += 1;
            stored.expected += 1;
            let found = by_marker.get(marker.as_str()).map_or(&[][..], Vec::as_slice);
            match found {
                [issue] => {
                    tickets.once += 1;
                    issue_of.insert(c, issue);
                }
                [] => {
                    tickets.lost += 1;
                    example(format!("lost ticket: {} / {} (marker {marker})", event.external_id, CONFIGS[c].name));
                }
                many => {
                    tickets.extra += 1;
                    let keys: Vec<&str> = many.iter().map(|i| i.key.as_str()).collect();
                    example(format!("duplicate tickets: {} / {}: {keys:?}", event.external_id, CONFIGS[c].name));
                }
            }
            expected_markers.insert(marker);
            let linked: Vec<&proto::Ticket> =
                feed.tickets.iter().filter(|t| t.configuration_id == tenant.configs[c]).collect();
            match (linked.as_slice(), found) {
                ([t], [issue]) if t.jira_issue_key == issue.key => stored.once += 1,
                ([t], _) if t.jira_issue_key.is_empty() => {
                    stored.lost += 1;
                    example(format!(
                        "ticket never linked: {} / {} ({:?})",
                        event.external_id,
                        CONFIGS[c].name,
                        t.state()
                    ));
                }
                ([], _) => {
                    stored.lost += 1;
                    example(format!("no ticket stored: {} / {}", event.external_id, CONFIGS[c].name));
                }
                _ => {
                    stored.extra += 1;
                    let keys: Vec<&str> = linked.iter().map(|t| t.jira_issue_key.as_str()).collect();
                    example(format!(
                        "stored tickets {keys:?} differ from Jira: {} / {}",
                        event.external_id, CONFIGS[c].name
                    ));
                }
            }
        }
        let unrouted =
            feed.tickets.iter().filter(|t| !event.configs.iter().any(|&c| tenant.configs[c] == t.configuration_id));
        for t in unrouted {
            unasked.extra += 1;
            example(format!(
                "ticket from a configuration that does not match: {} ({})",
                event.external_id, t.configuration_name
            ));
        }

        // Status, Jira to us.
        let from_jira = status_changes(Origin::Jira).collect::<Vec<_>>();
        let from_us = status_changes(Origin::Northstar).count();
        if let Some(p) = closed_by_person {
            person_status.expected += 1;
            if from_jira.len() > 1 || from_us > 0 {
                person_status.extra += 1;
                example(format!(
                    "{}: {} status changes from Jira, {from_us} from us",
                    event.external_id,
                    from_jira.len()
                ));
            } else if from_jira.len() == 1 && feed.status() == p.expected && from_jira[0].status() == p.expected {
                person_status.once += 1;
            } else {
                person_status.lost += 1;
                example(format!("{}: closed in Jira, event is {:?}", event.external_id, feed.status()));
            }
        }
        // Status, us to Jira.
        if let Some(s) = event.our_status {
            our_status.expected += 1;
            if from_us > 1 || !from_jira.is_empty() {
                our_status.extra += 1;
                example(format!(
                    "{}: {from_us} status changes from us, {} from Jira",
                    event.external_id,
                    from_jira.len()
                ));
            } else if from_us == 1 && feed.status() == s {
                our_status.once += 1;
            } else {
                our_status.lost += 1;
                example(format!("{}: set {s:?}, event is {:?}", event.external_id, feed.status()));
            }
        }
        if closed_by_person.is_none()
            && event.our_status.is_none()
            && (from_us + from_jira.len() > 0 || feed.status() != final_status)
        {
            unasked.extra += 1;
            example(format!("{}: status moved with nobody asking ({:?})", event.external_id, feed.status()));
        }
        for (&c, issue) in &issue_of {
            let ours = our_transitions.get(&issue.key).copied().unwrap_or(0);
            let done = issue.status_category == "done";
            let closed_here = closed_by_person.is_some_and(|p| p.config == c);
            let must_move = final_status != EventStatus::Open && !closed_here;
            if must_move {
                transitions.expected += 1;
                match ours {
                    1 if done => transitions.once += 1,
                    0 | 1 => {
                        transitions.lost += 1;
                        example(format!("{} not moved to done for {}", issue.key, event.external_id));
                    }
                    n => {
                        transitions.extra += 1;
                        example(format!("{} transitioned {n} times for {}", issue.key, event.external_id));
                    }
                }
            } else if ours > 0 || (done && !closed_here) {
                unasked.extra += 1;
                example(format!("{}: {ours} transitions by us, done: {done}, nobody asked", issue.key));
            }
        }

        // Comments, Jira to us.
        if let Some(p) = event.person_comment.as_ref().filter(|_| people.commented.contains(&e)) {
            person_comment.expected += 1;
            match comments(Origin::Jira, &p.body) {
                1 => person_comment.once += 1,
                0 => {
                    person_comment.lost += 1;
                    example(format!("{}: the comment made in Jira is not in the feed", event.external_id));
                }
                n => {
                    person_comment.extra += 1;
                    example(format!("{}: the comment made in Jira is {n} times in the feed", event.external_id));
                }
            }
        }
        // Comments, us to Jira.
        if let Some(body) = &event.our_comment {
            our_comment.expected += 1;
            match comments(Origin::Northstar, body) {
                1 => our_comment.once += 1,
                0 => {
                    our_comment.lost += 1;
                    example(format!("{}: our comment is not in the feed", event.external_id));
                }
                n => {
                    our_comment.extra += 1;
                    example(format!("{}: our comment is {n} times in the feed", event.external_id));
                }
            }
            let echoed = comments(Origin::Jira, body);
            if echoed > 0 {
                unasked.extra += echoed;
                example(format!("{}: our comment came back as a Jira comment", event.external_id));
            }
            for issue in issue_of.values() {
                our_copies.expected += 1;
                let copies =
                    issue.comments.iter().filter(|c| c.author == integration && c.text.contains(body.as_str())).count();
                match copies {
                    1 => our_copies.once += 1,
                    0 => {
                        our_copies.lost += 1;
                        example(format!("{}: our comment on {} is not in Jira", event.external_id, issue.key));
                    }
                    n => {
                        our_copies.extra += 1;
                        example(format!("{}: our comment is {n} times on {}", event.external_id, issue.key));
                    }
                }
            }
        }
        // Resubmissions with a new title.
        if let Some(title) = &event.new_title {
            for issue in issue_of.values() {
                titles.expected += 1;
                if issue.summary.ends_with(title.as_str()) {
                    titles.once += 1;
                } else {
                    titles.lost += 1;
                    example(format!("{}: summary still {:?}", issue.key, issue.summary));
                }
            }
        }
    }
    for (marker, found) in &by_marker {
        if !expected_markers.contains(*marker) {
            unasked.extra += found.len();
            let keys: Vec<&str> = found.iter().map(|i| i.key.as_str()).collect();
            example(format!("tickets nobody owed: {keys:?} (marker {marker})"));
        }
    }

    let mut deliveries = Deliveries::default();
    let mut by_state: HashMap<String, usize> = HashMap::new();
    for tenant in tenants.iter() {
        for d in count_deliveries(&tenant.clients[0], DeliveryState::Unspecified, counters, deadline).await? {
            deliveries.total += 1;
            if d.state() == DeliveryState::Succeeded {
                deliveries.succeeded += 1;
            } else {
                example(format!(
                    "delivery {} ({:?}) of {} is {:?}: {}",
                    d.delivery_id,
                    d.kind(),
                    d.external_id,
                    d.state(),
                    d.last_error
                ));
            }
            let name = d.state().as_str_name().trim_start_matches("DELIVERY_STATE_").to_lowercase();
            *by_state.entry(name).or_default() += 1;
        }
    }
    let mut by_state: Vec<(String, usize)> = by_state.into_iter().collect();
    by_state.sort();
    deliveries.by_state = by_state;

    Ok(Outcome {
        checks: vec![
            tickets,
            stored,
            person_status,
            person_comment,
            our_status,
            transitions,
            our_comment,
            our_copies,
            titles,
            unasked,
        ],
        deliveries,
        examples,
    })
}

/// A marker label: `northstar-` and 16 hex digits (the trigger labels are words).
fn is_marker(label: &str) -> bool {
    label.strip_prefix("northstar-").is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}
