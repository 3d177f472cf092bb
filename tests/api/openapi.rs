//! The API's own description and the operational endpoints.

use std::collections::BTreeSet;

use reqwest::Method;
use reqwest::header;
use serde_json::json;

use crate::support::{Res, TUE_0900, TestApp, User};

/// The contract of issue 3 ("The API"), written out so that removing or renaming a
/// route fails this test.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/oidc/link"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/specialties"),
    ("post", "/api/v1/specialties"),
    ("get", "/api/v1/doctors"),
    ("get", "/api/v1/doctors/{id}"),
    ("patch", "/api/v1/doctors/{id}"),
    ("get", "/api/v1/doctors/{id}/slots"),
    ("get", "/api/v1/doctors/{id}/schedule"),
    ("put", "/api/v1/doctors/{id}/schedule"),
    ("post", "/api/v1/doctors/{id}/time-off"),
    ("delete", "/api/v1/doctors/{id}/time-off/{time_off_id}"),
    ("post", "/api/v1/appointments"),
    ("get", "/api/v1/appointments"),
    ("get", "/api/v1/appointments/{id}"),
    ("post", "/api/v1/appointments/{id}/confirm"),
    ("post", "/api/v1/appointments/{id}/reject"),
    ("post", "/api/v1/appointments/{id}/cancel"),
    ("post", "/api/v1/appointments/{id}/reschedule"),
    ("post", "/api/v1/appointments/{id}/check-in"),
    ("post", "/api/v1/appointments/{id}/complete"),
    ("post", "/api/v1/appointments/{id}/no-show"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users/{id}"),
    ("post", "/api/v1/users/{id}/approve"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/appointments/{id}/record"),
    ("post", "/api/v1/appointments/{id}/record"),
    ("post", "/api/v1/records/{id}/amendments"),
    ("get", "/api/v1/records/{id}/versions"),
    ("get", "/api/v1/patients/{id}/records"),
    ("get", "/api/v1/patients/{id}/summary"),
    ("put", "/api/v1/patients/{id}/summary"),
    ("get", "/api/v1/me/access-log"),
    ("get", "/api/v1/me/export"),
    // Issue 9: prescriptions and feedback.
    ("post", "/api/v1/appointments/{id}/prescriptions"),
    ("get", "/api/v1/patients/{id}/prescriptions"),
    ("get", "/api/v1/prescriptions/{id}"),
    ("get", "/api/v1/prescriptions/{id}/pdf"),
    ("post", "/api/v1/prescriptions/{id}/revoke"),
    ("post", "/api/v1/appointments/{id}/feedback"),
    ("patch", "/api/v1/appointments/{id}/feedback"),
    ("post", "/api/v1/feedback/{id}/reply"),
    ("post", "/api/v1/feedback/{id}/hide"),
    ("get", "/api/v1/doctors/{id}/reviews"),
    ("put", "/api/v1/me/photo"),
    ("delete", "/api/v1/me/photo"),
    ("get", "/api/v1/users/{id}/photo"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

dual! {
#[tokio::test]
async fn the_openapi_document_lists_every_route_of_the_contract() {
    let app = TestApp::spawn().await;
    let res = app.anon().get("/api/openapi.json").await;
    res.assert_status(200);
    assert!(
        res.header(header::CONTENT_TYPE)
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let doc = &res.body;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");

    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                documented.insert((method.to_owned(), path.clone()));
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} documents its responses"
                );
            }
        }
    }
    let missing: Vec<_> = CONTRACT
        .iter()
        .filter(|(m, p)| !documented.contains(&(m.to_string(), p.to_string())))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the OpenAPI document: {missing:?}"
    );

    // Path parameters are declared.
    let cancel = &paths["/api/v1/appointments/{id}/cancel"]["post"];
    let params = cancel["parameters"].as_array().expect("parameters");
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "id" && p["in"] == "path")
    );
    let delete = &paths["/api/v1/doctors/{id}/time-off/{time_off_id}"]["delete"];
    let names: Vec<&str> = delete["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"id") && names.contains(&"time_off_id"));
    // Problems and bearer auth are described.
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
}

