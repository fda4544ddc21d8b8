//! The OpenID Connect provider (contract: "OpenID Connect provider") over HTTP as a browser and
//! a relying party send it: discovery, the code flow with PKCE through `/signin`, consent,
//! single sign-on into a second client, the token endpoint, userinfo, revocation, RP-initiated
//! logout, and the attacks that must fail.

use std::collections::BTreeMap;

use adam_testkit::on_both_engines;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, MANAGER, PRINCIPAL};
use crate::{GET, POST};

const PORTAL: &str = "https://training.dealer.example/callback";
const PORTAL_OUT: &str = "https://training.dealer.example/signed-out";
const APP_REDIRECT: &str = "http://127.0.0.1:53124/callback";

/// A browser: follows no redirect, keeps its cookies.
struct Browser<'a> {
    app: &'a TestApp,
    http: Client,
    jar: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            jar: BTreeMap::new(),
        }
    }

    fn cookies(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, resp: &Response) {
        for v in resp.headers().get_all(SET_COOKIE) {
            let text = v.to_str().unwrap();
            let (name, value) = text.split(';').next().unwrap().split_once('=').unwrap();
            if text.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.into(), value.into());
            }
        }
    }

    /// `path` (or an absolute URL) with the browser's cookies.
    async fn get(&mut self, path: &str) -> Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.app.url(path)
        };
        let resp = self
            .http
            .get(url)
            .header(COOKIE, self.cookies())
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        resp
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let resp = self
            .http
            .post(self.app.url(path))
            .header(COOKIE, self.cookies())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        resp
    }
}

/// A hidden field's value in a page.
fn field(page: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + key.len();
    unescape(&page[at..at + page[at..].find('"').unwrap()])
}

