//! Signing keys seen from outside: the published keys checked with an independent Ed25519
//! implementation, the discovery document, introspection, forged tokens, and `adam-server keys`
//! against a running server.

use std::collections::BTreeSet;
use std::time::Duration;

use adam_testkit::on_both_engines;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{self, Engine, TestApp, SECRET};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const INTROSPECT: &str = "/api/v1/auth/introspect";
const JWKS: &str = "/.well-known/jwks.json";

fn part(token: &str, n: usize) -> Value {
    let p = token.split('.').nth(n).unwrap();
    serde_json::from_slice(&B64.decode(p).unwrap()).unwrap()
}

/// The `kid` in a token's header.
pub fn kid_of(token: &str) -> String {
    part(token, 0)["kid"].as_str().unwrap().to_owned()
}

async fn get_json(app: &TestApp, path: &str) -> (HeaderMap, Value) {
    let resp = app.req(GET, path, None).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let headers = resp.headers().clone();
    (headers, resp.json().await.unwrap())
}

async fn published_kids(app: &TestApp) -> BTreeSet<String> {
    let (_, jwks) = get_json(app, JWKS).await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether `token` opens `/auth/me`, and whether introspection calls it active.
async fn accepted(app: &TestApp, token: &str) -> (bool, bool) {
    let me = app
        .req(GET, "/api/v1/auth/me", Some(token))
        .send()
        .await
        .unwrap()
        .status();
    assert!(
        me == StatusCode::OK || me == StatusCode::UNAUTHORIZED,
        "{me}"
    );
    let (s, answer) = app
        .call(POST, INTROSPECT, None, Some(json!({ "token": token })))
        .await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    (me == StatusCode::OK, answer["active"] == true)
}

/// Polls `check` every 100 ms for up to 10 s.
async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

on_both_engines! {
    async fn the_published_keys_verify_a_fresh_token_with_another_ed25519_implementation(app: TestApp) {
        let (headers, jwks) = get_json(&app, JWKS).await;
        let cache = headers["cache-control"].to_str().unwrap();
        let max_age: u64 = cache
            .split(',')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(cache.contains("public") && (1..=300).contains(&max_age), "{cache}");
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "a current and a next key: {jwks}");
        for key in keys {
            let members: BTreeSet<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(members, BTreeSet::from(["alg", "crv", "kid", "kty", "use", "x"]), "{key}");
            assert_eq!([&key["kty"], &key["crv"], &key["alg"], &key["use"]], ["OKP", "Ed25519", "EdDSA", "sig"]);
            // The kid is the RFC 7638 thumbprint.
            let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, key["x"].as_str().unwrap());
            let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
            assert_eq!(key["kid"], B64.encode(digest));
        }
        let token = app.manager().await.access;
        let header = part(&token, 0);
        assert_eq!([&header["alg"], &header["typ"]], ["EdDSA", "at+jwt"]);
        let key = keys.iter().find(|k| k["kid"] == header["kid"]).expect("the signing key is published");
        let x = B64.decode(key["x"].as_str().unwrap()).unwrap();
        let public = ed25519_compact::PublicKey::from_slice(&x).unwrap();
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = ed25519_compact::Signature::from_slice(&B64.decode(signature).unwrap()).unwrap();
        public.verify(signed, &signature).unwrap();
        // The check can fail: the same signature over a changed claim does not verify.
        let mut claims = part(&token, 1);
        claims["role"] = json!("system_admin");
        let header_part = signed.split('.').next().unwrap();
        let changed = format!("{header_part}.{}", B64.encode(claims.to_string()));
        assert!(public.verify(&changed, &signature).is_err());
        // The discovery document names the token's issuer and where to check its tokens.
        let (_, meta) = get_json(&app, "/.well-known/oauth-authorization-server").await;
        let issuer = meta["issuer"].as_str().unwrap();
        let claims = part(&token, 1);
        assert_eq!([&claims["iss"], &claims["aud"]], [issuer, "adam-api"]);
        assert_eq!(meta["jwks_uri"], format!("{issuer}{JWKS}"));
        assert_eq!(meta["introspection_endpoint"], format!("{issuer}{INTROSPECT}"));
    }

    async fn introspection_answers_active_only_for_a_live_access_token(app: TestApp) {
        let tokens = app.manager().await;
        let (_, me) = app.call(GET, "/api/v1/auth/me", Some(&tokens.access), None).await;
        let resp = app.req(POST, INTROSPECT, None).json(&json!({ "token": tokens.access })).send().await.unwrap();
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let (s, live) = helpers::read(resp).await;
        assert_eq!(s, StatusCode::OK);
        let claims = part(&tokens.access, 1);
        assert_eq!(live["active"], true, "{live}");
        assert_eq!(live["token_type"], "access_token");
        assert_eq!(live["role"], "fi_manager");
        assert_eq!(live["amr"], json!(["pwd"]));
        assert_eq!([&live["sub"], &live["dealership_id"]], [&me["id"], &me["dealership_id"]]);
        for claim in ["sid", "exp", "iat", "iss", "aud"] {
            assert_eq!(live[claim], claims[claim], "{claim}");
        }
        // RFC 7662's form body says the same.
        let form = app
            .req(POST, INTROSPECT, None)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", tokens.access))
            .send()
            .await
            .unwrap();
        assert_eq!(helpers::read(form).await.1["active"], true);
        // Anything else is inactive, and says nothing more.
        for not_live in [tokens.refresh.as_str(), "garbage", "a.b.c", ""] {
            let (s, answer) = app.call(POST, INTROSPECT, None, Some(json!({ "token": not_live }))).await;
            assert_eq!((s, answer), (StatusCode::OK, json!({ "active": false })), "{not_live}");
        }
        let (s, _) = app.call(POST, "/api/v1/auth/logout", None, Some(json!({ "refresh_token": tokens.refresh }))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(accepted(&app, &tokens.access).await, (false, false));
        // A request without a token, or beyond the declared bounds, is a client error, as JSON
        // and as a form (found by schemathesis).
        for wrong in [json!({}), json!({ "token": 5 }), json!({ "token": true }), json!({ "token": "x", "token_type_hint": 5 })] {
            let (s, _) = app.call(POST, INTROSPECT, None, Some(wrong.clone())).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{wrong}");
        }
        let (s, _) = app.call(POST, INTROSPECT, None, Some(json!({ "token": "x", "token_type_hint": null }))).await;
        assert_eq!(s, StatusCode::OK);
        let hint = "h".repeat(65);
        let (s, _) = app.call(POST, INTROSPECT, None, Some(json!({ "token": "x", "token_type_hint": hint }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let form = app
            .req(POST, INTROSPECT, None)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token=x&token_type_hint={hint}"))
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::BAD_REQUEST);
    }

    async fn forged_tokens_are_refused(app: TestApp) {
        let real = app.manager().await.access;
        assert_eq!(accepted(&app, &real).await, (true, true));
        let kid = kid_of(&real);
        let (_, jwks) = get_json(&app, JWKS).await;
        let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap().clone();
        let x = key["x"].as_str().unwrap().to_owned();
        let raw = B64.decode(&x).unwrap();
        let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        spki.extend_from_slice(&raw);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(&spki));
        // What a forger wants: a system admin's token.
        let mut claims = part(&real, 1);
        claims["role"] = json!("system_admin");
        claims["dealership_id"] = Value::Null;
        let body = B64.encode(claims.to_string());
        let forge = |header: Value, sign: &dyn Fn(&[u8]) -> Vec<u8>| {
            let signed = format!("{}.{body}", B64.encode(header.to_string()));
            let signature = B64.encode(sign(signed.as_bytes()));
            format!("{signed}.{signature}")
        };
        let mut forged = Vec::new();
        for (encoding, secret) in [
            ("raw bytes", raw.clone()),
            ("x", x.clone().into_bytes()),
            ("JWK", key.to_string().into_bytes()),
            ("SPKI DER", spki.clone()),
            ("PEM", pem.into_bytes()),
        ] {
            for (alg, mac) in [("HS256", ring::hmac::HMAC_SHA256), ("HS384", ring::hmac::HMAC_SHA384), ("HS512", ring::hmac::HMAC_SHA512)] {
                let sign = |m: &[u8]| ring::hmac::sign(&ring::hmac::Key::new(mac, &secret), m).as_ref().to_vec();
                let header = json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
                forged.push((format!("{alg} MACed with the public key ({encoding})"), forge(header, &sign)));
            }
        }
        let none = json!({ "alg": "none", "typ": "at+jwt", "kid": kid });
        forged.push(("alg none".into(), format!("{}.{body}.", B64.encode(none.to_string()))));
        let other = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
        let by_other = |m: &[u8]| other.sk.sign(m, None).to_vec();
        let header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid });
        forged.push(("another Ed25519 key under our kid".into(), forge(header, &by_other)));
        let other_jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": B64.encode(other.pk.as_ref()) });
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, other_jwk["x"].as_str().unwrap());
        let other_kid = B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()));
        let header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": other_kid, "jwk": other_jwk });
        forged.push(("the forger's key in a jwk header".into(), forge(header, &by_other)));
        let header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": other_kid, "jku": "https://forger.example/jwks.json" });
        forged.push(("the forger's keys behind a jku header".into(), forge(header, &by_other)));
        let (real_header, _) = real.split_once('.').unwrap();
        let real_signature = real.rsplit('.').next().unwrap();
        forged.push(("our signature over changed claims".into(), format!("{real_header}.{body}.{real_signature}")));
        for (what, token) in &forged {
            assert_eq!(accepted(&app, token).await, (false, false), "{what}");
        }
        assert_eq!(accepted(&app, &real).await, (true, true));
    }
}

