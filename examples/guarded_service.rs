//! Run with: `cargo run -p adam-core --example guarded_service`
//!
//! Another Rust service linking `adam-core`: it verifies Adam access tokens in-process (no call to
//! `adam-server`, only the shared `SECRET_KEY`) and guards its own route, "the deals of a
//! dealership", by role and dealership. The demo signs the seed accounts in against an embedded
//! engine, then asks the guarded route with each token.

use adam_core::tokens::{AccessTokenVerifier, SigningKey, TokenAudience};
use adam_core::{Adam, DealershipId, Role, Settings};

/// What the service answers, as an HTTP status would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200: here are the deals.
    Deals,
    /// 401: no valid Adam access token.
    Unauthorized,
    /// 403: a valid caller who may not read deals.
    Forbidden,
    /// 404: the dealership is not the caller's.
    NotFound,
}

/// The service's own guard: F&I managers and principals read the deals of their own dealership,
/// system admins of any; anyone else's dealership does not exist for the caller.
pub fn list_deals(
    verifier: &AccessTokenVerifier,
    authorization: Option<&str>,
    dealership: DealershipId,
) -> Answer {
    let Some(token) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Answer::Unauthorized;
    };
    let Ok(caller) = verifier.verify(token) else {
        return Answer::Unauthorized;
    };
    if !caller.can_see_dealership(dealership) {
        return Answer::NotFound;
    }
    match caller.role() {
        Role::SystemAdmin | Role::DealerPrincipal | Role::FiManager => Answer::Deals,
    }
}

/// Signs the seed accounts in and checks each answer of the guarded route. Returns the lines it
/// printed, or the first answer that was wrong.
pub async fn demo() -> Result<Vec<String>, String> {
    let secret = b"the SECRET_KEY shared with adam-server, 32+ bytes";
    let key = SigningKey::hs256(secret).map_err(|e| e.to_string())?;
    let adam = Adam::connect("sqlite::memory:", key, Settings::default())
        .await
        .map_err(|e| e.to_string())?;
    adam.migrate_up().await.map_err(|e| e.to_string())?;
    adam.seed().await.map_err(|e| e.to_string())?;

    // The other service holds only this: the key and the expected issuer and audience.
    let verifier = AccessTokenVerifier::new(
        SigningKey::hs256(secret).map_err(|e| e.to_string())?,
        TokenAudience::default(),
    );

    let mut lines = Vec::new();
    let manager = adam
        .login("manager@premiumauto.com", "Manager123!")
        .await
        .map_err(|e| e.to_string())?;
    let own = verifier
        .verify(&manager.access_token)
        .map_err(|e| e.to_string())?
        .dealership_id()
        .ok_or("a manager has a dealership")?;
    let elsewhere = DealershipId::new();
    let admin = adam
        .login("admin@avataradam.com", "Admin123!@#")
        .await
        .map_err(|e| e.to_string())?;
    let header = |t: &str| format!("Bearer {t}");
    let cases = [
        (
            "manager, own dealership",
            Some(header(&manager.access_token)),
            own,
            Answer::Deals,
        ),
        (
            "manager, other dealership",
            Some(header(&manager.access_token)),
            elsewhere,
            Answer::NotFound,
        ),
        (
            "admin, any dealership",
            Some(header(&admin.access_token)),
            elsewhere,
            Answer::Deals,
        ),
        ("no token", None, own, Answer::Unauthorized),
        (
            "forged token",
            Some("Bearer eyJhbGciOiJub25lIn0.e30.".to_owned()),
            own,
            Answer::Unauthorized,
        ),
    ];
    for (what, auth, dealership, want) in cases {
        let got = list_deals(&verifier, auth.as_deref(), dealership);
        if got != want {
            return Err(format!("{what}: got {got:?}, want {want:?}"));
        }
        lines.push(format!("{what:<28} -> {got:?}"));
    }
    Ok(lines)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match demo().await {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("guarded_service: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_demo_answers_as_the_contract_says() {
        let lines = super::demo().await.unwrap();
        assert_eq!(lines.len(), 5);
    }
}
