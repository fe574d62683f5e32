//! Every setting of the server, from flags or the environment (flags win).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `DATABASE_URL` | PostgreSQL URL | with `--dev`: the local default, found or started the way the tests do |
//! | `NORTHSTAR_GRPC_ADDR` | gRPC listen address | `127.0.0.1:50051` |
//! | `NORTHSTAR_HTTP_ADDR` | HTTP sidecar listen address | `127.0.0.1:8080` |
//! | `NORTHSTAR_PUBLIC_URL` | base URL Jira reaches the sidecar at (webhook URLs) | `http://<HTTP address>` |
//! | `NORTHSTAR_MASTER_KEY` | 32 bytes, base64: encrypts secrets at rest | required, except with `--dev` |
//! | `NORTHSTAR_PREVIOUS_MASTER_KEYS` | earlier master keys, comma-separated: still open secrets, which are re-sealed under the current key while serving | none |
//! | `NORTHSTAR_RESEAL_SECRETS` | re-seal stored secrets under the current master key while serving | false |
//! | `NORTHSTAR_BOOTSTRAP_TOKEN` | operator token: creates tenants and their keys | none (with `--dev`: generated) |
//! | `NORTHSTAR_ALLOW_INSECURE_JIRA` | allow http:// and loopback Jira URLs (simulators) | false |
//! | `NORTHSTAR_RECONCILE_INTERVAL` | reconciliation period of bidirectional configurations | 5m |
//! | `NORTHSTAR_DELIVERY_LEASE` | how long a worker's claim on a delivery lasts | 60s |
//! | `NORTHSTAR_DELIVERY_MAX_ATTEMPTS` | attempts before a delivery is DEAD | 25 |
//! | `NORTHSTAR_JIRA_BACKOFF_BASE`, `NORTHSTAR_JIRA_BACKOFF_MAX` | backoff without Retry-After | 5s, 30s |
//! | `NORTHSTAR_JIRA_SEARCH_SETTLE` | least wait before retrying a create whose outcome is unknown | 10s |
//! | `NORTHSTAR_DB_POOL_SIZE` | database connections per replica | 16 |
//! | `NORTHSTAR_WEBHOOK_RATE_LIMIT` | webhook requests per second per configuration (0: none), bursts of twice that | 1000 |
//! | `NORTHSTAR_GRPC_MAX_MESSAGE_BYTES` | largest gRPC request message accepted | 4194304 |
//! | `NORTHSTAR_TLS_CERT_FILE`, `NORTHSTAR_TLS_KEY_FILE` | PEM certificate chain and key: both ports serve TLS | none (plain) |
//! | `NORTHSTAR_LOG_FORMAT` | `pretty` or `json` | pretty |
//! | `NORTHSTAR_DATA_DIR` | where `--dev` keeps its master key and private PostgreSQL | `.northstar-dev` |
//! | `RUST_LOG` | log filter | `info` |
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use base64::Engine as _;
use clap::{Parser, ValueEnum};
use secrecy::{ExposeSecret as _, SecretBox, SecretString};