/// A server that reads its keys again every 200 ms, so that `adam-server keys` run beside it
/// takes effect within a test.
#[derive(Debug)]
struct QuickKeys(TestApp);

impl adam_testkit::Fixture for QuickKeys {
    async fn on(engine: Engine) -> Self {
        Self(TestApp::spawn_configured(engine, |c| c.key_reload = Duration::from_millis(200)).await)
    }
}

/// Runs `adam-server ARGS` on the server's database: (success, stdout, stderr).
pub(crate) async fn cli(
    app: &TestApp,
    args: &[&str],
    secret: &str,
    previous: Option<&str>,
) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_adam-server"));
    command
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("SECRET_KEY", secret)
        .env("PUBLIC_URL", "http://adam.test")
        .env("RUST_LOG", "warn")
        .env_remove("SECRET_KEY_PREVIOUS");
    if let Some(p) = previous {
        command.env("SECRET_KEY_PREVIOUS", p);
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The kids of the Ed25519 keys `keys list` shows in `state`.
fn listed(list: &str, state: &str) -> Vec<String> {
    list.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let kid = cols.next()?;
            let alg = cols.next()?;
            (alg == "EdDSA" && cols.next()? == state).then(|| kid.to_owned())
        })
        .collect()
}

const OTHER_SECRET: &str = "another secret key, also more than thirty-two bytes";

