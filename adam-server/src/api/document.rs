//! The OpenAPI document as served at `/api/v1/openapi.json`: poem-openapi's, completed with what
//! its derives cannot say and the server enforces (nullable fields, refused unknown properties,
//! bounds, 415 answers, success descriptions), from the same constants the checks use. Also the
//! `Allow` header of 405 answers, from the document's paths.

use std::sync::OnceLock;

use adam_core::{
    Adam, AuditCursor, AuditFilter, AuditLimit, Email, Name, PageRequest, PasswordPolicy,
    UserFilter,
};
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::mail::Mailbell;

/// Request bodies that refuse unknown properties (`deny_unknown_fields`).
const STRICT_BODIES: &[&str] = &[
    "OAuthClientCreate",
    "OAuthClientUpdate",
    "LoginRequest",
    "RefreshRequest",
    "UserCreate",
    "UserUpdate",
    "DealershipCreate",
    "DealershipUpdate",
    "PasswordConfirmation",
    "CodeRequest",
    "DisableTotpRequest",
    "MfaLoginRequest",
    "MfaTokenRequest",
    "PasswordChangeRequest",
    "InvitationCreate",
    "PasswordResetRequest",
    "PasskeyRegistration",
    "PasskeySignIn",
    "PasskeySecondStep",
];

