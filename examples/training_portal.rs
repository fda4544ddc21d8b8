//! The dealership's **training portal**: another web application that signs staff in through
//! Adam's OpenID Connect provider, with the `openidconnect` crate (a relying-party library that
//! knows nothing of Adam), shows who is signed in with their role and dealership, and signs them
//! out when Adam tells it to (Back-Channel Logout).
//!
//! - `/login` sends the browser to Adam with PKCE (`S256`), `state` and `nonce`;
//! - `/callback` checks `state` and `iss` (RFC 9207), exchanges the code, verifies the ID token
//!   against the provider's keys (EdDSA only: the crate allows RS256 unless told otherwise), and
//!   reads the role and dealership from userinfo;
//! - `/backchannel` verifies a `logout_token` with `jsonwebtoken` against the same keys (the
//!   crate cannot parse logout tokens, openidconnect-rs#68) and ends the portal's sessions of
//!   that Adam session.
//!
//! Run against a running server, with a client registered for it:
//! `adam-server clients add --name "Training portal" --first-party --redirect-uri
//! http://127.0.0.1/callback --backchannel-logout-uri http://127.0.0.1:8090/backchannel`, then
//! `ADAM_URL=http://127.0.0.1:8000 PORTAL_CLIENT_ID=… PORTAL_CLIENT_SECRET=…
//! cargo run -p adam-server --example training_portal` and open `http://127.0.0.1:8090/`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Html, Query};
use poem::{get, handler, post, EndpointExt, IntoResponse, Response, Route};
use serde::Deserialize;

/// The client as the crate builds it from discovery (the token and userinfo endpoints may or
/// may not be in the metadata; Adam's are).
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A member of staff signed in to the portal.
#[derive(Debug, Clone)]
struct Staff {
    /// Adam's session (the ID token's `sid`), which a logout token names.
    sid: String,
    name: String,
    role: String,
    dealership: Option<String>,
}

/// The portal's state: sign-ins under way (by `state`), and its own sessions (by cookie).
#[derive(Default)]
struct Sessions {
    pending: HashMap<String, (PkceCodeVerifier, Nonce)>,
    signed_in: HashMap<String, Staff>,
}

struct Portal {
    client: Client,
    http: reqwest::Client,
    issuer: String,
    client_id: String,
    userinfo: String,
    jwks_uri: String,
    sessions: Mutex<Sessions>,
}

const COOKIE: &str = "portal_session";

fn cookie_of(req: &poem::Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| *n == COOKIE)
        .map(|(_, v)| v.to_owned())
}

fn see_other(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

fn refused(why: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("sign-in refused: {why}")).into_response()
}

#[handler]
fn home(req: &poem::Request, Data(portal): Data<&Arc<Portal>>) -> Html<String> {
    let staff = cookie_of(req).and_then(|c| {
        let sessions = portal.sessions.lock().ok()?;
        sessions.signed_in.get(&c).cloned()
    });
    Html(match staff {
        Some(s) => format!(
            "<h1>F&amp;I training portal</h1><p id=\"who\">Signed in as {} ({}, dealership {})</p>",
            s.name,
            s.role,
            s.dealership.unwrap_or_else(|| "none".into())
        ),
        None => "<h1>F&amp;I training portal</h1><p id=\"who\">Not signed in</p>\
                 <p><a href=\"/login\">Sign in with Adam</a></p>"
            .into(),
    })
}

#[handler]
fn login(Data(portal): Data<&Arc<Portal>>) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = portal
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    if let Ok(mut sessions) = portal.sessions.lock() {
        sessions
            .pending
            .insert(state.secret().clone(), (verifier, nonce));
    }
    see_other(url.as_str())
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    name: Option<String>,
    role: String,
    dealership_id: Option<String>,
}

