//! The links that leave the machine, over TLS with certificates made at test time: a
//! PostgreSQL server started with `ssl=on` and TCP sessions allowed over TLS only, and a
//! Redis server listening on a TLS port only. The historian stores and publishes through
//! them when it trusts their CA, and refuses them, naming the certificate problem, when it
//! does not.

mod common;

use common::TestHistorian;
use historian_store::postgres::PostgresStore;
use historian_store::{StorageUrl, StoreOptions};
use historian_testkit::{PATIENCE, PgTestDb, TestPki, ThrowawayPostgres, ThrowawayRedis};
use historian_testkit::{eventually, require, unique_name};
use modbus_historian::config::RedisConfig;
use modbus_historian::stats::Stats;
use std::path::Path;
use std::time::Duration;

const DEVICES: usize = 2;
const POINTS: usize = 5;

/// A PostgreSQL server speaking TLS with a certificate for `localhost` and `127.0.0.1`,
/// and a database of the test's own on it (made through the plain Unix socket).
struct TlsPostgres {
    pki: TestPki,
    server: ThrowawayPostgres,
    db: PgTestDb,
}

impl TlsPostgres {
    async fn start(test: &str) -> Option<Self> {
        let pki = TestPki::new(&["localhost", "127.0.0.1"]).expect("certificates");
        let server = require(
            test,
            ThrowawayPostgres::start_tls_ready(&pki.cert_path(), &pki.key_path()).await,
        )?;
        let db = PgTestDb::create_on(&server.socket_url("postgres"))
            .await
            .expect("database on the TLS server");
        Some(Self { pki, server, db })
    }

    /// The URL of the test's database through TCP to `host`, with `params` appended.
    fn url(&self, host: &str, params: &str) -> String {
        format!(
            "postgres://postgres@{host}:{}/{}?{params}",
            self.server.port, self.db.name
        )
    }

    fn verify_full(&self, host: &str, ca: &Path) -> String {
        self.url(
            host,
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        )
    }
}

