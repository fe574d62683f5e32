//! Finding a PostgreSQL server on a developer's machine, the same way for `--dev` and for the
//! tests: `DATABASE_URL` if set, else the local default (127.0.0.1:5432, user `postgres`), else a
//! private throwaway cluster started with `initdb`/`pg_ctl` when those binaries can be found.
use std::{
    fs,
    io::Write as _,
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// The server every developer machine of this project runs.
pub const LOCAL_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// Why no server could be found or started; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LocalDbError {
    /// Nothing to connect to and nothing to start one with.
    #[error(
        "no PostgreSQL found: set DATABASE_URL, or run PostgreSQL on 127.0.0.1:5432 with user \
         `postgres` and trust auth, or install the PostgreSQL server binaries \
         (Debian: apt-get install postgresql) so that initdb and pg_ctl can start a private one"
    )]
    NotFound,
    /// The binaries exist but starting a cluster failed.
    #[error("could not start a private PostgreSQL in {dir}: {reason}")]
    StartFailed { dir: PathBuf, reason: String },
}

/// A server URL without a database name, e.g. `postgres://postgres@127.0.0.1:5432`.
#[derive(Debug, Clone)]
pub struct ServerUrl(pub String);

/// Splits a database URL into its server part and database name.
pub fn split_database_url(url: &str) -> (ServerUrl, Option<String>) {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let (server, db) = match base[scheme_end..].find('/') {
        Some(i) => (&base[..scheme_end + i], Some(&base[scheme_end + i + 1..])),
        None => (base, None),
    };
    let db = db.filter(|d| !d.is_empty()).map(str::to_owned);
    // A query (sslmode=...) belongs to every database on the server, so keep it on the server part.
    let server = match query {
        Some(q) => format!("{server}?{q}"),
        None => server.to_owned(),
    };
    (ServerUrl(server), db)
}

impl ServerUrl {
    /// The URL of database `name` on this server, keeping any query parameters.
    pub fn url_for(&self, name: &str) -> String {
        match self.0.split_once('?') {
            Some((base, q)) => format!("{}/{name}?{q}", base.trim_end_matches('/')),
            None => format!("{}/{name}", self.0.trim_end_matches('/')),
        }
    }
}

/// Finds a server: `DATABASE_URL` (its server part), else the local default, else a private
/// cluster under `private_dir`, started if needed. Blocking; call from `spawn_blocking`.
pub fn find_or_start(private_dir: &Path) -> Result<ServerUrl, LocalDbError> {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        return Ok(split_database_url(&url).0);
    }
    if reachable(SocketAddr::from(([127, 0, 0, 1], 5432))) {
        return Ok(ServerUrl(LOCAL_DEFAULT_URL.to_owned()));
    }
    start_private_cluster(private_dir)
}

fn reachable(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Where `initdb` and `pg_ctl` live: PATH first, then Debian's versioned folders, newest first.
pub fn find_pg_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    versions.pop()
}

/// Starts (or finds already running) a private cluster in `dir`, listening on loopback only with
/// trust auth for user `postgres`. Several processes may call this at once: a file lock makes one
/// of them do the work. `extra_conf` lines are appended to postgresql.conf on creation.
pub fn start_private_cluster(dir: &Path) -> Result<ServerUrl, LocalDbError> {
    start_private_cluster_with(dir, &[])
}

/// As [`start_private_cluster`], with extra `postgresql.conf` lines (e.g. `ssl = on`).
pub fn start_private_cluster_with(dir: &Path, extra_conf: &[&str]) -> Result<ServerUrl, LocalDbError> {
    let bin = find_pg_bin_dir().ok_or(LocalDbError::NotFound)?;
    let fail = |reason: String| LocalDbError::StartFailed { dir: dir.to_owned(), reason };
    fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let lock_file = fs::File::create(dir.join(".lock")).map_err(|e| fail(e.to_string()))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| fail(format!("lock: {e}")))?;

    let data = dir.join("data");
    let port_file = dir.join("port");
    if let Some(port) = fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse::<u16>().ok())
        && reachable(SocketAddr::from(([127, 0, 0, 1], port)))
    {
        return Ok(ServerUrl(format!("postgres://postgres@127.0.0.1:{port}")));
    }
    let as_root = nix::unistd::Uid::effective().is_root();
    if !data.join("PG_VERSION").exists() {
        fs::create_dir_all(&data).map_err(|e| fail(e.to_string()))?;
        if as_root {
            // initdb and pg_ctl refuse to run as root: hand the folder to `postgres`.
            chown_to_postgres(dir).map_err(fail)?;
        }
        run_as_postgres(
            as_root,
            &bin.join("initdb"),
            &["-D", path_str(&data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
        )
        .map_err(fail)?;
        let mut conf =
            fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).map_err(|e| fail(e.to_string()))?;
        let mut lines = vec!["fsync = off", "synchronous_commit = off", "full_page_writes = off"];
        lines.extend_from_slice(extra_conf);
        for line in lines {
            writeln!(conf, "{line}").map_err(|e| fail(e.to_string()))?;
        }
    }
    let port = free_port().map_err(|e| fail(e.to_string()))?;
    let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", path_str(dir));
    run_as_postgres(
        as_root,
        &bin.join("pg_ctl"),
        &["-D", path_str(&data), "-o", &options, "-l", path_str(&dir.join("postgres.log")), "-w", "-t", "60", "start"],
    )
    .map_err(fail)?;
    fs::write(&port_file, port.to_string()).map_err(|e| fail(e.to_string()))?;
    Ok(ServerUrl(format!("postgres://postgres@127.0.0.1:{port}")))
}

