//! The HTTP side of `redgreen serve` (axum): `/healthz`, `/healthz/HOST`,
//! `/metrics`, `/api/status`, `POST /api/rounds` and the dashboard `/`.
//! With a token, everything but the health answers wants
//! `Authorization: Bearer TOKEN` (or `?token=TOKEN`, for a browser).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::Shared;
use crate::report::serve;

/// How often the dashboard asks for the board again, in seconds.
const POLL_SECONDS: u64 = 5;

/// What the handlers share.
#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    token: Option<Arc<str>>,
}

/// The routes over `shared`, guarded by `token` when there is one.
pub fn router(shared: Arc<Shared>, token: Option<String>) -> Router {
    let app = App {
        shared,
        token: token.map(Into::into),
    };
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/healthz/{host}", get(healthz_host))
        .route("/metrics", get(metrics))
        .route("/api/status", get(status))
        .route("/api/rounds", post(new_round))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The bearer token, for everything but the health answers.
async fn guard(State(app): State<App>, request: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path == "/healthz" || path.starts_with("/healthz/") {
        return next.run(request).await;
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let query = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .map(str::to_string)
    });
    let given = bearer.or(query).unwrap_or_default();
    if same(given.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a token is needed: Authorization: Bearer TOKEN\n",
        )
            .into_response()
    }
}

/// Compare without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn json(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn healthz(State(app): State<App>) -> Response {
    let board = app.shared.board();
    let health = board
        .health(None)
        .expect("the whole board always has a health");
    let status = if health.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, serve::health_json(&health))
}

async fn healthz_host(State(app): State<App>, Path(host): Path<String>) -> Response {
    let board = app.shared.board();
    match board.health(Some(&host)) {
        Some(health) if health.healthy => json(StatusCode::OK, serve::health_json(&health)),
        Some(health) => json(StatusCode::SERVICE_UNAVAILABLE, serve::health_json(&health)),
        None => json(
            StatusCode::NOT_FOUND,
            format!(
                "{}\n",
                serde_json::json!({ "error": format!("no host {host} in this serve") })
            ),
        ),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        serve::metrics(&app.shared.board()),
    )
        .into_response()
}

async fn status(State(app): State<App>) -> Response {
    json(StatusCode::OK, serve::json(&app.shared.board()))
}

async fn new_round(State(app): State<App>) -> Response {
    app.shared.wake.notify_one();
    json(
        StatusCode::ACCEPTED,
        "{\"round\": \"started, or next when one is running\"}\n".into(),
    )
}

#[derive(serde::Deserialize)]
struct Part {
    part: Option<String>,
}

async fn dashboard(State(app): State<App>, Query(part): Query<Part>) -> Response {
    let board = app.shared.board();
    let html = match part.part.as_deref() {
        Some("board") => serve::board_html(&board),
        _ => serve::html(&board, Some(POLL_SECONDS)),
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}
