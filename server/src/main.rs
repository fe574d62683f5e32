//! The `northstar-jira` binary: flags and environment in, a running server out.
use std::{fs, io::Write as _, os::unix::fs::OpenOptionsExt as _, path::Path};

use anyhow::Context as _;
use clap::Parser as _;
use northstar_jira::{
    Config, Server,
    config::{Args, MasterKey},
    localdb, telemetry,
};
use secrecy::SecretString;
use tokio::signal::unix::{SignalKind, signal};

/// Database that `--dev` creates on the local server.
const DEV_DATABASE: &str = "northstar_jira";

#[tokio::main]
async fn main() {
    let args = Args::parse();
    telemetry::init_logging(args.log_format);
    if let Err(err) = run(args).await {
        // One clear line naming what is wrong, then a non-zero exit.
        eprintln!("northstar-jira: {err:#}");
        std::process::exit(1);
    }
}

async fn run(mut args: Args) -> anyhow::Result<()> {
    let (dev_url, dev_key) = if args.dev { dev_defaults(&mut args).await? } else { (None, None) };
    let config = Config::from_args(args, dev_url, dev_key)?;
    // Handlers go in before the ports open, so a signal that comes early still stops us gracefully.
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let server = Server::start(config).await?;
    let token = server.shutdown_token();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
        token.cancel();
    });
    server.wait().await?;
    Ok(())
}

/// Fills what `--dev` may fill: the master key (kept in the data directory), the bootstrap
/// token (kept and printed), insecure Jira allowed (for the simulator), and the database.
async fn dev_defaults(args: &mut Args) -> anyhow::Result<(Option<SecretString>, Option<MasterKey>)> {
    let dir = args.data_dir.clone();
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = match &args.master_key {
        Some(_) => None,
        None => {
            let text = read_or_create(&dir.join("master.key"), || MasterKey::generate().to_base64())?;
            Some(MasterKey::from_base64(&text)?)
        }
    };
    if args.bootstrap_token.is_none() {
        let token = read_or_create(&dir.join("bootstrap-token"), || {
            format!("nsj-operator-{}", hex::encode(rand::random::<[u8; 16]>()))
        })?;
        println!("dev bootstrap (operator) token: {token}");
        args.bootstrap_token = Some(SecretString::from(token));
    }
    args.allow_insecure_jira = true;
    let url = match &args.database_url {
        Some(_) => None,
        None => {
            let pg_dir = std::path::absolute(dir.join("postgres"))?;
            let server = tokio::task::spawn_blocking(move || localdb::find_or_start(&pg_dir)).await??;
            let url = localdb::ensure_database(&server, DEV_DATABASE).await.context("creating the dev database")?;
            println!("dev database: {}", url);
            Some(SecretString::from(url))
        }
    };
    Ok((url, key))
}

fn read_or_create(path: &Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Ok(text) = fs::read_to_string(path) {
        return Ok(text.trim().to_owned());
    }
    let value = make();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{value}")?;
    Ok(value)
}
