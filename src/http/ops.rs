//! `/healthz`, `/readyz`, `/metrics`, and the API's own description.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::App;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), (u64, f64)>>,
}

impl Metrics {
    pub fn record(&self, method: &str, status: u16, elapsed: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let entry = requests.entry((method.to_owned(), status)).or_default();
        entry.0 += 1;
        entry.1 += elapsed.as_secs_f64();
    }

    fn render(&self) -> String {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP carebook_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE carebook_http_requests_total counter\n");
        for ((method, status), (count, _)) in requests.iter() {
            let _ = writeln!(
                out,
                "carebook_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP carebook_http_request_seconds_total Time spent answering HTTP requests.\n",
        );
        out.push_str("# TYPE carebook_http_request_seconds_total counter\n");
        for ((method, status), (_, seconds)) in requests.iter() {
            let _ = writeln!(
                out,
                "carebook_http_request_seconds_total{{method=\"{method}\",status=\"{status}\"}} {seconds:.6}"
            );
        }
        out.push_str(
            "# HELP carebook_build_info The running version.\n# TYPE carebook_build_info gauge\n",
        );
        let _ = writeln!(
            out,
            "carebook_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// The outbox by status: alert on `dead` and `failed` growing, and on `retrying`
/// or `scheduled` piling up. Left out (not zeroes) when the database cannot say.
async fn outbox_metrics(app: &App) -> String {
    let Ok(counts) = app.delivery_counts().await else {
        return String::new();
    };
    let mut out = String::from(
        "# HELP carebook_outbox_deliveries Notification deliveries in the outbox, by status.\n\
         # TYPE carebook_outbox_deliveries gauge\n",
    );
    for (status, count) in counts {
        let _ = writeln!(
            out,
            "carebook_outbox_deliveries{{status=\"{}\"}} {count}",
            status.as_str()
        );
    }
    out
}

/// What the in-memory availability holds: doctors and their live appointments.
fn availability_metrics(app: &App) -> String {
    let (doctors, appointments) = app.availability.size();
    format!(
        "# HELP carebook_availability_doctors Doctors whose availability is held in memory.\n\
         # TYPE carebook_availability_doctors gauge\n\
         carebook_availability_doctors {doctors}\n\
         # HELP carebook_availability_appointments Live appointments held in memory.\n\
         # TYPE carebook_availability_appointments gauge\n\
         carebook_availability_appointments {appointments}\n"
    )
}

pub fn router(openapi: Arc<utoipa::openapi::OpenApi>, metrics: Arc<Metrics>) -> Router<App> {
    let document = Arc::new(openapi.to_json().unwrap_or_else(|_| "{}".to_owned()));
    let docs = Arc::new(docs_page(&openapi));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(move |State(app): State<App>| async move {
                let mut text = metrics.render();
                text.push_str(&outbox_metrics(&app).await);
                text.push_str(&availability_metrics(&app));
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
            }),
        )
        .route(
            "/api/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    document.as_str().to_owned(),
                )
            }),
        )
        .route(
            "/api/docs",
            get(move || async move {
                let mut response = Html(docs.as_str().to_owned()).into_response();
                response.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                    ),
                );
                response
            }),
        )
}

async fn readyz(State(app): State<App>) -> Response {
    if app.is_ready().await {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable or schema not current\n",
        )
            .into_response()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A readable page of every operation, rendered from the OpenAPI document itself so
/// it cannot drift, and served without scripts.
fn docs_page(openapi: &utoipa::openapi::OpenApi) -> String {
    let mut rows = String::new();
    for (path, item) in openapi.paths.paths.iter() {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                let summary = operation
                    .summary
                    .as_deref()
                    .or(operation.description.as_deref())
                    .unwrap_or("");
                let _ = write!(
                    rows,
                    "<tr><td><code>{method}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    escape(path),
                    escape(summary)
                );
            }
        }
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>carebook API</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse;width:100%}}td{{border-bottom:1px solid #ccc;padding:.3rem .5rem;vertical-align:top}}\
         @media (prefers-color-scheme:dark){{body{{background:#111;color:#eee}}}}</style></head><body>\
         <h1>carebook API</h1><p>The machine-readable description is at <a href=\"/api/openapi.json\">/api/openapi.json</a> \
         (OpenAPI 3.1). Send <code>Authorization: Bearer &lt;token&gt;</code> from <code>POST /api/v1/auth/login</code>. \
         Errors are <code>application/problem+json</code>.</p><table>{rows}</table></body></html>"
    )
}
