//! A fresh database per test, cloned from a template migrated once per migration set.
//!
//! nextest runs every test in its own process, so "once" has to hold across processes: the
//! template's name carries a hash of `migrations/`, and it is built under an advisory lock by
//! whichever process gets there first. Each test's database is named after its process, so a
//! later run can sweep the leftovers of processes that died without cleaning up.
use std::{path::PathBuf, sync::atomic::AtomicU32};

use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use northstar_jira::localdb::{self, ServerUrl};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

const TEMPLATE_LOCK_KEY: i64 = 0x6e73_6a5f_746d_706c; // "nsj_tmpl"
const TEST_DB_PREFIX: &str = "nsj_t_";

/// A database of this test's own; dropped with it.
pub struct TestDb {
    pub url: String,
    pub name: String,
    server: ServerUrl,
}

struct Template {
    server: ServerUrl,
    name: String,
}

static TEMPLATE: OnceCell<Template> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    datname: String,
}

/// The server the tests use: `DATABASE_URL`, else 127.0.0.1:5432, else a private cluster in
/// the target directory. Panics with what to do when there is none.
pub async fn server() -> ServerUrl {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("postgres");
    match tokio::task::spawn_blocking(move || localdb::find_or_start(&dir)).await.unwrap() {
        Ok(server) => server,
        Err(err) => panic!("{err}"),
    }
}

pub async fn admin_connection(server: &ServerUrl) -> AsyncPgConnection {
    AsyncPgConnection::establish(&server.url_for("postgres"))
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.0))
}

fn migrations_hash() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<PathBuf> = walk(&dir);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.strip_prefix(&dir).unwrap().to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).unwrap());
    }
    hex::encode(&hasher.finalize()[..6])
}

fn walk(dir: &PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn template() -> &'static Template {
    TEMPLATE
        .get_or_init(|| async {
            let server = server().await;
            let name = format!("nsj_tmpl_{}", migrations_hash());
            let mut conn = admin_connection(&server).await;
            exec(&mut conn, &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})")).await;
            sweep(&mut conn, &name).await;
            let ready: Vec<Name> =
                diesel::sql_query("SELECT datname FROM pg_database WHERE datname = $1 AND datistemplate")
                    .bind::<Text, _>(&name)
                    .load(&mut conn)
                    .await
                    .unwrap();
            if ready.is_empty() {
                // A half-built template from a crashed process is not marked; rebuild it.
                exec(&mut conn, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                exec(&mut conn, &format!("CREATE DATABASE {name}")).await;
                northstar_jira::db::run_migrations(&server.url_for(&name)).await.unwrap();
                exec(&mut conn, &format!("ALTER DATABASE {name} IS_TEMPLATE true")).await;
            }
            exec(&mut conn, &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})")).await;
            Template { server, name }
        })
        .await
}

/// Drops databases of test processes that are gone, and templates of older migration sets.
async fn sweep(conn: &mut AsyncPgConnection, current_template: &str) {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'nsj\\_t\\_%' OR datname LIKE 'nsj\\_tmpl\\_%'",
    )
    .load(conn)
    .await
    .unwrap();
    for Name { datname } in names {
        let stale = if let Some(rest) = datname.strip_prefix(TEST_DB_PREFIX) {
            let pid = rest.split('_').next().and_then(|p| p.parse::<i32>().ok());
            pid.is_some_and(|pid| !process_alive(pid))
        } else {
            datname != current_template
        };
        if stale {
            let _ = diesel::sql_query(format!("ALTER DATABASE {datname} IS_TEMPLATE false")).execute(conn).await;
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)")).execute(conn).await;
        }
    }
}

fn process_alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

impl TestDb {
    /// A migrated database for one test.
    pub async fn new() -> Self {
        let template = template().await;
        let name = Self::fresh_name();
        let mut conn = admin_connection(&template.server).await;
        exec(&mut conn, &format!("CREATE DATABASE {name} TEMPLATE {}", template.name)).await;
        Self { url: template.server.url_for(&name), name, server: template.server.clone() }
    }

    /// An empty database (no migrations), to test startup on a blank database.
    pub async fn empty() -> Self {
        let server = template().await.server.clone();
        let name = Self::fresh_name();
        let mut conn = admin_connection(&server).await;
        exec(&mut conn, &format!("CREATE DATABASE {name}")).await;
        Self { url: server.url_for(&name), name, server }
    }

    fn fresh_name() -> String {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{TEST_DB_PREFIX}{}_{n}_{}", std::process::id(), hex::encode(rand::random::<[u8; 3]>()))
    }

    /// A direct connection, for assertions on what was stored.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs outside async; a thread with its own runtime does the async cleanup.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&server.url_for("postgres")).await {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}
