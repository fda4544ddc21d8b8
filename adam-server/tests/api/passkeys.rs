//! Passkeys over HTTP (contract: "Passkeys (WebAuthn Level 3)"): the JSON ceremonies driven by
//! adam-testkit's software passkey, on both engines.

use adam_testkit::on_both_engines;
use adam_testkit::passkey::SoftPasskey;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::helpers::{TestApp, MANAGER};
use super::{is_problem, DELETE, GET, POST};
use adam_testkit::Engine;

const ORIGIN: &str = "http://localhost:8000";

/// A server whose public URL is `http://localhost:8000`: passkeys on, for `localhost`.
struct PasskeyApp(TestApp);

impl std::ops::Deref for PasskeyApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl adam_testkit::Fixture for PasskeyApp {
    async fn on(engine: Engine) -> Self {
        Self(TestApp::spawn_configured(engine, |c| c.public_url = Some(ORIGIN.into())).await)
    }
}

/// Registers a passkey for the holder of `token`; answers it and its id.
async fn register(app: &TestApp, token: &str, name: &str) -> (SoftPasskey, String) {
    let (s, started) = app
        .call(
            POST,
            "/api/v1/auth/passkeys/register/options",
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    let key = SoftPasskey::new(&started["publicKey"]);
    let credential = key.registration(&started["publicKey"], ORIGIN);
    let (s, made) = app
        .call(
            POST,
            "/api/v1/auth/passkeys/register",
            Some(token),
            Some(json!({
                "ceremony_id": started["ceremony_id"], "credential": credential, "name": name,
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    (key, made["id"].as_str().unwrap().to_owned())
}

/// A passkey sign-in: its status and body.
async fn sign_in(app: &TestApp, key: &mut SoftPasskey, origin: &str) -> (StatusCode, Value) {
    let (s, started) = app
        .call(POST, "/api/v1/auth/login/passkey/options", None, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    let assertion = key.assertion(&started["publicKey"], origin);
    app.call(
        POST,
        "/api/v1/auth/login/passkey",
        None,
        Some(json!({
            "ceremony_id": started["ceremony_id"], "credential": assertion,
        })),
    )
    .await
}

fn claims(access: &str) -> Value {
    use base64::Engine as _;
    let payload = access.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

on_both_engines! {
    async fn a_manager_registers_a_passkey_and_signs_in_with_it_alone(app: PasskeyApp) {
        let manager = app.manager().await;
        let (mut key, id) = register(&app, &manager.access, "Work laptop").await;
        let (s, list) = app.call(GET, "/api/v1/auth/passkeys", Some(&manager.access), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], id);
        assert_eq!(list[0]["name"], "Work laptop");
        assert!(list[0]["created_at"].is_string() && list[0]["last_used_at"].is_null(), "{list}");

        let resp = app.req(POST, "/api/v1/auth/login/passkey/options", None).send().await.unwrap();
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let (s, pair) = sign_in(&app, &mut key, ORIGIN).await;
        assert_eq!(s, StatusCode::OK, "{pair}");
        assert_eq!(claims(pair["access_token"].as_str().unwrap())["amr"], json!(["hwk", "mfa"]));
        let (s, me) = app.call(GET, "/api/v1/auth/me", pair["access_token"].as_str(), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(me["email"], MANAGER.0);
        // Introspection tells the same amr.
        let (_, seen) = app.call(POST, "/api/v1/auth/introspect", None, Some(json!({"token": pair["access_token"]}))).await;
        assert_eq!(seen["amr"], json!(["hwk", "mfa"]));

        // Another origin is refused with 401; the ceremony is spent either way.
        let (s, b) = sign_in(&app, &mut key, "http://localhost:9999").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
        is_problem(&b, s);

        let (s, _) = app.call(DELETE, &format!("/api/v1/auth/passkeys/{id}"), Some(&manager.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = sign_in(&app, &mut key, ORIGIN).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app.call(DELETE, &format!("/api/v1/auth/passkeys/{id}"), Some(&manager.access), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }

    async fn an_old_sign_in_must_sign_in_again_to_change_passkeys(app: PasskeyApp) {
        let manager = app.manager().await;
        app.clock.advance(chrono::Duration::seconds(301));
        let (s, b) = app.call(POST, "/api/v1/auth/passkeys/register/options", Some(&manager.access), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert!(b["type"].as_str().unwrap().ends_with("/problems/reauthentication-required"), "{b}");
        // The list needs no fresh sign-in.
        let (s, _) = app.call(GET, "/api/v1/auth/passkeys", Some(&manager.access), None).await;
        assert_eq!(s, StatusCode::OK);
    }

    async fn the_account_page_leads_an_old_sign_in_to_sign_in_again_in_the_same_session(app: PasskeyApp) {
        use crate::pages::{browser, field, set_cookie, value_of};
        use reqwest::header::{COOKIE, LOCATION};
        let http = browser();
        let page = http.get(app.url("/signin")).send().await.unwrap();
        let csrf_cookie = format!("__Host-adam_csrf={}", value_of(&set_cookie(&page, "__Host-adam_csrf").unwrap()));
        let csrf = field(&page.text().await.unwrap(), "csrf").to_owned();
        let sign_in = |jar: String| {
            let form = [("csrf", csrf.as_str()), ("step", "password"), ("email", MANAGER.0), ("password", MANAGER.1)];
            http.post(app.url("/signin")).header(COOKIE, jar).form(&form).send()
        };
        let first = sign_in(csrf_cookie.clone()).await.unwrap();
        assert_eq!(first.status(), StatusCode::SEE_OTHER);
        let session = value_of(&set_cookie(&first, "__Host-adam_session").unwrap()).to_owned();
        let jar = format!("{csrf_cookie}; __Host-adam_session={session}");
        let options = || http.post(app.url("/account/passkey-options")).header(COOKIE, &jar).header("x-adam-csrf", &csrf).send();
        assert_eq!(options().await.unwrap().status(), StatusCode::OK);

        app.clock.advance(chrono::Duration::seconds(301));
        let old = options().await.unwrap();
        assert_eq!(old.status(), StatusCode::FORBIDDEN);
        let problem: Value = old.json().await.unwrap();
        assert!(problem["type"].as_str().unwrap().ends_with("/problems/reauthentication-required"), "{problem}");
        assert_eq!(problem["next"], "/signin?again=1", "the script offers the way to sign in again");
        let form = [("csrf", csrf.as_str()), ("action", "passkey_remove"), ("passkey", "00000000-0000-4000-8000-000000000000")];
        let removal = http.post(app.url("/account")).header(COOKIE, &jar).form(&form).send().await.unwrap();
        assert_eq!(removal.status(), StatusCode::FORBIDDEN);
        assert!(removal.text().await.unwrap().contains("href=\"/signin?again=1\""), "the page leads there too");

        // Plain /signin still sends a signed-in browser to its account; `?again=1` asks again.
        let plain = http.get(app.url("/signin")).header(COOKIE, &jar).send().await.unwrap();
        assert_eq!(plain.headers()[LOCATION], "/account");
        let again = http.get(app.url("/signin?again=1")).header(COOKIE, &jar).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        let body = again.text().await.unwrap();
        assert!(body.contains("id=\"signin-notice\"") && body.contains(&format!("value=\"{}\"", MANAGER.0)), "{body}");
        // Signing in again keeps the session (no new cookie), now recent.
        let second = sign_in(jar.clone()).await.unwrap();
        assert_eq!(second.status(), StatusCode::SEE_OTHER);
        assert_eq!(second.headers()[LOCATION], "/account");
        assert!(set_cookie(&second, "__Host-adam_session").is_none(), "the same session");
        assert_eq!(options().await.unwrap().status(), StatusCode::OK);
    }

    async fn bad_ceremony_input_is_a_clear_4xx(app: PasskeyApp) {
        let manager = app.manager().await;
        let (_, started) = app.call(POST, "/api/v1/auth/passkeys/register/options", Some(&manager.access), None).await;
        for (body, want) in [
            (json!({"ceremony_id": started["ceremony_id"], "credential": {"id": 1}, "name": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"ceremony_id": started["ceremony_id"], "credential": {}, "name": ""}), StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"ceremony_id": "not-a-uuid", "credential": {}, "name": "x"}), StatusCode::BAD_REQUEST),
            (json!({"ceremony_id": started["ceremony_id"], "name": "x"}), StatusCode::BAD_REQUEST),
            (json!({"ceremony_id": started["ceremony_id"], "credential": {}, "name": "x", "extra": 1}), StatusCode::BAD_REQUEST),
        ] {
            let (s, b) = app.call(POST, "/api/v1/auth/passkeys/register", Some(&manager.access), Some(body.clone())).await;
            assert_eq!(s, want, "{body} -> {b}");
            is_problem(&b, s);
        }
        let unknown = json!({"ceremony_id": "00000000-0000-0000-0000-000000000000", "credential": SoftPasskey::new(&started["publicKey"]).registration(&started["publicKey"], ORIGIN), "name": "x"});
        let (s, b) = app.call(POST, "/api/v1/auth/passkeys/register", Some(&manager.access), Some(unknown)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["detail"].as_str().unwrap().contains("ceremony_id"), "{b}");
        let (s, _) = app.call(POST, "/api/v1/auth/passkeys/register/options", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, b) = app.call(POST, "/api/v1/auth/login/passkey", None, Some(json!({"ceremony_id": started["ceremony_id"], "credential": "x"}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        // None of it registered anything.
        let (_, list) = app.call(GET, "/api/v1/auth/passkeys", Some(&manager.access), None).await;
        assert_eq!(list, json!([]));
    }

    async fn passkeys_are_off_where_the_public_url_is_an_ip_address(app: TestApp) {
        let manager = app.manager().await;
        for (method, path, token) in [
            (GET, "/api/v1/auth/passkeys", Some(manager.access.as_str())),
            (POST, "/api/v1/auth/passkeys/register/options", Some(manager.access.as_str())),
            (POST, "/api/v1/auth/login/passkey/options", None),
        ] {
            let (s, b) = app.call(method, path, token, None).await;
            // PostgreSQL test servers name themselves http://adam.test: passkeys are on there.
            if app.db.engine() == Engine::Sqlite {
                assert_eq!(s, StatusCode::CONFLICT, "{path}: {b}");
                assert!(b["detail"].as_str().unwrap().contains("passkeys are off"), "{b}");
            } else {
                assert_eq!(s, StatusCode::OK, "{path}: {b}");
            }
        }
    }

    async fn the_openapi_document_lists_the_ceremonies(app: TestApp) {
        let (_, spec) = app.call(GET, "/api/v1/openapi.json", None, None).await;
        for (method, path, secured) in [
            ("get", "/api/v1/auth/passkeys", true),
            ("delete", "/api/v1/auth/passkeys/{id}", true),
            ("post", "/api/v1/auth/passkeys/register/options", true),
            ("post", "/api/v1/auth/passkeys/register", true),
            ("post", "/api/v1/auth/login/passkey/options", false),
            ("post", "/api/v1/auth/login/passkey", false),
        ] {
            let op = &spec["paths"][path][method];
            assert!(op["summary"].is_string(), "{method} {path}: {op}");
            assert_eq!(op["security"].is_array(), secured, "{method} {path}");
        }
    }
}