#[handler]
async fn callback(Query(cb): Query<Callback>, Data(portal): Data<&Arc<Portal>>) -> Response {
    if let Some(error) = cb.error {
        return refused(error);
    }
    let pending = cb.state.and_then(|s| {
        let mut sessions = portal.sessions.lock().ok()?;
        sessions.pending.remove(&s)
    });
    let (Some((verifier, nonce)), Some(code)) = (pending, cb.code) else {
        return refused("unknown state");
    };
    // RFC 9207: the answer comes from the provider this sign-in went to.
    if cb.iss.as_deref() != Some(portal.issuer.as_str()) {
        return refused("wrong issuer");
    }
    let exchange = match portal.client.exchange_code(AuthorizationCode::new(code)) {
        Ok(e) => e,
        Err(e) => return refused(e),
    };
    let tokens = match exchange
        .set_pkce_verifier(verifier)
        .request_async(&portal.http)
        .await
    {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    let verifier = portal
        .client
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::EdDsa]);
    let Some(id_token) = tokens.id_token() else {
        return refused("no ID token");
    };
    let claims = match id_token.claims(&verifier, &nonce) {
        Ok(c) => c.clone(),
        Err(e) => return refused(e),
    };
    // The sid claim is not one the crate reads: take it from the verified token's payload.
    let sid = id_token
        .to_string()
        .split('.')
        .nth(1)
        .and_then(|p| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["sid"].as_str().map(str::to_owned));
    let Some(sid) = sid else {
        return refused("no sid");
    };
    let info: UserInfo = match portal
        .http
        .get(&portal.userinfo)
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(i) => i,
            Err(e) => return refused(e),
        },
        Ok(r) => return refused(format!("userinfo answered {}", r.status())),
        Err(e) => return refused(e),
    };
    let staff = Staff {
        sid,
        name: info
            .name
            .or_else(|| claims.email().map(|e| e.to_string()))
            .unwrap_or_else(|| claims.subject().to_string()),
        role: info.role,
        dealership: info.dealership_id,
    };
    let session = CsrfToken::new_random().secret().clone();
    if let Ok(mut sessions) = portal.sessions.lock() {
        sessions.signed_in.insert(session.clone(), staff);
    }
    let mut response = see_other("/");
    if let Ok(v) = format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax").parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
struct LogoutForm {
    logout_token: String,
}

#[derive(Deserialize)]
struct LogoutClaims {
    sid: String,
    events: serde_json::Map<String, serde_json::Value>,
    nonce: Option<serde_json::Value>,
}

/// Checks a logout token (Back-Channel Logout 1.0 §2.6) against the provider's keys.
async fn verify_logout(portal: &Portal, token: &str) -> Result<String, String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some("logout+jwt") {
        return Err("not an EdDSA logout token".into());
    }
    let keys: serde_json::Value = portal
        .http
        .get(&portal.jwks_uri)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let x = keys["keys"]
        .as_array()
        .and_then(|ks| {
            ks.iter()
                .find(|k| k["kid"].as_str() == header.kid.as_deref())
        })
        .and_then(|k| k["x"].as_str())
        .ok_or("unknown key")?;
    let key = DecodingKey::from_ed_components(x).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[&portal.client_id]);
    validation.set_issuer(&[&portal.issuer]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp", "sub"]);
    let data = jsonwebtoken::decode::<LogoutClaims>(token, &key, &validation)
        .map_err(|e| e.to_string())?;
    let claims = data.claims;
    if !claims
        .events
        .contains_key("http://schemas.openid.net/event/backchannel-logout")
        || claims.nonce.is_some()
    {
        return Err("not a logout token".into());
    }
    Ok(claims.sid)
}

