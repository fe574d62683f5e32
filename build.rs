//! Compiles `proto/` with protox (pure Rust, so no protoc is needed anywhere) and
//! writes the encoded descriptor set that tonic-reflection serves.
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = proto_files("proto/northstar/jira/v1")?;
    let fds = protox::compile(&files, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    {
        use protox::prost::Message as _;
        fs::write(out_dir.join("northstar_jira_descriptor.bin"), fds.encode_to_vec())?;
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        // RPCs whose issue has not landed answer UNIMPLEMENTED; authentication and the role
        // table still apply to them because both live in a layer in front of every service.
        .generate_default_stubs(true)
        // Messages live in the client crate, generated once, so both sides share one set of
        // types (and one redacting Debug for the messages that carry secrets).
        .extern_path(".northstar.jira.v1", "::northstar_jira_client::proto")
        .compile_fds(fds)?;
    // compile_fds cannot know its inputs, and embed_migrations! does not track new folders.
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=migrations");
    Ok(())
}

fn proto_files(dir: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    files.sort();
    Ok(files)
}
