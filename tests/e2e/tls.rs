//! Production transport: TLS on gRPC and the sidecar from certificate files, and TLS to
//! PostgreSQL (`sslmode=require` / `verify-full`) on a private cluster started with `ssl = on`,
//! all with certificates this test makes.
use std::path::{Path, PathBuf};

use northstar_jira::{localdb, tls::TlsFiles};
use northstar_jira_client::{ClientBuilder, proto};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig};

use crate::support::{OPERATOR_TOKEN, TestApp, TestDb, test_config};

/// A CA and a server certificate for `localhost` and 127.0.0.1, written as PEM files.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    files: TlsFiles,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("northstar-tls-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, format!("northstar test CA {name}"));
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        let files = TlsFiles { cert: dir.join("server.crt"), key: dir.join("server.key") };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        // PostgreSQL refuses a key others can read.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ca_pem = ca_cert.pem();
        std::fs::write(dir.join("ca.crt"), &ca_pem).unwrap();
        Self { dir, ca_pem, files }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn grpc_and_the_sidecar_serve_tls_from_certificate_files() {
    let pki = Pki::new("ports");
    let app = TestApp::start_with(TestDb::new().await, |c| c.tls = Some(pki.files.clone())).await;
    let port = app.server.as_ref().unwrap().grpc_addr.port();
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca_pem)).domain_name("localhost");
    let operator = ClientBuilder::new(format!("https://localhost:{port}"))
        .api_key(OPERATOR_TOKEN)
        .tls_config(tls)
        .connect()
        .await
        .unwrap();
    let tenant = crate::support::create_tenant(&operator, "acme").await;
    assert!(!tenant.tenant_id.is_empty());
    // A client that does not trust the CA gets no connection, and plain text gets no answer.
    let untrusted = ClientBuilder::new(format!("https://localhost:{port}"))
        .api_key(OPERATOR_TOKEN)
        .tls_config(ClientTlsConfig::new().domain_name("localhost"))
        .connect()
        .await;
    let refused = match untrusted {
        Err(_) => true,
        Ok(client) => client.tenants().list_tenants(proto::ListTenantsRequest::default()).await.is_err(),
    };
    assert!(refused, "a client without the CA was served");
    let plain = northstar_jira_client::Client::connect(format!("http://127.0.0.1:{port}"), OPERATOR_TOKEN).await;
    if let Ok(plain) = plain {
        assert!(plain.tenants().list_tenants(proto::ListTenantsRequest::default()).await.is_err());
    }

    let http_port = app.server.as_ref().unwrap().http_addr.port();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let healthz = trusting.get(format!("https://localhost:{http_port}/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    // Webhook URLs handed to Jira admins are https:// when the sidecar serves TLS.
    let admin = operator.with_api_key(&app.create_key(&operator, &tenant.tenant_id, proto::Role::Admin).await).unwrap();
    crate::routing::app(&admin, "web").await;
    let credential = crate::routing::credential(&admin, "https://acme.atlassian.net").await;
    let created = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec!["web".into()],
            bidirectional: true,
            ..crate::routing::configuration("sync", &credential, proto::Trigger::Vulnerability)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(created.webhook_url.starts_with("https://"), "{}", created.webhook_url);
    let url = created.webhook_url.replace("127.0.0.1", "localhost");
    let body = crate::limits::unlinked_issue_update();
    let accepted = trusting
        .post(url)
        .header(
            "X-Hub-Signature",
            northstar_jira::domain::webhook::sign(created.webhook_secret.as_bytes(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 204);
    assert!(reqwest::get(format!("http://127.0.0.1:{http_port}/healthz")).await.is_err(), "plain HTTP was served");
}

/// A private cluster with `ssl = on`, stopped and removed on drop.
struct SslCluster {
    dir: PathBuf,
    port: u16,
}

impl SslCluster {
    fn start(pki: &Pki) -> Option<Self> {
        localdb::find_pg_bin_dir()?;
        let dir = pki.dir.join("pg");
        std::fs::create_dir_all(&dir).unwrap();
        let conf = |key: &str, path: &Path| format!("{key} = '{}'", path.display());
        let cert = conf("ssl_cert_file", &pki.files.cert);
        let key = conf("ssl_key_file", &pki.files.key);
        // The key must belong to the server's user: the whole folder is handed over.
        let server = localdb::start_private_cluster_with(&pki.dir, &["ssl = on", &cert, &key]).unwrap();
        let port = server.url_for("postgres").rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
        let _ = dir;
        Some(Self { dir: pki.dir.clone(), port })
    }
}

impl Drop for SslCluster {
    fn drop(&mut self) {
        let _ = localdb::stop_private_cluster(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_is_reached_over_tls_with_sslmode_require_and_verify_full() {
    let pki = Pki::new("pg");
    let Some(cluster) = SslCluster::start(&pki) else {
        eprintln!("skipped: initdb/pg_ctl are not on this machine, so no private cluster with ssl = on can start");
        return;
    };
    let port = cluster.port;
    let ca = pki.ca_file();
    let verify_full =
        format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}", ca.display());
    let server = northstar_jira::Server::start(test_config(&verify_full)).await.expect("starts over verify-full");
    let operator =
        northstar_jira_client::Client::connect(format!("http://{}", server.grpc_addr), OPERATOR_TOKEN).await.unwrap();
    operator.tenants().create_tenant(proto::CreateTenantRequest { name: "acme".into() }).await.unwrap();

    // Every connection of the server is encrypted: its pool, its listeners, its migrations.
    use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut observer =
        diesel_async::AsyncPgConnection::establish(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .await
            .unwrap();
    let count = async |conn: &mut diesel_async::AsyncPgConnection, sql: &str| {
        diesel::sql_query(sql).get_result::<Count>(conn).await.unwrap().n
    };
    let encrypted = count(
        &mut observer,
        "SELECT count(*) AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.backend_type = 'client backend' AND s.ssl",
    )
    .await;
    let clear = count(
        &mut observer,
        "SELECT count(*) AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.backend_type = 'client backend' AND NOT s.ssl AND a.pid <> pg_backend_pid()",
    )
    .await;
    assert!(encrypted >= 2, "{encrypted} encrypted connections");
    assert_eq!(clear, 0, "a server connection in clear");
    server.shutdown().await.unwrap();

    // require encrypts without checking the certificate.
    let require = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    northstar_jira::db::connect::establish(&require).await.expect("require connects");
    // verify-full refuses a server whose certificate another CA signed, and a name it was not
    // issued for.
    let other = Pki::new("other");
    let wrong_ca = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        other.ca_file().display()
    );
    let err = northstar_jira::db::connect::establish(&wrong_ca).await.err().expect("an untrusted CA is refused");
    assert!(err.to_string().to_lowercase().contains("tls"), "{err}");
    let err = northstar_jira::Server::start(test_config(&wrong_ca)).await.err().expect("the server does not start");
    assert!(err.to_string().contains("database"), "{err}");
    drop(cluster);
}
