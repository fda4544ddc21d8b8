//! The OpenAPI document against what the server enforces.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Engine, TestApp};
use crate::{GET, PATCH, POST};

/// The document says what the server enforces: each declared bound is the edge between an
/// accepted and a refused request, nullable fields are marked, 405 names what is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_says_what_the_server_enforces() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let admin = app.admin().await;
    let (_, doc) = app.call(GET, "/api/v1/openapi.json", None, None).await;
    let schemas = &doc["components"]["schemas"];
    // The admin's own profile fits the User schema: dealership_id is present, null, nullable.
    let (_, me) = app
        .call(GET, "/api/v1/auth/me", Some(&admin.access), None)
        .await;
    assert!(me["dealership_id"].is_null() && me.get("dealership_id").is_some());
    assert_eq!(
        schemas["User"]["properties"]["dealership_id"]["nullable"],
        true
    );
    assert!(schemas["User"]["required"]
        .as_array()
        .unwrap()
        .contains(&json!("dealership_id")));
    // Unknown properties: declared refused, and refused.
    for name in [
        "LoginRequest",
        "UserCreate",
        "UserUpdate",
        "DealershipCreate",
        "DealershipUpdate",
    ] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
    let (s, _) = app
        .call(
            POST,
            "/api/v1/dealerships",
            Some(&admin.access),
            Some(json!({"name": "X", "extra": 1})),
        )
        .await;
    assert!(s.is_client_error(), "{s}");
    // A body is an object: serde would read a struct from an array (found by schemathesis).
    let (_, me_again) = app
        .call(GET, "/api/v1/auth/me", Some(&admin.access), None)
        .await;
    let path = format!("/api/v1/users/{}", me_again["id"].as_str().unwrap());
    let (s, _) = app
        .call(PATCH, &path, Some(&admin.access), Some(json!([null, null])))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // In a change, null is declared and means "unchanged".
    for (schema, field) in [
        ("UserUpdate", "email"),
        ("UserUpdate", "role"),
        ("DealershipUpdate", "name"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["nullable"], true,
            "{schema}.{field}"
        );
    }
    let body = json!({"email": null, "full_name": null});
    let (s, unchanged) = app
        .call(PATCH, &path, Some(&admin.access), Some(body))
        .await;
    assert_eq!(
        (s, &unchanged["email"]),
        (StatusCode::OK, &me_again["email"])
    );
    // The page size: the declared maximum is accepted, one more is refused.
    let limit = doc["paths"]["/api/v1/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    assert_eq!(
        (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
        (Some(1), Some(100))
    );
    for (limit, want) in [
        (100, StatusCode::OK),
        (101, StatusCode::UNPROCESSABLE_ENTITY),
        (0, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (s, _) = app
            .call(
                GET,
                &format!("/api/v1/users?limit={limit}"),
                Some(&admin.access),
                None,
            )
            .await;
        assert_eq!(s, want, "limit={limit}");
    }
    // A name of the declared maximum length is accepted, one longer is refused.
    let max = schemas["DealershipCreate"]["properties"]["name"]["maxLength"]
        .as_u64()
        .unwrap() as usize;
    let (s, _) = app
        .call(
            POST,
            "/api/v1/dealerships",
            Some(&admin.access),
            Some(json!({"name": "n".repeat(max)})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .call(
            POST,
            "/api/v1/dealerships",
            Some(&admin.access),
            Some(json!({"name": "m".repeat(max + 1)})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // 415 is documented where a body is read, and answered.
    assert!(doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["415"].is_object());
    let resp = app
        .req(POST, "/api/v1/auth/login", None)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Every success answer says what it is.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, answer) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    assert!(
                        !answer["description"].as_str().unwrap().is_empty(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    // The documentation pages show this document.
    for page in ["/api/v1/docs", "/api/v1/redoc"] {
        let html = app
            .req(GET, page, None)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(r#""additionalProperties":false"#), "{page}");
    }
    // 405 names the allowed methods.
    for (path, allow) in [
        ("/api/v1/auth/me", "GET"),
        (
            "/api/v1/users/00000000-0000-0000-0000-000000000000",
            "DELETE, GET, PATCH",
        ),
    ] {
        let resp = app
            .req(Method::PUT, path, Some(&admin.access))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(resp.headers()["allow"], allow, "{path}");
    }
}
