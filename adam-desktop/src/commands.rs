//! The Tauri commands the UI calls. Each is a thin wrapper over [`Session`]; none returns a token.

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use tauri::State;

use crate::error::DesktopError;
use crate::session::{Profile, Session};

type Shared<'a> = State<'a, Arc<Session>>;
type Answer<T> = Result<T, DesktopError>;

/// The server address in use.
#[tauri::command]
pub async fn server_url(session: Shared<'_>) -> Answer<String> {
    Ok(session.server_url().await)
}

/// Changes the server address (signed out only).
#[tauri::command]
pub async fn set_server_url(session: Shared<'_>, url: String) -> Answer<String> {
    session.set_server_url(&url).await
}

/// Silent sign-in with the stored refresh token; `null` when there is none or it is dead.
#[tauri::command]
pub async fn restore_session(session: Shared<'_>) -> Answer<Option<Profile>> {
    session.restore().await
}

/// Sign in with email and password.
#[tauri::command]
pub async fn sign_in(session: Shared<'_>, email: String, password: String) -> Answer<Profile> {
    session.sign_in(&email, &password).await
}

/// Sign out on this device.
#[tauri::command]
pub async fn sign_out(session: Shared<'_>) -> Answer<()> {
    session.sign_out().await
}

/// Sign out on every device.
#[tauri::command]
pub async fn sign_out_everywhere(session: Shared<'_>) -> Answer<()> {
    session.sign_out_everywhere().await
}

/// My profile.
#[tauri::command]
pub async fn profile(session: Shared<'_>) -> Answer<Profile> {
    session.profile().await
}

/// Change my name.
#[tauri::command]
pub async fn update_profile(session: Shared<'_>, full_name: String) -> Answer<Profile> {
    session.update_me(json!({ "full_name": full_name })).await?;
    session.profile().await
}

/// Change my password (the server checks the current one).
#[tauri::command]
pub async fn change_password(
    session: Shared<'_>,
    current_password: String,
    new_password: String,
) -> Answer<()> {
    session
        .update_me(json!({ "password": new_password, "current_password": current_password }))
        .await?;
    Ok(())
}

/// The users I can see, optionally searched, with the dealerships I can see.
#[tauri::command]
pub async fn list_users(session: Shared<'_>, query: Option<String>) -> Answer<Value> {
    let q = query.unwrap_or_default();
    let path = if q.trim().is_empty() {
        "/users/?limit=100".to_owned()
    } else {
        format!("/users/?limit=100&q={}", encode(q.trim()))
    };
    let users = session.call(Method::GET, &path, None).await?;
    let dealerships = session
        .call(Method::GET, "/dealerships/?limit=100", None)
        .await?;
    Ok(json!({ "users": users, "dealerships": dealerships }))
}

/// A new user, as the form sends it.
#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    email: String,
    full_name: String,
    role: String,
    password: String,
    dealership_id: Option<String>,
}

/// Create a user (admins and principals, within what the server allows).
#[tauri::command]
pub async fn create_user(session: Shared<'_>, user: NewUserForm) -> Answer<Value> {
    let mut body = json!({
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "password": user.password,
    });
    if let Some(d) = user.dealership_id.filter(|d| !d.is_empty()) {
        body["dealership_id"] = Value::String(d);
    }
    session.call(Method::POST, "/users/", Some(body)).await
}

/// Changes to a user, as the form sends them.
#[derive(Debug, Deserialize)]
pub struct UserChanges {
    full_name: Option<String>,
    role: Option<String>,
    is_active: Option<bool>,
}

/// Change a user's name, role or active flag.
#[tauri::command]
pub async fn update_user(session: Shared<'_>, id: String, changes: UserChanges) -> Answer<Value> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(DesktopError::Invalid("not a user id".into()));
    }
    let mut body = serde_json::Map::new();
    if let Some(n) = changes.full_name {
        body.insert("full_name".into(), Value::String(n));
    }
    if let Some(r) = changes.role {
        body.insert("role".into(), Value::String(r));
    }
    if let Some(a) = changes.is_active {
        body.insert("is_active".into(), Value::Bool(a));
    }
    session
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(Value::Object(body)),
        )
        .await
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
