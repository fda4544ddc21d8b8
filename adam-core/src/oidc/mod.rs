//! The OpenID Connect provider's rules (contract: "OpenID Connect provider"): codes, grants,
//! ID tokens, userinfo and revocation. The protocol's wire forms (query strings, form bodies,
//! error redirects) are the server's; what is issued to whom, and when it stops working, is here.
//!
//! - A code is single use, lives [`CODE_TTL_SECONDS`], and is bound to the client, the redirect
//!   URI as presented, the PKCE `S256` challenge and the nonce. A code presented twice ends the
//!   grant it made.
//! - A grant is a session whose parent is the browser session it was made in
//!   (`store::create_grant`): its tokens are checked by the live-session rule as any, ending
//!   the browser session ends it (`sessions::store::end`), and revoking it ends only it.
//! - A client that is not first-party receives access tokens for the userinfo endpoint only
//!   ([`crate::tokens::TokenAudience::userinfo_audience`]); a first-party client's are good at the API.

mod backchannel;
mod id_token;
pub(crate) mod pkce;
pub(crate) mod store;

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::db::Intent;
use crate::engine::Adam;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};
use crate::links::{presented, LinkToken};
use crate::models::User;
use crate::oauth_clients::store as clients;
use crate::oauth_clients::OAuthClient;
use crate::rbac::Principal;
use crate::role::Role;
use crate::sessions::refresh::{RefreshToken, TokenDigest};
use crate::sessions::revocation::{self, Change};
use crate::sessions::store::{self as sessions, LiveSession};
use crate::tokens::TokenAudience;
pub use backchannel::{LogoutDelivery, LogoutOutcome, LOGOUT_CLAIM_SECONDS, LOGOUT_GIVE_UP_HOURS};
use id_token::IdClaims;
pub use id_token::IdTokenHint;
use store::{CodeRow, CodeSpend, Parent};

/// Prefix of an authorization code.
pub const CODE_PREFIX: &str = "adam_code_";

/// How long a code may be exchanged, in seconds.
pub const CODE_TTL_SECONDS: i64 = 60;

/// Longest `nonce` kept.
const MAX_NONCE_LEN: usize = 512;

/// The scopes Adam knows; others are ignored, as OpenID Connect asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes {
    /// `profile`: the name.
    pub profile: bool,
    /// `email`: the email and whether it was proved.
    pub email: bool,
    /// `offline_access`: a refresh token (never outliving the sign-in).
    pub offline_access: bool,
}

impl Scopes {
    /// The scopes of a request's `scope` parameter; [`Error::Invalid`] without `openid`.
    pub fn parse(scope: &str) -> Result<Self> {
        let words: Vec<&str> = scope.split(' ').filter(|w| !w.is_empty()).collect();
        if !words.contains(&"openid") {
            return Err(Error::invalid("scope", "must contain openid"));
        }
        Ok(Self {
            profile: words.contains(&"profile"),
            email: words.contains(&"email"),
            offline_access: words.contains(&"offline_access"),
        })
    }

    /// As a `scope` parameter: `openid` and the others Adam granted, in one order.
    pub fn as_string(self) -> String {
        let mut out = String::from("openid");
        for (on, name) in [
            (self.profile, "profile"),
            (self.email, "email"),
            (self.offline_access, "offline_access"),
        ] {
            if on {
                out.push(' ');
                out.push_str(name);
            }
        }
        out
    }

    /// Whether every scope of `self` is in `other`.
    pub fn within(self, other: Self) -> bool {
        (!self.profile || other.profile)
            && (!self.email || other.email)
            && (!self.offline_access || other.offline_access)
    }

    /// What the consent page says each scope shares.
    pub fn described(self) -> Vec<&'static str> {
        let mut out = vec!["who you are (your account's id), your role and your dealership"];
        if self.profile {
            out.push("your name");
        }
        if self.email {
            out.push("your email address");
        }
        if self.offline_access {
            out.push("access while you stay signed in at Adam, without asking again");
        }
        out
    }
}

/// An authorization request the server has read and checked against its client: what a code
/// is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The client, as registered.
    pub client: OAuthClient,
    /// The redirect URI exactly as presented (one of the client's, by its rule).
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scopes: Scopes,
    /// The PKCE `S256` challenge.
    pub code_challenge: String,
    /// The client's `nonce`, repeated in the ID token.
    pub nonce: Option<String>,
}