#[handler]
async fn backchannel(Form(form): Form<LogoutForm>, Data(portal): Data<&Arc<Portal>>) -> Response {
    match verify_logout(portal, &form.logout_token).await {
        Ok(sid) => {
            if let Ok(mut sessions) = portal.sessions.lock() {
                sessions.signed_in.retain(|_, s| s.sid != sid);
            }
            StatusCode::OK.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// Serves the portal on `listener` for the Adam server at `adam_url`, as client `client_id`;
/// runs until the task is dropped.
pub async fn serve(
    adam_url: &str,
    listener: tokio::net::TcpListener,
    client_id: &str,
    client_secret: &str,
) -> Result<(), String> {
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let issuer =
        IssuerUrl::new(adam_url.trim_end_matches('/').to_owned()).map_err(|e| e.to_string())?;
    let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
        .await
        .map_err(|e| format!("discovery: {e}"))?;
    let userinfo = metadata
        .userinfo_endpoint()
        .map(|u| u.to_string())
        .ok_or("no userinfo endpoint")?;
    let jwks_uri = metadata.jwks_uri().to_string();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_owned()),
        Some(ClientSecret::new(client_secret.to_owned())),
    )
    .set_redirect_uri(
        RedirectUrl::new(format!("http://127.0.0.1:{port}/callback")).map_err(|e| e.to_string())?,
    );
    let portal = Arc::new(Portal {
        client,
        http,
        issuer: issuer.to_string(),
        client_id: client_id.to_owned(),
        userinfo,
        jwks_uri,
        sessions: Mutex::new(Sessions::default()),
    });
    let app = Route::new()
        .at("/", get(home))
        .at("/login", get(login))
        .at("/callback", get(callback))
        .at("/backchannel", post(backchannel))
        .data(portal);
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).map_err(|e| e.to_string())?;
    poem::Server::new_with_acceptor(acceptor)
        .run(app)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let adam_url = std::env::var("ADAM_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:8090").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:8090: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("training portal on http://127.0.0.1:8090/");
    match serve(
        &adam_url,
        listener,
        &var("PORTAL_CLIENT_ID"),
        &var("PORTAL_CLIENT_SECRET"),
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use adam_testkit::server::TestServer;
    use adam_testkit::Engine;
    use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
    use serde_json::json;

    /// A browser: follows no redirect, keeps each host's cookies.
    struct Browser {
        http: reqwest::Client,
        jars: BTreeMap<String, BTreeMap<String, String>>,
    }

    impl Browser {
        fn host(url: &str) -> String {
            url.split('/').nth(2).unwrap_or_default().to_owned()
        }

        async fn send(&mut self, req: reqwest::RequestBuilder, url: &str) -> reqwest::Response {
            let jar = self.jars.entry(Self::host(url)).or_default();
            let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let resp = req.header(COOKIE, cookies.join("; ")).send().await.unwrap();
            for v in resp.headers().get_all(SET_COOKIE) {
                let (name, value) = v
                    .to_str()
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .split_once('=')
                    .unwrap();
                jar.insert(name.into(), value.into());
            }
            resp
        }

        async fn get(&mut self, url: &str) -> reqwest::Response {
            let req = self.http.get(url);
            self.send(req, url).await
        }

        async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
            let req = self.http.post(url).form(form);
            self.send(req, url).await
        }
    }

    fn hidden(page: &str, name: &str) -> String {
        let key = format!("name=\"{name}\" value=\"");
        let at = page.find(&key).unwrap() + key.len();
        let raw = &page[at..at + page[at..].find('"').unwrap()];
        raw.replace("&#38;", "&").replace("&amp;", "&")
    }

    #[tokio::test]
    async fn against_a_real_server_staff_sign_in_once_and_a_sign_out_at_adam_reaches_the_portal() {
        let server = TestServer::start(Engine::Sqlite, &[]).await;
        let adam = &server.base;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let portal = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());

        // A system admin registers the portal.
        let http = reqwest::Client::new();
        let admin: serde_json::Value = http
            .post(format!("{adam}/api/v1/auth/login"))
            .json(&json!({"email": "admin@avataradam.com", "password": "Admin123!@#"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let made: serde_json::Value = http
            .post(format!("{adam}/api/v1/oauth-clients"))
            .bearer_auth(admin["access_token"].as_str().unwrap())
            .json(&json!({
                "client_id": "training-portal", "name": "F&I training portal", "first_party": true,
                "redirect_uris": ["http://127.0.0.1/callback"],
                "backchannel_logout_uri": format!("{portal}/backchannel"),
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let secret = made["client_secret"].as_str().unwrap().to_owned();
        let adam_url = adam.clone();
        tokio::spawn(
            async move { super::serve(&adam_url, listener, "training-portal", &secret).await },
        );

        let mut browser = Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jars: BTreeMap::new(),
        };
        let mut home = String::new();
        for _ in 0..100 {
            if let Ok(r) = browser.http.get(format!("{portal}/")).send().await {
                home = r.text().await.unwrap();
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(home.contains("Not signed in"), "{home}");

        // The portal sends the browser to Adam, which asks for the password once.
        let to_adam = browser.get(&format!("{portal}/login")).await.headers()[LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        let to_signin = browser.get(&to_adam).await.headers()[LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        let page = browser
            .get(&format!("{adam}{to_signin}"))
            .await
            .text()
            .await
            .unwrap();
        let back = browser
            .post(
                &format!("{adam}/signin"),
                &[
                    ("csrf", &hidden(&page, "csrf")),
                    ("step", "password"),
                    ("email", "manager@premiumauto.com"),
                    ("password", "Manager123!"),
                    ("authorize", &hidden(&page, "authorize")),
                ],
            )
            .await;
        let to_portal = back.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(
            to_portal.starts_with(&format!("{portal}/callback?")),
            "{to_portal}"
        );
        let signed_in = browser.get(&to_portal).await;
        assert_eq!(
            signed_in.status(),
            reqwest::StatusCode::SEE_OTHER,
            "{}",
            signed_in.text().await.unwrap()
        );
        let home = browser
            .get(&format!("{portal}/"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            home.contains("Signed in as F&I Manager (fi_manager, dealership "),
            "{home}"
        );

        // Signing out everywhere at Adam reaches the portal by back-channel.
        let account = browser
            .get(&format!("{adam}/account"))
            .await
            .text()
            .await
            .unwrap();
        browser
            .post(
                &format!("{adam}/account"),
                &[
                    ("csrf", &hidden(&account, "csrf")),
                    ("action", "logout_all"),
                ],
            )
            .await;
        let mut home = String::new();
        for _ in 0..200 {
            home = browser
                .get(&format!("{portal}/"))
                .await
                .text()
                .await
                .unwrap();
            if home.contains("Not signed in") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(home.contains("Not signed in"), "{home}");
    }
}
