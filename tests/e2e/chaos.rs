//! The chaos run, short: the driver of `scripts/chaos` with a few hundred events, two replicas
//! of the real binary, three `kill -9`s and (when initdb is here) a PostgreSQL restart of a
//! private cluster; the same invariants as the full run.
use std::time::Duration;

use northstar_loadgen::chaos::{self, Database, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_chaos_run_loses_duplicates_and_double_applies_nothing() {
    let work_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "chaos-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    // A private cluster can be restarted; the shared server never is.
    let (database, _db) = if northstar_jira::localdb::find_pg_bin_dir().is_some() {
        (Database::Private(work_dir.join("postgres")), None)
    } else {
        println!("note: no initdb/pg_ctl here: the run uses a test database and skips the PostgreSQL restart");
        let db = crate::support::TestDb::new().await;
        (Database::Url(db.url.clone()), Some(db))
    };
    let options = Options {
        events: 240,
        tenants: 2,
        replicas: 2,
        kills: 3,
        kill_interval: Duration::from_secs(3),
        reconcile_interval: Duration::from_secs(20),
        concurrency: 16,
        timeout: Duration::from_secs(100),
        seed: 7,
        ..Options::new(env!("CARGO_BIN_EXE_northstar-jira").into(), work_dir.clone(), database)
    };
    let report = chaos::run(options).await.expect("the chaos run ran to its end");
    println!("{}", report.table());
    let checks = &report.outcome.checks;
    assert!(checks.iter().all(|c| c.expected > 0 || c.name.starts_with("changes nobody")), "every check had work");
    assert_eq!(report.failures(), 0, "lost, duplicated or applied twice; logs in {}", work_dir.display());
    let _ = std::fs::remove_dir_all(&work_dir);
}
