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
        llmrank::stats::Statistic::Mean,
        &Default::default(),
        llmrank::ranking::Method::Summary,
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
