//! The foundation: reflection, health through a database outage, the sidecar, startup.
use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use northstar_jira_client::{Client, proto};
use prost::Message as _;
use tokio_stream::StreamExt as _;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::support::{TestApp, TestDb, init_logging, proxy::ChaosProxy, test_config};

const SERVICES: [&str; 8] = [
    "northstar.jira.v1.TenantService",
    "northstar.jira.v1.CredentialService",
    "northstar.jira.v1.ApplicationService",
    "northstar.jira.v1.ConfigurationService",
    "northstar.jira.v1.EventService",
    "northstar.jira.v1.DeliveryService",
    "northstar.jira.v1.MetricsService",
    "northstar.jira.v1.AuditService",
];

async fn reflect(client: &Client, request: MessageRequest) -> MessageResponse {
    let mut reflection = ServerReflectionClient::new(client.channel());
    let outbound =
        tokio_stream::iter([ServerReflectionRequest { host: String::new(), message_request: Some(request) }]);
    let mut inbound = reflection.server_reflection_info(outbound).await.unwrap().into_inner();
    inbound.next().await.unwrap().unwrap().message_response.unwrap()
}

#[tokio::test]
async fn reflection_lists_every_service_with_its_documentation() {
    init_logging();
    let app = TestApp::start().await;
    let client = app.anonymous().await;
    let MessageResponse::ListServicesResponse(list) =
        reflect(&client, MessageRequest::ListServices(String::new())).await
    else {
        panic!("not a service list")
    };
    let names: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in SERVICES.iter().chain(&["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]) {
        assert!(names.contains(*service), "{service} missing from {names:?}");
    }

    // `grpcurl describe` reads comments from the source info of the file that holds a symbol.
    let MessageResponse::FileDescriptorResponse(files) =
        reflect(&client, MessageRequest::FileContainingSymbol("northstar.jira.v1.TenantService".into())).await
    else {
        panic!("not a file descriptor")
    };
    let comments: Vec<String> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap())
        .filter(|f| f.name() == "northstar/jira/v1/tenant.proto")
        .flat_map(|f| f.source_code_info.unwrap_or_default().location)
        .filter_map(|l| l.leading_comments)
        .collect();
    assert!(comments.iter().any(|c| c.contains("API key")), "no doc comments served: {comments:?}");

    // Health's own descriptor is served too, so `grpcurl ... grpc.health.v1.Health/Check` works.
    let MessageResponse::FileDescriptorResponse(_) =
        reflect(&client, MessageRequest::FileContainingSymbol("grpc.health.v1.Health".into())).await
    else {
        panic!("health descriptor missing")
    };
}

