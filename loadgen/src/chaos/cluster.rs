//! What the chaos run starts and breaks: a PostgreSQL it may restart, replicas of the real
//! server binary it may `kill -9`, and a TCP balancer in front of them, as a deployment has, so
//! clients and Jira's webhooks reach whichever replica is alive.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use northstar_jira::localdb;
use tokio::{
    net::{TcpListener, TcpStream},
    process::{Child, Command},
    task::JoinHandle,
};

/// Where the database comes from.
#[derive(Debug, Clone)]
pub enum Database {
    /// A private cluster started in this folder (initdb/pg_ctl), which the run may restart.
    Private(PathBuf),
    /// An existing database, never restarted.
    Url(String),
}

/// The run's PostgreSQL.
pub struct Postgres {
    pub url: String,
    private: Option<PathBuf>,
}

const DATABASE: &str = "northstar_chaos";

impl Postgres {
    pub async fn start(database: &Database) -> anyhow::Result<Self> {
        match database {
            Database::Url(url) => Ok(Self { url: url.clone(), private: None }),
            Database::Private(dir) => {
                let dir = std::path::absolute(dir)?;
                let at = dir.clone();
                // The private cluster trades durability for speed (synchronous_commit off): a crash
                // would lose commits already acknowledged, which no service can survive. Commits
                // are durable here, as on a production server (fsync stays off: the machine does
                // not crash, only PostgreSQL).
                let server = tokio::task::spawn_blocking(move || {
                    localdb::start_private_cluster_with(&at, &["synchronous_commit = on"])
                })
                .await??;
                let url = localdb::ensure_database(&server, DATABASE).await.context("creating the chaos database")?;
                Ok(Self { url, private: Some(dir) })
            }
        }
    }

    /// Whether [`Postgres::restart`] can do anything.
    pub fn restartable(&self) -> bool {
        self.private.is_some()
    }

    /// The harshest restart: an immediate shutdown (a crash, recovery at start), then a start
    /// on the same port.
    pub async fn restart(&self) -> anyhow::Result<()> {
        let dir = self.private.clone().context("only a private cluster is restarted")?;
        tokio::task::spawn_blocking(move || localdb::restart_private_cluster(&dir, "immediate")).await??;
        Ok(())
    }

    /// Stops a private cluster, and removes its data when `remove` (the logs stay).
    pub async fn stop(mut self, remove: bool) {
        if let Some(dir) = self.private.take() {
            let _ = tokio::task::spawn_blocking(move || {
                let stopped = localdb::stop_private_cluster(&dir);
                if stopped.is_ok() && remove {
                    let _ = std::fs::remove_dir_all(dir.join("data"));
                }
            })
            .await;
        }
    }
}

impl Drop for Postgres {
    /// A run that fails half-way still stops its cluster rather than leave it running.
    fn drop(&mut self) {
        if let Some(dir) = self.private.take() {
            let _ = localdb::stop_private_cluster(&dir);
        }
    }
}

/// A free loopback port (bound and released: replicas restart on the same address).
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// One replica of the server: a child process on fixed ports, restarted on the same ones.
pub struct Replica {
    pub index: usize,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    bin: PathBuf,
    /// The environment it starts with (set before the first start).
    pub env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    /// Starts that exited before becoming ready (the database was down, say).
    pub failed_starts: usize,
}

impl Replica {
    pub fn new(index: usize, bin: &Path, log: PathBuf) -> anyhow::Result<Self> {
        Ok(Self {
            index,
            grpc: free_addr()?,
            http: free_addr()?,
            bin: bin.to_owned(),
            env: Vec::new(),
            log,
            child: None,
            failed_starts: 0,
        })
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.bin)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NORTHSTAR_GRPC_ADDR", self.grpc.to_string())
            .env("NORTHSTAR_HTTP_ADDR", self.http.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Starts the replica and waits until `/readyz` answers 200; a start that exits early (the
    /// database is restarting) is tried again.
    pub async fn start(&mut self, http: &reqwest::Client, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        self.spawn()?;
        let ready = format!("http://{}/readyz", self.http);
        loop {
            anyhow::ensure!(
                Instant::now() < deadline,
                "replica {} not ready within {timeout:?} (see {})",
                self.index,
                self.log.display()
            );
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.failed_starts += 1;
                super::note(&format!("replica {} exited while starting ({status}); starting it again", self.index));
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.spawn()?;
                continue;
            }
            if let Ok(response) = http.get(&ready).timeout(Duration::from_secs(2)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`: no shutdown of any kind, leases and connections left as they were.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // tokio's kill is SIGKILL on Unix.
            child.kill().await?;
        }
        Ok(())
    }
}

/// A TCP balancer: each new connection goes to the next backend that accepts one, so a killed
/// replica's clients reconnect to a live one, as behind a load balancer.
pub struct Balancer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Balancer {
    pub async fn start(backends: Vec<SocketAddr>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let backends = Arc::new(backends);
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let first = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(inbound, Arc::clone(&backends), first));
            }
        });
        Ok(Self { addr, task })
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(mut inbound: TcpStream, backends: Arc<Vec<SocketAddr>>, first: usize) {
    let _ = inbound.set_nodelay(true);
    for k in 0..backends.len() {
        let backend = backends[(first + k) % backends.len()];
        if let Ok(Ok(mut outbound)) = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(backend)).await {
            let _ = outbound.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            return;
        }
    }
    // No replica is up: the connection closes, and the caller retries as it would any outage.
}
