//! What one client may hold of the server: a request body that never finishes, many connections
//! from one address, an `X-Forwarded-For` a trusted proxy garbled.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{Engine, TestApp, MANAGER};

fn address_of(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection to the server from the loopback address `from` (127.0.0.0/8 is all local).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the server closes the connection (or 10 s pass): what it said before closing.
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut said = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => said.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed
        .ok()
        .map(|()| String::from_utf8_lossy(&said).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_not_complete_in_time_is_answered_408_and_its_connection_closed() {
    let app = TestApp::spawn_with(Engine::Sqlite, &[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let mut slow = connect_from([127, 0, 0, 1], address_of(&app)).await;
    slow.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: adam\r\nContent-Type: application/json\r\n\
          Content-Length: 60000\r\n\r\n{\"email\"",
    )
    .await
    .unwrap();
    let said = until_closed(&mut slow)
        .await
        .expect("the connection was left open");
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    // A body that arrives in time is served as before.
    let on_time = app
        .req(Method::POST, "/api/v1/auth/login", None)
        .json(&serde_json::json!({"email": MANAGER.0, "password": MANAGER.1}))
        .send()
        .await
        .unwrap();
    assert_eq!(on_time.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[
            ("MAX_CONNECTIONS", "8"),
            ("MAX_CONNECTIONS_PER_ADDRESS", "3"),
        ],
    )
    .await;
    let server = address_of(&app);
    // Three silent connections from one address are its share...
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 0, 7], server).await);
    }
    // ...a fourth is closed as soon as it is accepted, without an answer...
    let mut fourth = connect_from([127, 0, 0, 7], server).await;
    assert_eq!(until_closed(&mut fourth).await.as_deref(), Some(""));
    // ...while another address is served.
    let mut other = connect_from([127, 0, 0, 8], server).await;
    other
        .write_all(b"GET /health HTTP/1.1\r\nHost: adam\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let said = until_closed(&mut other).await.unwrap();
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    // A connection that ends gives its place back.
    drop(held.pop());
    let mut again = None;
    for _ in 0..500 {
        let mut next = connect_from([127, 0, 0, 7], server).await;
        next.write_all(b"GET /health HTTP/1.1\r\nHost: adam\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let said = until_closed(&mut next).await.unwrap();
        if said.starts_with("HTTP/1.1 200") {
            again = Some(said);
            break;
        }
        // The server has not seen the close yet.
        tokio::task::yield_now().await;
    }
    assert!(again.is_some(), "the address never got its place back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_are_not_held_to_the_share_of_one_address() {
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[
            ("MAX_CONNECTIONS_PER_ADDRESS", "2"),
            ("TRUSTED_PROXIES", "127.0.0.9/32"),
        ],
    )
    .await;
    let server = address_of(&app);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from([127, 0, 0, 9], server).await);
    }
    let last = held.last_mut().unwrap();
    last.write_all(b"GET /health HTTP/1.1\r\nHost: adam\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let said = until_closed(last).await.unwrap();
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
}

async fn forwarded_for_a_trusted_proxy_cannot_read_is_refused(engine: Engine) {
    let app = TestApp::spawn_with(engine, &[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let login = |forwarded: reqwest::header::HeaderValue| {
        app.req(Method::POST, "/api/v1/auth/login", None)
            .header("x-forwarded-for", forwarded)
            .json(&serde_json::json!({"email": "manager@premiumauto.com", "password": "wrong password"}))
            .send()
    };
    let garbled = [
        reqwest::header::HeaderValue::from_bytes(b"203.0.113.\xe9").unwrap(),
        reqwest::header::HeaderValue::from_static("203.0.113.1, not an address"),
        reqwest::header::HeaderValue::from_static("unknown"),
    ];
    for value in garbled {
        let resp = login(value.clone()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{value:?}");
    }
    // Nothing was counted against the proxy's own address: its limit is untouched.
    let resp = login(reqwest::header::HeaderValue::from_static("203.0.113.1"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let failures = adam_testkit::raw_sql(
        &app.db.url,
        "SELECT CAST(COUNT(*) AS TEXT) FROM login_failures",
        &[],
    )
    .await;
    assert_eq!(failures.as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_a_trusted_proxy_cannot_read_is_refused_sqlite() {
    forwarded_for_a_trusted_proxy_cannot_read_is_refused(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_a_trusted_proxy_cannot_read_is_refused_postgres() {
    forwarded_for_a_trusted_proxy_cannot_read_is_refused(Engine::Postgres).await;
}
