//! The `pytake` binary: load configuration, then serve, migrate or run an admin command.

use clap::Parser;
use pytake::auth::principal::RequestMeta;
use pytake::cli::{AdminCommand, Cli, Command};
use pytake::{app, config, repo, services, telemetry};
use std::process::ExitCode;

/// mimalloc: the server allocates many small short-lived buffers across threads, where glibc's
/// allocator showed up at a fifth of CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match config::load(cli.config.as_deref(), cli.profile) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pytake: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(format) = cli.log_format {
        settings.log.format = format;
    }
    telemetry::init(&settings.log.level, settings.log.format);
    for path in &settings.resolved.from_data_dir {
        tracing::warn!(path = %path.display(), "using a development secret from the data folder; configure it explicitly in production");
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Admin { command: AdminCommand::Create { email, password, role, org, name } } => {
            admin_create(settings, email, password, role, org, name).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("pytake: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: config::Settings) -> Result<(), String> {
    let listen = settings.server.listen.clone();
    let backend = if settings.database.url.expose().starts_with("sqlite:") { "sqlite" } else { "postgres" };
    let application = app::Application::build(settings).await.map_err(|e| e.to_string())?;
    tracing::info!(%listen, port = application.port(), backend, version = pytake::cli::VERSION, "listening");
    application.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn migrate(settings: config::Settings) -> Result<(), String> {
    let db = pytake::db::Db::connect(&settings.database).await.map_err(|e| e.to_string())?;
    db.migrate().await.map_err(|e| e.to_string())?;
    db.close().await;
    tracing::info!("migrations applied");
    Ok(())
}

async fn admin_create(
    settings: config::Settings,
    email: String,
    password: String,
    role: String,
    org: String,
    name: String,
) -> Result<(), String> {
    use pytake::http::Validate;
    let role: pytake_actors::Role =
        role.parse().map_err(|e: pytake_actors::domain::role::UnknownRole| e.to_string())?;
    let state = app::build_state(settings).await.map_err(|e| e.to_string())?;
    pytake::bootstrap::ensure_initial_data(&state).await.map_err(|e| e.to_string())?;
    let mut c = state.db.conn().await.map_err(|e| e.to_string())?;
    let found = match org.parse::<uuid::Uuid>() {
        Ok(id) => repo::organizations::get_by_id(&mut c, id).await,
        Err(_) => repo::organizations::get_by_slug(&mut c, &org).await,
    }
    .map_err(|e| e.to_string())?
    .ok_or_else(|| format!("no organization `{org}`"))?;
    drop(c);
    let request = services::users::CreateUser {
        email,
        password,
        full_name: name,
        role,
        organization_id: None,
        max_concurrent_conversations: None,
    };
    if let Err(errors) = request.validate() {
        let text: Vec<String> = errors.errors().iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        return Err(text.join("; "));
    }
    #[allow(clippy::disallowed_methods)]
    let org_id = pytake_actors::OrgId::assume_verified(found.id);
    let user = services::users::create_in(&state, org_id, None, &RequestMeta::default(), request)
        .await
        .map_err(|e| e.to_string())?;
    state.db.close().await;
    println!("created {} {} in {} ({})", user.role, user.email, found.slug, user.id);
    Ok(())
}
