//! The session logic against a real adam-server (SQLite) and an in-memory keyring store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Once;

use adam_api::{Role, User, UserCreate};
use adam_desktop::vault::Vault;
use adam_desktop::{DesktopError, Session};
use adam_testkit::server::TestServer;
use adam_testkit::Engine;
use adam_testkit::{MANAGER, PRINCIPAL};
use serde_json::json;

fn use_mock_keyring() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        keyring_core::set_default_store(keyring_core::mock::Store::new().unwrap());
    });
}

/// A real adam-server (from adam-testkit, on SQLite) and a directory for the app's settings.
struct Server {
    base: String,
    dir: PathBuf,
    _server: TestServer,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn server(extra: &[(&str, &str)]) -> Server {
    use_mock_keyring();
    let dir = std::env::temp_dir().join(format!(
        "adam-desktop-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::start(Engine::Sqlite, extra).await;
    Server {
        base: server.base.clone(),
        dir,
        _server: server,
    }
}

impl Server {
    fn session(&self) -> Session {
        Session::new(
            Some(self.dir.join("settings.json")),
            Some(self.base.clone()),
        )
        .unwrap()
    }

    async fn stored(&self, account: &str) -> Option<String> {
        Vault.load(&self.base, account).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_keeps_the_refresh_token_in_the_keyring_and_restores_silently() {
    let srv = server(&[]).await;
    let first = srv.session();
    let profile = first
        .sign_in("Manager@PremiumAuto.com", MANAGER.1)
        .await
        .unwrap();
    assert_eq!(profile.role, "fi_manager");
    assert_eq!(profile.dealership_name.as_deref(), Some("Premium Auto"));
    let stored = srv
        .stored(MANAGER.0)
        .await
        .expect("refresh token in the keyring");
    assert!(stored.starts_with("adam_rt_"));
    // The settings file remembers the account, never a token.
    let settings = std::fs::read_to_string(srv.dir.join("settings.json")).unwrap();
    assert!(settings.contains(MANAGER.0) && !settings.contains(&stored));
    drop(first);

    // "Restart": a new session signs in silently and rotates the stored token.
    let second = srv.session();
    let restored = second.restore().await.unwrap().expect("silent sign-in");
    assert_eq!(restored.email, MANAGER.0);
    let rotated = srv.stored(MANAGER.0).await.unwrap();
    assert_ne!(rotated, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_lands_on_sign_in_and_leaves_the_keyring() {
    let srv = server(&[]).await;
    srv.session().sign_in(MANAGER.0, MANAGER.1).await.unwrap();
    assert!(srv.stored(MANAGER.0).await.is_some());
    // Another device signs out everywhere.
    let other = srv.session();
    other.sign_in(MANAGER.0, MANAGER.1).await.unwrap();
    other.sign_out_everywhere().await.unwrap();
    assert!(
        srv.stored(MANAGER.0).await.is_none(),
        "sign out everywhere deletes the entry"
    );
    // Put the first device's (now revoked) token back, as if that device had kept it.
    let first = srv.session();
    first.sign_in(MANAGER.0, MANAGER.1).await.unwrap();
    let token = srv.stored(MANAGER.0).await.unwrap();
    let c = reqwest::Client::new();
    let pair: serde_json::Value = c
        .post(format!("{}/api/v1/auth/login", srv.base))
        .json(&json!({"email": MANAGER.0, "password": MANAGER.1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    c.post(format!("{}/api/v1/auth/logout-all", srv.base))
        .bearer_auth(pair["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(srv.stored(MANAGER.0).await.as_deref(), Some(token.as_str()));
    let restarted = srv.session();
    assert_eq!(restarted.restore().await.unwrap(), None);
    assert!(
        srv.stored(MANAGER.0).await.is_none(),
        "the dead token is removed"
    );
    // And the in-memory session of the first device ends on its next call.
    assert_eq!(first.profile().await.unwrap_err(), DesktopError::SignedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revokes_and_deletes() {
    let srv = server(&[]).await;
    let s = srv.session();
    s.sign_in(MANAGER.0, MANAGER.1).await.unwrap();
    let token = srv.stored(MANAGER.0).await.unwrap();
    s.sign_out().await.unwrap();
    assert!(srv.stored(MANAGER.0).await.is_none());
    let status = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/refresh", srv.base))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        reqwest::StatusCode::UNAUTHORIZED,
        "the server session is revoked"
    );
    assert_eq!(srv.session().restore().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_in_flight_when_many_calls_need_one() {
    // One-minute access tokens: every call is inside the refresh margin, so each wants a refresh.
    let srv = server(&[("ACCESS_TOKEN_EXPIRE_MINUTES", "1")]).await;
    let s = std::sync::Arc::new(srv.session());
    s.sign_in(MANAGER.0, MANAGER.1).await.unwrap();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.profile().await })
        })
        .collect();
    for c in calls {
        c.await
            .unwrap()
            .expect("no call failed: refreshes never overlapped");
    }
    // Had two refreshes spent one token, the server would have revoked the session.
    assert_eq!(
        srv.session().restore().await.unwrap().unwrap().email,
        MANAGER.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unreachable_server_are_told_apart() {
    let srv = server(&[]).await;
    let s = srv.session();
    assert_eq!(
        s.sign_in(MANAGER.0, "wrong").await.unwrap_err(),
        DesktopError::InvalidCredentials
    );
    assert!(srv.stored(MANAGER.0).await.is_none());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Session::new(None, Some(format!("http://127.0.0.1:{port}"))).unwrap();
    assert!(matches!(
        nowhere.sign_in(MANAGER.0, MANAGER.1).await.unwrap_err(),
        DesktopError::Unreachable(_)
    ));
    assert!(Session::new(None, Some("ftp://x".into())).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_creates_an_fi_manager() {
    let srv = server(&[]).await;
    let s = srv.session();
    s.sign_in(PRINCIPAL.0, PRINCIPAL.1).await.unwrap();
    let new_user = |email: &str, role| UserCreate {
        email: email.into(),
        full_name: "New FI".into(),
        role,
        password: "A-good-passphrase".into(),
        dealership_id: None,
        must_change_password: None,
    };
    let created: User = s
        .call(
            reqwest::Method::POST,
            "/users/",
            Some(&new_user("new.fi@premiumauto.com", Role::FiManager)),
        )
        .await
        .unwrap();
    assert_eq!(created.role, Role::FiManager);
    let err = s
        .call::<User>(
            reqwest::Method::POST,
            "/users/",
            Some(&new_user("x@premiumauto.com", Role::SystemAdmin)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DesktopError::Forbidden(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_that_lost_a_refresh_race_reloads_the_keyring_and_keeps_it() {
    let srv = server(&[]).await;
    let first = srv.session();
    first.sign_in(MANAGER.0, MANAGER.1).await.unwrap();
    let signed_in = srv.stored(MANAGER.0).await.unwrap();
    // A second window restores from the keyring: it spends the first window's refresh token.
    let second = srv.session();
    second.restore().await.unwrap().expect("silent sign-in");
    let rotated = srv.stored(MANAGER.0).await.unwrap();
    assert_ne!(rotated, signed_in);

    // The first window refreshes with its spent token: the server says the token was already
    // rotated, the window reloads the keyring entry, refreshes with it and stays signed in.
    first
        .refresh_now()
        .await
        .expect("the lost race is recovered");
    let after = srv
        .stored(MANAGER.0)
        .await
        .expect("the entry is kept, not deleted");
    assert_ne!(after, rotated, "the reloaded token was rotated in turn");
    assert_eq!(first.profile().await.unwrap().email, MANAGER.0);
    // Both windows stay signed in, one server session between them.
    second.refresh_now().await.expect("the second window too");
    assert_eq!(second.profile().await.unwrap().email, MANAGER.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_grace_a_spent_token_still_signs_out() {
    let srv = server(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let first = srv.session();
    first.sign_in(MANAGER.0, MANAGER.1).await.unwrap();
    let second = srv.session();
    second.restore().await.unwrap().expect("silent sign-in");
    // Without a grace the spent token is reuse: the server ends the session for both windows.
    assert_eq!(
        first.refresh_now().await.unwrap_err(),
        DesktopError::SignedOut
    );
    assert_eq!(second.profile().await.unwrap_err(), DesktopError::SignedOut);
}

#[test]
fn a_remote_server_must_use_https() {
    use adam_desktop::normalise_server;
    for ok in [
        "https://adam.dealer.example",
        "https://adam.dealer.example:8443/",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
    ] {
        assert!(normalise_server(ok).is_ok(), "{ok}");
    }
    for refused in [
        "http://adam.dealer.example",
        "http://10.0.0.5:8000",
        "ftp://adam.dealer.example",
        "https://",
        "not a url",
    ] {
        assert!(
            matches!(normalise_server(refused), Err(DesktopError::Invalid(_))),
            "{refused}"
        );
    }
}

/// A server that answers every request with a redirect to `to`.
async fn redirecting_to(to: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}/api/v1/auth/login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = conn.write_all(answer.as_bytes()).await;
        }
    });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_with_the_password() {
    use_mock_keyring();
    // Where a redirect would take the password: counts what reaches it.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_url = format!("http://{}", elsewhere.local_addr().unwrap());
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn({
        let reached = reached.clone();
        async move {
            while elsewhere.accept().await.is_ok() {
                reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let base = redirecting_to(elsewhere_url).await;
    let session = Session::new(None, Some(base)).unwrap();
    assert!(session.sign_in(MANAGER.0, MANAGER.1).await.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

/// The window's capability grants the app's own commands and nothing of Tauri's core (menus,
/// tray, images, window control), which the UI does not use.
#[test]
fn the_window_may_call_only_the_apps_commands() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities/default.json"),
    )
    .unwrap();
    let capability: serde_json::Value = serde_json::from_str(&text).unwrap();
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let commands: Vec<String> = adam_desktop::COMMAND_NAMES
        .iter()
        .map(|c| format!("allow-{}", c.replace('_', "-")))
        .collect();
    assert_eq!(granted, commands);
}

/// An access token the server stops accepting while the app runs (its signing key revoked, as
/// the HS256 tokens of before the signing-keys upgrade were): the app refreshes once and goes
/// on, signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_the_server_no_longer_accepts_is_replaced_by_refreshing() {
    use adam_core::keyring::KeyState;
    use adam_core::{Adam, SecretKey};

    use_mock_keyring();
    let db = adam_testkit::TestDatabase::create(Engine::Sqlite).await;
    let url = db.url.clone();
    let mut config = adam_testkit::server::config_for(&url, &[]);
    config.key_reload = std::time::Duration::from_millis(100);
    let server = TestServer::start_configured(db, config).await;
    let dir = std::env::temp_dir().join(format!(
        "adam-desktop-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let srv = Server {
        base: server.base.clone(),
        dir,
        _server: server,
    };
    let session = srv.session();
    session.sign_in(MANAGER.0, MANAGER.1).await.unwrap();
    let before = srv.stored(MANAGER.0).await.unwrap();

    let engine = Adam::connect(
        &url,
        SecretKey::new(adam_testkit::SECRET.as_bytes()).unwrap(),
        adam_testkit::settings(),
    )
    .await
    .unwrap();
    let current = engine
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.state == KeyState::Current)
        .unwrap();
    engine.revoke_signing_key(&current.kid).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let profile = session
        .profile()
        .await
        .expect("refreshed and still signed in");
    assert_eq!(profile.email, MANAGER.0);
    let after = srv.stored(MANAGER.0).await.unwrap();
    assert_ne!(after, before, "the app refreshed");
}
