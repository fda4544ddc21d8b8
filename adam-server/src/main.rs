//! `adam-server`: serve the API, run migrations, seed the contract's accounts.

use std::process::ExitCode;

use adam_server::{Application, Config, StartOptions};
use clap::{Parser, Subcommand};

/// jemalloc rather than glibc's malloc: a request allocates many small short-lived values (rows,
/// JSON), which jemalloc serves with less CPU. Built with its background thread on
/// (`background_threads`), which returns freed memory to the system over about ten seconds even
/// when no request comes, so an argon2 block given back after a burst of sign-ins leaves the
/// process. (Not with MSVC, where jemalloc does not build.)
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Sign-in, roles and tenancy for dealership staff: the Adam REST server.
///
/// Configuration comes from the environment and from a `.env` file in the working directory
/// (DATABASE_URL, SECRET_KEY, HOST, PORT, ACCESS_TOKEN_EXPIRE_MINUTES, REFRESH_TOKEN_EXPIRE_DAYS,
/// BACKEND_CORS_ORIGINS, PASSWORD_MIN_LENGTH, DEBUG, PUBLIC_URL, SECRET_KEY_PREVIOUS,
/// SIGNING_KEY_ROTATION_DAYS and the others of the contract).
#[derive(Debug, Parser)]
#[command(name = "adam-server", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API (the default).
    Serve(ServeArgs),
    /// Apply (up, the default), revert the last (down) or list (status) migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Create the seed dealership and accounts where missing; running it again changes nothing.
    Seed,
    /// Exit 0 when the server at HOST:PORT on this machine answers `GET /health` (for a
    /// container's HEALTHCHECK); reads only HOST and PORT.
    Healthcheck,
    /// List, rotate or revoke the keys that sign access tokens.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Read the audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Review who has access.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Register, list, renew and remove OpenID Connect clients.
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsAction {
    /// Register a client; a confidential client's secret is printed once.
    Add {
        /// The application's name (shown on the consent page).
        #[arg(long)]
        name: String,
        /// The client_id to use (3 to 64 of a-z 0-9 . _ -); generated when absent.
        #[arg(long)]
        client_id: Option<String>,
        /// A redirect URI (https, or http on 127.0.0.1 or [::1]); repeat for more.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI; repeat for more.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Where back-channel logout tokens are posted.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// A public client (a single-page or native app): no secret.
        #[arg(long)]
        public: bool,
        /// A first-party client: no consent page; its access tokens are good at /api/v1.
        #[arg(long)]
        first_party: bool,
        /// A role that may sign in (system_admin, dealer_principal, fi_manager); repeat for
        /// more; none: every role.
        #[arg(long = "allowed-role")]
        allowed_roles: Vec<adam_core::Role>,
        /// How its ID tokens are signed: EdDSA (the default) or RS256.
        #[arg(long, default_value = "EdDSA", value_parser = id_token_alg)]
        id_token_alg: adam_core::oauth_clients::IdTokenAlg,
    },
    /// Every client: client_id, public or confidential, first party, name, redirect URIs.
    List,
    /// A new secret for a confidential client, printed once; the old one stops working.
    NewSecret {
        /// The client's client_id.
        client_id: String,
    },
    /// Remove a client.
    Remove {
        /// The client's client_id.
        client_id: String,
    },
}

fn id_token_alg(text: &str) -> Result<adam_core::oauth_clients::IdTokenAlg, String> {
    adam_core::oauth_clients::IdTokenAlg::parse(text).ok_or_else(|| "EdDSA or RS256".to_owned())
}