/// HTML's character references, as askama writes them (`&#38;`) or by name.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').unwrap() + at;
        let entity = &rest[at + 1..end];
        out.push(match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            _ => char::from_u32(entity.trim_start_matches('#').parse().unwrap()).unwrap(),
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn location(resp: &Response) -> String {
    resp.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// The query parameters of a redirect.
fn params_of(url: &str) -> BTreeMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The claims of a JWT, unchecked (the relying parties' libraries check them; here we read).
fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn header_of(jwt: &str) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap()
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce(seed: &str) -> Pkce {
    let verifier = format!("{seed}-verifier-{}", "x".repeat(40));
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// A token request's form for a code.
fn code_form<'a>(code: &'a str, verifier: &'a str, redirect: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ]
}

fn authorize_url(
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> String {
    let mut q =
        url::form_urlencoded::Serializer::for_suffix(String::from("/oauth2/authorize?"), 18);
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    q.finish()
}

/// Registers the training portal (confidential, not first-party, with a post-logout URI) and
/// returns its secret.
async fn register_portal(app: &TestApp, roles: Value) -> String {
    let admin = app.admin().await;
    let body = json!({
        "client_id": "training-portal",
        "name": "F&I training portal",
        "redirect_uris": [PORTAL],
        "post_logout_redirect_uris": [PORTAL_OUT],
        "allowed_roles": roles,
    });
    let (s, made) = app
        .call(
            POST,
            "/api/v1/oauth-clients",
            Some(&admin.access),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    made["client_secret"].as_str().unwrap().to_owned()
}

/// Walks `/signin` for an authorization request that sent the browser there; returns the
/// answer of the last step.
async fn sign_in_for(browser: &mut Browser<'_>, to_signin: &str, who: (&str, &str)) -> Response {
    let page = browser.get(to_signin).await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    let csrf = field(&body, "csrf");
    let authorize = field(&body, "authorize");
    browser
        .post(
            "/signin",
            &[
                ("csrf", &csrf),
                ("step", "password"),
                ("email", who.0),
                ("password", who.1),
                ("authorize", &authorize),
            ],
        )
        .await
}

/// Accepts the consent or "Continue as" page.
async fn allow(browser: &mut Browser<'_>, page: Response) -> Response {
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    let csrf = field(&body, "csrf");
    let request = field(&body, "request");
    browser
        .post(
            "/oauth2/authorize",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await
}

async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut r = app.client.post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        r = r.basic_auth(id, Some(secret));
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    if status.is_success() {
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    (status, resp.json().await.unwrap())
}

async fn userinfo(app: &TestApp, access: &str) -> (StatusCode, Option<Value>, String) {
    let resp = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = if status.is_success() {
        Some(resp.json().await.unwrap())
    } else {
        None
    };
    (status, body, challenge)
}

/// The published key named by `jwt`'s header.
async fn published_key_of(app: &TestApp, jwt: &str) -> Value {
    let (_, jwks) = app.call(GET, "/.well-known/jwks.json", None, None).await;
    let kid = header_of(jwt)["kid"].clone();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .cloned()
        .unwrap()
}

on_both_engines! {
    async fn a_client_registered_for_rs256_gets_id_tokens_signed_by_a_published_rsa_key(app: TestApp) {
        // No RSA key is made before a client needs one.
        let (_, jwks) = app.call(GET, "/.well-known/jwks.json", None, None).await;
        assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k["kty"] == "OKP"), "{jwks}");
        let admin = app.admin().await;
        let rs = json!({"client_id": "rs-portal", "name": "RS", "redirect_uris": [PORTAL], "post_logout_redirect_uris": [PORTAL_OUT], "id_token_signed_response_alg": "RS256"});
        let (s, made) = app.call(POST, "/api/v1/oauth-clients", Some(&admin.access), Some(rs)).await;
        assert_eq!(s, StatusCode::CREATED, "{made}");
        let secret = made["client_secret"].as_str().unwrap().to_owned();
        // Registering it publishes the RSA keys (current and next) before its first sign-in.
        let (_, jwks) = app.call(GET, "/.well-known/jwks.json", None, None).await;
        let rsa: Vec<&Value> = jwks["keys"].as_array().unwrap().iter().filter(|k| k["kty"] == "RSA").collect();
        assert_eq!(rsa.len(), 2, "{jwks}");
        for key in &rsa {
            let members: std::collections::BTreeSet<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"].into(), "{key}");
            assert_eq!((key["alg"].as_str(), key["e"].as_str()), (Some("RS256"), Some("AQAB")));
            assert_eq!(B64.decode(key["n"].as_str().unwrap()).unwrap().len(), 256, "2048 bits");
        }

        let mut browser = Browser::new(&app);
        let p = pkce("rs");
        let start = browser.get(&authorize_url("rs-portal", PORTAL, "openid email offline_access", &p, &[])).await;
        let consent = sign_in_for(&mut browser, &location(&start), MANAGER).await;
        let back = allow(&mut browser, consent).await;
        let code = params_of(&location(&back))["code"].clone();
        let (s, tokens) = token(&app, &code_form(&code, &p.verifier, PORTAL), Some(("rs-portal", &secret))).await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let id_token = tokens["id_token"].as_str().unwrap().to_owned();
        let header = header_of(&id_token);
        assert_eq!((header["alg"].as_str(), header["typ"].as_str()), (Some("RS256"), Some("JWT")));
        // The access token is still Adam's EdDSA one: RSA keys sign ID tokens only.
        assert_eq!(header_of(tokens["access_token"].as_str().unwrap())["alg"], "EdDSA");
        // Verified against the published RSA key by jsonwebtoken (ring), not by our signer.
        let key = published_key_of(&app, &id_token).await;
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["rs-portal"]);
        let verified = jsonwebtoken::decode::<Value>(&id_token, &decoding, &validation).unwrap();
        assert_eq!(verified.claims["email"], MANAGER.0);
        assert_eq!(verified.claims["nonce"], "n-456");
        // Refreshed, the new ID token is RS256 too.
        let (s, again) = token(&app, &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())], Some(("rs-portal", &secret))).await;
        assert_eq!(s, StatusCode::OK, "{again}");
        assert_eq!(header_of(again["id_token"].as_str().unwrap())["alg"], "RS256");

        // alg switching: the RSA key's kid on an HS256 token MACed with the key's published
        // modulus, or on an EdDSA header, is no logout hint: the logout asks.
        let body = id_token.split('.').nth(1).unwrap();
        let forge = |alg: &str| {
            let h = B64.encode(json!({"alg": alg, "typ": "JWT", "kid": header["kid"]}).to_string());
            let signed = format!("{h}.{body}");
            let n = B64.decode(key["n"].as_str().unwrap()).unwrap();
            let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &n), signed.as_bytes());
            format!("{signed}.{}", B64.encode(tag.as_ref()))
        };
        for forged in [forge("HS256"), forge("EdDSA"), forge("none")] {
            let mut q = url::form_urlencoded::Serializer::for_suffix(String::from("/oauth2/logout?"), 15);
            q.append_pair("id_token_hint", &forged).append_pair("client_id", "rs-portal").append_pair("post_logout_redirect_uri", PORTAL_OUT);
            let asked = browser.get(&q.finish()).await;
            assert_eq!(asked.status(), StatusCode::OK, "asks, does not sign out");
            assert!(browser.jar.contains_key("__Host-adam_session"));
        }
        // The genuine RS256 ID token is a hint: signed out without a question.
        let mut q = url::form_urlencoded::Serializer::for_suffix(String::from("/oauth2/logout?"), 15);
        q.append_pair("id_token_hint", &id_token).append_pair("post_logout_redirect_uri", PORTAL_OUT);
        let out = browser.get(&q.finish()).await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&out), PORTAL_OUT);
        assert!(!browser.jar.contains_key("__Host-adam_session"));
    }

    async fn discovery_names_the_endpoints_and_what_is_supported(app: TestApp) {
        let (s, doc) = app.call(GET, "/.well-known/openid-configuration", None, None).await;
        assert_eq!(s, StatusCode::OK);
        let issuer = doc["issuer"].as_str().unwrap();
        assert_eq!(doc["authorization_endpoint"], format!("{issuer}/oauth2/authorize"));
        assert_eq!(doc["token_endpoint"], format!("{issuer}/oauth2/token"));
        assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    }

    async fn a_manager_signs_in_to_the_portal_then_into_the_desktop_client_without_a_password(app: TestApp) {
        let secret = register_portal(&app, json!([])).await;
        let mut browser = Browser::new(&app);
        let portal = pkce("portal");
        let start = browser.get(&authorize_url("training-portal", PORTAL, "openid profile email offline_access", &portal, &[])).await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let to_signin = location(&start);
        assert!(to_signin.starts_with("/signin?authorize="), "{to_signin}");

        // Signed in, the portal (not first-party) asks for consent, naming itself and the scopes.
        let consent = sign_in_for(&mut browser, &to_signin, MANAGER).await;
        assert!(browser.jar.contains_key("__Host-adam_session"));
        // Its form may lead on to the portal (browsers hold a form's redirect to form-action),
        // and nowhere else; no framing.
        let csp = consent.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("form-action 'self' https://training.dealer.example;") && csp.contains("frame-ancestors 'none'"), "{csp}");
        let page = consent.text().await.unwrap();
        assert!(page.contains("F&#38;I training portal") && page.contains("your email address"), "{page}");
        // The consent form without its anti-forgery token changes nothing.
        let request = field(&page, "request");
        let forged = browser.post("/oauth2/authorize", &[("request", &request), ("decision", "allow")]).await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        let csrf = field(&page, "csrf");
        let back = browser.post("/oauth2/authorize", &[("csrf", &csrf), ("request", &request), ("decision", "allow")]).await;
        assert_eq!(back.status(), StatusCode::SEE_OTHER);
        let to = location(&back);
        assert!(to.starts_with(PORTAL), "{to}");
        let got = params_of(&to);
        let (s, doc) = app.call(GET, "/.well-known/openid-configuration", None, None).await;
        assert_eq!(s, StatusCode::OK);
        let issuer = doc["issuer"].as_str().unwrap().to_owned();
        assert_eq!(got["state"], "st-123");
        assert_eq!(got["iss"], issuer, "RFC 9207");
        let code = got["code"].clone();
        assert!(code.starts_with("adam_code_") && code.len() >= 10 + 43, "256 bits: {code}");

        // The code, with the verifier, for the client that asked for it.
        let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", PORTAL), ("code_verifier", portal.verifier.as_str())];
        let (s, tokens) = token(&app, &exchange, Some(("training-portal", &secret))).await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(header_of(tokens["id_token"].as_str().unwrap())["alg"], "EdDSA");
        assert_eq!(id["iss"], issuer);
        assert_eq!(id["aud"], "training-portal");
        assert_eq!(id["nonce"], "n-456");
        assert_eq!(id["email"], MANAGER.0);
        assert_eq!(id["role"], "fi_manager");
        assert_eq!(id["amr"], json!(["pwd"]));
        assert!(id["auth_time"].is_i64() && id["sid"].is_string() && id["name"].is_string(), "{id}");
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&access)["client_id"], "training-portal");

        // Userinfo answers; the API does not (the portal is not first-party); an ID token is
        // no access token anywhere.
        let (s, info, _) = userinfo(&app, &access).await;
        assert_eq!(s, StatusCode::OK);
        let info = info.unwrap();
        assert_eq!(info["email"], MANAGER.0);
        assert_eq!(info["sub"], id["sub"]);
        let (s, _) = app.call(GET, "/api/v1/auth/me", Some(&access), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let id_token = tokens["id_token"].as_str().unwrap().to_owned();
        let (s, _) = app.call(GET, "/api/v1/auth/me", Some(&id_token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _, challenge) = userinfo(&app, &id_token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(challenge.contains("invalid_token"), "{challenge}");

        // The refresh token rotates, within the grant.
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let (s, again) = token(&app, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some(("training-portal", &secret))).await;
        assert_eq!(s, StatusCode::OK, "{again}");
        assert_ne!(again["refresh_token"], tokens["refresh_token"]);
        // ... and is no refresh token of the API.
        let (s, _) = app.call(POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": again["refresh_token"]}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Single sign-on into the desktop client (public, first-party): no password, one
        // "Continue as", then a code for its loopback redirect on any port.
        let desktop = pkce("desktop");
        let sso = browser.get(&authorize_url("adam-desktop", APP_REDIRECT, "openid offline_access", &desktop, &[])).await;
        assert_eq!(sso.status(), StatusCode::OK, "a page, not the sign-in");
        let back = allow(&mut browser, sso).await;
        let to = location(&back);
        assert!(to.starts_with(APP_REDIRECT), "{to}");
        let code = params_of(&to)["code"].clone();
        let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", APP_REDIRECT), ("code_verifier", desktop.verifier.as_str()), ("client_id", "adam-desktop")];
        let (s, desk) = token(&app, &exchange, None).await;
        assert_eq!(s, StatusCode::OK, "{desk}");
        let desk_access = desk["access_token"].as_str().unwrap().to_owned();
        let (s, me) = app.call(GET, "/api/v1/auth/me", Some(&desk_access), None).await;
        assert_eq!(s, StatusCode::OK, "a first-party client's token is good at the API: {me}");
        assert_eq!(claims(desk["id_token"].as_str().unwrap())["sid"], id["sid"], "one browser session");

        // Revoking the desktop's grant ends its tokens only.
        let revoked = app.client.post(app.url("/oauth2/revoke")).form(&[("token", desk["refresh_token"].as_str().unwrap()), ("client_id", "adam-desktop")]).send().await.unwrap();
        assert_eq!(revoked.status(), StatusCode::OK);
        let (s, _) = app.call(GET, "/api/v1/auth/me", Some(&desk_access), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let portal_access = again["access_token"].as_str().unwrap().to_owned();
        let (s, _, _) = userinfo(&app, &portal_access).await;
        assert_eq!(s, StatusCode::OK, "the portal's grant lives on");

        // The browser session is one session in the lists, not one per application.
        let api = app.manager().await;
        let (_, listed) = app.call(GET, "/api/v1/auth/sessions", Some(&api.access), None).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 2, "the API's and the browser's: {listed}");

        // RP-initiated logout with the portal's ID token: no question, back to its registered
        // page with its state; every grant of the session ends.
        let mut q = url::form_urlencoded::Serializer::for_suffix(String::from("/oauth2/logout?"), 15);
        q.append_pair("id_token_hint", &id_token).append_pair("post_logout_redirect_uri", PORTAL_OUT).append_pair("state", "bye");
        let out = browser.get(&q.finish()).await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&out), format!("{PORTAL_OUT}?state=bye"));
        assert!(!browser.jar.contains_key("__Host-adam_session"));
        let (s, _, _) = userinfo(&app, &portal_access).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    async fn codes_are_single_use_bound_and_short_lived(app: TestApp) {
        let secret = register_portal(&app, json!([])).await;
        let mut browser = Browser::new(&app);
        let p = pkce("bound");
        let start = browser.get(&authorize_url("training-portal", PORTAL, "openid", &p, &[])).await;
        let consent = sign_in_for(&mut browser, &location(&start), PRINCIPAL).await;
        let back = allow(&mut browser, consent).await;
        let code = params_of(&location(&back))["code"].clone();

        let exchange = code_form(&code, &p.verifier, PORTAL);
        let with_id = |id: &'static str| {
            let mut f = exchange.clone();
            f.push(("client_id", id));
            f
        };
        // A public client naming the confidential client's id without its secret: refused.
        let (s, e) = token(&app, &with_id("training-portal"), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
        let (s, e) = token(&app, &exchange, Some(("training-portal", "adam_cs_wrong"))).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
        // Another client presenting the code: refused (and the code is spent).
        let (s, e) = token(&app, &with_id("adam-desktop"), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        let (s, e) = token(&app, &exchange, Some(("training-portal", &secret))).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "spent by the attempt");

        // A fresh code: a wrong verifier, the challenge itself (`plain`), or another redirect
        // URI are refused; past 60 seconds too.
        for (verifier, redirect, wait) in [("w".repeat(50), PORTAL.to_owned(), 0), (p.challenge.clone(), PORTAL.into(), 0), (p.verifier.clone(), format!("{PORTAL}/x"), 0), (p.verifier.clone(), PORTAL.into(), 61)] {
            let again = browser.get(&authorize_url("training-portal", PORTAL, "openid", &p, &[])).await;
            assert_eq!(again.status(), StatusCode::SEE_OTHER, "consent was given once");
            let code = params_of(&location(&again))["code"].clone();
            app.clock.advance(chrono::Duration::seconds(wait));
            let f = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect.as_str()), ("code_verifier", verifier.as_str())];
            let (s, e) = token(&app, &f, Some(("training-portal", &secret))).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{verifier} {redirect} {wait}");
        }

        // A replayed code ends what it issued.
        let ok = browser.get(&authorize_url("training-portal", PORTAL, "openid", &p, &[])).await;
        let code = params_of(&location(&ok))["code"].clone();
        let f = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", PORTAL), ("code_verifier", p.verifier.as_str())];
        let (s, first) = token(&app, &f, Some(("training-portal", &secret))).await;
        assert_eq!(s, StatusCode::OK, "{first}");
        let access = first["access_token"].as_str().unwrap().to_owned();
        assert_eq!(userinfo(&app, &access).await.0, StatusCode::OK);
        assert!(first.get("refresh_token").is_none(), "no offline_access, no refresh token");
        let (s, e) = token(&app, &f, Some(("training-portal", &secret))).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        assert_eq!(userinfo(&app, &access).await.0, StatusCode::UNAUTHORIZED, "the replay revoked the grant");
    }

    async fn bad_requests_never_redirect_anywhere_unregistered(app: TestApp) {
        register_portal(&app, json!(["dealer_principal"])).await;
        let mut browser = Browser::new(&app);
        let p = pkce("bad");
        // Unknown client, unregistered or prefix-matched redirect URI: a page, no redirect.
        for url in [
            authorize_url("no-such-client", PORTAL, "openid", &p, &[]),
            authorize_url("training-portal", "https://evil.example/callback", "openid", &p, &[]),
            authorize_url("training-portal", &format!("{PORTAL}/more"), "openid", &p, &[]),
            authorize_url("training-portal", "https://training.dealer.example/callbac", "openid", &p, &[]),
        ] {
            let resp = browser.get(&url).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{url}");
            assert!(resp.headers().get(LOCATION).is_none());
            let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert_eq!(resp.headers()["x-frame-options"], "DENY");
        }
        // Other errors go back to the client with state and iss.
        let no_pkce = authorize_url("training-portal", PORTAL, "openid", &p, &[]).replace("&code_challenge_method=S256", "");
        let plain = authorize_url("training-portal", PORTAL, "openid", &p, &[]).replace("code_challenge_method=S256", "code_challenge_method=plain");
        let no_openid = authorize_url("training-portal", PORTAL, "profile", &p, &[]);
        let silent = authorize_url("training-portal", PORTAL, "openid", &p, &[("prompt", "none")]);
        for (url, error) in [(no_pkce, "invalid_request"), (plain, "invalid_request"), (no_openid, "invalid_scope"), (silent, "login_required")] {
            let resp = browser.get(&url).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{url}");
            let to = location(&resp);
            assert!(to.starts_with(PORTAL), "{to}");
            let got = params_of(&to);
            assert_eq!((got["error"].as_str(), got["state"].as_str()), (error, "st-123"), "{url}");
            assert!(got.contains_key("iss"));
        }
        // A manager is not among the portal's allowed roles: access_denied after sign-in.
        let start = browser.get(&authorize_url("training-portal", PORTAL, "openid", &p, &[])).await;
        let denied = sign_in_for(&mut browser, &location(&start), MANAGER).await;
        assert_eq!(denied.status(), StatusCode::SEE_OTHER);
        assert_eq!(params_of(&location(&denied))["error"], "access_denied");

        // A post-logout URI the client did not register is never followed.
        let mut q = url::form_urlencoded::Serializer::for_suffix(String::from("/oauth2/logout?"), 15);
        q.append_pair("client_id", "training-portal").append_pair("post_logout_redirect_uri", "https://evil.example/");
        let out = browser.get(&q.finish()).await;
        assert_eq!(out.status(), StatusCode::BAD_REQUEST);
        assert!(out.headers().get(LOCATION).is_none());
        assert!(browser.jar.contains_key("__Host-adam_session"), "still signed in");
        // Without an ID token, logout asks first.
        let ask = browser.get("/oauth2/logout").await;
        assert_eq!(ask.status(), StatusCode::OK);
        assert!(browser.jar.contains_key("__Host-adam_session"));
        let page = ask.text().await.unwrap();
        let csrf = field(&page, "csrf");
        let done = browser.post("/oauth2/logout", &[("csrf", &csrf), ("confirm", "yes")]).await;
        assert_eq!(done.status(), StatusCode::OK);
        assert!(!browser.jar.contains_key("__Host-adam_session"));
    }

    async fn prompt_login_and_max_age_ask_again_and_keep_the_session(app: TestApp) {
        let mut browser = Browser::new(&app);
        let p = pkce("again");
        let start = browser.get(&authorize_url("adam-desktop", APP_REDIRECT, "openid", &p, &[])).await;
        let first = sign_in_for(&mut browser, &location(&start), MANAGER).await;
        assert_eq!(first.status(), StatusCode::SEE_OTHER, "signed in for this request: no Continue-as");
        let session = browser.jar["__Host-adam_session"].clone();
        for extra in [("prompt", "login"), ("max_age", "0")] {
            app.clock.advance(chrono::Duration::seconds(5));
            let again = browser.get(&authorize_url("adam-desktop", APP_REDIRECT, "openid", &p, &[extra])).await;
            assert_eq!(again.status(), StatusCode::SEE_OTHER);
            let to = location(&again);
            assert!(to.starts_with("/signin?"), "{extra:?}: {to}");
            let done = sign_in_for(&mut browser, &to, MANAGER).await;
            assert_eq!(done.status(), StatusCode::SEE_OTHER);
            assert!(location(&done).starts_with(APP_REDIRECT));
            assert_eq!(browser.jar["__Host-adam_session"], session, "the same session, re-authenticated");
        }
        // Another user signing in in this browser ends the first one's session.
        let again = browser.get(&authorize_url("adam-desktop", APP_REDIRECT, "openid", &p, &[("prompt", "login")])).await;
        let done = sign_in_for(&mut browser, &location(&again), PRINCIPAL).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        assert_ne!(browser.jar["__Host-adam_session"], session);
        let api = app.manager().await;
        let (_, listed) = app.call(GET, "/api/v1/auth/sessions", Some(&api.access), None).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 1, "only the API's: {listed}");
    }
}

