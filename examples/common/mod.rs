//! What the three examples share: a client of adam-server's sign-in (as the service's users
//! would have), and the demonstration each example runs against its own guarded route.

#![allow(dead_code)]

use adam_core::Caller;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A seed account signed in at the Adam server: its access and refresh tokens.
pub struct SignedIn {
    pub access: String,
    pub refresh: String,
}

/// What each example's guarded route answers: the deals of the caller's dealership. The route is
/// the service's own; only how it checks the caller differs between the examples.
pub fn deals_of(caller: &Caller) -> String {
    format!(
        "deals of {} for {}",
        caller
            .dealership_id()
            .map_or("every dealership".into(), |d| d.to_string()),
        caller.role().as_str()
    )
}

/// Signs in at the Adam server at `adam_url`.
pub async fn sign_in(adam_url: &str, email: &str, password: &str) -> Result<SignedIn, String> {
    let resp = reqwest::Client::new()
        .post(format!("{adam_url}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("sign-in of {email}: {}", resp.status()));
    }
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    let field = |k: &str| body[k].as_str().map(str::to_owned).ok_or(format!("no {k}"));
    Ok(SignedIn {
        access: field("access_token")?,
        refresh: field("refresh_token")?,
    })
}

/// Signs out at the Adam server: the session ends.
pub async fn sign_out(adam_url: &str, refresh: &str) -> Result<(), String> {
    let resp = reqwest::Client::new()
        .post(format!("{adam_url}/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != StatusCode::NO_CONTENT {
        return Err(format!("sign-out: {}", resp.status()));
    }
    Ok(())
}

/// Asks the guarded route `url` with `token`; the status and the body.
pub async fn ask(url: &str, token: Option<&str>) -> Result<(StatusCode, String), String> {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED && resp.headers().get("www-authenticate").is_none() {
        return Err("a 401 without WWW-Authenticate".into());
    }
    Ok((status, resp.text().await.map_err(|e| e.to_string())?))
}

/// The demonstration: the guarded route `deals` of the example's service, asked by a signed-in
/// manager, by nobody, with a forged token, and after the manager signed out. `after_sign_out`
/// is the status this way of checking answers then (401 for the in-process check and
/// introspection; 200 for the offline check, until the token expires). Returns the lines it
/// printed, or the first answer that was wrong.
pub async fn demo(
    adam_url: &str,
    deals: &str,
    after_sign_out: StatusCode,
) -> Result<Vec<String>, String> {
    let manager = sign_in(adam_url, "manager@premiumauto.com", "Manager123!").await?;
    let mut lines = Vec::new();
    let mut expect = |what: &str, got: (StatusCode, String), want: StatusCode| {
        if got.0 != want {
            return Err(format!("{what}: got {} {}, want {want}", got.0, got.1));
        }
        lines.push(format!("{what:<32} -> {} {}", got.0.as_u16(), got.1));
        Ok(())
    };
    let own = ask(deals, Some(&manager.access)).await?;
    if !own.1.contains("fi_manager") {
        return Err(format!("the route did not see the caller: {}", own.1));
    }
    expect("manager", own, StatusCode::OK)?;
    expect(
        "no token",
        ask(deals, None).await?,
        StatusCode::UNAUTHORIZED,
    )?;
    let forged = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.";
    expect(
        "forged token",
        ask(deals, Some(forged)).await?,
        StatusCode::UNAUTHORIZED,
    )?;
    sign_out(adam_url, &manager.refresh).await?;
    expect(
        "manager, after signing out",
        ask(deals, Some(&manager.access)).await?,
        after_sign_out,
    )?;
    Ok(lines)
}

/// Runs `demo` and prints its lines; the exit code says whether every answer was right.
pub fn report(result: Result<Vec<String>, String>) -> std::process::ExitCode {
    match result {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `ADAM_URL`: the Adam server (its `PUBLIC_URL`).
pub fn adam_url() -> String {
    std::env::var("ADAM_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into())
}

/// Serves a poem application on a free loopback port; its base URL.
pub async fn serve_poem(app: impl poem::Endpoint + 'static) -> Result<String, String> {
    use poem::listener::{Acceptor, Listener, TcpListener};
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .map_err(|e| e.to_string())?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or("no local address")?;
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    Ok(format!("http://{addr}"))
}