dual! {
#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let doc = app.anon().get("/api/openapi.json").await.body;
    let anon = app.anon();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = path.replace("{id}", "x1").replace("{time_off_id}", "x2");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = Res::from(
                anon.request(method.clone(), &concrete)
                    .json(&json!({}))
                    .send()
                    .await,
            )
            .await;
            assert_ne!(res.status.as_u16(), 405, "{method} {concrete}");
            assert_ne!(res.status.as_u16(), 500, "{method} {concrete}");
            assert_ne!(
                res.body["detail"], "there is nothing at this address",
                "{method} {concrete} is documented but not routed"
            );
            checked += 1;
        }
    }
    assert!(checked >= CONTRACT.len());
}
}

dual! {
#[tokio::test]
async fn the_docs_page_lists_the_operations() {
    let app = TestApp::spawn().await;
    let res = app.anon().get("/api/docs").await;
    res.assert_status(200);
    assert!(
        res.header(header::CONTENT_TYPE)
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let html = res.body.as_str().expect("an HTML page");
    assert!(html.contains("<html"));
    assert!(html.contains("/api/openapi.json"));
    for (method, path) in CONTRACT {
        assert!(
            html.contains(&format!(
                "<code>{}</code></td><td><code>{path}</code>",
                method.to_uppercase()
            )),
            "the docs page lists {method} {path}"
        );
    }
}
}

dual! {
#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let anon = app.anon();
    anon.get("/healthz").await.assert_status(200);
    anon.get("/readyz").await.assert_status(200);
    anon.get("/api/v1/doctors").await.assert_status(200);
    anon.get("/api/v1/me").await.assert_status(401);
    let metrics = anon.get("/metrics").await;
    metrics.assert_status(200);
    let text = metrics.body.as_str().expect("text metrics");
    assert!(text.contains("# TYPE carebook_http_requests_total counter"));
    assert!(
        text.contains("carebook_http_requests_total{method=\"GET\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("carebook_http_requests_total{method=\"GET\",status=\"401\"} 1"),
        "{text}"
    );
    // Responses carry the security headers.
    assert_eq!(
        metrics.header(header::X_CONTENT_TYPE_OPTIONS),
        Some("nosniff")
    );
}
}

dual! {
#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_problems() {
    let app = TestApp::spawn().await;
    let anon = app.anon();
    anon.get("/api/v1/nothing-here")
        .await
        .assert_problem(404, "not-found");
    // Outside /api an unknown address is the web 404 page (see web.rs).
    for (method, path) in [
        (Method::DELETE, "/api/v1/me"),
        (Method::PUT, "/api/v1/appointments"),
        (Method::GET, "/api/v1/auth/login"),
        (Method::POST, "/healthz"),
    ] {
        let res = Res::from(anon.request(method.clone(), path).send().await).await;
        res.assert_problem(405, "method-not-allowed");
    }
}
}

