//! Cost of one routing decision against 10,000 applications, 1,000 groups and 1,000
//! configurations, and the same with ten times the rules.
use std::hint::black_box;

use chrono::{TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use northstar_jira::domain::{
    model::{Severity, SeveritySet, Trigger},
    routing::{EventFacts, RoutingIndex, Rule},
};
use uuid::Uuid;

/// Applications in groups of ten (each in two groups), configurations routing from a group
/// and naming a few applications directly, half per trigger.
fn index(apps: usize, groups: usize, configs: usize) -> RoutingIndex {
    let group_ids: Vec<Uuid> = (0..groups).map(|_| Uuid::new_v4()).collect();
    let memberships = (0..apps).flat_map(|a| {
        let g = &group_ids;
        [(format!("app-{a}"), g[a % groups]), (format!("app-{a}"), g[(a * 7 + 3) % groups])]
    });
    let rules = (0..configs)
        .map(|c| Rule {
            id: Uuid::new_v4(),
            trigger: if c % 2 == 0 { Trigger::Vulnerability } else { Trigger::Incident },
            application_ids: (0..3).map(|k| format!("app-{}", (c * 31 + k * 97) % apps)).collect(),
            group_ids: vec![group_ids[c % groups]],
            severities: if c % 3 == 0 {
                SeveritySet::of([Severity::Critical, Severity::High])
            } else {
                SeveritySet::ALL
            },
            enabled_at: Some(Utc::now() - TimeDelta::days(1)),
        })
        .collect();
    RoutingIndex::build(rules, memberships)
}

fn bench(c: &mut Criterion) {
    let now = Utc::now();
    for (name, scale) in [("10k apps, 1k groups, 1k configs", 1), ("100k apps, 10k groups, 10k configs", 10)] {
        let idx = index(10_000 * scale, 1_000 * scale, 1_000 * scale);
        let apps: Vec<String> = (0..1024).map(|i| format!("app-{}", (i * 7919) % (10_000 * scale))).collect();
        let mut i = 0;
        c.bench_function(&format!("route: {name}"), |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                let event = EventFacts {
                    application_id: &apps[i],
                    trigger: Trigger::Vulnerability,
                    severity: Severity::High,
                    first_seen_at: now,
                };
                black_box(idx.route(&event).count())
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