/// The document poem-openapi generated (`spec`), completed; `password_min` is the configured
/// shortest password.
pub(crate) fn complete(spec: &str, password_min: usize) -> Value {
    let Ok(mut doc) = serde_json::from_str::<Value>(spec) else {
        return Value::Null;
    };
    let schemas = &mut doc["components"]["schemas"];
    for name in STRICT_BODIES {
        if let Some(schema) = schemas.get_mut(*name).and_then(Value::as_object_mut) {
            schema.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    // A system admin's dealership is null, and always present.
    always_present_or_null(schemas, "User", &["dealership_id", "last_sign_in_at"]);
    // The access review's unknown parts.
    always_present_or_null(
        schemas,
        "ReviewEntry",
        &["dealership_name", "last_sign_in_at", "invited_by"],
    );
    // In a change, null is "unchanged" (and for a user's dealership, "none").
    for update in ["UserUpdate", "DealershipUpdate", "OAuthClientUpdate"] {
        let fields: Vec<String> = schemas[update]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        for field in fields {
            set(schemas, update, &field, json!({"nullable": true}));
        }
    }
    // An invitation of a system admin has no dealership; one whose inviter was deleted no inviter.
    always_present_or_null(schemas, "Invitation", &["dealership_id", "invited_by"]);
    always_present_or_null(schemas, "OAuthClient", &["backchannel_logout_uri"]);
    // A session's address and program are null when unknown, and always present.
    always_present_or_null(schemas, "Session", &["ip", "user_agent"]);
    // So are an audit event's unknown or absent parts.
    always_present_or_null(
        schemas,
        "AuditEvent",
        &[
            "actor",
            "dealership_id",
            "subject",
            "session_id",
            "ip",
            "user_agent",
        ],
    );
    always_present_or_null(schemas, "AuditActor", &["email"]);
    always_present_or_null(schemas, "AuditPage", &["next_cursor"]);
    set(schemas, "AuditEvent", "details", json!({"type": "object"}));
    // No hint and a null hint are the same (RFC 7662 §2.1: the hint is optional).
    set(
        schemas,
        "IntrospectRequest",
        "token_type_hint",
        json!({"nullable": true}),
    );
    let name = json!({"minLength": 1, "maxLength": Name::MAX_LEN, "pattern": name_pattern()});
    let password = json!({"minLength": password_min, "maxLength": PasswordPolicy::MAX_LEN});
    let email = json!({"maxLength": Email::MAX_LEN});
    for (schema, field, bounds) in [
        ("UserCreate", "full_name", &name),
        ("UserUpdate", "full_name", &name),
        ("DealershipCreate", "name", &name),
        ("DealershipUpdate", "name", &name),
        ("UserCreate", "password", &password),
        ("UserUpdate", "password", &password),
        ("PasswordChangeRequest", "new_password", &password),
        ("UserCreate", "email", &email),
        ("UserUpdate", "email", &email),
    ] {
        set(schemas, schema, field, bounds.clone());
    }

    plain_references(schemas);

    let Some(paths) = doc["paths"].as_object_mut() else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (_, op) in operations.iter_mut() {
            complete_operation(path, op);
        }
    }
    doc
}

/// poem-openapi describes a property of a referenced type as `allOf: [{$ref}, {description}]`,
/// which client generators refuse for enums ("cannot take allOf a non-object"). Such a property
/// becomes the plain `$ref`, or, when nullable (a `$ref`'s siblings are ignored in OpenAPI 3.0),
/// a copy of the referenced schema marked nullable.
fn plain_references(schemas: &mut Value) {
    let Some(all) = schemas.as_object().cloned() else {
        return;
    };
    for schema in schemas
        .as_object_mut()
        .into_iter()
        .flat_map(|m| m.values_mut())
    {
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for property in properties.values_mut() {
            let Some(reference) = property
                .pointer("/allOf/0/$ref")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            let nullable = property.get("nullable") == Some(&Value::Bool(true));
            let description = property.get("description").cloned();
            let target = reference.rsplit('/').next().and_then(|name| all.get(name));
            *property = match (nullable, target) {
                (true, Some(target)) => {
                    let mut copy = target.clone();
                    if let Some(copy) = copy.as_object_mut() {
                        copy.remove("title");
                        copy.insert("nullable".into(), Value::Bool(true));
                        if let Some(d) = description {
                            copy.insert("description".into(), d);
                        }
                    }
                    copy
                }
                _ => json!({ "$ref": reference }),
            };
        }
    }
}

/// What a name may be: at least one character that is not white space, and no control (Cc)
/// or format (Cf) character. The pattern lists the format characters of the Basic Multilingual
/// Plane only: the others cannot be written in a pattern that ECMA-262 and other regex dialects
/// read alike (the server refuses them too).
fn name_pattern() -> String {
    let mut forbidden = String::from(r"\u0000-\u001f\u007f-\u009f");
    // U+200C and U+200D may join two letters (the server checks where they stand).
    for (lo, hi) in adam_core::FORMAT_CHARS
        .iter()
        .filter(|(lo, _)| *lo <= 0xFFFF)
        .flat_map(|&(lo, hi)| {
            if (lo..=hi).contains(&0x200C) {
                vec![(lo, 0x200B), (0x200E, hi)]
            } else {
                vec![(lo, hi)]
            }
        })
    {
        if lo == hi {
            forbidden.push_str(&format!(r"\u{lo:04x}"));
        } else {
            forbidden.push_str(&format!(r"\u{lo:04x}-\u{hi:04x}"));
        }
    }
    format!(r"^[^{forbidden}]*[^{forbidden}\s][^{forbidden}]*$")
}

/// Marks the properties `fields` of the schema `schema` nullable and required: the server
/// always writes them, `null` when there is nothing to say.
fn always_present_or_null(schemas: &mut Value, schema: &str, fields: &[&str]) {
    for field in fields {
        set(schemas, schema, field, json!({"nullable": true}));
        if let Some(required) = schemas
            .pointer_mut(&format!("/{schema}/required"))
            .and_then(Value::as_array_mut)
        {
            required.push((*field).into());
        }
    }
}

/// Adds `bounds` to the property `field` of the schema `schema`.
fn set(schemas: &mut Value, schema: &str, field: &str, bounds: Value) {
    // `get`/`pointer` only: indexing a `Value` mutably would insert what is missing.
    let (Some(property), Some(bounds)) = (
        schemas
            .pointer_mut(&format!("/{schema}/properties/{field}"))
            .and_then(Value::as_object_mut),
        bounds.as_object(),
    ) else {
        return;
    };
    for (k, v) in bounds {
        property.insert(k.clone(), v.clone());
    }
}

fn complete_operation(path: &str, op: &mut Value) {
    // The audit log pages by its own bound; every other list by `PageRequest`'s.
    let max_limit = if path.starts_with("/api/v1/audit-events") {
        AuditLimit::MAX
    } else {
        PageRequest::MAX_LIMIT
    };
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params {
            let bounds = match p["name"].as_str() {
                Some("limit") => json!({"minimum": 1, "maximum": max_limit}),
                Some("offset") => json!({"minimum": 0, "maximum": PageRequest::MAX_OFFSET}),
                Some("q") => json!({"maxLength": UserFilter::MAX_Q_LEN}),
                Some("action") => {
                    json!({"maxLength": AuditFilter::MAX_ACTION, "pattern": "^[^\\u0000]*$"})
                }
                Some("cursor") => json!({"pattern": AuditCursor::PATTERN}),
                _ => continue,
            };
            if let (Some(schema), Some(bounds)) = (p["schema"].as_object_mut(), bounds.as_object())
            {
                schema.extend(bounds.clone());
            }
        }
    }
    let has_body = op.get("requestBody").is_some();
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    // The OpenID Connect endpoints read any body as a form (their RFCs' errors, not 415).
    if has_body && !path.starts_with("/oauth2/") {
        responses.insert(
            "415".into(),
            json!({
                "description": "The body is not of a media type the operation accepts.",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }),
        );
    }
    for (status, answer) in responses.iter_mut() {
        if answer["description"].as_str().is_some_and(str::is_empty) {
            let what = answer["content"]["application/json; charset=utf-8"]["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or("the result")
                .replace("Paged_", "a page of ");
            answer["description"] = Value::String(format!("Success ({status}): {what}."));
        }
    }
}

/// The completed document's text and its table of allowed methods, made when first asked for
/// (a documentation page, `/openapi.json`, a 405): an idle server neither builds nor holds the
/// document's tree, megabytes while it is made.
pub(crate) struct Document {
    adam: Adam,
    bell: Mailbell,
    password_min: usize,
    made: OnceLock<Made>,
}

/// What [`Document`] keeps once made.
pub(crate) struct Made {
    /// The document as served at `/api/v1/openapi.json`.
    pub(crate) json: Bytes,
    /// Its paths' methods.
    pub(crate) allow: AllowTable,
}

impl Document {
    /// The document of the API that [`super::service`] makes of `adam` and `bell`, with
    /// `password_min` as the configured shortest password.
    pub(crate) fn new(adam: Adam, bell: Mailbell, password_min: usize) -> Self {
        Document {
            adam,
            bell,
            password_min,
            made: OnceLock::new(),
        }
    }

    /// The document, made by the first caller (others wait for it).
    pub(crate) fn get(&self) -> &Made {
        self.made.get_or_init(|| {
            let spec = super::service(&self.adam, &self.bell).spec();
            let doc = complete(&spec, self.password_min);
            Made {
                allow: AllowTable::of(&doc),
                json: Bytes::from(doc.to_string()),
            }
        })
    }
}

/// Each path of the document with the methods it allows, as an `Allow` header value: what a
/// 405 answer names, kept instead of the document itself (whose tree is megabytes).
pub(crate) struct AllowTable(Vec<(String, String)>);

impl AllowTable {
    /// The table of `doc`'s paths.
    pub(crate) fn of(doc: &Value) -> Self {
        let paths = doc["paths"].as_object().into_iter().flatten();
        AllowTable(
            paths
                .map(|(template, item)| {
                    let methods: Vec<String> = item
                        .as_object()
                        .into_iter()
                        .flat_map(|o| o.keys())
                        .map(|m| m.to_ascii_uppercase())
                        .collect();
                    (template.clone(), methods.join(", "))
                })
                .collect(),
        )
    }

    /// The methods allowed on `path`, if the document has it.
    pub(crate) fn allowed(&self, path: &str) -> Option<&str> {
        let path = path.trim_end_matches('/');
        self.0
            .iter()
            .find(|(template, _)| matches(template, path))
            .map(|(_, methods)| methods.as_str())
    }
}

/// Whether `path` fits `template` (`/users/{id}`: one segment per parameter).
fn matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_one_segment_per_parameter() {
        assert!(matches("/users/{id}", "/users/42"));
        assert!(!matches("/users/{id}", "/users"));
        assert!(!matches("/users/{id}", "/users/42/x"));
        assert!(matches("/api/v1/auth/me", "/api/v1/auth/me"));
    }
}