dual! {
#[tokio::test]
async fn odd_requests_never_cause_a_server_error() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Fuzzy Doctor").await;
    let patient = app.register_patient("Fuzzy Input").await;
    let apt = app.booked(&patient, &doctor.id, TUE_0900).await;
    let d = doctor.id.as_str();
    let big = i64::MAX;
    let cases: Vec<(&User, Method, String, Option<String>)> = vec![
        (
            &patient,
            Method::POST,
            "/api/v1/auth/login".into(),
            Some("[]".into()),
        ),
        (
            &patient,
            Method::POST,
            "/api/v1/auth/login".into(),
            Some("null".into()),
        ),
        (
            &patient,
            Method::POST,
            "/api/v1/auth/login".into(),
            Some("{\"email\": 1}".into()),
        ),
        (
            &patient,
            Method::POST,
            "/api/v1/auth/register".into(),
            Some("\"text\"".into()),
        ),
        (
            &patient,
            Method::POST,
            "/api/v1/appointments".into(),
            Some("{\"doctor_id\": []}".into()),
        ),
        (
            &patient,
            Method::POST,
            "/api/v1/appointments".into(),
            Some("{".into()),
        ),
        (
            &patient,
            Method::POST,
            "/api/v1/appointments".into(),
            Some(format!(
                "{{\"doctor_id\": \"{d}\", \"start\": \"9999-12-31T23:59:59Z\"}}"
            )),
        ),
        (
            &patient,
            Method::POST,
            "/api/v1/appointments".into(),
            Some(format!(
                "{{\"doctor_id\": \"{d}\", \"start\": \"-009999-01-01T00:00:00Z\"}}"
            )),
        ),
        (
            &patient,
            Method::GET,
            "/api/v1/doctors?limit=abc".into(),
            None,
        ),
        (
            &patient,
            Method::GET,
            "/api/v1/doctors?limit=4294967296".into(),
            None,
        ),
        (
            &patient,
            Method::GET,
            "/api/v1/doctors?available_from=2026-13-45".into(),
            None,
        ),
        (
            &patient,
            Method::GET,
            "/api/v1/doctors?available_from=9999-12-31".into(),
            None,
        ),
        (
            &patient,
            Method::GET,
            "/api/v1/doctors/%00/slots".into(),
            None,
        ),
        (
            &patient,
            Method::GET,
            format!("/api/v1/doctors/{d}/slots?from=2026-03-02&to=9999-12-31"),
            None,
        ),
        (
            &patient,
            Method::GET,
            format!("/api/v1/doctors/{d}/slots?from=9999-12-31&to=9999-12-31"),
            None,
        ),
        (
            &patient,
            Method::GET,
            format!("/api/v1/doctors/{d}/slots?from=-009999-01-01"),
            None,
        ),
        (
            &patient,
            Method::GET,
            "/api/v1/appointments?from=-99999-01-01T00:00:00Z".into(),
            None,
        ),
        (
            &patient,
            Method::POST,
            format!("/api/v1/appointments/{apt}/cancel"),
            Some("{\"reason\": 5}".into()),
        ),
        (
            &patient,
            Method::POST,
            format!("/api/v1/appointments/{apt}/reschedule"),
            Some("{\"start\": \"9999-12-31T23:59:59Z\"}".into()),
        ),
        (
            &doctor,
            Method::PUT,
            format!("/api/v1/doctors/{d}/schedule"),
            Some(format!(
                "{{\"time_zone\": \"Europe/Berlin\", \"slot_minutes\": {big}, \"weekly_hours\": [], \
                \"min_notice_minutes\": {big}, \"horizon_days\": {big}, \"auto_confirm\": false, \
                \"cancel_window_hours\": -{big}}}"
            )),
        ),
        (
            &doctor,
            Method::POST,
            format!("/api/v1/doctors/{d}/time-off"),
            Some(
                "{\"start\": \"-009999-01-01T00:00:00Z\", \"end\": \"9999-12-31T23:59:59Z\"}"
                    .into(),
            ),
        ),
        (
            &doctor,
            Method::PATCH,
            format!("/api/v1/doctors/{d}"),
            Some(format!(
                "{{\"years_experience\": {big}, \"fee\": {{\"amount\": -1, \"currency\": \"€\"}}}}"
            )),
        ),
        (
            &admin,
            Method::GET,
            "/api/v1/audit?from=2026-03-02".into(),
            None,
        ),
        (&admin, Method::GET, "/api/v1/audit?cursor=x".into(), None),
        (
            &admin,
            Method::GET,
            "/api/v1/users?status=sleeping".into(),
            None,
        ),
        (
            &admin,
            Method::PATCH,
            format!("/api/v1/users/{}", patient.id),
            Some("{\"date_of_birth\": \"2999-01-01\"}".into()),
        ),
        (
            &patient,
            Method::POST,
            "/api/v1/appointments".into(),
            Some("{\"doctor_id\": \"\\u0000\", \"start\": \"2026-03-03T08:00:00Z\"}".into()),
        ),
        (
            &admin,
            Method::GET,
            "/api/v1/doctors?specialty=%00&q=a%00b".into(),
            None,
        ),
        (
            &admin,
            Method::GET,
            "/api/v1/users?q=%00".into(),
            None,
        ),
    ];
    for (user, method, path, body) in cases {
        let mut request = user.request(method.clone(), &path);
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let res = Res::from(request.send().await).await;
        assert!(
            (400..500).contains(&res.status.as_u16()),
            "{method} {path}: {} {:#}",
            res.status,
            res.body
        );
        assert_eq!(
            res.header(header::CONTENT_TYPE),
            Some("application/problem+json"),
            "{method} {path}"
        );
    }
    // None of it changed the booking.
    assert_eq!(patient.appointment(&apt).await.body["start"], TUE_0900);
}
}