async fn health_of(client: &Client, service: &str) -> ServingStatus {
    let mut health = HealthClient::new(client.channel());
    let response = health.check(HealthCheckRequest { service: service.into() }).await.unwrap();
    response.into_inner().status()
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn health_and_readiness_follow_the_database_without_a_restart() {
    init_logging();
    let db = TestDb::new().await;
    let target: SocketAddr = db_addr(&db.url);
    let proxy = ChaosProxy::start(target).await;
    let proxied_url = db.url.replace(&target.to_string(), &proxy.addr.to_string());
    let app = TestApp::start_with(db, |config| config.database_url = proxied_url.into()).await;
    let client = app.anonymous().await;
    let http = reqwest::Client::new();
    let readyz = |http: reqwest::Client, url: String| async move {
        http.get(format!("{url}/readyz")).send().await.unwrap().status().as_u16()
    };

    assert_eq!(health_of(&client, "").await, ServingStatus::Serving);
    assert_eq!(health_of(&client, "northstar.jira.v1.EventService").await, ServingStatus::Serving);
    assert_eq!(readyz(http.clone(), app.http_url.clone()).await, 200);

    proxy.cut();
    wait_for("NOT_SERVING", || async { health_of(&client, "").await == ServingStatus::NotServing }).await;
    assert_eq!(health_of(&client, "northstar.jira.v1.TenantService").await, ServingStatus::NotServing);
    assert_eq!(readyz(http.clone(), app.http_url.clone()).await, 503);
    assert_eq!(http.get(format!("{}/healthz", app.http_url)).send().await.unwrap().status(), 200);
    // Calls answer UNAVAILABLE, promptly, rather than hanging.
    let operator = app.operator().await;
    let started = std::time::Instant::now();
    let err = operator.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

    proxy.restore();
    wait_for("SERVING again", || async { health_of(&client, "").await == ServingStatus::Serving }).await;
    assert_eq!(readyz(http.clone(), app.http_url.clone()).await, 200);
    operator.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap();
}

fn db_addr(url: &str) -> SocketAddr {
    let host_port = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    host_port.parse().unwrap()
}

#[tokio::test]
async fn prometheus_endpoint_serves_text_format() {
    let app = TestApp::start().await;
    let response = reqwest::get(format!("{}/metrics", app.http_url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let body = response.text().await.unwrap();
    assert!(body.contains("northstar_database_up 1"), "{body}");
}

#[tokio::test]
async fn two_servers_started_at_once_on_an_empty_database_both_come_up() {
    init_logging();
    let db = TestDb::empty().await;
    let (a, b) = tokio::join!(
        northstar_jira::Server::start(test_config(&db.url)),
        northstar_jira::Server::start(test_config(&db.url)),
    );
    let (a, b) = (a.expect("first server"), b.expect("second server"));
    for server in [&a, &b] {
        let client =
            Client::connect(format!("http://{}", server.grpc_addr), crate::support::OPERATOR_TOKEN).await.unwrap();
        client.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap();
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn schema_rs_matches_the_migrated_database() {
    use diesel::{QueryableByName, sql_types::Text};
    use diesel_async::RunQueryDsl as _;

    #[derive(QueryableByName, Debug)]
    struct Column {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        udt_name: String,
        #[diesel(sql_type = Text)]
        is_nullable: String,
    }
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, udt_name::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations' ORDER BY table_name, column_name",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let from_db: BTreeSet<String> = columns
        .iter()
        .map(|c| {
            let ty = diesel_type(&c.udt_name);
            let ty = if c.is_nullable == "YES" { format!("Nullable<{ty}>") } else { ty.to_owned() };
            format!("{}.{} -> {ty}", c.table_name, c.column_name)
        })
        .collect();
    let from_schema = parse_schema_rs(include_str!("../../server/src/schema.rs"));
    let missing: Vec<_> = from_db.difference(&from_schema).collect();
    let extra: Vec<_> = from_schema.difference(&from_db).collect();
    assert!(missing.is_empty() && extra.is_empty(), "schema.rs lacks {missing:#?}\nschema.rs has extra {extra:#?}");
}

fn diesel_type(udt: &str) -> &str {
    match udt {
        "uuid" => "Uuid",
        "text" | "varchar" => "Text",
        "timestamptz" => "Timestamptz",
        "bytea" => "Bytea",
        "jsonb" => "Jsonb",
        "int4" => "Int4",
        "int8" => "Int8",
        "int2" => "Int2",
        "float8" => "Float8",
        "bool" => "Bool",
        "_text" => "Array<Text>",
        "xid8" => "Xid8",
        "_int4" => "Array<Nullable<Int4>>",
        "date" => "Date",
        other => panic!("add {other} to diesel_type"),
    }
}

/// `table (pk) { column -> Type, }` blocks of `diesel::table!`, as `table.column -> Type`.
fn parse_schema_rs(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut table: Option<String> = None;
    for line in source.lines().map(str::trim) {
        if let Some((name, _)) = line.strip_suffix('{').and_then(|head| head.split_once('(')) {
            table = Some(name.trim().to_owned());
            continue;
        }
        if line == "}" {
            table = None;
        }
        if let (Some(table), Some((column, ty))) = (&table, line.split_once("->")) {
            let ty = ty.trim().trim_end_matches(',').replace("Integer", "Int4").replace("BigInt", "Int8");
            out.insert(format!("{table}.{} -> {ty}", column.trim()));
        }
    }
    out
}

#[tokio::test]
async fn a_missing_setting_stops_startup_with_one_line_naming_it() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_northstar-jira"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NORTHSTAR_MASTER_KEY is required"), "{stderr}");
}

#[tokio::test]
async fn sigterm_stops_both_ports_gracefully() {
    let db = TestDb::new().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_northstar-jira"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("NORTHSTAR_MASTER_KEY", northstar_jira::config::MasterKey::generate().to_base64())
        .env("NORTHSTAR_GRPC_ADDR", "127.0.0.1:0")
        .env("NORTHSTAR_HTTP_ADDR", "127.0.0.1:0")
        .env("NORTHSTAR_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The log line "northstar-jira serving" says both ports are open.
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let serving = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("northstar-jira serving") {
                return line;
            }
        }
        panic!("server exited before serving");
    })
    .await
    .unwrap();
    let log: serde_json::Value = serde_json::from_str(&serving).unwrap();
    let http_addr = log["http_addr"].as_str().unwrap().to_owned();
    assert_eq!(reqwest::get(format!("http://{http_addr}/healthz")).await.unwrap().status(), 200);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id().unwrap() as i32), nix::sys::signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_private_cluster_starts_where_only_initdb_and_pg_ctl_exist() {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    if northstar_jira::localdb::find_pg_bin_dir().is_none() {
        eprintln!("skipped: no initdb/pg_ctl on this machine");
        return;
    }
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("private-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let start_dir = dir.clone();
    let server = tokio::task::spawn_blocking(move || northstar_jira::localdb::start_private_cluster(&start_dir))
        .await
        .unwrap()
        .expect("private cluster starts");
    let mut conn = AsyncPgConnection::establish(&server.url_for("postgres")).await.unwrap();
    diesel::sql_query("SELECT 1").execute(&mut conn).await.unwrap();
    drop(conn);
    // A second call finds the running cluster instead of starting another.
    let again_dir = dir.clone();
    let again = tokio::task::spawn_blocking(move || northstar_jira::localdb::start_private_cluster(&again_dir))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.0, server.0);
    let stop_dir = dir.clone();
    tokio::task::spawn_blocking(move || northstar_jira::localdb::stop_private_cluster(&stop_dir))
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
