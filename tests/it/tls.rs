//! TLS to PostgreSQL: `require` encrypts, `verify-full` also checks the certificate and host.

use std::path::Path;
use std::process::Command;

use llmrank::config::{Secret, Settings};

use crate::helpers::PrivatePg;

/// A CA and a server certificate for 127.0.0.1 and localhost, made with openssl.
fn make_certs(dir: &Path) -> String {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=llmrank test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "other.key",
        "-out",
        "other-ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=another CA",
    ]);
    std::fs::set_permissions(
        dir.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    format!(
        "-c ssl=on -c ssl_cert_file={d}/server.pem -c ssl_key_file={d}/server.key",
        d = dir.display()
    )
}

fn settings(pg: &PrivatePg, mode: &str, root: &str) -> Settings {
    let mut s = Settings::default();
    s.database.url = Secret::new(pg.url("postgres"));
    s.database.sslmode = mode.into();
    s.database.ssl_root_cert = root.into();
    s
}

async fn encrypted(s: &Settings) -> anyhow::Result<bool> {
    let pg = llmrank::db::pg_config(&s.database, "llmrank-test")?;
    let c = llmrank::db::connect(&pg).await?;
    Ok(c.query_one(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )
    .await?
    .get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_encrypts_and_verify_full_checks_the_certificate() {
    let pg = tokio::task::spawn_blocking(|| PrivatePg::start_with(make_certs))
        .await
        .unwrap();
    let ca = pg.dir.join("ca.pem").display().to_string();
    let other = pg.dir.join("other-ca.pem").display().to_string();
    assert!(!encrypted(&settings(&pg, "disable", "")).await.unwrap());
    assert!(encrypted(&settings(&pg, "require", "")).await.unwrap());
    assert!(encrypted(&settings(&pg, "verify-full", &ca)).await.unwrap());
    // A certificate signed by someone else is refused, clearly.
    let e = encrypted(&settings(&pg, "verify-full", &other))
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").starts_with("cannot connect to PostgreSQL at 127.0.0.1"),
        "{e:#}"
    );
    // The whole path works over TLS: seed, simulate, rank.
    let mut s = settings(&pg, "verify-full", &ca);
    s.database.url = Secret::new(pg.url("llmrank"));
    s.simulate.samples = 100;
    llmrank::cmd::seed::run(&s).await.unwrap();
    llmrank::cmd::simulate::run(&s, &Default::default())
        .await
        .unwrap();
    let r = llmrank::cmd::rank::ranking(
        &s,
        "TTFT",
        &llmrank::cmd::rank::Options::new(
            llmrank::stats::Statistic::Mean,
            &Default::default(),
            llmrank::ranking::Method::Summary,
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.rankings.len(), 12);
    // A mode that does not exist is named with the allowed ones.
    let e = llmrank::db::pg_config(&settings(&pg, "verify-ca", "").database, "x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "database.sslmode \"verify-ca\" is not one of disable, require, verify-full"
    );
}

/// A TLS terminator in front of `upstream`, with the test CA's server certificate.
async fn https_front(dir: &Path, upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_and_https_work_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("llmrank-tls-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    make_certs(&dir);
    let ca = dir.join("ca.pem");
    // Redis over TLS only.
    let port = crate::helpers::free_port();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--tls-auth-clients",
            "no",
        ])
        .arg("--tls-cert-file")
        .arg(dir.join("server.pem"))
        .arg("--tls-key-file")
        .arg(dir.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(&ca)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let _redis = Kill(redis);
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (db, mut s) = crate::helpers::TestDb::seeded().await;
    s.simulate.samples = 100;
    llmrank::cmd::simulate::run(&s, &Default::default())
        .await
        .unwrap();
    let key = "tls-test-key-0123456789";
    let spawn_serve = || {
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = tokio::process::Command::new(crate::helpers::bin())
            .args(["serve", "--listen", &listen.to_string()])
            .env("LLMRANK_DATABASE__URL", db.url())
            .env("LLMRANK_REDIS__URL", format!("rediss://127.0.0.1:{port}"))
            .env("LLMRANK_SERVER__API_KEYS", key)
            .env("SSL_CERT_FILE", &ca)
            .env("LLMRANK_LOG__LEVEL", "warn")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        (listen, child)
    };
    let wait_up = |addr: std::net::SocketAddr| async move {
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let (a, _serve_a) = spawn_serve();
    wait_up(a).await;
    let first = crate::serve::http(a, "GET", "/ranking/TTFT", &[("X-API-KEY", key)], "").await;
    assert_eq!(first.header("x-cache"), Some("miss"));
    // Another replica finds the answer in Redis: Redis over TLS, verified against the CA.
    let (b, _serve_b) = spawn_serve();
    wait_up(b).await;
    let second = crate::serve::http(b, "GET", "/ranking/TTFT", &[("X-API-KEY", key)], "").await;
    assert_eq!(second.header("x-cache"), Some("redis"), "{}", second.body);

    // rank --server over https://, through a TLS front with the CA's certificate.
    let front = https_front(&dir, a).await;
    let rank = |with_ca: bool| {
        let mut cmd = std::process::Command::new(crate::helpers::bin());
        cmd.args([
            "rank",
            "TTFT",
            "--format",
            "csv",
            "--server",
            &format!("https://localhost:{}", front.port()),
            "--api-key",
            key,
        ])
        .env_remove("SSL_CERT_FILE");
        if with_ca {
            cmd.env("SSL_CERT_FILE", &ca);
        }
        cmd.output().unwrap()
    };
    let over_https = rank(true);
    assert!(
        over_https.status.success(),
        "{}",
        String::from_utf8_lossy(&over_https.stderr)
    );
    let plain = std::process::Command::new(crate::helpers::bin())
        .args([
            "rank",
            "TTFT",
            "--format",
            "csv",
            "--server",
            &format!("http://{a}"),
            "--api-key",
            key,
        ])
        .output()
        .unwrap();
    assert_eq!(over_https.stdout, plain.stdout);
    // Without the CA the certificate is refused, in one line.
    let refused = rank(false);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.starts_with("llmrank: cannot reach https://localhost:") && err.lines().count() == 1,
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
