//! The `oauth_clients` table (the engine's scope only: system admins manage clients through
//! the use cases, and the protocol endpoints read them for no one).

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{constraint_error, on_tx, ts, Tx};
use crate::error::{Error, Result};
use crate::oauth_clients::client::{IdTokenAlg, OAuthClient};
use crate::oauth_clients::redirect::RedirectUri;
use crate::sessions::refresh::TokenDigest;

const COLUMNS: &str = "id, client_id, name, redirect_uris, post_logout_redirect_uris, \
    backchannel_logout_uri, public, first_party, allowed_roles, dealership_ids, id_token_alg, \
    created_at, updated_at";
const TAKEN: &str = "a client with this client_id already exists";

#[derive(FromRow)]
pub(crate) struct Row {
    id: Uuid,
    client_id: String,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: Option<String>,
    public: bool,
    first_party: bool,
    allowed_roles: String,
    dealership_ids: String,
    id_token_alg: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for OAuthClient {
    type Error = Error;
    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |what: &str| {
            Error::Internal(format!(
                "stored {what} of client {} is invalid",
                r.client_id
            ))
        };
        Ok(OAuthClient {
            id: r.id,
            redirect_uris: serde_json::from_str(&r.redirect_uris)
                .map_err(|_| corrupt("redirect_uris"))?,
            post_logout_redirect_uris: serde_json::from_str(&r.post_logout_redirect_uris)
                .map_err(|_| corrupt("post_logout_redirect_uris"))?,
            backchannel_logout_uri: r
                .backchannel_logout_uri
                .as_deref()
                .map(RedirectUri::parse)
                .transpose()
                .map_err(|_| corrupt("backchannel_logout_uri"))?,
            public: r.public,
            first_party: r.first_party,
            allowed_roles: serde_json::from_str(&r.allowed_roles)
                .map_err(|_| corrupt("allowed_roles"))?,
            dealership_ids: serde_json::from_str::<Vec<Uuid>>(&r.dealership_ids)
                .map_err(|_| corrupt("dealership_ids"))?
                .into_iter()
                .map(Into::into)
                .collect(),
            id_token_alg: IdTokenAlg::parse(&r.id_token_alg).ok_or_else(|| corrupt("alg"))?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            client_id: r.client_id,
            name: r.name,
        })
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

/// Stores a new client, or updates one (by `id`), with its secret's digest (none: public).
pub(crate) async fn save(
    tx: &mut Tx,
    c: &OAuthClient,
    secret: Option<&TokenDigest>,
    new: bool,
) -> Result<()> {
    let sql = if new {
        "INSERT INTO oauth_clients (id, client_id, name, redirect_uris, \
         post_logout_redirect_uris, backchannel_logout_uri, public, first_party, allowed_roles, \
         dealership_ids, id_token_alg, secret_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    } else {
        "UPDATE oauth_clients SET client_id = $2, name = $3, redirect_uris = $4, \
         post_logout_redirect_uris = $5, backchannel_logout_uri = $6, public = $7, \
         first_party = $8, allowed_roles = $9, dealership_ids = $10, id_token_alg = $11, \
         secret_hash = CASE WHEN $7 THEN NULL ELSE COALESCE($12, secret_hash) END, \
         created_at = $13, updated_at = $14 WHERE id = $1"
    };
    let dealerships: Vec<Uuid> = c.dealership_ids.iter().map(|d| d.as_uuid()).collect();
    on_tx!(
        tx,
        sqlx::query(sql)
            .bind(c.id)
            .bind(&c.client_id)
            .bind(&c.name)
            .bind(json(&c.redirect_uris))
            .bind(json(&c.post_logout_redirect_uris))
            .bind(
                c.backchannel_logout_uri
                    .as_ref()
                    .map(|u| u.as_str().to_owned())
            )
            .bind(c.public)
            .bind(c.first_party)
            .bind(json(&c.allowed_roles))
            .bind(json(&dealerships))
            .bind(c.id_token_alg.as_str())
            .bind(secret.map(|d| d.0.clone()))
            .bind(ts(c.created_at))
            .bind(ts(c.updated_at)),
        execute
    )
    .map_err(|e| constraint_error(e, TAKEN))?;
    Ok(())
}

/// Every client, by `client_id`.
pub(crate) async fn list(tx: &mut Tx) -> Result<Vec<OAuthClient>> {
    let sql = format!("SELECT {COLUMNS} FROM oauth_clients ORDER BY client_id");
    let rows: Vec<Row> = on_tx!(tx, sqlx::query_as(&sql), fetch_all)?;
    rows.into_iter().map(OAuthClient::try_from).collect()
}

/// A client by its `client_id`, or [`Error::NotFound`].
pub(crate) async fn get(tx: &mut Tx, client_id: &str) -> Result<OAuthClient> {
    let sql = format!("SELECT {COLUMNS} FROM oauth_clients WHERE client_id = $1");
    let row: Option<Row> = on_tx!(tx, sqlx::query_as(&sql).bind(client_id), fetch_optional)?;
    row.ok_or(Error::NotFound)?.try_into()
}

/// A client by its `client_id`, with its secret's digest.
pub(crate) async fn by_client_id(
    tx: &mut Tx,
    client_id: &str,
) -> Result<Option<(OAuthClient, Option<Vec<u8>>)>> {
    let sql = format!("SELECT {COLUMNS}, secret_hash FROM oauth_clients WHERE client_id = $1");
    #[derive(FromRow)]
    struct WithSecret {
        #[sqlx(flatten)]
        row: Row,
        secret_hash: Option<Vec<u8>>,
    }
    let found: Option<WithSecret> =
        on_tx!(tx, sqlx::query_as(&sql).bind(client_id), fetch_optional)?;
    found
        .map(|f| Ok((OAuthClient::try_from(f.row)?, f.secret_hash)))
        .transpose()
}

/// Deletes a client; [`Error::NotFound`] when there is none.
pub(crate) async fn delete(tx: &mut Tx, id: Uuid) -> Result<()> {
    let done = on_tx!(
        tx,
        sqlx::query("DELETE FROM oauth_clients WHERE id = $1").bind(id),
        execute
    )?;
    if done == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
