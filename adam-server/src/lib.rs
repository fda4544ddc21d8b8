//! # adam-server
//!
//! The REST server of Adam: the contract's API over [`adam_core`], with OpenAPI docs, health
//! checks, CORS, request logs and a body limit. `main.rs` only parses the command line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adam_core::Adam;
use poem::endpoint::make_sync;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::middleware::{Cors, NormalizePath, TrailingSlash};
use poem::web::{Data, Html, Json};
use poem::{get, handler, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApiService;
use tokio::io::AsyncReadExt;

mod api;
mod backchannel;
pub mod client;
pub mod config;
mod cookie_mode;
mod cookies;
pub mod error;
pub mod healthcheck;
mod listen;
pub mod mail;
mod oidc_cors;
mod outbox;
mod pages;

pub use listen::ConnectionLimits;

pub use config::{Config, ConfigError};

/// Opens the engine a configuration names: its database, signing key and settings. Does not
/// migrate. Errors are one line, fit for the command line.
pub async fn connect(config: &Config) -> Result<Adam, String> {
    let settings = config.settings().map_err(|e| e.to_string())?;
    let key = config.secret_key().map_err(|e| e.to_string())?;
    Adam::connect(&config.database_url, key, settings)
        .await
        .map_err(|e| one_line(&e))
}

/// An error as one line.
pub fn one_line(e: &adam_core::Error) -> String {
    e.to_string().replace('\n', " ")
}

/// What [`Application::build`] does before it listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartOptions {
    /// Apply pending migrations first (`serve` without `--no-migrate`).
    pub migrate: bool,
    /// Create the seed data where missing (`serve --seed`).
    pub seed: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            seed: false,
        }
    }
}

/// The server, built and listening, not yet serving: the one start-up sequence that `main` and
/// the tests share.
pub struct Application {
    adam: Adam,
    config: Config,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds the configured address (`PORT=0` picks a free port), connects to the database,
    /// migrates and seeds as `options` say, and opens the signing keys (making them on a new
    /// database; a `SECRET_KEY` that cannot open them stops here).
    pub async fn build(mut config: Config, options: StartOptions) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.host, config.port))
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
        // Without PUBLIC_URL (SQLite), the issuer is the address actually bound.
        config.port = addr.port();
        config.mail().map_err(|e| e.to_string())?;
        if let Some(host) = plain_http_elsewhere(&config.issuer()) {
            tracing::warn!(
                "PUBLIC_URL is http:// on {host}: browsers drop the pages' Secure cookies over \
                 plain HTTP except on localhost; use https://"
            );
        }
        let adam = connect(&config).await?;
        if options.migrate {
            let applied = adam.migrate_up().await.map_err(|e| one_line(&e))?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied migrations");
            }
        }
        if options.seed {
            let report = adam.seed().await.map_err(|e| one_line(&e))?;
            tracing::info!(created = ?report.users_created, "seed data present");
        }
        match adam.open_signing_keys().await {
            Ok(keys) => tracing::info!(keys = keys.len(), "signing keys open"),
            // The database may come back later: the keys are opened on first use then.
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "signing keys not opened yet")
            }
            Err(e) => return Err(one_line(&e)),
        }
        Ok(Self {
            adam,
            config,
            listener,
            addr,
        })
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The engine the server runs.
    pub fn adam(&self) -> &Adam {
        &self.adam
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        serve(self.listener, self.adam, &self.config, shutdown).await
    }
}

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// Most of an oversized body read and dropped before answering 413.
const DRAIN_BYTES: u64 = 1024 * 1024;

/// Builds the whole HTTP application for an engine and a configuration.
pub fn app(adam: Adam, config: &Config) -> impl Endpoint<Output = Response> {
    app_ringing(adam, config, &mail::Mailbell::default())
}

