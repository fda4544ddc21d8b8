//! "Sign in with your browser" (RFC 8252): the app is the public OpenID Connect client
//! `adam-desktop`. It listens on a loopback port of 127.0.0.1, opens the system browser (the
//! program `$BROWSER` names, else `xdg-open`) at Adam's `/oauth2/authorize` with PKCE (`S256`)
//! and `state`, takes the one redirect to `http://127.0.0.1:{port}/callback`, checks `state`
//! and `iss`, and exchanges the code. The browser does the sign-in (password, second factor,
//! passkeys later); the app never sees a password. The grant's refresh token goes to the
//! keyring marked as such ([`GRANT_PREFIX`]): it is refreshed and revoked at `/oauth2/…`.

use std::time::Duration;

use adam_api::TokenPair;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::DesktopError;

/// The client id the server's migrations register for the app.
pub const CLIENT_ID: &str = "adam-desktop";

/// How a grant's refresh token is kept in the keyring, to tell it from the API's.
pub const GRANT_PREFIX: &str = "oidc:";

/// How long the app waits for the browser to come back.
const WAIT: Duration = Duration::from_secs(300);

/// 256 random bits, base64url.
fn random() -> String {
    let mut bytes = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    B64.encode(bytes)
}

/// Opens `url` in the system browser: the first program of `$BROWSER` (colon-separated, as
/// Debian's `sensible-browser` reads it), else `xdg-open`.
fn open_browser(url: &str) -> Result<(), DesktopError> {
    let program = std::env::var("BROWSER")
        .ok()
        .and_then(|b| b.split(':').next().map(str::to_owned))
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "xdg-open".into());
    std::process::Command::new(program.trim())
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| DesktopError::Other(format!("cannot open the browser ({program}): {e}")))
}

/// The query of the first request for `/callback` on `listener`; every other request (a
/// browser's favicon) is answered 404.
async fn callback(listener: &tokio::net::TcpListener) -> Result<String, DesktopError> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| DesktopError::Other(e.to_string()))?;
        let mut buf = vec![0u8; 8192];
        let n = stream.read(&mut buf).await.unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let Some(query) = target.strip_prefix("/callback?") else {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            continue;
        };
        let page = "<!doctype html><meta charset=\"utf-8\"><title>Adam</title>\
                    <h1>You can close this tab</h1><p>Go back to the Adam app.</p>";
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
             cache-control: no-store\r\nreferrer-policy: no-referrer\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        return Ok(query.to_owned());
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    expires_in: i64,
    refresh_token: Option<String>,
}

/// The token endpoint's refusal (RFC 6749 §5.2).
#[derive(Deserialize)]
struct Refusal {
    error: String,
    error_description: Option<String>,
}

/// POSTs `form` to the token endpoint: the tokens as a pair whose refresh token is marked.
async fn token(
    http: &reqwest::Client,
    server: &str,
    form: &[(&str, &str)],
) -> Result<TokenPair, DesktopError> {
    let resp = http
        .post(format!("{server}/oauth2/token"))
        .form(form)
        .send()
        .await
        .map_err(|_| DesktopError::Unreachable(server.to_owned()))?;
    if resp.status().is_success() {
        let t: Tokens = resp
            .json()
            .await
            .map_err(|e| DesktopError::Other(e.to_string()))?;
        let refresh = t
            .refresh_token
            .ok_or_else(|| DesktopError::Other("the server gave no refresh token".into()))?;
        return Ok(TokenPair {
            access_token: t.access_token,
            refresh_token: format!("{GRANT_PREFIX}{refresh}"),
            token_type: "bearer".into(),
            expires_in: t.expires_in,
        });
    }
    let refusal: Option<Refusal> = resp.json().await.ok();
    Err(match refusal {
        Some(r)
            if r.error == "invalid_grant"
                && r.error_description
                    .as_deref()
                    .is_some_and(|d| d.contains("already rotated")) =>
        {
            DesktopError::AlreadyRotated
        }
        Some(r) if r.error == "invalid_grant" => DesktopError::SignedOut,
        Some(r) => DesktopError::Other(format!(
            "the server refused: {}",
            r.error_description.unwrap_or(r.error)
        )),
        None => DesktopError::Other("the server refused the sign-in".into()),
    })
}

/// Signs in through the browser at `server`: the tokens of the new grant.
pub async fn sign_in(http: &reqwest::Client, server: &str) -> Result<TokenPair, DesktopError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| DesktopError::Other(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| DesktopError::Other(e.to_string()))?
        .port();
    // The issuer the redirect must name (RFC 9207): the server's own word for itself, which
    // may spell its address otherwise than the app does.
    #[derive(Deserialize)]
    struct Discovery {
        issuer: String,
    }
    let issuer = http
        .get(format!("{server}/.well-known/openid-configuration"))
        .send()
        .await
        .map_err(|_| DesktopError::Unreachable(server.to_owned()))?
        .json::<Discovery>()
        .await
        .map_err(|e| DesktopError::Other(format!("discovery: {e}")))?
        .issuer;
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let verifier = random();
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let state = random();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid offline_access")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    open_browser(&format!("{server}/oauth2/authorize?{query}"))?;
    let answer = tokio::time::timeout(WAIT, callback(&listener))
        .await
        .map_err(|_| DesktopError::Invalid("the browser did not come back in time".into()))??;
    let got: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(answer.as_bytes())
            .into_owned()
            .collect();
    if got.get("state") != Some(&state) || got.get("iss") != Some(&issuer) {
        return Err(DesktopError::Invalid(
            "the browser came back from another sign-in".into(),
        ));
    }
    if let Some(error) = got.get("error") {
        return Err(DesktopError::Invalid(match error.as_str() {
            "access_denied" => "the sign-in was declined".into(),
            other => format!("the sign-in failed ({other})"),
        }));
    }
    let code = got
        .get("code")
        .ok_or_else(|| DesktopError::Invalid("the browser brought no code".into()))?;
    token(
        http,
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
            ("client_id", CLIENT_ID),
        ],
    )
    .await
}

/// Refreshes a grant's (marked) refresh token.
pub async fn refresh(
    http: &reqwest::Client,
    server: &str,
    marked: &str,
) -> Result<TokenPair, DesktopError> {
    let refresh = marked.strip_prefix(GRANT_PREFIX).unwrap_or(marked);
    token(
        http,
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", CLIENT_ID),
        ],
    )
    .await
}

/// Ends the grant of a (marked) refresh token: the app's sign-out, which leaves the browser's
/// session and the other applications alone.
pub async fn revoke(http: &reqwest::Client, server: &str, marked: &str) {
    let refresh = marked.strip_prefix(GRANT_PREFIX).unwrap_or(marked);
    let _ = http
        .post(format!("{server}/oauth2/revoke"))
        .form(&[("token", refresh), ("client_id", CLIENT_ID)])
        .send()
        .await;
}
