//! Browser clients of the API (contract: "Browser clients of the API"): with
//! `Adam-Refresh: cookie` the refresh token lives in `__Host-adam_refresh`, never in the body.

use adam_testkit::on_both_engines;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{TestApp, MANAGER};
use crate::{GET, POST};

/// The `__Host-adam_refresh` a response sets, whole.
fn refresh_cookie(resp: &Response) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-adam_refresh="))
        .map(str::to_owned)
}

fn value_of(cookie: &str) -> String {
    cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// A POST as a web client sends it: the header, the cookie, and a body or none.
async fn post(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    header: bool,
    body: Option<Value>,
) -> Response {
    let mut r = app.req(POST, path, None);
    if header {
        r = r.header("Adam-Refresh", "cookie");
    }
    if let Some(c) = cookie {
        r = r.header(COOKIE, format!("__Host-adam_refresh={c}"));
    }
    r = match body {
        Some(b) => r.json(&b),
        None => r.header("content-length", "0"),
    };
    r.send().await.unwrap()
}

on_both_engines! {
    async fn a_web_client_keeps_its_refresh_token_in_an_http_only_cookie(app: TestApp) {
        let login = json!({"email": MANAGER.0, "password": MANAGER.1});
        let signed_in = post(&app, "/api/v1/auth/login", None, true, Some(login.clone())).await;
        assert_eq!(signed_in.status(), StatusCode::OK);
        let set = refresh_cookie(&signed_in).expect("the cookie");
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=604800"] {
            assert!(set.contains(attribute), "{set}");
        }
        let first = value_of(&set);
        assert!(first.starts_with("adam_rt_"), "{set}");
        let pair: Value = signed_in.json().await.unwrap();
        assert!(pair.get("refresh_token").is_none() && pair["access_token"].is_string(), "{pair}");
        let (s, _) = app.call(GET, "/api/v1/auth/me", pair["access_token"].as_str(), None).await;
        assert_eq!(s, StatusCode::OK);
        // Without the header a sign-in answers as always, and sets no cookie.
        let plain = post(&app, "/api/v1/auth/login", None, false, Some(login)).await;
        assert!(refresh_cookie(&plain).is_none());
        assert!(plain.json::<Value>().await.unwrap()["refresh_token"].is_string());

        // The cookie alone, without the header, is read by nobody: nothing is spent.
        let refused = post(&app, "/api/v1/auth/refresh", Some(&first), false, None).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        // With it: a new pair, the new token in the cookie.
        let refreshed = post(&app, "/api/v1/auth/refresh", Some(&first), true, None).await;
        assert_eq!(refreshed.status(), StatusCode::OK);
        let second = value_of(&refresh_cookie(&refreshed).unwrap());
        assert_ne!(second, first);
        assert!(refreshed.json::<Value>().await.unwrap().get("refresh_token").is_none());
        // The spent one again, within the grace: a lost race; the cookie is left alone.
        let raced = post(&app, "/api/v1/auth/refresh", Some(&first), true, None).await;
        assert_eq!(raced.status(), StatusCode::UNAUTHORIZED);
        assert!(refresh_cookie(&raced).is_none(), "a lost race keeps the newer cookie");
        // A token in the body wins over the cookie.
        let api = app.manager().await;
        let body = json!({"refresh_token": api.refresh});
        let won = post(&app, "/api/v1/auth/refresh", Some("adam_rt_not-a-token"), true, Some(body)).await;
        assert_eq!(won.status(), StatusCode::OK);
        // A cookie that refreshes nothing is cleared.
        let bogus = post(&app, "/api/v1/auth/refresh", Some("adam_rt_not-a-token"), true, None).await;
        assert_eq!(bogus.status(), StatusCode::UNAUTHORIZED);
        assert!(refresh_cookie(&bogus).unwrap().contains("Max-Age=0"));

        // Sign-out with the cookie: the session ends and the cookie is cleared.
        let out = post(&app, "/api/v1/auth/logout", Some(&second), true, None).await;
        assert_eq!(out.status(), StatusCode::NO_CONTENT);
        assert!(refresh_cookie(&out).unwrap().contains("Max-Age=0"));
        let after = post(&app, "/api/v1/auth/refresh", Some(&second), true, None).await;
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    }
}