/// A relying party's back-channel logout endpoint on a free loopback port: every body POSTed to
/// it, answered with `status`.
async fn receiver(status: u16) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use poem::{handler, post, EndpointExt, Route};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    #[handler]
    async fn take(
        body: String,
        poem::web::Data(tx): poem::web::Data<&(tokio::sync::mpsc::UnboundedSender<String>, u16)>,
    ) -> poem::http::StatusCode {
        let _ = tx.0.send(body);
        poem::http::StatusCode::from_u16(tx.1).unwrap()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Route::new().at("/bc", post(take)).data((tx, status));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(app).await });
    (format!("http://127.0.0.1:{port}/bc"), rx)
}

on_both_engines! {
    async fn signing_out_at_adam_tells_the_portal_by_back_channel(app: TestApp) {
        let (uri, mut delivered) = receiver(200).await;
        let admin = app.admin().await;
        let body = json!({
            "client_id": "training-portal", "name": "Portal", "redirect_uris": [PORTAL],
            "backchannel_logout_uri": uri, "first_party": true,
        });
        let (s, made) = app.call(POST, "/api/v1/oauth-clients", Some(&admin.access), Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{made}");
        let secret = made["client_secret"].as_str().unwrap().to_owned();
        let mut browser = Browser::new(&app);
        let p = pkce("bc");
        let start = browser.get(&authorize_url("training-portal", PORTAL, "openid", &p, &[])).await;
        let back = sign_in_for(&mut browser, &location(&start), MANAGER).await;
        let code = params_of(&location(&back))["code"].clone();
        let (s, tokens) = token(&app, &code_form(&code, &p.verifier, PORTAL), Some(("training-portal", &secret))).await;
        assert_eq!(s, StatusCode::OK);
        let sid = claims(tokens["id_token"].as_str().unwrap())["sid"].clone();

        // Sign out everywhere on the account page.
        let page = browser.get("/account").await.text().await.unwrap();
        let csrf = field(&page, "csrf");
        let out = browser.post("/account", &[("csrf", &csrf), ("action", "logout_all")]).await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER);

        let form = tokio::time::timeout(std::time::Duration::from_secs(20), delivered.recv()).await.expect("a logout token arrives").unwrap();
        let token = params_of(&format!("?{form}"))["logout_token"].clone();
        let (header, claims_of) = (header_of(&token), claims(&token));
        assert_eq!((header["typ"].as_str(), header["alg"].as_str()), (Some("logout+jwt"), Some("EdDSA")));
        assert_eq!(claims_of["sid"], sid);
        assert_eq!(claims_of["aud"], "training-portal");
        // Signed by a published key (checked with an Ed25519 implementation that is not ours).
        let (_, jwks) = app.call(GET, "/.well-known/jwks.json", None, None).await;
        let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap();
        let public = ed25519_compact::PublicKey::from_slice(&B64.decode(key["x"].as_str().unwrap()).unwrap()).unwrap();
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = ed25519_compact::Signature::from_slice(&B64.decode(signature).unwrap()).unwrap();
        public.verify(signed, &signature).unwrap();
        // Once.
        let again = tokio::time::timeout(std::time::Duration::from_millis(300), delivered.recv()).await;
        assert!(again.is_err(), "told once");
    }
}