/// Whether the session of `client` is encrypted, as the server sees it.
async fn session_ssl(client: &tokio_postgres::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_verify_full_stores_readings_over_tls() {
    let test = "postgres_verify_full_stores_readings_over_tls";
    let Some(pg) = TlsPostgres::start(test).await else {
        return;
    };
    let url = pg.verify_full("localhost", &pg.pki.ca_path());
    let storage = StorageUrl::parse(&url).expect("storage URL");
    let h = TestHistorian::new("links_tls")
        .fleet(DEVICES, POINTS)
        .interval(Duration::from_millis(200))
        .storage(storage)
        .start()
        .await;
    let store = std::sync::Arc::clone(&h.historian.store);
    eventually("readings stored over TLS", PATIENCE, || async {
        match store.count_readings().await {
            Ok(n) if n >= (DEVICES * POINTS) as u64 => Ok(()),
            Ok(n) => Err(format!("{n} readings")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;

    // Every TCP session of the historian (pool, LISTEN) is encrypted, seen by the server
    // from a plain session on its Unix socket.
    let admin = pg.db.client().await.expect("socket session");
    let rows = admin
        .query(
            "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.client_addr IS NOT NULL",
            &[&pg.db.name],
        )
        .await
        .expect("pg_stat_ssl");
    assert!(!rows.is_empty(), "no TCP session of the historian seen");
    for row in &rows {
        let (ssl, version): (bool, Option<String>) = (row.get(0), row.get(1));
        assert!(ssl, "a plain session of the historian: {version:?}");
        assert!(version.is_some_and(|v| v.starts_with("TLS")));
    }

    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
    let stored: i64 = admin
        .query_one("SELECT count(*) FROM register_readings", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(u64::try_from(stored).expect("count"), summary.stored);
    assert!(stored >= (DEVICES * POINTS) as i64, "{stored}");
}

#[tokio::test]
async fn postgres_with_the_wrong_ca_is_refused_naming_the_certificate_problem() {
    let test = "postgres_with_the_wrong_ca_is_refused_naming_the_certificate_problem";
    let Some(pg) = TlsPostgres::start(test).await else {
        return;
    };
    let url = pg.verify_full("localhost", &pg.pki.other_ca_path());
    let err = historian_store::open(
        &StorageUrl::parse(&url).expect("storage URL"),
        &StoreOptions::default(),
    )
    .await
    .expect_err("a server whose CA is not trusted");
    let text = err.to_string();
    let place = format!(
        "cannot open PostgreSQL at localhost:{}, database {:?} (sslmode=verify-full): ",
        pg.server.port, pg.db.name
    );
    assert!(text.starts_with(&place), "{text}");
    assert!(
        text.contains("TLS handshake") && text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );

    let missing = pg.pki.dir().join("absent.pem");
    let err = PostgresStore::open(
        &pg.verify_full("localhost", &missing),
        &StoreOptions::default(),
    )
    .await
    .expect_err("an sslrootcert that cannot be read");
    let text = err.to_string();
    assert!(
        text.starts_with(&place)
            && text.contains("cannot read sslrootcert")
            && text.contains("absent.pem"),
        "{text}"
    );
}

#[tokio::test]
async fn postgres_verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let test = "postgres_verify_full_checks_the_host_name_and_verify_ca_does_not";
    let Some(pg) = TlsPostgres::start(test).await else {
        return;
    };
    let ca = pg.pki.ca_path();
    let connect = |url: String| async move {
        historian_store::postgres::PgLink::new(&url)
            .expect("link")
            .connect()
            .await
    };

    // The certificate lists 127.0.0.1 as an address.
    let c = connect(pg.verify_full("127.0.0.1", &ca))
        .await
        .expect("verify-full to an address the certificate lists");
    assert!(session_ssl(&c).await);

    // A name the certificate does not carry, reached at the right address.
    let other = |mode: &str| {
        format!(
            "postgres://postgres@db.invalid:{}/{}?hostaddr=127.0.0.1&sslmode={mode}\
             &sslrootcert={}",
            pg.server.port,
            pg.db.name,
            ca.display()
        )
    };
    let text = connect(other("verify-full"))
        .await
        .expect_err("verify-full to a name the certificate does not carry")
        .to_string();
    assert!(
        text.contains("db.invalid") && text.contains("certificate not valid for name"),
        "{text}"
    );
    let c = connect(other("verify-ca"))
        .await
        .expect("verify-ca checks the chain, not the name");
    assert!(session_ssl(&c).await);

    // require without a CA encrypts without verifying, as libpq does.
    let c = connect(pg.url("127.0.0.1", "sslmode=require"))
        .await
        .expect("require");
    assert!(session_ssl(&c).await);
    // require with a CA verifies the chain: the wrong CA is refused.
    let text = connect(pg.url(
        "127.0.0.1",
        &format!(
            "sslmode=require&sslrootcert={}",
            pg.pki.other_ca_path().display()
        ),
    ))
    .await
    .expect_err("require with an sslrootcert verifies the chain")
    .to_string();
    assert!(text.contains("UnknownIssuer"), "{text}");

    // The server takes TCP sessions over TLS only: a plain one is turned away by it.
    let text = connect(pg.url("127.0.0.1", "sslmode=disable"))
        .await
        .expect_err("plain session to an SSL-only server")
        .to_string();
    assert!(
        text.contains("sslmode=disable") && text.contains("no encryption"),
        "{text}"
    );
}

fn redis_config(url: String, ca: &Path) -> RedisConfig {
    RedisConfig {
        url,
        ca_file: Some(ca.to_path_buf()),
        key_prefix: unique_name("links_tls"),
        timeout: Duration::from_millis(500),
    }
}

fn keys(server: &ThrowawayRedis, prefix: &str) -> Result<Vec<String>, String> {
    let mut conn = server
        .client()
        .map_err(|e| e.to_string())?
        .get_connection()
        .map_err(|e| e.to_string())?;
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut conn)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_latest_values_are_written_trusting_a_private_ca() {
    let test = "rediss_latest_values_are_written_trusting_a_private_ca";
    let pki = TestPki::new(&["localhost", "127.0.0.1"]).expect("certificates");
    let Some(server) = require(
        test,
        ThrowawayRedis::start_tls(&pki.cert_path(), &pki.key_path(), &pki.ca_path()),
    ) else {
        return;
    };
    assert!(server.url().starts_with("rediss://"), "{}", server.url());
    let cfg = redis_config(server.url(), &pki.ca_path());
    let prefix = cfg.key_prefix.clone();
    let h = TestHistorian::new("links_tls_redis")
        .fleet(DEVICES, POINTS)
        .interval(Duration::from_millis(200))
        .configure(move |config| config.redis = Some(cfg))
        .start()
        .await;
    let ids: Vec<i64> = h
        .historian
        .registry
        .devices()
        .iter()
        .map(|d| d.id)
        .collect();
    eventually(
        "every device's latest hash filled over TLS",
        PATIENCE,
        || async {
            let mut conn = server
                .client()
                .map_err(|e| e.to_string())?
                .get_connection()
                .map_err(|e| e.to_string())?;
            for id in &ids {
                let fields: usize = redis::cmd("HLEN")
                    .arg(format!("{prefix}:latest:{id}"))
                    .query(&mut conn)
                    .map_err(|e| e.to_string())?;
                if fields != POINTS {
                    return Err(format!("device {id}: {fields} fields"));
                }
            }
            Ok(())
        },
    )
    .await;
    let stats = std::sync::Arc::clone(&h.historian.stats);
    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
    assert!(Stats::get(&stats.redis_updates) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_the_wrong_ca_is_refused_and_nothing_is_written() {
    let test = "rediss_with_the_wrong_ca_is_refused_and_nothing_is_written";
    let pki = TestPki::new(&["localhost", "127.0.0.1"]).expect("certificates");
    let Some(server) = require(
        test,
        ThrowawayRedis::start_tls(&pki.cert_path(), &pki.key_path(), &pki.ca_path()),
    ) else {
        return;
    };
    let cfg = redis_config(server.url(), &pki.other_ca_path());

    // The client the historian builds names the reason when it connects.
    let client = modbus_historian::ingest::redis::client(&cfg).expect("client");
    let err = client
        .get_multiplexed_async_connection()
        .await
        .expect_err("a server whose CA is not trusted");
    let text = err.to_string();
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );

    let prefix = cfg.key_prefix.clone();
    let h = TestHistorian::new("links_tls_redis_wrong_ca")
        .fleet(1, POINTS)
        .interval(Duration::from_millis(200))
        .configure(move |config| config.redis = Some(cfg))
        .start()
        .await;
    let stats = std::sync::Arc::clone(&h.historian.stats);
    eventually(
        "updates skipped for the untrusted server",
        PATIENCE,
        || async {
            match Stats::get(&stats.redis_updates_skipped) {
                0 => Err("none skipped yet".to_string()),
                _ => Ok(()),
            }
        },
    )
    .await;
    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0, "storing goes on without Redis");
    assert_eq!(Stats::get(&stats.redis_updates), 0);
    assert_eq!(keys(&server, &prefix), Ok(Vec::new()));
}
