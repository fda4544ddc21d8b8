//! # adam-desktop
//!
//! The desktop app dealership staff sign in with. The web UI calls Tauri commands
//! ([`commands`]); Rust does the HTTP ([`session`]), keeps the access token in memory and the
//! refresh token in the OS keyring ([`vault`]). No token ever reaches JavaScript.

use std::sync::Arc;

use tauri::Manager;

pub mod browser_sign_in;
pub mod commands;
pub mod error;
pub mod session;
pub mod vault;

pub use error::DesktopError;
pub use session::{normalise_server, Session};

/// The commands the window may call, by name (from the one list in `src/command_names.rs`).
pub const COMMAND_NAMES: &[&str] = {
    macro_rules! with_commands {
        ($($name:ident),* $(,)?) => {
            &[$(stringify!($name)),*]
        };
    }
    include!("command_names.rs")
};

/// Installs the operating system's keyring as the default credential store.
pub fn use_os_keyring() -> Result<(), DesktopError> {
    #[cfg(target_os = "linux")]
    {
        let store = zbus_secret_service_keyring_store::Store::new()?;
        keyring_core::set_default_store(store);
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(DesktopError::Keyring(
            "no keyring store is built in for this platform yet".into(),
        ))
    }
}

/// Starts the app.
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    if let Err(e) = use_os_keyring() {
        tracing::error!(error = %e, "no keyring: sign-in will not be remembered");
    }
    let result = tauri::Builder::default()
        .setup(|app| {
            let settings = app
                .path()
                .app_config_dir()
                .ok()
                .map(|d| d.join("settings.json"));
            let session =
                Session::new(settings, std::env::var("ADAM_SERVER_URL").ok()).or_else(|e| {
                    tracing::warn!(error = %e, "bad server address; using the default");
                    Session::new(None, None)
                })?;
            app.manage(Arc::new(session));
            Ok(())
        })
        .invoke_handler({
            macro_rules! with_commands {
                ($($name:ident),* $(,)?) => {
                    tauri::generate_handler![$(commands::$name),*]
                };
            }
            include!("command_names.rs")
        })
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("adam-desktop: {e}");
        std::process::exit(1);
    }
}
