//! The first sign-in with a password someone else set (`must_change_password`): after the
//! password and the second factor, the user chooses a new password before any session opens.
//!
//! The step is a challenge like the second factor's (`mfa_challenges`, purpose `password`): an
//! opaque token, only its SHA-256 stored, good for five minutes; each attempt reserves one of its
//! five checks first, so five refused passwords spend it, however many arrive at once.

use chrono::{DateTime, Utc};

use crate::audit::events::{Event, UserRef};
use crate::caller::SignInMethod;
use crate::db::{Intent, Tx};
use crate::engine::{Adam, TokenPair};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::origin::ClientInfo;
use crate::second_factor::second_step::open_challenge;
use crate::second_factor::store::{self as mfa, Challenge, Purpose};
use crate::second_factor::{ChallengeUse, MfaToken};
use crate::users::store as users;

impl Adam {
    /// Completes a sign-in that answered [`crate::SignIn::PasswordChangeRequired`]: sets
    /// `new_password` (the policy applies, and it must differ from the current one), clears
    /// `must_change_password`, spends the token and opens the session, signed in as the sign-in
    /// was before this step (its method and `amr`). A refused password is [`Error::Invalid`] (422) and uses
    /// one of the token's five attempts; a spent, expired or unknown token is
    /// [`Error::MfaTokenInvalid`].
    #[tracing::instrument(skip_all)]
    pub async fn change_password_at_sign_in(
        &self,
        password_change_token: &str,
        new_password: &str,
        origin: &ClientInfo,
    ) -> Result<TokenPair> {
        let (digest, challenge, row) = self
            .challenge(
                password_change_token,
                |p| matches!(p, Purpose::Password(_)),
                ChallengeUse::CheckCode,
            )
            .await?;
        let Purpose::Password(method) = challenge.purpose else {
            return Err(Error::MfaTokenInvalid);
        };
        let user = challenge.user;
        let checked = match self
            .settings
            .password_policy
            .check_field("new_password", new_password.to_owned())
        {
            Ok(password) => {
                let mut tx = self.begin_system(Intent::Read).await?;
                let stored = users::password_hash(&mut tx, user).await?;
                tx.commit().await?;
                let same = self
                    .hasher
                    .verify(password.expose(), stored.as_deref())
                    .await?
                    .matches;
                if same {
                    Err(Error::invalid(
                        "new_password",
                        "must differ from the password set for you",
                    ))
                } else {
                    Ok(password)
                }
            }
            Err(e) => Err(e),
        };
        let password = match checked {
            Ok(password) => password,
            Err(refused) => {
                // The attempt was counted when its check was reserved; the fifth spends the token.
                let mut tx = self.begin_system(Intent::Write).await?;
                mfa::fail_challenge(&mut tx, &digest).await?;
                tx.commit().await?;
                return Err(refused);
            }
        };
        let hash = self.hasher.hash(&password).await?;
        let now = self.now();
        let mut tx = self.begin_system_from(origin, Intent::Write).await?;
        if !mfa::spend_challenge(&mut tx, &digest, now).await? {
            return Err(Error::MfaTokenInvalid);
        }
        let change = users::UserChange {
            password_hash: Some(hash),
            must_change_password: Some(false),
            ..users::UserChange::default()
        };
        let after = users::update(&mut tx, user, &change, now, None).await?;
        tx.record(Event::UserPasswordChanged {
            user: UserRef::from(&after),
        })
        .await?;
        let (live, refresh) = self
            .open_session(&mut tx, user, row.placement()?, origin, method, now)
            .await?;
        tx.commit().await?;
        self.pair(live, refresh).await
    }

    /// Asks the sign-in of `user`, completed by `method` so far, for a new password: a new
    /// challenge in `tx` (the engine's scope) and its token.
    pub(crate) async fn require_new_password(
        &self,
        tx: &mut Tx,
        user: UserId,
        method: SignInMethod,
        now: DateTime<Utc>,
    ) -> Result<MfaToken> {
        let purpose = Purpose::Password(method);
        open_challenge(tx, Challenge { user, purpose }, now).await
    }
}