impl AuthorizationRequest {
    /// Checks the parts of a request that do not depend on who signs in: the redirect URI is
    /// one of the client's, the challenge is an `S256` one, the nonce is reasonable.
    pub fn new(
        client: OAuthClient,
        redirect_uri: &str,
        scopes: Scopes,
        code_challenge: &str,
        nonce: Option<&str>,
    ) -> Result<Self> {
        if client.redirect_uri(redirect_uri).is_none() {
            return Err(Error::invalid("redirect_uri", "is not registered"));
        }
        if !pkce::is_challenge(code_challenge) {
            return Err(Error::invalid(
                "code_challenge",
                "must be the S256 challenge (43 characters of base64url)",
            ));
        }
        if let Some(n) = nonce {
            if n.len() > MAX_NONCE_LEN || n.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "nonce",
                    "is too long or holds control characters",
                ));
            }
        }
        Ok(Self {
            client,
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            code_challenge: code_challenge.to_owned(),
            nonce: nonce.map(str::to_owned),
        })
    }
}

/// A code for the client's redirect. Its `Debug` never shows it.
pub struct AuthorizationCode(LinkToken);

impl AuthorizationCode {
    /// The code, for the redirect.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorizationCode(<redacted>)")
    }
}

/// What the token endpoint answers. Its `Debug` never shows a token.
pub struct GrantTokens {
    /// Adam's access token (`at+jwt`, with `client_id`).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The ID token.
    pub id_token: String,
    /// A refresh token, with `offline_access` only.
    pub refresh_token: Option<RefreshToken>,
    /// The scopes granted.
    pub scope: String,
}

impl fmt::Debug for GrantTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantTokens")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The userinfo endpoint's answer: the claims the access token's scopes allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// The user id.
    pub sub: UserId,
    /// With `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// With `email`: whether the email was proved (an accepted invitation or a reset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// With `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's role.
    pub role: Role,
    /// The user's dealership; absent for a system admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dealership_id: Option<DealershipId>,
}

/// A client the user allowed (consent), for `/account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedApp {
    /// The client's id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// When the user allowed it.
    pub allowed_at: DateTime<Utc>,
}

impl Adam {
    /// The registered client `client_id`, as an authorization request names it;
    /// [`Error::NotFound`] when there is none.
    pub async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient> {
        if client_id.len() > 64 || client_id.contains('\0') {
            return Err(Error::NotFound);
        }
        let mut tx = self.begin_system(Intent::Read).await?;
        let found = clients::by_client_id(&mut tx, client_id).await?;
        tx.commit().await?;
        found.map(|(c, _)| c).ok_or(Error::NotFound)
    }

    /// When the caller (a browser session) last proved who they are: the ID token's
    /// `auth_time`, which `max_age` is held to.
    pub async fn authenticated_at(&self, caller: &Principal) -> Result<DateTime<Utc>> {
        let mut tx = self.begin_system(Intent::Read).await?;
        let at = store::authenticated_at(&mut tx, caller.session_id()).await?;
        tx.commit().await?;
        at.ok_or_else(|| Error::unauthorized("session is no longer valid"))
    }

    /// Whether the caller must be asked before `client` receives `scopes`: never for a
    /// first-party client; otherwise unless they allowed it these scopes (or more) before.
    pub async fn consent_needed(
        &self,
        caller: &Principal,
        client: &OAuthClient,
        scopes: Scopes,
    ) -> Result<bool> {
        if client.first_party {
            return Ok(false);
        }
        let mut tx = self.begin_system(Intent::Read).await?;
        let given = store::consent(&mut tx, caller.user_id(), &client.client_id).await?;
        tx.commit().await?;
        Ok(match given {
            Some(scope) => !scopes.within(Scopes::parse(&scope)?),
            None => true,
        })
    }