/// Command line and environment of the `northstar-jira` binary.
#[derive(Debug, Parser)]
#[command(name = "northstar-jira", version, about = "Keeps Northstar and Jira in sync, both ways.")]
pub struct Args {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// gRPC listen address.
    #[arg(long, env = "NORTHSTAR_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// HTTP sidecar listen address (webhooks, health, Prometheus).
    #[arg(long, env = "NORTHSTAR_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Base URL at which Jira reaches the HTTP sidecar; webhook URLs are built from it.
    #[arg(long, env = "NORTHSTAR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// 32 random bytes, base64: the key that encrypts secrets at rest.
    #[arg(long, env = "NORTHSTAR_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<SecretString>,
    /// Earlier master keys (base64, comma-separated) during a rotation: secrets sealed under them
    /// stay readable and are re-sealed under the current key while the server runs.
    #[arg(long, env = "NORTHSTAR_PREVIOUS_MASTER_KEYS", hide_env_values = true, value_delimiter = ',')]
    pub previous_master_keys: Vec<SecretString>,
    /// Re-seal stored secrets under the current master key, in the background. Turn on only once
    /// every replica can open the current key (the operator guide's rotation steps).
    #[arg(long, env = "NORTHSTAR_RESEAL_SECRETS", default_value_t = false)]
    pub reseal_secrets: bool,
    /// Operator token: may create tenants and their API keys.
    #[arg(long, env = "NORTHSTAR_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<SecretString>,
    /// Allow http:// and loopback or private Jira URLs (for simulators and tests).
    #[arg(long, env = "NORTHSTAR_ALLOW_INSECURE_JIRA", default_value_t = false)]
    pub allow_insecure_jira: bool,
    /// How often bidirectional configurations are reconciled with Jira.
    #[arg(long, env = "NORTHSTAR_RECONCILE_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub reconcile_interval: Duration,
    /// How long a worker's claim on a delivery lasts before another worker may take it.
    #[arg(long, env = "NORTHSTAR_DELIVERY_LEASE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub delivery_lease: Duration,
    /// Attempts before a delivery is DEAD.
    #[arg(long, env = "NORTHSTAR_DELIVERY_MAX_ATTEMPTS", default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
    pub delivery_max_attempts: u32,
    /// First backoff step when Jira gives no Retry-After.
    #[arg(long, env = "NORTHSTAR_JIRA_BACKOFF_BASE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub jira_backoff_base: Duration,
    /// Longest backoff step when Jira gives no Retry-After.
    #[arg(long, env = "NORTHSTAR_JIRA_BACKOFF_MAX", default_value = "30s", value_parser = humantime::parse_duration)]
    pub jira_backoff_max: Duration,
    /// Least wait before retrying a ticket creation whose outcome is unknown: Jira's search must
    /// show a freshly created issue before the worker looks for it.
    #[arg(long, env = "NORTHSTAR_JIRA_SEARCH_SETTLE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub jira_search_settle: Duration,
    /// After a creation whose first attempt's outcome was unknown, how long until Jira is searched
    /// again for a second issue under the same marker (search lags behind creation).
    #[arg(long, env = "NORTHSTAR_JIRA_DUPLICATE_SWEEP", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jira_duplicate_sweep: Duration,
    /// Database connections this replica keeps.
    #[arg(long, env = "NORTHSTAR_DB_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// Deliveries one replica works on at once (across credentials; each credential's own limit
    /// still applies).
    #[arg(long, env = "NORTHSTAR_DELIVERY_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub delivery_concurrency: u32,
    /// Jira requests in flight at once per credential.
    #[arg(long, env = "NORTHSTAR_JIRA_CONCURRENCY", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub jira_concurrency: u32,
    /// Sustained Jira requests per second per credential (0: no budget, only Jira's 429s pace us).
    #[arg(long, env = "NORTHSTAR_JIRA_REQUESTS_PER_SECOND", default_value_t = 50.0)]
    pub jira_requests_per_second: f64,
    /// Most new events committed in one group transaction.
    #[arg(long, env = "NORTHSTAR_GROUP_COMMIT_MAX", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub group_commit_max: u32,
    /// Group transactions of new events running at once. One measured best on two cores: the
    /// next group gathers while one commits, and larger groups cost less per event.
    #[arg(long, env = "NORTHSTAR_GROUP_COMMIT_CONCURRENCY", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub group_commit_concurrency: u32,
    /// Webhook requests per second accepted for one configuration (0: no limit); bursts of twice
    /// that pass. Over it, 429 with Retry-After, which Jira retries.
    #[arg(long, env = "NORTHSTAR_WEBHOOK_RATE_LIMIT", default_value_t = 1000)]
    pub webhook_rate_limit: u32,
    /// Largest gRPC request message accepted, in bytes (bigger: OUT_OF_RANGE, as tonic answers, before decoding).
    #[arg(long, env = "NORTHSTAR_GRPC_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(1024..=64 * 1024 * 1024))]
    pub grpc_max_message_bytes: u32,
    /// PEM certificate chain: gRPC and the sidecar serve TLS (with --tls-key-file).
    #[arg(long, env = "NORTHSTAR_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, env = "NORTHSTAR_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "NORTHSTAR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Development mode: fills what is missing with local defaults (a generated master key kept
    /// in the data directory, a printed bootstrap token, a local PostgreSQL found or started).
    #[arg(long)]
    pub dev: bool,
    /// Where `--dev` keeps its master key and, when it has to start one, its PostgreSQL.
    #[arg(long, env = "NORTHSTAR_DATA_DIR", default_value = ".northstar-dev")]
    pub data_dir: PathBuf,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The master key: 32 bytes that never leave the process.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl MasterKey {
    /// Parses the base64 form operators put in `NORTHSTAR_MASTER_KEY`.
    pub fn from_base64(text: &str) -> Result<Self, ConfigError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| ConfigError::Invalid { name: "NORTHSTAR_MASTER_KEY", reason: "is not valid base64".into() })?;
        let array: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| ConfigError::Invalid {
            name: "NORTHSTAR_MASTER_KEY",
            reason: format!("must decode to 32 bytes, not {}", b.len()),
        })?;
        Ok(Self(SecretBox::new(Box::new(array))))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(rand::random())))
    }

    /// The base64 form, for writing the `--dev` key file.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.expose_secret())
    }

    /// The raw key, for the cipher.
    pub fn bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