/// [`app`], whose requests that queue mail ring `bell`.
fn app_ringing(
    adam: Adam,
    config: &Config,
    bell: &mail::Mailbell,
) -> impl Endpoint<Output = Response> {
    let api = api::service(&adam, bell);
    let proxies = Arc::new(config.trusted_proxies.clone());
    let request_timeout = config.connections.request_timeout;
    let refresh_lifetime = Duration::from_secs(
        u64::try_from(config.refresh_token_expire_days).unwrap_or(1) * 24 * 3600,
    );
    let document = Arc::new(api::document::Document::new(
        adam.clone(),
        bell.clone(),
        config.password_min_length,
    ));
    let (for_swagger, for_redoc, for_json, for_allow) = (
        document.clone(),
        document.clone(),
        document.clone(),
        document,
    );
    let route = Route::new()
        .at(
            "/api/v1/docs",
            get(make_sync(move |_| {
                docs_page(&for_swagger.get().json, OpenApiService::swagger_ui_html)
            })),
        )
        .at(
            "/api/v1/redoc",
            get(make_sync(move |_| {
                docs_page(&for_redoc.get().json, OpenApiService::redoc_html)
            })),
        )
        .at(
            "/api/v1/openapi.json",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(for_json.get().json.clone())
            })),
        )
        .nest("/", api);
    let for_cors = adam.clone();
    let route = pages::add(route, &adam)
        .at("/health", get(health))
        .at("/ready", get(ready))
        .data(adam)
        .data(config.trusted_proxies.clone());
    // `/users/` (the contract's spelling) and `/users` reach the same operation.
    let inner = route
        .with(NormalizePath::new(TrailingSlash::Trim))
        .around(move |ep, req| limit_body(ep, req, request_timeout))
        .around(move |ep, req| client::refuse_unreadable_forwarding(ep, req, proxies.clone()))
        .catch_all_error(error::render)
        .map_to_response()
        .around(move |ep, req| allow_header(ep, req, for_allow.clone()))
        .around(move |ep, req| async move { cookie_mode::layer(&ep, req, refresh_lifetime).await });
    let with_cors = if config.cors_origins.is_empty() {
        inner.boxed()
    } else {
        inner.with(cors(&config.cors_origins)).boxed()
    };
    with_cors
        .around(move |ep, req| oidc_cors::layer(ep, req, for_cors.clone()))
        .around(access_log)
}

fn cors(origins: &[String]) -> Cors {
    Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers(["authorization", "content-type", cookie_mode::HEADER])
        .max_age(600)
}

/// A documentation page (Swagger UI, Redoc) showing `document`, made when asked for: the pages
/// are megabytes of script that an idle server need not hold. `page` is poem-openapi's page of
/// an empty API, whose document is then replaced by ours.
fn docs_page(document: &[u8], page: fn(&OpenApiService<(), ()>) -> String) -> Html<String> {
    let empty = OpenApiService::new((), "", "");
    let html = page(&empty).replacen(&empty.spec(), &String::from_utf8_lossy(document), 1);
    Html(html)
}

/// Names the allowed methods on a 405 answer (RFC 9110 §15.5.6).
async fn allow_header<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    document: Arc<api::document::Document>,
) -> poem::Result<Response> {
    let uri = req.uri().clone(); // cheap: shares the request's bytes
    let mut resp = ep.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = document.get().allow.allowed(uri.path());
        if let Some(v) = allowed.and_then(|a| HeaderValue::from_str(a).ok()) {
            resp.headers_mut().insert("allow", v);
        }
    }
    Ok(resp)
}

/// Liveness: answers while the process runs.
#[handler]
fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 when the database answers within two seconds, 503 otherwise.
#[handler]
async fn ready(Data(adam): Data<&Adam>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), adam.ready()).await {
        Ok(Ok(())) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database not ready");
            not_ready()
        }
        Err(_) => {
            tracing::warn!("database did not answer within 2 s");
            not_ready()
        }
    }
}

fn not_ready() -> Response {
    error::ApiError::from_status(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is unavailable",
    )
    .into_response()
}

/// Reads every request's body before anything parses it, within `within` of its headers
/// (`REQUEST_TIMEOUT_SECONDS`: a body still incomplete then is answered 408 and its connection
/// closed), and refuses bodies over [`MAX_BODY_BYTES`] with 413: at once when `Content-Length`
/// says so, and in every case by reading at most one byte too many, whatever the headers say
/// (an HTTP/2 request may carry neither `Content-Length` nor `Transfer-Encoding`, and a
/// declared length is only the client's word).
async fn limit_body<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    within: Duration,
) -> poem::Result<Response> {
    let too_large = || {
        poem::Error::from_string(
            "the request body is larger than 64 KiB",
            StatusCode::PAYLOAD_TOO_LARGE,
        )
    };
    let declared = req
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = req.take_body().into_async_read();
    let read = async {
        let mut buf = Vec::new();
        if declared.is_none_or(|len| len <= MAX_BODY_BYTES) {
            (&mut body)
                .take(MAX_BODY_BYTES + 1)
                .read_to_end(&mut buf)
                .await
                .map_err(|_| poem::Error::from_status(StatusCode::BAD_REQUEST))?;
        }
        if declared.is_some_and(|len| len > MAX_BODY_BYTES) || buf.len() as u64 > MAX_BODY_BYTES {
            // Read (and drop) a bounded remainder, so a client still sending gets the 413
            // instead of a reset connection.
            let _ = tokio::io::copy(&mut body.take(DRAIN_BYTES), &mut tokio::io::sink()).await;
            return Err(too_large());
        }
        Ok(buf)
    };
    let Ok(buf) = tokio::time::timeout(within, read).await else {
        tracing::debug!("request body incomplete at its deadline: 408");
        let mut resp = error::render(poem::Error::from_string(
            "the request body did not arrive in time",
            StatusCode::REQUEST_TIMEOUT,
        ))
        .await;
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(resp);
    };
    req.set_body(buf?);
    ep.call(req).await.map(IntoResponse::into_response)
}

