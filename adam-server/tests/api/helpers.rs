//! Spawns the real server on a free port over a fresh database (SQLite or PostgreSQL).

use std::collections::HashMap;
use std::path::PathBuf;

use adam_core::Adam;
use adam_server::Config;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const SECRET: &str = "server test secret key, longer than thirty-two bytes";

pub fn postgres_admin_url() -> String {
    std::env::var("ADAM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A database of the test's own, removed on drop.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    sqlite: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(engine: Engine) -> Self {
        let name = format!("adam_api_{}", uuid::Uuid::new_v4().simple());
        match engine {
            Engine::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Self {
                    url: format!("sqlite://{}", path.display()),
                    sqlite: Some(path),
                    postgres: None,
                }
            }
            Engine::Postgres => {
                let admin = postgres_admin_url();
                pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                let base = admin
                    .rsplit_once('/')
                    .expect("database path in URL")
                    .0
                    .to_owned();
                Self {
                    url: format!("{base}/{name}"),
                    sqlite: None,
                    postgres: Some((admin, name)),
                }
            }
        }
    }

    /// Drops the database while servers use it (PostgreSQL), to simulate an outage.
    pub async fn drop_now(&self) {
        if let Some((admin, name)) = &self.postgres {
            pg_exec(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }

    /// Creates it again after [`drop_now`].
    pub async fn recreate(&self) {
        if let Some((admin, name)) = &self.postgres {
            pg_exec(admin, &format!("CREATE DATABASE {name}")).await;
        }
    }
}

pub async fn pg_exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("PostgreSQL must be running");
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(path) = &self.sqlite {
            for suffix in ["", "-wal", "-shm", ".secret_key"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some((admin, name)) = self.postgres.clone() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(pg_exec(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ));
            })
            .join();
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: TestDatabase,
    stop: Option<oneshot::Sender<()>>,
}

pub fn config_for(url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), url.to_owned()),
        ("SECRET_KEY".into(), SECRET.into()),
        ("PORT".into(), "0".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test config")
}

impl TestApp {
    pub async fn spawn(engine: Engine) -> Self {
        Self::spawn_with(engine, &[]).await
    }

    pub async fn spawn_with(engine: Engine, extra: &[(&str, &str)]) -> Self {
        let db = TestDatabase::create(engine).await;
        let config = config_for(&db.url, extra);
        let adam = Adam::connect(
            &config.database_url,
            config.signing_key().unwrap(),
            config.settings().unwrap(),
        )
        .await
        .unwrap();
        adam.migrate_up().await.unwrap();
        adam.seed().await.unwrap();
        let (acceptor, addr) = adam_server::bind(&config).await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = adam_server::serve(acceptor, adam, &config, async {
                let _ = rx.await;
            })
            .await;
        });
        Self {
            base: format!("http://{addr}"),
            client: Client::new(),
            db,
            stop: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let r = self.client.request(method, self.url(path));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.req(method, path, token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        read(r.send().await.unwrap()).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Tokens {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        Tokens {
            access: body["access_token"].as_str().unwrap().into(),
            refresh: body["refresh_token"].as_str().unwrap().into(),
        }
    }

    pub async fn admin(&self) -> Tokens {
        self.login("admin@avataradam.com", "Admin123!@#").await
    }
    pub async fn principal(&self) -> Tokens {
        self.login("principal@premiumauto.com", "Principal123!")
            .await
    }
    pub async fn manager(&self) -> Tokens {
        self.login("manager@premiumauto.com", "Manager123!").await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

pub async fn read(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Runs each test body against a server on SQLite and one on PostgreSQL.
#[macro_export]
macro_rules! on_both_engines {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = $crate::helpers::TestApp::spawn($crate::helpers::Engine::Sqlite).await;
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $app = $crate::helpers::TestApp::spawn($crate::helpers::Engine::Postgres).await;
                    $body
                }
            }
        )*
    };
}
