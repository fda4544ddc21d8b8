//! The refresh token's only home: one OS keyring entry per server and account.

use keyring_core::Entry;

use crate::error::DesktopError;

/// Keyring service name of every entry the app writes.
pub const SERVICE: &str = "adam-desktop";

/// Reads and writes refresh tokens in the default keyring store. Keyring calls block, so each
/// runs on Tokio's blocking pool.
#[derive(Debug, Clone, Default)]
pub struct Vault;

/// The keyring user name of an entry: it names the account and the server.
pub fn entry_name(server: &str, account: &str) -> String {
    format!("{account} @ {server}")
}

impl Vault {
    async fn with_entry<T: Send + 'static>(
        server: &str,
        account: &str,
        f: impl FnOnce(Entry) -> Result<T, keyring_core::Error> + Send + 'static,
    ) -> Result<T, DesktopError> {
        let name = entry_name(server, account);
        tokio::task::spawn_blocking(move || Entry::new(SERVICE, &name).and_then(f))
            .await
            .map_err(|e| DesktopError::Keyring(e.to_string()))?
            .map_err(DesktopError::from)
    }

    /// Stores (or replaces) the refresh token of `account` on `server`.
    pub async fn save(
        &self,
        server: &str,
        account: &str,
        refresh: &str,
    ) -> Result<(), DesktopError> {
        let secret = refresh.to_owned();
        Self::with_entry(server, account, move |e| e.set_password(&secret)).await
    }

    /// The stored refresh token, if any.
    pub async fn load(&self, server: &str, account: &str) -> Result<Option<String>, DesktopError> {
        Self::with_entry(server, account, |e| match e.get_password() {
            Ok(p) => Ok(Some(p)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    /// Removes the entry; a missing entry is not an error.
    pub async fn delete(&self, server: &str, account: &str) -> Result<(), DesktopError> {
        Self::with_entry(server, account, |e| match e.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(e),
        })
        .await
    }
}
