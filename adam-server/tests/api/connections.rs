//! Connections: slow clients, the connection cap, the body limit over HTTP/2, CORS.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Engine, TestApp};

/// Clients that connect and never finish a request are closed at the header deadline, and
/// beyond `MAX_CONNECTIONS` further clients wait instead of exhausting the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_closed_and_connections_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[
            ("MAX_CONNECTIONS", "2"),
            ("HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("IDLE_TIMEOUT_SECONDS", "1"),
        ],
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // One client says nothing at all, the other half a request: they hold both slots.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut partial = tokio::net::TcpStream::connect(&addr).await.unwrap();
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHost: adam\r\n")
        .await
        .unwrap();
    // A third client waits for a slot...
    let waiting = tokio::spawn({
        let url = app.url("/health");
        async move { reqwest::get(url).await.map(|r| r.status()) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "beyond the cap a client is not served"
    );
    // ...until the server closes the slow ones at their deadline.
    for slow in [&mut silent, &mut partial] {
        let mut buf = [0u8; 512];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                match slow.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {} // a 408 answer, then the close
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a slow client was left open");
    }
    assert_eq!(waiting.await.unwrap().unwrap(), StatusCode::OK);
    // An idle keep-alive connection is closed too.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: adam\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        idle.read_to_end(&mut answer),
    )
    .await;
    assert!(closed.is_ok(), "an idle connection was left open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

/// Over HTTP/2 cleartext a body carries neither `Content-Length` nor `Transfer-Encoding`: the
/// limit still holds, and what the client sent is never parsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_holds_over_http2_cleartext() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let huge = format!(
        "{{\"email\":\"admin@adam.local\",\"password\":\"{}\"}}",
        "x".repeat(4 * 1024 * 1024)
    );
    let resp = h2
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(futures_stream(huge))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A body within the limit, also without a length, is read as usual.
    let small = json!({"email": "admin@adam.local", "password": "wrong"}).to_string();
    let resp = h2
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(futures_stream(small))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

pub(crate) fn futures_stream(s: String) -> reqwest::Body {
    // A body without Content-Length (chunked), sent in 8 KiB pieces.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = s
        .into_bytes()
        .chunks(8192)
        .map(|c| Ok(c.to_vec()))
        .collect();
    reqwest::Body::wrap_stream(tokio_stream_iter(chunks))
}

fn tokio_stream_iter(
    items: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    struct Iter(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

#[tokio::test]
async fn cors_follows_backend_cors_origins() {
    let allowed = "https://app.example.com";
    let app = TestApp::spawn_with(Engine::Sqlite, &[("BACKEND_CORS_ORIGINS", allowed)]).await;
    let preflight = |origin: &'static str| {
        app.req(Method::OPTIONS, "/api/v1/auth/login", None)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, adam-refresh",
            )
            .send()
    };
    let ok = preflight(allowed).await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], allowed);
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("adam-refresh"),
        "cookie mode's header may cross: {headers}"
    );
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Without BACKEND_CORS_ORIGINS: no cross-origin access at all.
    let closed = TestApp::spawn(Engine::Sqlite).await;
    let resp = closed
        .req(Method::GET, "/health", None)
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}
