//! The operations console, served by the production on its admin listener under
//! `/console` (over TLS when the admin listener has a certificate): server-rendered pages,
//! no script, that work with no internet. Operators log in with a local account or through
//! the hospital's OpenID Connect provider, and act by role. `settings` reads `[console]`;
//! `auth` owns who may enter and what each may do; `oidc` the provider's sign-in;
//! `pages` the pages, `actions` the forms that change something; `view` how a stored
//! message is shown field by field; `lineage` where each field of a delivered message came
//! from; `charts` the SVG charts; `rates` the dashboard's rates; the journal's `browse`
//! the reads the pages make.

mod actions;
mod auth;
mod charts;
mod lineage;
mod oidc;
mod pages;
mod rates;
pub mod settings;
mod view;

pub use auth::hash as hash_password;
pub use settings::Settings;

use super::Engine;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// The console's state: the engine, the live sessions, the templates.
pub struct Console {
    engine: Arc<Engine>,
    settings: Settings,
    sessions: auth::Sessions,
    templates: minijinja::Environment<'static>,
    /// Whether the admin listener serves HTTPS (the cookie is then `Secure`).
    secure: bool,
    /// A hash checked for an unknown operator's login, so it takes as long as a known one.
    decoy: String,
    /// The dashboard's rates.
    rates: rates::Rates,
    /// The OpenID Connect provider operators may sign in through, when configured.
    oidc: Option<oidc::Oidc>,
}

/// The templates, compiled in.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("entered.html", include_str!("templates/entered.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("messages.html", include_str!("templates/messages.html")),
    ("message.html", include_str!("templates/message.html")),
    ("dead.html", include_str!("templates/dead.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("done.html", include_str!("templates/done.html")),
    ("edit.html", include_str!("templates/edit.html")),
    ("review.html", include_str!("templates/review.html")),
    ("replay.html", include_str!("templates/replay.html")),
    ("trace.html", include_str!("templates/trace.html")),
    ("interface.html", include_str!("templates/interface.html")),
    ("refused.html", include_str!("templates/refused.html")),
];

/// The console's routes, when the configuration has a `[console]`.
pub fn router(engine: Arc<Engine>) -> Option<Router> {
    let settings = engine.config.console.clone()?;
    let mut templates = minijinja::Environment::new();
    for (name, source) in TEMPLATES {
        if let Err(e) = templates.add_template(name, source) {
            tracing::error!(template = name, error = %e, "console template");
            return None;
        }
    }
    let secure = engine.config.tls.server(super::tls::ADMIN).is_some();
    let oidc = match settings.oidc.clone().map(oidc::Oidc::new).transpose() {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "console: the OpenID Connect client cannot be made");
            return None;
        }
    };
    let console = Arc::new(Console {
        sessions: auth::Sessions::new(settings.idle),
        decoy: auth::hash(&auth::token()).unwrap_or_default(),
        rates: rates::Rates::new(super::time::now_ms()),
        engine,
        settings,
        templates,
        secure,
        oidc,
    });
    Some(
        Router::new()
            .route("/console", get(pages::dashboard))
            .route("/console/", get(pages::dashboard))
            .route("/console/login", get(pages::login_page).post(pages::login))
            .route("/console/logout", post(pages::logout))
            .route("/console/oidc/start", get(oidc::start))
            .route(oidc::CALLBACK_PATH, get(oidc::callback))
            .route("/console/messages", get(pages::messages))
            .route("/console/messages/{id}", get(pages::message))
            .route("/console/messages/{id}/resend", post(actions::resend))
            .route("/console/messages/{id}/edit", post(actions::edit))
            .route("/console/messages/{id}/discard", post(actions::discard))
            .route("/console/trace/{id}", get(pages::trace))
            .route("/console/interfaces/{name}", get(pages::interface))
            .route("/console/dead-letters", get(pages::dead_letters))
            .route("/console/review", get(pages::review))
            .route("/console/review/{id}/approve", post(actions::approve))
            .route("/console/review/{id}/reject", post(actions::reject))
            .route(
                "/console/replay",
                get(pages::replay_page).post(actions::replay),
            )
            .route("/console/audit", get(pages::audit))
            .with_state(console),
    )
}