/// Stops a private cluster started by [`start_private_cluster`].
pub fn stop_private_cluster(dir: &Path) -> Result<(), LocalDbError> {
    let bin = find_pg_bin_dir().ok_or(LocalDbError::NotFound)?;
    let as_root = nix::unistd::Uid::effective().is_root();
    run_as_postgres(as_root, &bin.join("pg_ctl"), &["-D", path_str(&dir.join("data")), "-m", "fast", "-w", "stop"])
        .map_err(|reason| LocalDbError::StartFailed { dir: dir.to_owned(), reason })
}

/// Restarts a private cluster started by [`start_private_cluster`], on the same port (pg_ctl
/// reuses the options of the last start). `mode` is pg_ctl's shutdown mode: `immediate` is a
/// crash (recovery runs at the next start), `fast` a clean stop.
pub fn restart_private_cluster(dir: &Path, mode: &str) -> Result<(), LocalDbError> {
    let bin = find_pg_bin_dir().ok_or(LocalDbError::NotFound)?;
    let as_root = nix::unistd::Uid::effective().is_root();
    // A log file, not a pipe: the postmaster keeps its output open, and output() would wait on it.
    let log = dir.join("postgres.log");
    run_as_postgres(
        as_root,
        &bin.join("pg_ctl"),
        &["-D", path_str(&dir.join("data")), "-m", mode, "-l", path_str(&log), "-w", "-t", "60", "restart"],
    )
    .map_err(|reason| LocalDbError::StartFailed { dir: dir.to_owned(), reason })
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn chown_to_postgres(dir: &Path) -> Result<(), String> {
    let user = nix::unistd::User::from_name("postgres")
        .map_err(|e| e.to_string())?
        .ok_or("running as root and there is no `postgres` user to run initdb as")?;
    let status = Command::new("chown")
        .args(["-R", &format!("{}:{}", user.uid, user.gid), path_str(dir)])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("chown {} failed", dir.display()));
    }
    Ok(())
}

fn run_as_postgres(as_root: bool, program: &Path, args: &[&str]) -> Result<(), String> {
    let output = if as_root {
        Command::new("runuser").args(["-u", "postgres", "--"]).arg(program).args(args).output()
    } else {
        Command::new(program).args(args).output()
    }
    .map_err(|e| format!("{}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} exited with {}: {}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Creates database `name` on `server` unless it exists; returns its URL.
pub async fn ensure_database(server: &ServerUrl, name: &str) -> Result<String, diesel::result::Error> {
    use diesel::{QueryableByName, sql_types::Text};
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};

    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    let mut conn = AsyncPgConnection::establish(&server.url_for("postgres"))
        .await
        .map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
    let found: Vec<Found> = diesel::sql_query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .load(&mut conn)
        .await?;
    if found.is_empty() {
        let quoted = name.replace('"', "\"\"");
        match diesel::sql_query(format!("CREATE DATABASE \"{quoted}\"")).execute(&mut conn).await {
            Ok(_) => {}
            // Another process created it between our check and our create.
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(server.url_for(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_database_urls() {
        let (server, db) = split_database_url("postgres://u@h:5/db?sslmode=require");
        assert_eq!(server.0, "postgres://u@h:5?sslmode=require");
        assert_eq!(db.as_deref(), Some("db"));
        assert_eq!(server.url_for("other"), "postgres://u@h:5/other?sslmode=require");
        let (server, db) = split_database_url("postgres://u@h:5");
        assert_eq!(server.0, "postgres://u@h:5");
        assert_eq!(db, None);
        assert_eq!(server.url_for("x"), "postgres://u@h:5/x");
    }
}