dual! {
#[tokio::test]
async fn a_body_that_is_not_an_object_changes_nothing() {
    // Found by schemathesis: serde reads a JSON array as a struct's fields in order,
    // so `[false, false]` turned both channels off with a 200.
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Array Body").await;
    let before = patient.get("/api/v1/me/notification-preferences").await;
    before.assert_status(200);
    for body in ["[false, false]", "[null, null]", "[]", "\"text\"", "7", " [true]"] {
        let res = Res::from(
            patient
                .request(Method::PATCH, "/api/v1/me/notification-preferences")
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await,
        )
        .await;
        res.assert_problem(422, "validation");
    }
    let after = patient.get("/api/v1/me/notification-preferences").await;
    assert_eq!(after.body, before.body);
}
}

dual! {
#[tokio::test]
async fn a_null_body_counts_as_no_body_where_the_body_is_optional() {
    // The document marks the lifecycle moves' body as nullable; `null` used to be a 422.
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Null Body").await;
    let patient = app.register_patient("Null Body Patient").await;
    let apt = app.booked(&patient, &doctor.id, TUE_0900).await;
    let res = Res::from(
        doctor
            .request(Method::POST, &format!("/api/v1/appointments/{apt}/confirm"))
            .header(header::CONTENT_TYPE, "application/json")
            .body("null")
            .send()
            .await,
    )
    .await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "confirmed");
    // An array is still refused, and the appointment stays as it is.
    let res = Res::from(
        doctor
            .request(Method::POST, &format!("/api/v1/appointments/{apt}/complete"))
            .header(header::CONTENT_TYPE, "application/json")
            .body("[\"done\"]")
            .send()
            .await,
    )
    .await;
    res.assert_problem(422, "validation");
    assert_eq!(patient.appointment(&apt).await.body["status"], "confirmed");
}
}

dual! {
#[tokio::test]
async fn the_document_describes_every_error_as_a_problem() {
    let app = TestApp::spawn().await;
    let doc = app.anon().get("/api/openapi.json").await.body;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            operations += 1;
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object().expect("content");
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                    assert_eq!(
                        content["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem"
                    );
                }
            }
            let has = |status: &str| responses.contains_key(status);
            let security = operation["security"].as_array();
            if security.is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some())) {
                assert!(has("401"), "{method} {path} documents 401");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(has(status), "{method} {path} documents {status}");
                }
            }
            if path.contains('{') {
                assert!(has("404"), "{method} {path} documents 404");
            }
            assert!(has("500") && has("503"), "{method} {path}");
        }
    }
    assert!(operations >= CONTRACT.len());
    // Optional authentication is said as such.
    let doctors = &doc["paths"]["/api/v1/doctors"]["get"];
    assert!(doctors["security"].as_array().unwrap().contains(&json!({})));
    assert!(doctors["responses"].get("401").is_some());
    assert!(doctors["responses"].get("403").is_none());
    // Paging bounds are in the schema, so generated values can be valid.
    let limit = doctors["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("limit");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 100);
}
}
