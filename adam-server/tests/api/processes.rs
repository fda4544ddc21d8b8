//! The server as a process: readiness, several processes on one PostgreSQL, SIGTERM, the healthcheck.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Engine, TestApp, MANAGER};
use crate::GET;

#[tokio::test]
async fn readiness_follows_the_database_without_a_restart() {
    let app = TestApp::spawn(Engine::Postgres).await;
    assert_eq!(
        app.req(GET, "/ready", None).send().await.unwrap().status(),
        StatusCode::OK
    );
    let manager = app.login(MANAGER.0, MANAGER.1).await;
    app.db.drop_now().await;
    let resp = app.req(GET, "/ready", None).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Requests whose live-session checks share a statement (sessions/live_checks.rs) are each
    // told the database is away: not signed out, not a 500.
    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        checks.spawn(
            app.req(GET, "/api/v1/auth/me", Some(&manager.access))
                .send(),
        );
    }
    while let Some(resp) = checks.join_next().await {
        assert_eq!(
            resp.unwrap().unwrap().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(
        app.req(GET, "/health", None).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.db.recreate().await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..20 {
        status = app.req(GET, "/ready", None).send().await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn three_server_processes_share_one_postgres() {
    let db = crate::helpers::TestDatabase::create(Engine::Postgres).await;
    let bin = env!("CARGO_BIN_EXE_adam-server");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("SECRET_KEY", crate::helpers::SECRET)
            .env("PUBLIC_URL", "http://adam.test")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["migrate"]);
    run(&["seed"]);
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..3 {
        let (server, base) = ServerProcess::start(&db.url, &["serve", "--no-migrate"]).await;
        servers.push(server);
        bases.push(base);
    }
    let client = reqwest::Client::new();
    let post = |base: &str, path: &str, token: Option<&str>, body: Value| {
        let mut r = client.post(format!("{base}/api/v1{path}")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let login = crate::helpers::read(
        post(
            &bases[0],
            "/auth/login",
            None,
            json!({"email": MANAGER.0, "password": MANAGER.1}),
        )
        .await
        .unwrap(),
    )
    .await
    .1;
    let refreshed = crate::helpers::read(
        post(
            &bases[1],
            "/auth/refresh",
            None,
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(refreshed.0, StatusCode::OK);
    let access = refreshed.1["access_token"].as_str().unwrap().to_owned();
    let first_access = login["access_token"].as_str().unwrap().to_owned();
    for base in &bases {
        let s = client
            .get(format!("{base}/api/v1/auth/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, StatusCode::OK);
    }
    // They share one key set: each publishes the same keys, and the token names one of them.
    let mut published = Vec::new();
    for base in &bases {
        let jwks: Value = client
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut kids: Vec<String> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        kids.sort();
        published.push(kids);
    }
    assert_eq!(published[0].len(), 2, "{published:?}");
    assert!(
        published.iter().all(|p| p == &published[0]),
        "{published:?}"
    );
    assert!(published[0].contains(&crate::keys::kid_of(&access)));
    let s = post(&bases[2], "/auth/logout-all", Some(&access), json!({}))
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::NO_CONTENT);
    for base in &bases {
        for token in [&access, &first_access] {
            let s = client
                .get(format!("{base}/api/v1/auth/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{base}");
        }
        let s = post(
            base,
            "/auth/refresh",
            None,
            json!({"refresh_token": refreshed.1["refresh_token"]}),
        )
        .await
        .unwrap()
        .status();
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

/// A real `adam-server` process, killed when dropped.
struct ServerProcess(std::process::Child);

impl ServerProcess {
    /// Starts the binary with `args` on a free port and waits until it is ready.
    async fn start(database_url: &str, args: &[&str]) -> (Self, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_adam-server"))
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("SECRET_KEY", crate::helpers::SECRET)
            .env("PUBLIC_URL", "http://adam.test")
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = Self(child);
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("{base}/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
            {
                return (server, base);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{base} did not start");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let db = crate::helpers::TestDatabase::create(Engine::Sqlite).await;
    let (mut server, base) = ServerProcess::start(&db.url, &["serve", "--seed"]).await;
    let client = reqwest::Client::new();
    // Eight sign-ins queue for two hashing threads: well over 50 ms of work in flight.
    let logins: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let url = format!("{base}/api/v1/auth/login");
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": MANAGER.0, "password": MANAGER.1}))
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    for l in logins {
        assert_eq!(
            l.await.unwrap().unwrap(),
            StatusCode::OK,
            "an in-flight request was cut off"
        );
    }
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.0.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(exited.expect("server exits after SIGTERM").success());
    // New connections are refused once it is gone.
    assert!(client.get(format!("{base}/health")).send().await.is_err());
}

/// `adam-server healthcheck` (a container's HEALTHCHECK) succeeds against a running server on
/// HOST:PORT, `0.0.0.0` meaning this machine, and fails with one line where nothing answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_reports_whether_the_server_answers() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let check = |port: String| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_adam-server"))
                .arg("healthcheck")
                .env("HOST", "0.0.0.0")
                .env("PORT", port)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let out = check(port).await;
    assert!(out.status.success(), "{out:?}");
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = nobody.local_addr().unwrap().port().to_string();
    drop(nobody);
    let out = check(closed).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.trim().lines().count() == 1 && stderr.contains("unhealthy"),
        "{stderr}"
    );
}
