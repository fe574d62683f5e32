//! People in Jira: a few seconds after a ticket shows up, someone closes it or comments on it,
//! in the simulator, which sends the webhooks a real Jira would. Meanwhile Jira misbehaves the
//! way it can: some rounds' deliveries are each sent twice, some are held and released newest
//! first, and now and then an old delivery is sent again.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use jira_sim::{DeliveryState, ReleaseOrder, SimHandle};
use northstar_jira::domain::ticket::marker_label;
use rand::{Rng as _, SeedableRng as _, rngs::StdRng, seq::IndexedRandom as _};

use super::{ops::Tenant, plan::Plan};

const CLOSER: &str = "alice@example.com";
const COMMENTER: &str = "bob@example.com";

/// What the people did.
#[derive(Debug, Default)]
pub struct PeopleReport {
    /// Events whose ticket a person closed (index into the plan's events).
    pub closed: Vec<usize>,
    /// Events whose ticket a person commented on.
    pub commented: Vec<usize>,
    /// Actions not made: the ticket never showed up, or Jira refused.
    pub not_made: Vec<String>,
    /// Rounds whose deliveries were each sent twice.
    pub duplicated_rounds: usize,
    /// Rounds whose deliveries were held, then released newest first.
    pub reversed_rounds: usize,
    /// Deliveries released newest first.
    pub reversed_deliveries: usize,
    /// Old deliveries sent again with their identifier.
    pub redelivered: usize,
}

enum Action {
    Close(&'static str),
    Comment(String),
}

struct Target {
    event: usize,
    marker: String,
    action: Action,
    key: Option<String>,
    act_at: Option<Instant>,
    done: bool,
}

/// Acts until every planned action is made, or `stop` is raised (then one last look for the
/// tickets still missing), or `deadline`.
pub async fn act(
    sim: SimHandle,
    plan: Arc<Plan>,
    tenants: Arc<Vec<Tenant>>,
    submitted: Arc<Vec<AtomicBool>>,
    stop: Arc<AtomicBool>,
    seed: u64,
    deadline: Instant,
) -> PeopleReport {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_0f9e_091e);
    let marker = |e: usize, c: usize| {
        let event = &plan.events[e];
        marker_label(&tenants[event.tenant].id, &event.external_id, &tenants[event.tenant].configs[c], 0)
    };
    let mut targets = Vec::new();
    for (e, event) in plan.events.iter().enumerate() {
        if let Some(p) = &event.person_status {
            targets.push(Target {
                event: e,
                marker: marker(e, p.config),
                action: Action::Close(p.resolution),
                key: None,
                act_at: None,
                done: false,
            });
        }
        if let Some(p) = &event.person_comment {
            targets.push(Target {
                event: e,
                marker: marker(e, p.config),
                action: Action::Comment(p.body.clone()),
                key: None,
                act_at: None,
                done: false,
            });
        }
    }
    let mut report = PeopleReport::default();
    let mut round = 0usize;
    loop {
        let last = stop.load(Ordering::Acquire) || Instant::now() >= deadline;
        // Look for tickets in Jira, oldest events first, a bounded number per round: each look
        // scans every issue under the simulator's lock.
        let mut looked = 0;
        for t in targets.iter_mut().filter(|t| !t.done && t.key.is_none()) {
            if looked >= 64 && !last {
                break;
            }
            if !submitted[t.event].load(Ordering::Acquire) {
                continue;
            }
            looked += 1;
            if let Some(issue) = sim.issues_with_label(&t.marker).into_iter().next() {
                t.key = Some(issue.key);
                // People take a moment to notice a new ticket.
                t.act_at = Some(Instant::now() + Duration::from_millis(rng.random_range(500..3000)));
            }
        }
        let now = Instant::now();
        let due: Vec<usize> = (0..targets.len())
            .filter(|&i| !targets[i].done && targets[i].key.is_some() && (last || targets[i].act_at <= Some(now)))
            .collect();
        if !due.is_empty() {
            let mode = round % 3;
            if mode == 1 {
                // Each webhook event of a comment or a transition is two deliveries or so.
                sim.duplicate_next_deliveries(u32::try_from(due.len() * 2).unwrap_or(u32::MAX));
                report.duplicated_rounds += 1;
            } else if mode == 2 {
                sim.hold_deliveries(true);
            }
            for &i in &due {
                let t = &mut targets[i];
                t.done = true;
                let key = t.key.clone().unwrap_or_default();
                let made = match &t.action {
                    Action::Close(resolution) => sim.transition(CLOSER, &key, "Done", Some(resolution)),
                    Action::Comment(body) => sim.add_comment(COMMENTER, &key, body.as_str()).map(drop),
                };
                match (made, &t.action) {
                    (Ok(()), Action::Close(_)) => report.closed.push(t.event),
                    (Ok(()), Action::Comment(_)) => report.commented.push(t.event),
                    (Err(e), _) => report.not_made.push(format!("{key}: {e}")),
                }
            }
            if mode == 2 {
                sim.hold_deliveries(false);
                report.reversed_deliveries += sim.release_held(ReleaseOrder::Reverse);
                report.reversed_rounds += 1;
            }
        }
        if round % 10 == 9 {
            // Jira sends an old delivery again, long after the first time.
            let delivered: Vec<String> = sim
                .deliveries()
                .into_iter()
                .filter(|d| d.state == DeliveryState::Delivered)
                .map(|d| d.identifier)
                .collect();
            if let Some(id) = delivered.choose(&mut rng)
                && sim.redeliver(id).is_ok()
            {
                report.redelivered += 1;
            }
        }
        round += 1;
        if last || targets.iter().all(|t| t.done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for t in targets.iter().filter(|t| !t.done) {
        report.not_made.push(format!("{}: no ticket in Jira to act on", plan.events[t.event].external_id));
    }
    report
}