    /// Issues a code for `request` to the caller's browser session. A user the client does not
    /// admit (`allowed_roles`, `dealership_ids`) is [`Error::Forbidden`] (`access_denied`), as
    /// is a client that needs consent the caller has not `consented` to here or before.
    pub async fn issue_code(
        &self,
        caller: &Principal,
        request: &AuthorizationRequest,
        consented: bool,
    ) -> Result<AuthorizationCode> {
        let client = &request.client;
        if !client.admits(caller.placement()) {
            return Err(Error::forbidden("this application is not open to you"));
        }
        if !consented && self.consent_needed(caller, client, request.scopes).await? {
            return Err(Error::forbidden("consent required"));
        }
        let now = self.now();
        let code = LinkToken::generate(CODE_PREFIX);
        let mut tx = self.begin_system(Intent::Write).await?;
        if consented && !client.first_party {
            let mut scopes = request.scopes;
            if let Some(before) =
                store::consent(&mut tx, caller.user_id(), &client.client_id).await?
            {
                let before = Scopes::parse(&before)?;
                scopes.profile |= before.profile;
                scopes.email |= before.email;
                scopes.offline_access |= before.offline_access;
            }
            store::save_consent(
                &mut tx,
                caller.user_id(),
                &client.client_id,
                &scopes.as_string(),
                now,
            )
            .await?;
        }
        store::insert_code(
            &mut tx,
            &code.digest(),
            &CodeRow {
                client_id: client.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                nonce: request.nonce.clone(),
                scope: request.scopes.as_string(),
                session_id: caller.session_id(),
                expires_at: now + Duration::seconds(CODE_TTL_SECONDS),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(AuthorizationCode(code))
    }

    /// Exchanges a code at the token endpoint for `client` (authenticated by the caller of
    /// this). Every failure is [`Error::Unauthorized`] (`invalid_grant`), and spends the code: a
    /// code of another client, past its minute, for another redirect URI, with a verifier that
    /// does not match its challenge, or whose browser session ended. A code presented again
    /// ends the grant it made.
    pub async fn exchange_code(
        &self,
        client: &OAuthClient,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<GrantTokens> {
        let refused = |why: &'static str| Error::unauthorized(why);
        let digest = presented(code, CODE_PREFIX).ok_or_else(|| refused("invalid code"))?;
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        let row = match store::spend_code(&mut tx, &digest, now).await? {
            CodeSpend::Spent(row) => row,
            CodeSpend::Unknown => return Err(refused("invalid code")),
            CodeSpend::Replayed(grant) => {
                if let Some(grant) = grant {
                    revocation::apply(&mut tx, Change::GrantEnded(grant), now).await?;
                    tracing::warn!(%grant, "an authorization code was presented again; its grant ended");
                }
                tx.commit().await?;
                return Err(refused("code already used; what it issued is revoked"));
            }
        };
        let fits = row.client_id == client.client_id
            && row.expires_at > now
            && row.redirect_uri == redirect_uri
            && pkce::verifies(code_verifier, &row.code_challenge);
        let found = if fits {
            sessions::live(&mut tx, row.session_id, &self.live_rule()).await?
        } else {
            None
        };
        let Some((live, user)) = found.filter(|(l, _)| client.admits(l.placement)) else {
            tx.commit().await?;
            return Err(refused("invalid code"));
        };
        let authenticated_at = store::authenticated_at(&mut tx, row.session_id)
            .await?
            .unwrap_or(now);
        let grant = SessionId::new();
        let scopes = Scopes::parse(&row.scope)?;
        store::create_grant(
            &mut tx,
            grant,
            row.session_id,
            &Parent {
                user_id: live.user_id,
                placement: live.placement,
                amr: live.amr,
                ends_at: live.ends_at,
                authenticated_at,
            },
            &client.client_id,
            &row.scope,
            now,
        )
        .await?;
        store::set_code_grant(&mut tx, &digest, grant).await?;
        let refresh = self
            .grant_refresh_token(&mut tx, grant, row.session_id, &live, client, now)
            .await?;
        let verified = store::email_verified(&mut tx, live.user_id).await?;
        tx.commit().await?;
        let live = LiveSession {
            session_id: grant,
            ..live
        };
        self.grant_tokens(
            client,
            &live,
            (&user, verified),
            row.session_id,
            authenticated_at,
            scopes,
            row.nonce.as_deref(),
            scopes.offline_access.then_some(refresh),
        )
        .await
    }

    /// The grant's refresh token (as long as a refresh token lives, never past the browser
    /// session's end). Every grant has one, so that the purge of expired sessions keeps it
    /// exactly as long as its browser session; only `offline_access` hands it out.
    async fn grant_refresh_token(
        &self,
        tx: &mut crate::db::Tx,
        grant: SessionId,
        parent: SessionId,
        live: &LiveSession,
        client: &OAuthClient,
        now: DateTime<Utc>,
    ) -> Result<RefreshToken> {
        let parent_until = sessions::refreshable_until(tx, parent, now)
            .await?
            .unwrap_or(now);
        let mut until = (now + self.settings.refresh_token_ttl).min(parent_until);
        if let Some(end) = live.ends_at {
            until = until.min(end);
        }
        let token = RefreshToken::generate();
        let next = sessions::Next {
            digest: &token.digest(),
            expires_at: until,
        };
        sessions::add_refresh_token(
            tx,
            grant,
            live.placement,
            Some(&client.client_id),
            next,
            now,
        )
        .await?;
        Ok(token)
    }

    /// Exchanges a grant's refresh token (`grant_type=refresh_token`) for new tokens, with
    /// the API's rotation and reuse rules; a refresh token of another client, or of the API,
    /// is [`Error::Unauthorized`] and stays as it was.
    pub async fn refresh_grant(
        &self,
        client: &OAuthClient,
        refresh_token: &str,
    ) -> Result<GrantTokens> {
        let (live, next) = self
            .rotate_refresh_token(refresh_token, Some(&client.client_id), &Default::default())
            .await?;
        let mut tx = self.begin_system(Intent::Read).await?;
        let grant = store::grant(&mut tx, live.session_id).await?;
        let user = crate::users::store::get(&mut tx, live.user_id).await?;
        let verified = store::email_verified(&mut tx, live.user_id).await?;
        tx.commit().await?;
        let grant = grant
            .filter(|g| g.client_id == client.client_id)
            .ok_or_else(|| Error::unauthorized("invalid refresh token"))?;
        if !client.admits(live.placement) {
            return Err(Error::unauthorized("invalid refresh token"));
        }
        let scopes = Scopes::parse(&grant.scope)?;
        self.grant_tokens(
            client,
            &live,
            (&user, verified),
            grant.parent_id,
            grant.authenticated_at,
            scopes,
            None,
            Some(next),
        )
        .await
    }

    /// Signs a grant's access and ID tokens for `user` (as read with the grant, and whether
    /// their email was proved).
    #[allow(clippy::too_many_arguments)]
    async fn grant_tokens(
        &self,
        client: &OAuthClient,
        live: &LiveSession,
        user: (&User, bool),
        parent: SessionId,
        authenticated_at: DateTime<Utc>,
        scopes: Scopes,
        nonce: Option<&str>,
        refresh_token: Option<RefreshToken>,
    ) -> Result<GrantTokens> {
        let keys = self.keys.get_for(client.id_token_alg).await?;
        let now = self.now();
        let names: &TokenAudience = &self.settings.token_audience;
        let mut access =
            self.issuer
                .claims(live.user_id, live.placement, live.session_id, live.amr, now);
        if let Some(end) = live.ends_at {
            access.exp = access.exp.min(end.timestamp());
        }
        access.client_id = Some(client.client_id.clone());
        access.scope = Some(scopes.as_string());
        if !client.first_party {
            access.aud = names.userinfo_audience();
        }
        let id = IdClaims {
            iss: &names.issuer,
            sub: live.user_id,
            aud: &client.client_id,
            exp: access.exp,
            iat: now.timestamp(),
            auth_time: authenticated_at.timestamp(),
            nonce,
            amr: live.amr.values(),
            sid: parent,
            email: scopes.email.then_some(user.0.email.as_str()),
            email_verified: scopes.email.then_some(user.1),
            name: scopes.profile.then_some(user.0.full_name.as_str()),
            role: live.placement.role(),
            dealership_id: live.placement.dealership_id(),
        };
        Ok(GrantTokens {
            access_token: keys.signer().sign(&access)?,
            expires_in: (access.exp - now.timestamp()).max(0),
            id_token: keys.sign_as(client.id_token_alg, id_token::ID_TOKEN_TYPE, &id)?,
            refresh_token,
            scope: scopes.as_string(),
        })
    }

    /// The userinfo endpoint: the claims a client's access token may read, while its grant is
    /// live. Anything else is [`Error::Unauthorized`] (`invalid_token`).
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo> {
        let keys = self.keys.get().await?;
        let claims = keys.userinfo_claims(access_token, self.now())?;
        let scope = claims
            .scope
            .clone()
            .filter(|_| claims.client_id.is_some())
            .ok_or_else(|| Error::unauthorized("not a token of an OpenID Connect client"))?;
        let scopes = Scopes::parse(&scope)?;
        let (principal, user) = self.check_session(&claims).await?;
        let verified = if scopes.email {
            let mut tx = self.begin_system(Intent::Read).await?;
            let v = store::email_verified(&mut tx, principal.user_id()).await?;
            tx.commit().await?;
            Some(v)
        } else {
            None
        };
        Ok(UserInfo {
            sub: user.id,
            email: scopes.email.then(|| user.email.as_str().to_owned()),
            email_verified: verified,
            name: scopes.profile.then(|| user.full_name.clone()),
            role: user.role(),
            dealership_id: user.dealership_id(),
        })
    }

    /// RFC 7009: ends the grant of `token` (a refresh token or an access token of `client`'s),
    /// and only that grant. A token that is not one of the client's is ignored, as the RFC
    /// asks (the answer is the same either way).
    pub async fn revoke_client_token(&self, client: &OAuthClient, token: &str) -> Result<()> {
        if token.is_empty() || token.len() > 4096 {
            return Ok(());
        }
        let now = self.now();
        let mut grant = {
            let mut tx = self.begin_system(Intent::Read).await?;
            let found =
                store::grant_of_refresh(&mut tx, &TokenDigest::of(token), &client.client_id)
                    .await?;
            tx.commit().await?;
            found
        };
        if grant.is_none() {
            let keys = self.keys.get().await?;
            if let Ok(claims) = keys.userinfo_claims(token, now) {
                if claims.client_id.as_deref() == Some(client.client_id.as_str()) {
                    grant = Some(claims.sid);
                }
            }
        }
        let Some(grant) = grant else {
            return Ok(());
        };
        let mut tx = self.begin_system(Intent::Write).await?;
        revocation::apply(&mut tx, Change::GrantEnded(grant), now).await?;
        tx.commit().await
    }

    /// The `id_token_hint` of an RP-initiated logout, if it is an ID token Adam signed (expired
    /// or not); `None` for anything else.
    pub async fn id_token_hint(&self, token: &str) -> Result<Option<IdTokenHint>> {
        let keys = self.keys.get().await?;
        Ok(id_token::read_hint(
            token,
            keys.jwks(),
            &self.settings.token_audience.issuer,
        ))
    }

    /// Every registered redirect URI, of every client: the origins whose pages may call the
    /// discovery, key, token, userinfo and revocation endpoints from a browser (CORS).
    pub async fn redirect_uris(&self) -> Result<Vec<String>> {
        let mut tx = self.begin_system(Intent::Read).await?;
        let all = clients::list(&mut tx).await?;
        tx.commit().await?;
        Ok(all
            .into_iter()
            .flat_map(|c| c.redirect_uris)
            .map(|u| u.as_str().to_owned())
            .collect())
    }

    /// The applications the caller allowed (consent), newest first.
    pub async fn allowed_apps(&self, caller: &Principal) -> Result<Vec<AllowedApp>> {
        let mut tx = self.begin_system(Intent::Read).await?;
        let given = store::consents(&mut tx, caller.user_id()).await?;
        let mut apps = Vec::with_capacity(given.len());
        for (client_id, allowed_at) in given {
            if let Some((client, _)) = clients::by_client_id(&mut tx, &client_id).await? {
                apps.push(AllowedApp {
                    client_id,
                    name: client.name,
                    allowed_at,
                });
            }
        }
        tx.commit().await?;
        Ok(apps)
    }

    /// Withdraws the caller's consent to `client_id` and ends that client's grants of theirs;
    /// [`Error::NotFound`] when they had not allowed it.
    pub async fn revoke_app(&self, caller: &Principal, client_id: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        if !store::delete_consent(&mut tx, caller.user_id(), client_id).await? {
            return Err(Error::NotFound);
        }
        revocation::apply(&mut tx, Change::AppRevoked(caller, client_id), now).await?;
        tx.commit().await
    }
}