on_both_engines! {
    async fn pages_of_registered_applications_may_call_the_json_endpoints_without_credentials(app: TestApp) {
        register_portal(&app, json!([])).await;
        let origin_of = |origin: &str, path: &str, preflight: bool| {
            let method = if preflight { reqwest::Method::OPTIONS } else { reqwest::Method::GET };
            let mut r = app.client.request(method, app.url(path)).header("origin", origin);
            if preflight {
                r = r.header("access-control-request-method", "POST").header("access-control-request-headers", "content-type");
            }
            r.send()
        };
        for path in ["/.well-known/openid-configuration", "/.well-known/jwks.json", "/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke"] {
            let pre = origin_of("https://training.dealer.example", path, true).await.unwrap();
            assert_eq!(pre.status(), StatusCode::NO_CONTENT, "{path}");
            assert_eq!(pre.headers()["access-control-allow-origin"], "https://training.dealer.example");
            assert!(pre.headers().get("access-control-allow-credentials").is_none(), "never with credentials");
            let other = origin_of("https://evil.example", path, true).await.unwrap();
            assert!(other.headers().get("access-control-allow-origin").is_none(), "{path}");
        }
        let doc = origin_of("https://training.dealer.example", "/.well-known/openid-configuration", false).await.unwrap();
        assert_eq!(doc.status(), StatusCode::OK);
        assert_eq!(doc.headers()["access-control-allow-origin"], "https://training.dealer.example");
        // The API's own routes are not opened to them.
        let api = origin_of("https://training.dealer.example", "/api/v1/auth/me", false).await.unwrap();
        assert!(api.headers().get("access-control-allow-origin").is_none());
    }
}
