//! The real server on a free port over a fresh database (SQLite or PostgreSQL), from
//! `adam-testkit`, with a JSON client.

use adam_testkit::server::TestServer;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

pub use adam_testkit::{ADMIN, MANAGER, PRINCIPAL};

pub use adam_testkit::{Engine, TestDatabase, SECRET};

/// A running server and a client for it.
#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    pub client: Client,
    server: TestServer,
}

impl adam_testkit::Fixture for TestApp {
    async fn on(engine: Engine) -> Self {
        Self::spawn(engine).await
    }
}

impl std::ops::Deref for TestApp {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

impl TestApp {
    pub async fn spawn(engine: Engine) -> Self {
        Self::spawn_with(engine, &[]).await
    }

    pub async fn spawn_with(engine: Engine, extra: &[(&str, &str)]) -> Self {
        let server = TestServer::start(engine, extra).await;
        Self {
            base: server.base.clone(),
            client: Client::new(),
            server,
        }
    }

    /// A server whose configuration `change` adjusts first.
    pub async fn spawn_configured(
        engine: Engine,
        change: impl FnOnce(&mut adam_server::Config),
    ) -> Self {
        let db = TestDatabase::create(engine).await;
        let mut config = adam_testkit::server::config_for(&db.url, &[]);
        change(&mut config);
        let server = TestServer::start_configured(db, config).await;
        Self {
            base: server.base.clone(),
            client: Client::new(),
            server,
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
        tokens_of(email, status, body)
    }

    /// Signs in from a program that names itself `user_agent`.
    pub async fn login_with_agent(&self, email: &str, password: &str, user_agent: &str) -> Tokens {
        let resp = self
            .req(Method::POST, "/api/v1/auth/login", None)
            .header("user-agent", user_agent)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(resp).await;
        tokens_of(email, status, body)
    }

    pub async fn admin(&self) -> Tokens {
        self.login(ADMIN.0, ADMIN.1).await
    }
    pub async fn principal(&self) -> Tokens {
        self.login(PRINCIPAL.0, PRINCIPAL.1).await
    }
    pub async fn manager(&self) -> Tokens {
        self.login(MANAGER.0, MANAGER.1).await
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// The pair of a sign-in answer, which must be a 200.
fn tokens_of(email: &str, status: StatusCode, body: Value) -> Tokens {
    assert_eq!(status, StatusCode::OK, "login {email}: {body}");
    Tokens {
        access: body["access_token"].as_str().unwrap().into(),
        refresh: body["refresh_token"].as_str().unwrap().into(),
    }
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
