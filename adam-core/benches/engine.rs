//! Criterion benchmarks of the engine's hot paths: access-token issue and verify, the full
//! authenticate check, refresh rotation and a page of 100 users on SQLite and PostgreSQL, and
//! argon2id verification.
//!
//! Run with: `cargo bench -p adam-core --bench engine` (PostgreSQL from ADAM_TEST_POSTGRES_URL;
//! its benchmarks are skipped when it is unreachable). Results: BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use adam_core::hashing::{HashCost, PasswordHasher};
use adam_core::{
    Adam, Email, Name, NewUser, PageRequest, PasswordPolicy, Role, SecretKey, Settings, UserFilter,
};
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::runtime::Runtime;

const SECRET: &[u8] = b"benchmark secret key that is long enough!";

fn tokens(c: &mut Criterion) {
    // Tokens are issued only by the engine: sign one in on an in-memory database.
    let rt = Runtime::new().unwrap();
    let (token, verifier) = rt.block_on(async {
        let adam = Adam::connect(
            "sqlite::memory:",
            SecretKey::new(SECRET).unwrap(),
            Settings::default(),
        )
        .await
        .unwrap();
        adam.migrate_up().await.unwrap();
        adam.seed().await.unwrap();
        let pair = adam
            .login("manager@premiumauto.com", "Manager123!")
            .await
            .unwrap();
        (pair.access_token, adam.offline_verifier().await.unwrap())
    });
    // Ed25519 (EdDSA) through ring, with the key pair parsed once per key: claims to JSON,
    // base64url, signature.
    let probe = adam_core::tokens::bench::SignProbe::new();
    c.bench_function("access_token/sign", |b| b.iter(|| probe.sign()));
    // Ed25519 (EdDSA) through jsonwebtoken 9 and ring, with every header and claim check.
    c.bench_function("access_token/verify", |b| {
        b.iter(|| verifier.verify(&token).unwrap())
    });
}

fn passwords(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let hasher = PasswordHasher::with_default_cost().unwrap();
    let pw = PasswordPolicy::default()
        .check("a reasonable passphrase".into())
        .unwrap();
    let hash = rt.block_on(hasher.hash(&pw)).unwrap();
    let mut group = c.benchmark_group("password");
    group.sample_size(10);
    group.bench_function("argon2id_verify_owasp", |b| {
        b.to_async(&rt).iter(|| async {
            hasher
                .verify("a reasonable passphrase", Some(&hash))
                .await
                .unwrap()
        })
    });
    group.finish();
}

async fn engine(url: &str) -> Adam {
    // The cheapest hash: the list's benchmark creates a hundred users first.
    let settings = Settings {
        hash_cost: HashCost::TEST_ONLY,
        ..Settings::default()
    };
    let adam = Adam::connect(url, SecretKey::new(SECRET).unwrap(), settings)
        .await
        .unwrap();
    adam.migrate_up().await.unwrap();
    adam.seed().await.unwrap();
    adam
}

fn on_engine(c: &mut Criterion, rt: &Runtime, label: &str, adam: &Adam) {
    let pair = rt
        .block_on(adam.login("manager@premiumauto.com", "Manager123!"))
        .unwrap();
    let mut refresh = pair.refresh_token.expose().to_owned();
    c.bench_function(&format!("refresh_rotation/{label}"), |b| {
        b.iter(|| {
            let next = rt.block_on(adam.refresh(&refresh)).unwrap();
            refresh = next.refresh_token.expose().to_owned();
        })
    });
    let access = rt.block_on(adam.refresh(&refresh)).unwrap().access_token;
    c.bench_function(&format!("authenticate_full_check/{label}"), |b| {
        b.iter(|| rt.block_on(adam.authenticate(&access)).unwrap())
    });
    // A page of 100 of the principal's dealership's users (the seed's and 100 more), by email,
    // with its total: the scope's unit of work, the page's statement, the decode of its rows.
    let principal = rt.block_on(async {
        let pair = adam
            .login("principal@premiumauto.com", "Principal123!")
            .await
            .unwrap();
        adam.authenticate(&pair.access_token).await.unwrap()
    });
    rt.block_on(async {
        for n in 0..100 {
            let new = NewUser {
                email: Email::parse(&format!("staff{n:03}@premiumauto.com")).unwrap(),
                password: adam
                    .password_policy()
                    .check("a reasonable passphrase".into())
                    .unwrap(),
                full_name: Name::parse("name", &format!("Staff Member {n}")).unwrap(),
                role: Role::FiManager,
                dealership_id: None,
                must_change_password: false,
            };
            adam.create_user(&principal, new).await.unwrap();
        }
    });
    let page = PageRequest::new(Some(100), None).unwrap();
    c.bench_function(&format!("list_users_100/{label}"), |b| {
        b.iter(|| {
            let users = rt
                .block_on(adam.list_users(&principal, &UserFilter::default(), page))
                .unwrap();
            assert_eq!(users.items.len(), 100);
        })
    });
}

fn storage(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let path =
        std::env::temp_dir().join(format!("adam-bench-{}.db", uuid::Uuid::new_v4().simple()));
    let sqlite = rt.block_on(engine(&format!("sqlite://{}", path.display())));
    on_engine(c, &rt, "sqlite", &sqlite);
    rt.block_on(sqlite.close());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }

    let admin = std::env::var("ADAM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("adam_bench_{}", uuid::Uuid::new_v4().simple());
    let exec = |sql: String| {
        let admin = admin.clone();
        rt.block_on(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&sql).execute(&mut conn).await.map(|_| ())
        })
    };
    if exec(format!("CREATE DATABASE {name}")).is_err() {
        eprintln!("PostgreSQL unreachable: skipping its benchmarks");
        return;
    }
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let pg = rt.block_on(engine(&url));
    on_engine(c, &rt, "postgres", &pg);
    rt.block_on(pg.close());
    let _ = exec(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

criterion_group!(benches, tokens, passwords, storage);
criterion_main!(benches);
