//! Completes the generated OpenAPI document with the error answers that every
//! operation shares because of how the API is built, so the document describes what
//! the server really sends (schemathesis checks every response against it):
//!
//! - every error is `application/problem+json` with the `Problem` schema;
//! - an operation that takes a token (required or optional) may answer 401, and one
//!   that requires it 403 (`account-inactive`, `csrf`, `forbidden`);
//! - a path parameter may name nothing: 404;
//! - a query string may not parse (400) or hold values that are not valid (422);
//! - a body may be malformed (400), too large (413), not JSON (415) or not valid (422);
//! - a body may arrive too slowly (408);
//! - any request may be over a rate limit (429);
//! - any operation may meet an unreachable or busy database (503) or a bug (500).
//!
//! The per-handler annotations keep the answers that are particular to them
//! (409 kinds, 429 on login, ...); this pass only adds what the extractors and the
//! error mapping (`http::problem`) make common, and never removes a documented one.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The shared error answers, by status.
const COMMON: &[(u16, &str)] = &[
    (
        400,
        "Malformed request: the body is not JSON or the query string does not parse (`/problems/malformed-request`)",
    ),
    (
        401,
        "No token, or an expired or revoked one (`/problems/unauthenticated`)",
    ),
    (
        403,
        "Refused by the policy (`/problems/forbidden`), an inactive account (`/problems/account-inactive`) or a cookie session without its CSRF token (`/problems/csrf`)",
    ),
    (
        404,
        "No such thing, or one the caller may not see (`/problems/not-found`)",
    ),
    (
        408,
        "The body did not arrive within `body_timeout_seconds` (`/problems/request-timeout`)",
    ),
    (413, "The body is too large (`/problems/payload-too-large`)"),
    (
        415,
        "The body is not application/json (`/problems/unsupported-media-type`)",
    ),
    (
        422,
        "Values that parse but are not valid; `errors` names each field (`/problems/validation`)",
    ),
    (
        429,
        "Too many requests from this token or client address (`/problems/rate-limited`); retry after `Retry-After`",
    ),
    (
        500,
        "A bug; the details go to the server log only (`/problems/internal`)",
    ),
    (
        503,
        "The database cannot be reached (`/problems/unavailable`) or a concurrent change got in the way (`/problems/busy`); nothing was saved, retry after `Retry-After`",
    ),
];

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Problem")))
}

fn problem_response(status: u16) -> Response {
    let description = COMMON
        .iter()
        .find(|(code, _)| *code == status)
        .map_or("A problem document", |(_, d)| d);
    let mut response = Response::new(description);
    response
        .content
        .insert(PROBLEM_JSON.to_owned(), RefOr::T(problem_content()));
    response
}

/// Whether the operation accepts a bearer token (required or optional).
fn takes_token(operation: &Operation) -> (bool, bool) {
    let Some(requirements) = &operation.security else {
        return (false, false);
    };
    let values: Vec<serde_json::Value> = requirements
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let bearer = values.iter().any(|v| v.get("bearer").is_some());
    let optional = values
        .iter()
        .any(|v| v.as_object().is_some_and(|o| o.is_empty()));
    (bearer, bearer && !optional)
}

fn complete_operation(operation: &mut Operation) {
    let (takes, requires) = takes_token(operation);
    let params_in = |place: ParameterIn| {
        operation.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let (has_path, has_query) = (params_in(ParameterIn::Path), params_in(ParameterIn::Query));
    let has_body = operation.request_body.is_some();

    // Every API request passes the rate limits (`http::limits`).
    let mut statuses = vec![429, 500, 503];
    if takes {
        statuses.push(401);
    }
    if requires {
        statuses.push(403);
    }
    if has_path {
        statuses.push(404);
    }
    if has_query {
        statuses.extend([400, 422]);
    }
    if has_body {
        statuses.extend([400, 408, 413, 415, 422]);
    }
    let responses = &mut operation.responses.responses;
    for status in statuses {
        responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(problem_response(status)));
    }
    // Every error answer is a problem document, whatever the annotation said.
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response) {
            let schema = response
                .content
                .shift_remove("application/json")
                .or_else(|| response.content.shift_remove(PROBLEM_JSON))
                .unwrap_or_else(|| RefOr::T(problem_content()));
            response.content.clear();
            response.content.insert(PROBLEM_JSON.to_owned(), schema);
        }
    }
}

/// Adds the shared error answers to every operation of `openapi`.
pub fn complete(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            complete_operation(operation);
        }
    }
}
