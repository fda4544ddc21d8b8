//! The second factor over HTTP (contract: "Second factor"), on both engines, acting as a user
//! with an authenticator app would: the secret read from the enrollment's answer, the codes
//! computed from it.

use adam_testkit::authenticator::{code_now, fresh_step, next_code, previous_code};
use adam_testkit::on_both_engines;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{read, Engine, TestApp};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;
use crate::helpers::MANAGER;

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// POSTs `body` to `path` and answers the status, the body and the `Cache-Control` header.
async fn post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value, String) {
    let resp = app.req(POST, path, token).json(&body).send().await.unwrap();
    let cache = resp
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let (s, b) = read(resp).await;
    (s, b, cache)
}

/// Turns TOTP on for the holder of `access` (password `password`) with the previous step's
/// code; answers the secret.
async fn enroll(app: &TestApp, access: &str, password: &str) -> String {
    let (s, started, cache) = post(
        app,
        "/api/v1/auth/mfa/totp",
        Some(access),
        json!({"current_password": password}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    assert_eq!(cache, "no-store");
    let secret = started["secret"].as_str().unwrap().to_owned();
    assert!(started["otpauth_uri"].as_str().unwrap().contains(&secret));
    assert!(started["qr_svg"].as_str().unwrap().contains("<svg"));
    let (s, codes, cache) = post(
        app,
        "/api/v1/auth/mfa/totp/confirm",
        Some(access),
        json!({"code": previous_code(&app.clock, &secret)}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{codes}");
    assert_eq!(cache, "no-store");
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);
    secret
}

/// The 401 of a right password that needs a second step: its type and body.
async fn second_step(app: &TestApp, who: (&str, &str)) -> (String, Value) {
    let resp = app
        .req(POST, "/api/v1/auth/login", None)
        .json(&json!({"email": who.0, "password": who.1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        resp.headers()["cache-control"],
        "no-store",
        "the mfa_token is not to be cached"
    );
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let (s, body) = read(resp).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    (body["type"].as_str().unwrap().to_owned(), body)
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let (_, me) = app.call(GET, "/api/v1/auth/me", Some(token), None).await;
    me["id"].as_str().unwrap().to_owned()
}

async fn reset(app: &TestApp, token: &str, user: &str) -> StatusCode {
    app.call(
        DELETE,
        &format!("/api/v1/users/{user}/mfa"),
        Some(token),
        None,
    )
    .await
    .0
}

on_both_engines! {
    async fn enrollment_and_sign_in_with_a_code_over_http(app: TestApp) {
        fresh_step(&app.clock);
        let manager = app.manager().await;
        let (s, status) = app.call(GET, "/api/v1/auth/mfa", Some(&manager.access), None).await;
        assert_eq!((s, &status), (StatusCode::OK, &json!({"totp_enabled": false, "recovery_codes_left": 0, "required": false})));
        let (s, body, _) = post(&app, "/api/v1/auth/mfa/totp", Some(&manager.access), json!({"current_password": "wrong one"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["detail"].as_str().unwrap().contains("current_password"), "{body}");
        let (s, body, _) = post(&app, "/api/v1/auth/mfa/totp/confirm", Some(&manager.access), json!({"code": "123456"})).await;
        assert_eq!(s, StatusCode::CONFLICT, "nothing pending: {body}");

        let secret = enroll(&app, &manager.access, MANAGER.1).await;
        let (s, body, _) = post(&app, "/api/v1/auth/mfa/totp", Some(&manager.access), json!({"current_password": MANAGER.1})).await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&manager.access), None).await;
        assert_eq!(me["mfa_enabled"], true);

        let (kind, problem) = second_step(&app, MANAGER).await;
        assert!(kind.ends_with("/problems/mfa-required"), "{problem}");
        assert_eq!(problem["mfa_methods"], json!(["totp", "recovery_code"]));
        let mfa_token = problem["mfa_token"].as_str().unwrap().to_owned();
        assert!(problem.get("access_token").is_none());
        // No bearer token.
        let (s, _) = app.call(GET, "/api/v1/auth/me", Some(&mfa_token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // A replayed code (the enrollment's step), then the right one.
        let (s, body, _) = post(&app, "/api/v1/auth/login/mfa", None, json!({"mfa_token": mfa_token, "code": previous_code(&app.clock, &secret)})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(body["type"].as_str().unwrap().ends_with("/problems/mfa-code-invalid"), "{body}");
        let (s, pair, cache) = post(&app, "/api/v1/auth/login/mfa", None, json!({"mfa_token": mfa_token, "code": code_now(&app.clock, &secret)})).await;
        assert_eq!(s, StatusCode::OK, "{pair}");
        assert_eq!(cache, "no-store");
        let access = pair["access_token"].as_str().unwrap();
        assert_eq!(claims(access)["amr"], json!(["pwd", "otp"]));
        let (_, intro, _) = post(&app, "/api/v1/auth/introspect", None, json!({"token": access})).await;
        assert_eq!(intro["amr"], json!(["pwd", "otp"]));
        let (_, sessions) = app.call(GET, "/api/v1/auth/sessions", Some(access), None).await;
        assert_eq!(sessions["items"][0]["amr"], json!(["pwd", "otp"]));
        // Spent.
        let (s, body, _) = post(&app, "/api/v1/auth/login/mfa", None, json!({"mfa_token": mfa_token, "code": next_code(&app.clock, &secret)})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(body["type"].as_str().unwrap().ends_with("/problems/mfa-token-invalid"), "{body}");
        // Bad bodies: 4xx, never 5xx.
        for bad in [json!({}), json!({"mfa_token": "x"}), json!({"mfa_token": "x", "code": "1", "extra": 1}), json!({"mfa_token": 5, "code": "123456"})] {
            let (s, body, _) = post(&app, "/api/v1/auth/login/mfa", None, bad.clone()).await;
            assert!(s.is_client_error(), "{bad}: {s} {body}");
        }
        let (s, _, _) = post(&app, "/api/v1/auth/login/mfa", None, json!({"mfa_token": "a\u{0}b", "code": "12\u{0}456"})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    async fn a_dealership_that_requires_it_makes_its_users_enroll_at_sign_in(app: TestApp) {
        fresh_step(&app.clock);
        let principal = app.principal().await;
        let manager = app.manager().await;
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&principal.access), None).await;
        let path = format!("/api/v1/dealerships/{}", me["dealership_id"].as_str().unwrap());
        for (who, body, want) in [
            (&manager.access, json!({"mfa_required": true}), StatusCode::FORBIDDEN),
            (&principal.access, json!({"mfa_required": false}), StatusCode::FORBIDDEN),
            (&principal.access, json!({"name": "Renamed", "mfa_required": true}), StatusCode::FORBIDDEN),
        ] {
            let (s, b) = app.call(PATCH, &path, Some(who), Some(body.clone())).await;
            assert_eq!(s, want, "{body}: {b}");
        }
        let (s, d) = app.call(PATCH, &path, Some(&principal.access), Some(json!({"mfa_required": true}))).await;
        assert_eq!((s, &d["mfa_required"]), (StatusCode::OK, &json!(true)), "{d}");
        // Password-only sessions of the dealership are over.
        assert_eq!(app.call(GET, "/api/v1/auth/me", Some(&manager.access), None).await.0, StatusCode::UNAUTHORIZED);

        let (kind, problem) = second_step(&app, MANAGER).await;
        assert!(kind.ends_with("/problems/mfa-enrollment-required"), "{problem}");
        assert!(problem.get("mfa_methods").is_none());
        let token = problem["mfa_token"].as_str().unwrap().to_owned();
        let (s, body, _) = post(&app, "/api/v1/auth/login/mfa", None, json!({"mfa_token": token, "code": "123456"})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "an enrollment token takes no code: {body}");
        let (s, started, cache) = post(&app, "/api/v1/auth/login/mfa/enroll", None, json!({"mfa_token": token})).await;
        assert_eq!((s, cache.as_str()), (StatusCode::OK, "no-store"), "{started}");
        let secret = started["secret"].as_str().unwrap().to_owned();
        let (s, done, cache) = post(&app, "/api/v1/auth/login/mfa/enroll/confirm", None, json!({"mfa_token": token, "code": previous_code(&app.clock, &secret)})).await;
        assert_eq!((s, cache.as_str()), (StatusCode::OK, "no-store"), "{done}");
        assert_eq!(done["token_type"], "bearer");
        assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10);
        let access = done["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&access)["amr"], json!(["pwd", "otp"]));
        let (_, status) = app.call(GET, "/api/v1/auth/mfa", Some(&access), None).await;
        assert_eq!(status, json!({"totp_enabled": true, "recovery_codes_left": 10, "required": true}));
        let (s, body, _) = post(&app, "/api/v1/auth/mfa/totp/disable", Some(&access), json!({"current_password": MANAGER.1, "code": code_now(&app.clock, &secret)})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "required: {body}");
        // A recovery code signs in.
        let code = done["recovery_codes"][0].as_str().unwrap();
        let (_, problem) = second_step(&app, MANAGER).await;
        let (s, body, _) = post(&app, "/api/v1/auth/login/mfa", None, json!({"mfa_token": problem["mfa_token"], "code": code})).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }

    async fn a_principal_resets_a_lost_phone_and_the_users_sessions_end(app: TestApp) {
        fresh_step(&app.clock);
        let manager = app.manager().await;
        enroll(&app, &manager.access, MANAGER.1).await;
        let principal = app.principal().await;
        let admin = app.admin().await;
        let manager_id = user_id(&app, &manager.access).await;
        let admin_id = user_id(&app, &admin.access).await;
        assert_eq!(reset(&app, &manager.access, &manager_id).await, StatusCode::FORBIDDEN);
        assert_eq!(reset(&app, &admin.access, &admin_id).await, StatusCode::FORBIDDEN);
        assert_eq!(reset(&app, &admin.access, &uuid::Uuid::new_v4().to_string()).await, StatusCode::NOT_FOUND);
        assert_eq!(reset(&app, &principal.access, &manager_id).await, StatusCode::NO_CONTENT);
        assert_eq!(app.call(GET, "/api/v1/auth/me", Some(&manager.access), None).await.0, StatusCode::UNAUTHORIZED);
        let again = app.manager().await;
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&again.access), None).await;
        assert_eq!(me["mfa_enabled"], false);
    }
}

/// Two servers on one PostgreSQL: of one code sent to both at once, many times, exactly one
/// sign-in succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_signs_in_once_across_two_servers() {
    let app = TestApp::spawn(Engine::Postgres).await;
    fresh_step(&app.clock);
    let mut config = adam_testkit::server::config_for(&app.db.url, &[]);
    config.clock = app.clock.clock();
    let other = adam_server::Application::build(
        config,
        adam_server::StartOptions {
            migrate: false,
            seed: false,
        },
    )
    .await
    .unwrap();
    let other_base = format!("http://{}", other.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(other.run_until(async {
        let _ = stopped.await;
    }));

    let manager = app.manager().await;
    let secret = enroll(&app, &manager.access, MANAGER.1).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        let (_, problem) = second_step(&app, MANAGER).await;
        tokens.push(problem["mfa_token"].as_str().unwrap().to_owned());
    }
    let code = code_now(&app.clock, &secret);
    let mut calls = Vec::new();
    for (n, token) in tokens.iter().chain(tokens.iter()).enumerate() {
        let base = if n % 2 == 0 {
            app.base.clone()
        } else {
            other_base.clone()
        };
        let body = json!({"mfa_token": token, "code": code});
        let client = app.client.clone();
        calls.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/v1/auth/login/mfa"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for call in calls {
        let status = call.await.unwrap();
        assert!(
            status == StatusCode::OK
                || status == StatusCode::UNAUTHORIZED
                || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
        ok += usize::from(status == StatusCode::OK);
    }
    assert_eq!(ok, 1);
    let _ = stop.send(());
}
