//! The HTTP adapters: the JSON API (with its OpenAPI document) and the operational
//! endpoints. Handlers hold no rules; each calls one `app` function.

pub mod api;
pub mod extract;
pub mod limits;
mod ops;
pub mod problem;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;
use ops::Metrics;
use problem::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "carebook", description = "Clinic appointment and patient management API. \
        Errors are RFC 9457 problem documents (application/problem+json)."),
    modifiers(&BearerAuth),
    components(schemas(problem::Problem)),
    tags(
        (name = "accounts", description = "Registration, login, the caller's account"),
        (name = "users", description = "User management"),
        (name = "doctors", description = "Specialties, doctors and free slots"),
        (name = "schedules", description = "Weekly hours, rules and time off"),
        (name = "appointments", description = "Booking and the appointment lifecycle"),
        (name = "audit", description = "The audit trail"),
        (name = "events", description = "Live updates"),
        (name = "chat", description = "Conversations between patients and their doctors"),
        (name = "notifications", description = "In-app notifications, preferences and the delivery log"),
        (name = "records", description = "Visit records, their versions, the health summary, and who read them"),
        (name = "photos", description = "Profile photos"),
        (name = "payments", description = "Fees paid online (Stripe Checkout) or at the desk, refunds, and the clinic's totals"),
        (name = "statistics", description = "Clinic statistics: appointments by day and status, doctors' utilisation"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API router and the OpenAPI document generated from the same route table.
pub fn api_parts() -> (Router<App>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api::router())
        .split_for_parts();
    api::document::complete(&mut openapi);
    (router, openapi)
}

pub fn router(app: App) -> Router {
    let (api, openapi) = api_parts();
    let metrics = Arc::new(Metrics::default());
    let openapi = Arc::new(openapi);
    let limits = Arc::new(limits::Limits::from_settings(&app.settings));
    Router::new()
        .merge(api)
        .merge(ops::router(openapi, metrics.clone()))
        .merge(web::router(&app))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this address does not accept this method",
            )
        })
        .layer(DefaultBodyLimit::max(app.settings.max_body_bytes))
        .layer(middleware::from_fn(refuse_nul_in_address))
        .layer(middleware::from_fn_with_state(limits, limits::guard))
        .layer(middleware::from_fn_with_state(
            hsts_header(app.settings.hsts_max_age_seconds),
            security_headers,
        ))
        .layer(middleware::from_fn_with_state(metrics, observe))
        .with_state(app)
}

/// Under `/api` a problem document; elsewhere the 404 page.
async fn not_found(State(app): State<App>, request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        ApiError::not_found().into_response()
    } else {
        web::not_found(&app, request).await
    }
}

/// A NUL character in the path or query (`%00`) can name nothing that exists, and
/// PostgreSQL refuses it in text: answer 400 before any handler sees it.
async fn refuse_nul_in_address(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let has_nul = |part: &str| {
        part.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::bad_request("the address must not contain NUL characters")
            .into_response();
    }
    next.run(request).await
}

fn hsts_header(max_age_seconds: u64) -> Option<HeaderValue> {
    (max_age_seconds > 0)
        .then(|| {
            HeaderValue::from_str(&format!("max-age={max_age_seconds}; includeSubDomains")).ok()
        })
        .flatten()
}

async fn security_headers(
    State(hsts): State<Option<HeaderValue>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Pages send `same-origin` so that browsers keep sending a real `Origin` on
    // their own forms (`no-referrer` would make it `null`).
    headers
        .entry("referrer-policy")
        .or_insert(HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Counts requests and logs one line each: method, route template (never the raw
/// path or query, which may carry personal data), status and duration.
async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    metrics.record(method.as_str(), response.status().as_u16(), elapsed);
    tracing::info!(
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        millis = elapsed.as_millis() as u64,
        "request"
    );
    response.into_response()
}

/// Serves on an already-bound listener until `shutdown` resolves, then finishes the
/// requests in flight.
///
/// Connections are served by hyper directly (rather than `axum::serve`) so that slow
/// or idle clients are cut off: a client must send its request headers within
/// `header_timeout_seconds` (slowloris), and headers are bounded in size.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let header_timeout = std::time::Duration::from_secs(app.settings.header_timeout_seconds);
    let max_header_bytes = app.settings.max_header_bytes;
    let events = app.events.clone();
    let router = router(app);
    // Graceful shutdown by hand: hyper-util's `GracefulShutdown` does not take a
    // connection that may be upgraded (the live WebSocket). Every connection task
    // holds a clone of `open`; shutdown signals `stop`, then waits until all clones
    // are dropped.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment, keep serving.
                Err(error) => {
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Live-channel frames are small writes; with Nagle's algorithm one waits for
        // the peer's delayed ACK (~40 ms on Linux) whenever the previous is unacked.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(error = %error, "TCP_NODELAY not set");
        }
        let service = router.clone().map_request(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        );
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(max_header_bytes.max(8192))
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            // The live WebSocket (`GET /api/v1/live`) takes over its connection.
            .with_upgrades();
        let mut stopping = stopping.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let _open = open;
            let mut connection = std::pin::pin!(connection);
            // Errors here are a client going away or timing out: nothing to report.
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    // Live streams never end by themselves; end them so shutdown can finish.
    events.close();
    drop(listener);
    stop.send_replace(true);
    drop(open);
    let _ = all_closed.recv().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;
    use crate::app::SystemClock;
    use crate::config::Settings;
    use crate::store::Store;

    async fn headers_with(settings: Settings) -> axum::http::HeaderMap {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
        let app = App::new(store, settings, Arc::new(SystemClock));
        let request = axum::http::Request::get("/healthz")
            .body(Body::empty())
            .unwrap();
        router(app)
            .oneshot(request)
            .await
            .unwrap()
            .headers()
            .clone()
    }

    #[tokio::test]
    async fn every_response_carries_the_security_headers_and_hsts_only_when_configured() {
        let plain = headers_with(Settings::default()).await;
        assert_eq!(plain["x-content-type-options"], "nosniff");
        assert_eq!(plain["referrer-policy"], "no-referrer");
        let csp = plain["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
        assert!(!plain.contains_key("strict-transport-security"));

        let behind_tls = headers_with(Settings {
            hsts_max_age_seconds: 31_536_000,
            ..Settings::default()
        })
        .await;
        assert_eq!(
            behind_tls["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
    }
}
