//! OpenID Connect clients (contract: "OpenID Connect provider"): the dealership's other
//! applications that sign staff in through Adam. System admins register, change and delete them;
//! a confidential client's secret is shown once and kept as its SHA-256; the protocol's
//! endpoints find a client by `client_id` and check its secret in constant time.

mod client;
mod redirect;
pub(crate) mod store;

pub use client::{IdTokenAlg, OAuthClient};
pub use redirect::{RedirectUri, MAX_URI_LEN};

use uuid::Uuid;

use crate::audit::events::{ClientEvent, Event};
use crate::db::{ts, Intent};
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::DealershipId;
use crate::links::LinkToken;
use crate::models::Name;
use crate::rbac::{self, Principal};
use crate::role::Role;
use crate::sessions::refresh::TokenDigest;
use crate::sessions::revocation::{self, Change};

/// Prefix of a client secret.
pub const CLIENT_SECRET_PREFIX: &str = "adam_cs_";
/// Most redirect URIs (and post-logout redirect URIs) a client may register.
pub const MAX_URIS: usize = 20;

/// A client to register, as the API or the CLI gives it.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// The `client_id` to use (3 to 64 of `a-z 0-9 . _ -`), or none for a generated one.
    pub client_id: Option<String>,
    /// The application's name.
    pub name: Name,
    /// At least one redirect URI.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// The back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// A public client (no secret).
    pub public: bool,
    /// A first-party client.
    pub first_party: bool,
    /// The roles that may sign in; empty: all.
    pub allowed_roles: Vec<Role>,
    /// The dealerships whose staff may sign in; empty: all.
    pub dealership_ids: Vec<DealershipId>,
    /// How its ID tokens are signed.
    pub id_token_alg: IdTokenAlg,
}

/// A change to a client; `None` leaves a field as it is. Whether it is public is fixed.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    /// A new name.
    pub name: Option<Name>,
    /// New redirect URIs (at least one).
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// A new back-channel logout URI, or `Some(None)` for none.
    pub backchannel_logout_uri: Option<Option<String>>,
    /// First party or not.
    pub first_party: Option<bool>,
    /// New allowed roles.
    pub allowed_roles: Option<Vec<Role>>,
    /// New dealerships.
    pub dealership_ids: Option<Vec<DealershipId>>,
    /// A new ID token algorithm.
    pub id_token_alg: Option<IdTokenAlg>,
}

/// A client just registered (or given a new secret), with its secret: shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The client.
    pub client: OAuthClient,
    /// A confidential client's secret (none for a public client).
    pub secret: Option<LinkToken>,
}

/// Checks a list of URIs for `field`.
fn uris(field: &'static str, list: &[String], at_least_one: bool) -> Result<Vec<RedirectUri>> {
    if at_least_one && list.is_empty() {
        return Err(Error::invalid(field, "needs at least one URI"));
    }
    if list.len() > MAX_URIS {
        return Err(Error::invalid(field, "has more than 20 URIs"));
    }
    let parsed = list
        .iter()
        .map(|text| RedirectUri::parse(text).map_err(|reason| Error::invalid(field, reason)))
        .collect::<Result<Vec<_>>>()?;
    Ok(dedup(parsed))
}

fn one_uri(field: &'static str, text: Option<&str>) -> Result<Option<RedirectUri>> {
    text.map(|t| RedirectUri::parse(t).map_err(|reason| Error::invalid(field, reason)))
        .transpose()
}

fn client_id_of(given: Option<String>) -> Result<String> {
    match given {
        None => Ok(format!("client-{}", Uuid::new_v4().simple())),
        Some(id) => {
            let ok = (3..=64).contains(&id.len())
                && id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                });
            if ok {
                Ok(id)
            } else {
                Err(Error::invalid(
                    "client_id",
                    "must be 3 to 64 of a-z, 0-9, '.', '_' and '-'",
                ))
            }
        }
    }
}