/// A setting that stops startup, named so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required value is absent.
    #[error("{name} is required: {hint}")]
    Missing { name: &'static str, hint: &'static str },
    /// A value is present but unusable.
    #[error("{name} {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The validated configuration the server runs with.
#[derive(Debug)]
pub struct Config {
    pub database_url: SecretString,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// Base of webhook URLs, without a trailing slash. `None`: derived from the bound HTTP address.
    pub public_url: Option<String>,
    pub master_key: MasterKey,
    /// Keys of a rotation in progress: open only.
    pub previous_master_keys: Vec<MasterKey>,
    /// Re-seal stored secrets under the current key.
    pub reseal_secrets: bool,
    pub bootstrap_token: Option<SecretString>,
    pub allow_insecure_jira: bool,
    pub reconcile_interval: Duration,
    pub delivery_lease: Duration,
    pub delivery_max_attempts: u32,
    pub jira_backoff_base: Duration,
    pub jira_backoff_max: Duration,
    pub jira_search_settle: Duration,
    pub jira_duplicate_sweep: Duration,
    pub db_pool_size: u32,
    pub delivery_concurrency: u32,
    pub jira_concurrency: usize,
    /// `None`: no budget of our own.
    pub jira_requests_per_second: Option<f64>,
    pub group_commit_max: usize,
    pub group_commit_concurrency: usize,
    /// Webhook requests per second per configuration; `None`: no limit.
    pub webhook_rate_limit: Option<std::num::NonZeroU32>,
    pub grpc_max_message_bytes: usize,
    /// Both ports serve TLS with these.
    pub tls: Option<crate::tls::TlsFiles>,
    /// How often the database is probed for health reporting.
    pub health_probe_interval: Duration,
}