on_both_engines! {
    async fn keys_rotate_and_revoke_take_effect_on_a_running_server(keys: QuickKeys) {
        let app = &keys.0;
        let before = app.manager().await;
        let first = kid_of(&before.access);
        let (ok, list, err) = cli(app, &["keys", "list"], SECRET, None).await;
        assert!(ok, "{err}");
        assert_eq!(listed(&list, "current"), vec![first.clone()], "{list}");
        let next = listed(&list, "next").remove(0);
        // The next key was published a moment ago: refused, with one clear line.
        let (ok, _, err) = cli(app, &["keys", "rotate"], SECRET, None).await;
        assert!(!ok && err.trim().lines().count() == 1 && err.contains("--force"), "{err}");
        let (ok, out, err) = cli(app, &["keys", "rotate", "--force"], SECRET, None).await;
        assert!(ok && out.contains(&next), "{out}{err}");
        // The server signs with the former next key; the token from before still works, and
        // its key stays published.
        assert!(eventually(|| async { kid_of(&app.manager().await.access) == next }).await);
        assert_eq!(accepted(app, &before.access).await, (true, true));
        let published = published_kids(app).await;
        assert!(published.len() == 3 && published.contains(&first) && published.contains(&next), "{published:?}");
        let (_, list, _) = cli(app, &["keys", "list"], SECRET, None).await;
        assert_eq!(listed(&list, "retired"), vec![first.clone()], "{list}");
        // Revoked, the retired key's tokens stop verifying, and it is no longer published.
        let (ok, out, err) = cli(app, &["keys", "revoke", &first], SECRET, None).await;
        assert!(ok && out.contains("retired"), "{out}{err}");
        assert!(eventually(|| async { accepted(app, &before.access).await == (false, false) }).await);
        assert!(!published_kids(app).await.contains(&first));
        let (ok, _, err) = cli(app, &["keys", "revoke", "no-such-kid"], SECRET, None).await;
        assert!(!ok && err.contains("no signing key"), "{err}");
        // The commands that changed the keys left one system event each (no actor, no
        // dealership); the refused rotation and the unknown kid left none.
        let admin = app.admin().await;
        let events = |action: &'static str| {
            let token = admin.access.clone();
            async move {
                let path = format!("/api/v1/audit-events/?action={action}");
                let (s, page) = app.call(GET, &path, Some(&token), None).await;
                assert_eq!(s, StatusCode::OK, "{page}");
                page["items"].as_array().unwrap().clone()
            }
        };
        let rotated = events("keys.rotated").await;
        assert_eq!(rotated.len(), 1, "{rotated:?}");
        assert_eq!(rotated[0]["actor"], Value::Null);
        assert_eq!(rotated[0]["dealership_id"], Value::Null);
        assert_eq!(rotated[0]["details"]["retired"], first.as_str());
        assert_eq!(rotated[0]["details"]["current"], next.as_str());
        let revoked = events("keys.revoked").await;
        assert_eq!(revoked.len(), 1, "{revoked:?}");
        assert_eq!(revoked[0]["details"], json!({"kid": first, "state": "retired"}));
        let principal = app.principal().await;
        let (_, page) = app.call(GET, "/api/v1/audit-events/?action=keys.rotated", Some(&principal.access), None).await;
        assert_eq!(page["items"], json!([]), "a principal sees no system event");
        // A SECRET_KEY that opens no key stops with one clear line; given the former one as
        // SECRET_KEY_PREVIOUS, it seals the keys again.
        let (ok, _, err) = cli(app, &["keys", "list"], OTHER_SECRET, None).await;
        assert!(!ok && err.trim().lines().count() == 1 && err.contains("SECRET_KEY_PREVIOUS"), "{err}");
        let (ok, _, err) = cli(app, &["keys", "list"], OTHER_SECRET, Some(SECRET)).await;
        assert!(ok, "{err}");
        let (ok, _, err) = cli(app, &["keys", "list"], OTHER_SECRET, None).await;
        assert!(ok, "{err}");
    }
}
