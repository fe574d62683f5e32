//! Generates the client stubs from the same `proto/` the server compiles, with protox.
use std::{fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = "../proto/northstar/jira/v1";
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    files.sort();
    let fds = protox::compile(&files, ["../proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .skip_debug(SECRET_BEARING_MESSAGES)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=../proto");
    Ok(())
}

/// Messages that carry a secret: each gets a redacting Debug in `src/redact.rs`.
const SECRET_BEARING_MESSAGES: &[&str] = &[
    ".northstar.jira.v1.CreateApiKeyResponse",
    ".northstar.jira.v1.CreateCredentialRequest",
    ".northstar.jira.v1.UpdateCredentialRequest",
    ".northstar.jira.v1.TestConnectionRequest",
    ".northstar.jira.v1.CreateConfigurationResponse",
    ".northstar.jira.v1.UpdateConfigurationResponse",
    ".northstar.jira.v1.RotateWebhookSecretResponse",
];
