//! A registered OpenID Connect client, and the rules that read only the client: which redirect
//! URI a request names, and who may sign in to it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::DealershipId;
use crate::oauth_clients::redirect::RedirectUri;
use crate::placement::Placement;
use crate::role::Role;

/// How a client's ID tokens are signed: the algorithms of Adam's signing keys.
pub use crate::keys::state::SigningAlg as IdTokenAlg;

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// Adam's id of the client (the audit log's subject).
    pub id: Uuid,
    /// The protocol's `client_id`.
    pub client_id: String,
    /// The application's name, shown on the consent page.
    pub name: String,
    /// Where authorization answers may go (exact match; a loopback IP literal's port may differ).
    pub redirect_uris: Vec<RedirectUri>,
    /// Where RP-initiated logout may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Where back-channel logout tokens are posted, if anywhere.
    pub backchannel_logout_uri: Option<RedirectUri>,
    /// A public client (a single-page or native app) has no secret.
    pub public: bool,
    /// A first-party client asks no consent, and its access tokens are good at `/api/v1`.
    pub first_party: bool,
    /// The roles that may sign in to it; empty: every role.
    pub allowed_roles: Vec<Role>,
    /// The dealerships whose staff may sign in to it; empty: every dealership.
    pub dealership_ids: Vec<DealershipId>,
    /// How its ID tokens are signed.
    pub id_token_alg: IdTokenAlg,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl OAuthClient {
    /// The registered redirect URI `presented` is, if any.
    pub fn redirect_uri(&self, presented: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|u| u.matches(presented))
    }

    /// Whether a user of `placement` may sign in to this client (`allowed_roles`,
    /// `dealership_ids`).
    pub fn admits(&self, placement: Placement) -> bool {
        let role = self.allowed_roles.is_empty() || self.allowed_roles.contains(&placement.role());
        let dealership = self.dealership_ids.is_empty()
            || placement
                .dealership_id()
                .is_some_and(|d| self.dealership_ids.contains(&d));
        role && dealership
    }
}