impl Config {
    /// A configuration for tests and tools: loopback ports chosen by the OS, a random master key.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: SecretString::from(database_url.into()),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            master_key: MasterKey::generate(),
            previous_master_keys: Vec::new(),
            reseal_secrets: false,
            bootstrap_token: None,
            allow_insecure_jira: true,
            reconcile_interval: Duration::from_secs(300),
            delivery_lease: Duration::from_secs(60),
            delivery_max_attempts: 25,
            jira_backoff_base: Duration::from_secs(5),
            jira_backoff_max: Duration::from_secs(30),
            jira_search_settle: Duration::from_secs(10),
            jira_duplicate_sweep: Duration::from_secs(300),
            db_pool_size: 8,
            delivery_concurrency: 64,
            jira_concurrency: 10,
            jira_requests_per_second: Some(50.0),
            group_commit_max: 256,
            group_commit_concurrency: 1,
            webhook_rate_limit: std::num::NonZeroU32::new(1000),
            grpc_max_message_bytes: 4 * 1024 * 1024,
            tls: None,
            health_probe_interval: Duration::from_millis(500),
        }
    }

    /// Checks the arguments; `database_url` and `master_key` are those resolved by `--dev` when
    /// the arguments lack them.
    pub fn from_args(
        args: Args,
        dev_database_url: Option<SecretString>,
        dev_master_key: Option<MasterKey>,
    ) -> Result<Self, ConfigError> {
        let database_url = args.database_url.or(dev_database_url).ok_or(ConfigError::Missing {
            name: "DATABASE_URL",
            hint: "a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/northstar_jira, or run with --dev",
        })?;
        let url = database_url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid {
                name: "DATABASE_URL",
                reason: "must start with postgres:// or postgresql://".into(),
            });
        }
        let master_key = match (args.master_key, dev_master_key) {
            (Some(text), _) => MasterKey::from_base64(text.expose_secret())?,
            (None, Some(key)) => key,
            (None, None) => {
                return Err(ConfigError::Missing {
                    name: "NORTHSTAR_MASTER_KEY",
                    hint: "32 random bytes in base64 (openssl rand -base64 32), or run with --dev",
                });
            }
        };
        let previous_master_keys = args
            .previous_master_keys
            .iter()
            .map(|text| {
                MasterKey::from_base64(text.expose_secret()).map_err(|_| ConfigError::Invalid {
                    name: "NORTHSTAR_PREVIOUS_MASTER_KEYS",
                    reason: "must be base64 keys of 32 bytes, comma-separated".into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(token) = &args.bootstrap_token
            && token.expose_secret().len() < 16
        {
            return Err(ConfigError::Invalid {
                name: "NORTHSTAR_BOOTSTRAP_TOKEN",
                reason: "must be at least 16 characters".into(),
            });
        }
        let public_url = match args.public_url {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.trim_end_matches('/').to_owned())
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "NORTHSTAR_PUBLIC_URL",
                    reason: "must be an http:// or https:// URL".into(),
                });
            }
            None => None,
        };
        if args.jira_backoff_base > args.jira_backoff_max {
            return Err(ConfigError::Invalid {
                name: "NORTHSTAR_JIRA_BACKOFF_BASE",
                reason: "must not exceed NORTHSTAR_JIRA_BACKOFF_MAX".into(),
            });
        }
        let rate = args.jira_requests_per_second;
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(ConfigError::Invalid {
                name: "NORTHSTAR_JIRA_REQUESTS_PER_SECOND",
                reason: "must be a positive number, or 0 for no budget".into(),
            });
        }
        let jira_requests_per_second = (rate > 0.0).then_some(rate);
        Ok(Self {
            database_url,
            grpc_addr: args.grpc_addr,
            http_addr: args.http_addr,
            public_url,
            master_key,
            previous_master_keys,
            reseal_secrets: args.reseal_secrets,
            bootstrap_token: args.bootstrap_token,
            allow_insecure_jira: args.allow_insecure_jira,
            reconcile_interval: args.reconcile_interval,
            delivery_lease: args.delivery_lease,
            delivery_max_attempts: args.delivery_max_attempts,
            jira_backoff_base: args.jira_backoff_base,
            jira_backoff_max: args.jira_backoff_max,
            jira_search_settle: args.jira_search_settle,
            jira_duplicate_sweep: args.jira_duplicate_sweep,
            db_pool_size: args.db_pool_size,
            delivery_concurrency: args.delivery_concurrency,
            jira_concurrency: args.jira_concurrency as usize,
            jira_requests_per_second,
            group_commit_max: args.group_commit_max as usize,
            group_commit_concurrency: args.group_commit_concurrency as usize,
            webhook_rate_limit: std::num::NonZeroU32::new(args.webhook_rate_limit),
            grpc_max_message_bytes: args.grpc_max_message_bytes as usize,
            tls: match (args.tls_cert_file, args.tls_key_file) {
                (Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert, key }),
                _ => None,
            },
            health_probe_interval: Duration::from_secs(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_must_be_32_bytes_of_base64() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let err = MasterKey::from_base64(&short).unwrap_err().to_string();
        assert_eq!(err, "NORTHSTAR_MASTER_KEY must decode to 32 bytes, not 16");
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.bytes(), again.bytes());
        assert_eq!(format!("{key:?}"), "MasterKey([REDACTED])");
    }

    #[test]
    fn missing_values_are_named() {
        // clap reads these from the environment; the check is about their absence.
        if std::env::var_os("DATABASE_URL").is_some() || std::env::var_os("NORTHSTAR_MASTER_KEY").is_some() {
            return;
        }
        let args = Args::parse_from(["northstar-jira"]);
        let err = Config::from_args(args, None, None).unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_URL is required"), "{err}");
        let args = Args::parse_from(["northstar-jira", "--database-url", "postgres://x/y"]);
        let err = Config::from_args(args, None, None).unwrap_err().to_string();
        assert!(err.starts_with("NORTHSTAR_MASTER_KEY is required"), "{err}");
    }
}