/// One log line per request: method, path, status, latency and a request id (taken from a
/// well-formed `X-Request-Id` or made up), echoed in the response. Never a body, query or header
/// value that could hold a secret.
async fn access_log<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let request_id = req
        .header("x-request-id")
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(
        target: "adam_server::access",
        %method,
        path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id,
        "request"
    );
    Ok(response)
}

/// The host of an `http://` public URL that browsers do not treat as secure (anything but
/// localhost and loopback addresses).
fn plain_http_elsewhere(public_url: &str) -> Option<String> {
    let url = url::Url::parse(public_url).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let loopback = match url.host()? {
        url::Host::Domain(d) => d == "localhost" || d.ends_with(".localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (!loopback).then(|| url.host_str().unwrap_or_default().to_owned())
}

/// A request's path as the log writes it: a link's token (a bearer secret in the path of
/// `/invite/…` and `/reset/…`) is left out.
fn loggable_path(path: &str) -> String {
    for page in ["/invite/", "/reset/"] {
        if let Some(token) = path.strip_prefix(page) {
            if !token.is_empty() {
                return format!("{page}…");
            }
        }
    }
    path.to_owned()
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish (up to 30 s).
async fn serve(
    listener: tokio::net::TcpListener,
    adam: Adam,
    config: &Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let purge = {
        let adam = adam.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                every.tick().await;
                if let Err(e) = adam.purge_expired().await {
                    tracing::warn!(error = %e, "purging expired refresh tokens failed");
                }
                // At most once a day across every server on the database.
                match adam.purge_audit_log().await {
                    Ok(Some(n)) => {
                        tracing::info!(deleted = n, "purged audit events past retention")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "purging old audit events failed"),
                }
                // INACTIVE_USER_DAYS: at start and hourly here, acted on once a day.
                match adam.deactivate_inactive_users().await {
                    Ok(Some(users)) => {
                        for user in &users {
                            tracing::info!(user = %user.id, "deactivated: no sign-in within INACTIVE_USER_DAYS");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "deactivating inactive users failed"),
                }
            }
        })
    };
    // Keys rotated or revoked by another server take effect here, and a due rotation happens,
    // even while no request comes.
    let keys = {
        let adam = adam.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(adam.settings().key_reload);
            loop {
                every.tick().await;
                if let Err(e) = adam.maintain_signing_keys().await {
                    tracing::warn!(error = %e, "reloading the signing keys failed");
                }
            }
        })
    };
    let bell = mail::Mailbell::default();
    let (stop_sending, stop) = tokio::sync::watch::channel(false);
    let sender = match config.mail() {
        Ok(Some(settings)) => {
            tracing::info!(smtp = ?settings.smtp, "mail is sent through SMTP_URL");
            Some(tokio::spawn(mail::send_until(
                adam.clone(),
                settings,
                config.issuer(),
                bell.clone(),
                stop,
            )))
        }
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "no mail is sent");
            None
        }
    };
    let logouts = tokio::spawn(backchannel::deliver_until(
        adam.clone(),
        stop_sending.subscribe(),
    ));
    let result = listen::serve(
        listener,
        app_ringing(adam.clone(), config, &bell),
        config.connections,
        config.trusted_proxies.clone(),
        shutdown,
        Duration::from_secs(30),
    )
    .await;
    purge.abort();
    keys.abort();
    let _ = stop_sending.send(true);
    let abort = logouts.abort_handle();
    if tokio::time::timeout(Duration::from_secs(10), logouts)
        .await
        .is_err()
    {
        abort.abort();
    }
    if let Some(sender) = sender {
        // The mail being sent is finished (so its claim does not hold it back for minutes), but
        // a stuck SMTP server does not hold the shutdown for long.
        let _ = stop_sending.send(true);
        let abort = sender.abort_handle();
        if tokio::time::timeout(Duration::from_secs(10), sender)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    adam.close().await;
    result
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_is_named_only_where_browsers_do_not_trust_it() {
        use super::plain_http_elsewhere as warn;
        assert_eq!(
            warn("http://auth.example.com").as_deref(),
            Some("auth.example.com")
        );
        assert_eq!(warn("http://10.0.0.5:8000").as_deref(), Some("10.0.0.5"));
        for fine in [
            "https://auth.example.com",
            "http://localhost:8000",
            "http://127.0.0.1:8000",
            "http://[::1]:8000",
        ] {
            assert_eq!(warn(fine), None, "{fine}");
        }
    }

    #[test]
    fn link_tokens_never_reach_the_log() {
        assert_eq!(super::loggable_path("/reset/adam_rst_secret"), "/reset/…");
        assert_eq!(super::loggable_path("/invite/adam_inv_secret"), "/invite/…");
        assert_eq!(super::loggable_path("/api/v1/users"), "/api/v1/users");
    }
}
