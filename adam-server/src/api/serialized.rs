//! A JSON answer written straight from its type with serde.
//!
//! `poem_openapi::payload::Json` writes a body by first building it as a `serde_json::Value`
//! (a map and a string per field), then serializing that. For a page of 100 users the tree's
//! allocations were the largest cost of the request (`perf`: allocator and `BTreeMap` inserts);
//! [`Serialized`] writes the same JSON without the tree, and documents the same schema. The test
//! below holds every type served this way to the same JSON as its OpenAPI writer.

use poem::http::{header, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::ApiResponse;
use serde::Serialize;

/// A `200` JSON answer, documented as [`Json<T>`] is, written with serde.
pub(crate) struct Serialized<T>(pub(crate) T);

impl<T: Type + Serialize> Payload for Serialized<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + Serialize + Send> IntoResponse for Serialized<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .header(header::CONTENT_TYPE, Self::CONTENT_TYPE)
                .body(body),
            // Only a map with non-string keys fails to serialize; none of our types has one.
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

impl<T: Type + ToJSON + Serialize + Send> ApiResponse for Serialized<T> {
    fn meta() -> MetaResponses {
        <Json<T> as ApiResponse>::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{TimeZone, Utc};
    use poem_openapi::types::ToJSON;
    use serde::Serialize;
    use uuid::Uuid;

    use super::super::schema::{AuditPage, DealershipOut, Paged, SessionList, UserOut};

    /// serde's JSON for `value` is exactly what poem-openapi writes for it.
    fn same_json<T: Serialize + ToJSON>(value: &T) {
        let by_serde = serde_json::to_value(value).unwrap();
        let by_openapi = value.to_json().unwrap();
        assert_eq!(by_serde, by_openapi);
        let text = String::from_utf8(serde_json::to_vec(value).unwrap()).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            by_openapi
        );
    }

    #[test]
    fn every_type_served_with_serde_is_written_as_its_openapi_type_writes_it() {
        let at = Utc.timestamp_opt(1_796_000_000, 123_456_000).unwrap();
        let whole = Utc.timestamp_opt(1_796_000_000, 0).unwrap();
        let user = |dealership_id: Option<Uuid>| UserOut {
            id: Uuid::new_v4(),
            email: "a\"b\\c\u{e9}@x.example".into(),
            full_name: "Zoë \u{1f697} \"Quotes\"".into(),
            role: adam_api::Role::FiManager,
            dealership_id,
            is_active: true,
            mfa_enabled: false,
            last_sign_in_at: dealership_id.map(|_| at),
            created_at: at,
            updated_at: whole,
        };
        same_json(&Paged {
            items: vec![user(Some(Uuid::new_v4())), user(None)],
            total: u64::MAX,
            limit: 100,
            offset: 7,
        });
        same_json(&Paged::<UserOut> {
            items: vec![],
            total: 0,
            limit: 1,
            offset: 0,
        });
        same_json(&Paged {
            items: vec![DealershipOut {
                id: Uuid::new_v4(),
                name: "Premium Auto".into(),
                is_active: false,
                mfa_required: true,
                created_at: at,
                updated_at: at,
            }],
            total: 1,
            limit: 50,
            offset: 0,
        });
        same_json(&SessionList {
            items: vec![adam_api::Session {
                id: Uuid::new_v4(),
                created_at: whole,
                last_used_at: at,
                expires_at: at,
                ip: Some("203.0.113.9".into()),
                user_agent: None,
                current: true,
                amr: vec!["pwd".into(), "otp".into()],
            }],
        });
        same_json(&AuditPage {
            items: vec![adam_api::AuditEvent {
                id: Uuid::new_v4(),
                at,
                action: "user.updated".into(),
                actor: Some(adam_api::AuditActor {
                    id: Uuid::new_v4(),
                    email: None,
                }),
                dealership_id: None,
                subject: Some(adam_api::AuditSubject {
                    kind: "user".into(),
                    id: Uuid::new_v4(),
                }),
                session_id: Some(Uuid::new_v4()),
                ip: None,
                user_agent: Some("wrk".into()),
                details: serde_json::json!({"fields": ["email"], "n": 1.5, "nested": {"x": null}}),
            }],
            next_cursor: Some("abc".into()),
        });
        same_json(&AuditPage {
            items: vec![],
            next_cursor: None,
        });
    }
}
