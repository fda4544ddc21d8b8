//! The browser pages' sign-in and account (contract: "Pages in the browser"), over HTTP as a
//! browser sends it: the anti-forgery cookie and field, the `__Host-adam_session` cookie, the
//! session it holds being an ordinary one. (The real browser walks them in
//! `scripts/browser_e2e.py`.)

use adam_testkit::on_both_engines;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response, StatusCode};

use crate::helpers::{TestApp, MANAGER};
use crate::GET;

/// A client that shows redirects instead of following them, and keeps no cookies of its own.
pub(crate) fn browser() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `Set-Cookie` of `name`, whole.
pub(crate) fn set_cookie(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub(crate) fn value_of(cookie: &str) -> &str {
    cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

pub(crate) fn field<'a>(page: &'a str, name: &str) -> &'a str {
    let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
    &page[at..at + page[at..].find('"').unwrap()]
}

on_both_engines! {
    async fn the_browser_session_is_an_ordinary_session_in_a_host_cookie(app: TestApp) {
        let http = browser();
        let away = http.get(app.url("/account")).send().await.unwrap();
        assert_eq!(away.status(), StatusCode::SEE_OTHER);
        assert_eq!(away.headers()[LOCATION], "/signin");

        let page = http.get(app.url("/signin")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csrf_cookie = set_cookie(&page, "__Host-adam_csrf").unwrap();
        let csrf_cookie = format!("__Host-adam_csrf={}", value_of(&csrf_cookie));
        let body = page.text().await.unwrap();
        let csrf = field(&body, "csrf").to_owned();
        let sign_in = |password: &str, csrf: Option<&str>, cookie: Option<&str>| {
            let mut form = vec![("step", "password"), ("email", MANAGER.0), ("password", password)];
            if let Some(c) = csrf {
                form.push(("csrf", c));
            }
            let mut r = http.post(app.url("/signin")).form(&form);
            if let Some(c) = cookie {
                r = r.header(COOKIE, c);
            }
            r.send()
        };
        // Without the anti-forgery pair nothing happens: no session, no counted failure.
        let forged = sign_in(MANAGER.1, Some(&csrf), None).await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie(&forged, "__Host-adam_session").is_none());
        let forged = sign_in(MANAGER.1, None, Some(&csrf_cookie)).await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        // A wrong password: the API's one message.
        let wrong = sign_in("not the password", Some(&csrf), Some(&csrf_cookie)).await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(wrong.text().await.unwrap().contains("Incorrect email or password"));

        let api = app.manager().await;
        let signed_in = sign_in(MANAGER.1, Some(&csrf), Some(&csrf_cookie)).await.unwrap();
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(signed_in.headers()[LOCATION], "/account");
        let cookie = set_cookie(&signed_in, "__Host-adam_session").unwrap();
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age="] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        let session = value_of(&cookie).to_owned();
        assert!(session.starts_with("adam_ses_") && session.len() == 9 + 43, "256 bits");
        let with = |cookie: String| {
            let jar = format!("{csrf_cookie}; {cookie}");
            http.get(app.url("/account")).header(COOKIE, jar).send()
        };
        let account = with(format!("__Host-adam_session={session}")).await.unwrap();
        assert_eq!(account.status(), StatusCode::OK);
        let body = account.text().await.unwrap();
        assert!(body.contains(MANAGER.0) && body.contains("this browser"), "{body}");
        let (_, listed) = app.call(GET, "/api/v1/auth/sessions", Some(&api.access), None).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 2, "the API's and the browser's: {listed}");

        // Another value, or one a letter off, is nobody.
        let mut other = session.clone().into_bytes();
        other[20] = if other[20] == b'A' { b'B' } else { b'A' };
        for bad in [String::from_utf8(other).unwrap(), "adam_ses_short".into(), String::new()] {
            let away = with(format!("__Host-adam_session={bad}")).await.unwrap();
            assert_eq!(away.status(), StatusCode::SEE_OTHER, "{bad}");
        }

        // Signing out ends the session and clears the cookie; the old value opens nothing.
        let form = [("csrf", csrf.as_str()), ("action", "logout")];
        let jar = format!("{csrf_cookie}; __Host-adam_session={session}");
        let out = http.post(app.url("/account")).header(COOKIE, &jar).form(&form).send().await.unwrap();
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        assert_eq!(out.headers()[LOCATION], "/signin");
        assert!(set_cookie(&out, "__Host-adam_session").unwrap().contains("Max-Age=0"));
        let away = with(format!("__Host-adam_session={session}")).await.unwrap();
        assert_eq!(away.status(), StatusCode::SEE_OTHER);
        let (_, listed) = app.call(GET, "/api/v1/auth/sessions", Some(&api.access), None).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    }
}