fn dedup<T: PartialEq>(list: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

impl Adam {
    /// Registers a client (system admins). A confidential client receives its secret here,
    /// once; a `client_id` in use is [`Error::Conflict`].
    pub async fn register_client(&self, caller: &Principal, new: NewClient) -> Result<Registered> {
        self.register_client_by(Some(caller), new).await
    }

    /// [`Adam::register_client`] for the server's operator (`adam-server clients add`): acts for
    /// no user; the audit event has no actor.
    pub async fn operator_register_client(&self, new: NewClient) -> Result<Registered> {
        self.register_client_by(None, new).await
    }

    /// Every registered client, for the server's operator (`adam-server clients list`).
    pub async fn operator_clients(&self) -> Result<Vec<OAuthClient>> {
        self.clients_by(None).await
    }

    /// [`Adam::new_client_secret`] for the server's operator.
    pub async fn operator_new_client_secret(&self, client_id: &str) -> Result<Registered> {
        self.new_client_secret_by(None, client_id).await
    }

    /// [`Adam::delete_client`] for the server's operator.
    pub async fn operator_delete_client(&self, client_id: &str) -> Result<()> {
        self.delete_client_by(None, client_id).await
    }

    /// A unit of work on the clients: a system admin's (checked), or the operator's.
    async fn clients_tx(
        &self,
        caller: Option<&Principal>,
        intent: Intent,
    ) -> Result<crate::db::Tx> {
        match caller {
            Some(caller) => {
                rbac::authorize_manage_clients(caller)?;
                self.begin_system_for(caller, intent).await
            }
            None => self.begin_system(intent).await,
        }
    }

    async fn register_client_by(
        &self,
        caller: Option<&Principal>,
        new: NewClient,
    ) -> Result<Registered> {
        // Who may ask comes first: nobody else learns what a valid client would be.
        if let Some(caller) = caller {
            rbac::authorize_manage_clients(caller)?;
        }
        // As stored (microseconds), so that what this returns is what a read returns.
        let now = ts(self.now());
        let client = OAuthClient {
            id: Uuid::new_v4(),
            client_id: client_id_of(new.client_id)?,
            name: new.name.as_str().to_owned(),
            redirect_uris: uris("redirect_uris", &new.redirect_uris, true)?,
            post_logout_redirect_uris: uris(
                "post_logout_redirect_uris",
                &new.post_logout_redirect_uris,
                false,
            )?,
            backchannel_logout_uri: one_uri(
                "backchannel_logout_uri",
                new.backchannel_logout_uri.as_deref(),
            )?,
            public: new.public,
            first_party: new.first_party,
            allowed_roles: dedup(new.allowed_roles),
            dealership_ids: dedup(new.dealership_ids),
            id_token_alg: new.id_token_alg,
            created_at: now,
            updated_at: now,
        };
        let secret = (!client.public).then(|| LinkToken::generate(CLIENT_SECRET_PREFIX));
        let mut tx = self.clients_tx(caller, Intent::Write).await?;
        store::save(
            &mut tx,
            &client,
            secret.as_ref().map(LinkToken::digest).as_ref(),
            true,
        )
        .await?;
        tx.record(Event::OAuthClient {
            what: ClientEvent::Created,
            id: client.id,
            client_id: client.client_id.clone(),
            fields: Vec::new(),
        })
        .await?;
        tx.commit().await?;
        self.keys_for(&client).await?;
        Ok(Registered { client, secret })
    }

    /// Makes sure the keys `client`'s ID tokens are signed with exist and are published before
    /// its first sign-in: the first client registered for RS256 makes the RSA keys.
    async fn keys_for(&self, client: &OAuthClient) -> Result<()> {
        self.keys.get_for(client.id_token_alg).await.map(drop)
    }

    /// Every registered client (system admins), by `client_id`.
    pub async fn clients(&self, caller: &Principal) -> Result<Vec<OAuthClient>> {
        self.clients_by(Some(caller)).await
    }

    async fn clients_by(&self, caller: Option<&Principal>) -> Result<Vec<OAuthClient>> {
        let mut tx = self.clients_tx(caller, Intent::Read).await?;
        let all = store::list(&mut tx).await?;
        tx.commit().await?;
        Ok(all)
    }

    /// One client by `client_id` (system admins), or [`Error::NotFound`].
    pub async fn client(&self, caller: &Principal, client_id: &str) -> Result<OAuthClient> {
        let caller = Some(caller);
        let mut tx = self.clients_tx(caller, Intent::Read).await?;
        let found = store::get(&mut tx, client_id).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Changes a client (system admins); `oauth_client.updated` names the fields changed.
    pub async fn update_client(
        &self,
        caller: &Principal,
        client_id: &str,
        patch: ClientPatch,
    ) -> Result<OAuthClient> {
        let caller = Some(caller);
        let mut tx = self.clients_tx(caller, Intent::Write).await?;
        let before = store::get(&mut tx, client_id).await?;
        let mut after = before.clone();
        if let Some(name) = patch.name {
            after.name = name.as_str().to_owned();
        }
        if let Some(list) = &patch.redirect_uris {
            after.redirect_uris = uris("redirect_uris", list, true)?;
        }
        if let Some(list) = &patch.post_logout_redirect_uris {
            after.post_logout_redirect_uris = uris("post_logout_redirect_uris", list, false)?;
        }
        if let Some(uri) = &patch.backchannel_logout_uri {
            after.backchannel_logout_uri = one_uri("backchannel_logout_uri", uri.as_deref())?;
        }
        if let Some(first) = patch.first_party {
            after.first_party = first;
        }
        if let Some(roles) = patch.allowed_roles {
            after.allowed_roles = dedup(roles);
        }
        if let Some(ds) = patch.dealership_ids {
            after.dealership_ids = dedup(ds);
        }
        if let Some(alg) = patch.id_token_alg {
            after.id_token_alg = alg;
        }
        let fields = changed(&before, &after);
        if fields.is_empty() {
            tx.commit().await?;
            return Ok(before);
        }
        after.updated_at = ts(self.now());
        store::save(&mut tx, &after, None, false).await?;
        tx.record(Event::OAuthClient {
            what: ClientEvent::Updated,
            id: after.id,
            client_id: after.client_id.clone(),
            fields,
        })
        .await?;
        tx.commit().await?;
        self.keys_for(&after).await?;
        Ok(after)
    }

    /// Gives a confidential client a new secret (shown once); the old one stops working at
    /// once. A public client has none: [`Error::Conflict`].
    pub async fn new_client_secret(
        &self,
        caller: &Principal,
        client_id: &str,
    ) -> Result<Registered> {
        self.new_client_secret_by(Some(caller), client_id).await
    }

    async fn new_client_secret_by(
        &self,
        caller: Option<&Principal>,
        client_id: &str,
    ) -> Result<Registered> {
        let mut tx = self.clients_tx(caller, Intent::Write).await?;
        let mut client = store::get(&mut tx, client_id).await?;
        if client.public {
            return Err(Error::conflict("a public client has no secret"));
        }
        let secret = LinkToken::generate(CLIENT_SECRET_PREFIX);
        client.updated_at = ts(self.now());
        store::save(&mut tx, &client, Some(&secret.digest()), false).await?;
        tx.record(Event::OAuthClient {
            what: ClientEvent::Updated,
            id: client.id,
            client_id: client.client_id.clone(),
            fields: vec!["secret"],
        })
        .await?;
        tx.commit().await?;
        Ok(Registered {
            client,
            secret: Some(secret),
        })
    }

    /// Deletes a client (system admins).
    pub async fn delete_client(&self, caller: &Principal, client_id: &str) -> Result<()> {
        self.delete_client_by(Some(caller), client_id).await
    }

    async fn delete_client_by(&self, caller: Option<&Principal>, client_id: &str) -> Result<()> {
        let mut tx = self.clients_tx(caller, Intent::Write).await?;
        let client = store::get(&mut tx, client_id).await?;
        store::delete(&mut tx, client.id).await?;
        // Its grants end with it (and the consents given to it go with its row).
        revocation::apply(
            &mut tx,
            Change::ClientDeleted(&client.client_id),
            self.now(),
        )
        .await?;
        tx.record(Event::OAuthClient {
            what: ClientEvent::Deleted,
            id: client.id,
            client_id: client.client_id,
            fields: Vec::new(),
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The client a request names, checked as the token endpoint checks it: a public client
    /// presents no secret; a confidential one its secret (compared in constant time, as
    /// digests). Anything else is [`Error::Unauthorized`], the same for an unknown client.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<OAuthClient> {
        let refused = || Error::unauthorized("invalid client");
        if client_id.len() > 64 || client_id.contains('\0') {
            return Err(refused());
        }
        let mut tx = self.begin_system(Intent::Read).await?;
        let found = store::by_client_id(&mut tx, client_id).await?;
        tx.commit().await?;
        let (client, stored) = found.ok_or_else(refused)?;
        match (client.public, secret, stored) {
            (true, None, _) => Ok(client),
            (false, Some(given), Some(stored))
                if crate::hashing::constant_time_eq(&TokenDigest::of(given).0, &stored) =>
            {
                Ok(client)
            }
            _ => Err(refused()),
        }
    }
}

/// The names of the fields a change made.
fn changed(before: &OAuthClient, after: &OAuthClient) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut note = |same: bool, name| {
        if !same {
            fields.push(name);
        }
    };
    note(before.name == after.name, "name");
    note(before.redirect_uris == after.redirect_uris, "redirect_uris");
    note(
        before.post_logout_redirect_uris == after.post_logout_redirect_uris,
        "post_logout_redirect_uris",
    );
    note(
        before.backchannel_logout_uri == after.backchannel_logout_uri,
        "backchannel_logout_uri",
    );
    note(before.first_party == after.first_party, "first_party");
    note(before.allowed_roles == after.allowed_roles, "allowed_roles");
    note(
        before.dealership_ids == after.dealership_ids,
        "dealership_ids",
    );
    note(
        before.id_token_alg == after.id_token_alg,
        "id_token_signed_response_alg",
    );
    fields
}