#[derive(Debug, Subcommand)]
enum UsersAction {
    /// The access review on stdout: every user (or one dealership's), with their second factor,
    /// last sign-in, live sessions and inviter, as `GET /users/review` answers it.
    Review {
        /// Only this dealership's users (its id).
        #[arg(long)]
        dealership: Option<uuid::Uuid>,
        /// `csv` (the default) or `json`.
        #[arg(long, value_enum, default_value = "csv")]
        format: ReviewFormat,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReviewFormat {
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Every audit event, oldest first, as JSON lines on stdout (the API's `AuditEvent`).
    Export {
        /// Only events at or after this time (RFC 3339, such as 2026-12-01T00:00:00Z).
        #[arg(long, value_parser = rfc3339)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events before this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
}

fn rfc3339(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("not an RFC 3339 time such as 2026-12-01T00:00:00Z ({e})"))
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// List the keys: kid, state (next, current, retired) and dates.
    List,
    /// The next key becomes current, the current one retired, a new next key is made. Refused
    /// while the next key has been published for less than the key set's max-age.
    Rotate {
        /// Rotate even if the next key was published moments ago (clients that cached the key
        /// set before it was published refuse its tokens until they fetch it again).
        #[arg(long)]
        force: bool,
    },
    /// Stop a key verifying at once (on every server within 60 s); a current key is replaced
    /// by the next one.
    Revoke {
        /// The key's id, as `keys list` shows it (a kid may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Debug, Default, clap::Args)]
struct ServeArgs {
    /// Do not apply pending migrations before serving.
    #[arg(long)]
    no_migrate: bool,
    /// Also create the seed dealership and accounts where missing.
    #[arg(long)]
    seed: bool,
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last applied migration.
    Down,
    /// List migrations, applied and pending.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("adam-server: .env: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(Command::Healthcheck) = cli.command {
        let var = |name: &str| std::env::var(name).ok();
        let checked =
            adam_server::healthcheck::address(var("HOST").as_deref(), var("PORT").as_deref())
                .and_then(adam_server::healthcheck::check);
        return match checked {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("adam-server: unhealthy: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("adam-server: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.debug);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adam-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(
        cli.command.unwrap_or(Command::Serve(ServeArgs::default())),
        config,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("adam-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(debug: bool) {
    let default = if debug {
        "debug,sqlx=info,hyper=info"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    let one_line = |e: adam_core::Error| adam_server::one_line(&e);
    match command {
        Command::Migrate { action } => {
            let adam = adam_server::connect(&config).await?;
            match action.unwrap_or(MigrateAction::Up) {
                MigrateAction::Up => {
                    let applied = adam.migrate_up().await.map_err(one_line)?;
                    println!("applied {} migration(s) {:?}", applied.len(), applied);
                }
                MigrateAction::Down => match adam.migrate_down().await.map_err(one_line)? {
                    Some(v) => println!("reverted migration {v}"),
                    None => println!("no migration to revert"),
                },
                MigrateAction::Status => {
                    for m in adam.migration_status().await.map_err(one_line)? {
                        let state = if m.applied { "applied" } else { "pending" };
                        println!("{:<16} {:<8} {}", m.version, state, m.description);
                    }
                }
            }
        }
        // Answered in `main`, before the configuration is read.
        Command::Healthcheck => {}
        Command::Seed => {
            let adam = adam_server::connect(&config).await?;
            let report = adam.seed().await.map_err(one_line)?;
            println!(
                "seeded: dealership {}, {} account(s) created {:?}",
                if report.dealership_created {
                    "created"
                } else {
                    "present"
                },
                report.users_created.len(),
                report.users_created
            );
        }
        Command::Keys { action } => {
            let adam = adam_server::connect(&config).await?;
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("-".to_owned(), |t| {
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
            };
            match action {
                KeysAction::List => {
                    let keys = adam.signing_keys().await.map_err(one_line)?;
                    println!(
                        "{:<43}  {:<5}  {:<7}  {:<20}  {:<20}  {:<20}  published until",
                        "kid", "alg", "state", "created", "activated", "retired"
                    );
                    for k in keys {
                        println!(
                            "{:<43}  {:<5}  {:<7}  {:<20}  {:<20}  {:<20}  {}",
                            k.kid,
                            k.alg,
                            k.state,
                            when(Some(k.created_at)),
                            when(k.activated_at),
                            when(k.retired_at),
                            when(k.published_until)
                        );
                    }
                }
                KeysAction::Rotate { force } => {
                    adam.open_signing_keys().await.map_err(one_line)?;
                    for r in adam.rotate_signing_keys(force).await.map_err(one_line)? {
                        println!(
                            "rotated {}: {} now signs; {} retired (verifies until its tokens expire); {} is next",
                            r.alg, r.current, r.retired, r.next
                        );
                    }
                }
                KeysAction::Revoke { kid } => {
                    adam.open_signing_keys().await.map_err(one_line)?;
                    let was = adam.revoke_signing_key(&kid).await.map_err(|e| match e {
                        adam_core::Error::NotFound => format!("no signing key {kid}"),
                        other => one_line(other),
                    })?;
                    println!("revoked {kid} (it was {was}); its tokens stop verifying everywhere within 60 s");
                }
            }
        }
        Command::Audit {
            action: AuditAction::Export { since, until },
        } => {
            use std::io::Write as _;
            let adam = adam_server::connect(&config).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            adam.export_audit_events(since, until, |event| {
                // The API's shape, exactly as `GET /audit-events/` writes it.
                let event = adam_api::AuditEvent::from(event);
                let json = poem_openapi::types::ToJSON::to_json(&event);
                serde_json::to_writer(&mut out, &json)?;
                out.write_all(b"\n")
            })
            .await
            .map_err(one_line)?;
            out.flush()
                .map_err(|e| format!("writing the export: {e}"))?;
        }
        Command::Users {
            action: UsersAction::Review { dealership, format },
        } => {
            let adam = adam_server::connect(&config).await?;
            let review: adam_api::AccessReview = adam
                .access_review_all(dealership.map(Into::into))
                .await
                .map_err(one_line)?
                .into();
            match format {
                ReviewFormat::Csv => print!("{}", review.to_csv()),
                ReviewFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&review)
                        .map_err(|e| format!("writing the review: {e}"))?
                ),
            }
        }
        Command::Clients { action } => {
            let adam = adam_server::connect(&config).await?;
            clients(&adam, action).await.map_err(one_line)?;
        }
        Command::Serve(args) => {
            let options = StartOptions {
                migrate: !args.no_migrate,
                seed: args.seed,
            };
            let app = Application::build(config, options).await?;
            let addr = app.address();
            tracing::info!("listening on http://{addr} (docs at http://{addr}/api/v1/docs)");
            app.run_until(adam_server::shutdown_signal())
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// `adam-server clients …`: the operator's side of the client registry.
async fn clients(adam: &adam_core::Adam, action: ClientsAction) -> adam_core::Result<()> {
    use adam_core::oauth_clients::NewClient;
    let show_secret = |done: &adam_core::oauth_clients::Registered| match &done.secret {
        Some(secret) => println!(
            "client_id: {}\nclient_secret: {} (shown this once)",
            done.client.client_id,
            secret.expose()
        ),
        None => println!("client_id: {} (public: no secret)", done.client.client_id),
    };
    match action {
        ClientsAction::Add {
            name,
            client_id,
            redirect_uris,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            public,
            first_party,
            allowed_roles,
            id_token_alg,
        } => {
            let done = adam
                .operator_register_client(NewClient {
                    client_id,
                    name: adam_core::Name::parse("name", &name)?,
                    redirect_uris,
                    post_logout_redirect_uris,
                    backchannel_logout_uri,
                    public,
                    first_party,
                    allowed_roles,
                    dealership_ids: Vec::new(),
                    id_token_alg,
                })
                .await?;
            show_secret(&done);
        }
        ClientsAction::List => {
            for c in adam.operator_clients().await? {
                let uris: Vec<&str> = c.redirect_uris.iter().map(|u| u.as_str()).collect();
                println!(
                    "{:<24} {:<12} {:<11} {:<28} {}",
                    c.client_id,
                    if c.public { "public" } else { "confidential" },
                    if c.first_party {
                        "first-party"
                    } else {
                        "third-party"
                    },
                    c.name,
                    uris.join(" ")
                );
            }
        }
        ClientsAction::NewSecret { client_id } => {
            show_secret(&adam.operator_new_client_secret(&client_id).await?);
        }
        ClientsAction::Remove { client_id } => {
            adam.operator_delete_client(&client_id).await?;
            println!("removed {client_id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kid is base64url and may begin with `-`: it is still the kid, not an option (found by
    /// the tests when a random key's thumbprint began with `-W`).
    #[test]
    fn a_kid_beginning_with_a_hyphen_is_a_kid() {
        let cli = Cli::try_parse_from(["adam-server", "keys", "revoke", "-W1b2c3"]).unwrap();
        match cli.command {
            Some(Command::Keys {
                action: KeysAction::Revoke { kid },
            }) => assert_eq!(kid, "-W1b2c3"),
            other => panic!("{other:?}"),
        }
    }
}
