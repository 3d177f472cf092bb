//! What one request may carry and how fast one client may ask, each over HTTP:
//! body sizes (JSON and forms), JSON depth, text lengths, page sizes, schedule
//! size, slow bodies, idle connections, and the rate limits with their client
//! address (X-Forwarded-For only from trusted proxies).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::{Method, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

fn host_of(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Sends `head` (and `body`) on a fresh connection and reads until the server
/// closes it or `wait` passes; the text read.
async fn raw_exchange(app: &TestApp, head: &str, body: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(host_of(app)).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(body).await.expect("body");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The count of users the admin sees: for "nothing changed" checks.
async fn user_count(app: &TestApp) -> usize {
    let admin = app.admin().await;
    admin.get("/api/v1/users?limit=100").await.items().len()
}

dual! {
    #[tokio::test]
    async fn a_json_body_over_max_body_bytes_is_413_and_changes_nothing() {
        let app = TestApp::spawn().await;
        let users = user_count(&app).await;
        let email = app.email_for("Big Body");
        // Just under the limit: read, then refused for its values.
        let name = "x".repeat(1024 * 1024 - 200);
        app.register(json!({ "email": email, "password": PASSWORD, "name": name }))
            .await
            .assert_invalid(&["name"]);
        // Over it: refused before parsing.
        let name = "x".repeat(1024 * 1024);
        let res = app
            .register(json!({ "email": email, "password": PASSWORD, "name": name }))
            .await;
        res.assert_problem(413, "payload-too-large");
        // A declared length over the limit is refused before the body is read.
        let head = format!(
            "POST /api/v1/auth/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: 5000000\r\nConnection: close\r\n\r\n",
            host_of(&app)
        );
        let answer = raw_exchange(&app, &head, b"", Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(answer.contains("/problems/payload-too-large"), "{answer}");

        app.login(&email, PASSWORD).await.assert_problem(401, "invalid-credentials");
        assert_eq!(user_count(&app).await, users);
    }
}

#[tokio::test]
async fn a_chunked_body_is_held_to_the_same_limit() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 1024).await;
    let padding = "x".repeat(2000);
    let body = format!(r#"{{"email":"a@example.com","password":"{padding}","name":"A"}}"#);
    let head = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        host_of(&app)
    );
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let answer = raw_exchange(&app, &head, chunked.as_bytes(), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("/problems/payload-too-large"), "{answer}");
}

#[tokio::test]
async fn json_nested_deeper_than_max_json_depth_is_refused_before_parsing() {
    let app = TestApp::spawn().await;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let send = |body: String| {
        app.anon()
            .request(Method::POST, "/api/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
    };
    // 32 levels (the default) in all: parsed, and refused for its shape.
    let at_limit = format!(r#"{{"email":{},"password":"p"}}"#, nested(31));
    let res = Res::from(send(at_limit).await).await;
    res.assert_problem(422, "validation");
    let too_deep = format!(r#"{{"email":{},"password":"p"}}"#, nested(32));
    let res = Res::from(send(too_deep).await).await;
    res.assert_problem(400, "json-too-deep");
    // Brackets inside strings are text, not nesting.
    let in_text = format!(r#"{{"email":"{}","password":"p"}}"#, nested(100));
    let res = Res::from(send(in_text).await).await;
    assert_ne!(
        res.body["type"], "/problems/json-too-deep",
        "{:#}",
        res.body
    );
    // Far deeper than serde's own limit: still the same clear answer.
    let res = Res::from(send(nested(100_000)).await).await;
    res.assert_problem(400, "json-too-deep");
}

/// One over-long value: who sends it, where, and which field must be named.
struct Probe {
    method: Method,
    path: String,
    body: Value,
    field: &'static str,
}

fn probe(method: Method, path: impl Into<String>, body: Value, field: &'static str) -> Probe {
    Probe {
        method,
        path: path.into(),
        body,
        field,
    }
}

/// Every string in a JSON request body of the API, as `METHOD /path field`, from
/// the OpenAPI document (`[]` marks array items).
fn request_string_fields(document: &Value) -> BTreeSet<String> {
    fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or("");
                &document["components"]["schemas"][name]
            }
            None => schema,
        }
    }
    fn is_string(schema: &Value) -> bool {
        schema["type"] == "string"
            || schema["type"]
                .as_array()
                .is_some_and(|types| types.iter().any(|t| t == "string"))
    }
    fn walk(document: &Value, schema: &Value, prefix: &str, out: &mut Vec<String>) {
        let schema = resolve(document, schema);
        for variant in ["oneOf", "anyOf", "allOf"] {
            for inner in schema[variant].as_array().into_iter().flatten() {
                walk(document, inner, prefix, out);
            }
        }
        if is_string(schema) {
            out.push(prefix.to_owned());
        }
        if let Some(items) = schema.get("items") {
            walk(document, items, &format!("{prefix}[]"), out);
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            walk(document, property, &path, out);
        }
    }
    let mut fields = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                continue;
            }
            let mut found = Vec::new();
            walk(document, schema, "", &mut found);
            for field in found {
                fields.insert(format!("{} {path} {field}", method.to_uppercase()));
            }
        }
    }
    fields
}

dual! {
    #[tokio::test]
    async fn every_text_input_has_a_maximum_and_one_over_it_is_refused_by_name() {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let appointment = app.booked(&patient, &doctor.id, TUE_0900).await;
        let users = user_count(&app).await;
        let long = |chars: usize| "é".repeat(chars);
        let email = |chars: usize| format!("{}@example.com", "a".repeat(chars - 12));
        let (d, p, a) = (&doctor.id, &patient.id, &appointment);
        let mut probes = vec![
            probe(Method::POST, "/auth/register", json!({ "email": email(255), "password": PASSWORD, "name": "N" }), "email"),
            probe(Method::POST, "/auth/register", json!({ "email": "n@example.com", "password": long(257), "name": "N" }), "password"),
            probe(Method::POST, "/auth/register", json!({ "email": "n@example.com", "password": PASSWORD, "name": long(201) }), "name"),
            probe(Method::POST, "/auth/register", json!({ "email": "n@example.com", "password": PASSWORD, "name": "N", "phone": format!("+49{}", "1".repeat(300)) }), "phone"),
            probe(Method::POST, "/auth/login", json!({ "email": email(255), "password": PASSWORD }), "email"),
            probe(Method::POST, "/auth/login", json!({ "email": "n@example.com", "password": long(257) }), "password"),
            probe(Method::POST, "/users", json!({ "email": "s@example.com", "password": PASSWORD, "name": long(201), "role": "receptionist" }), "name"),
            probe(Method::POST, "/users", json!({ "email": email(255), "password": PASSWORD, "name": "S", "role": "receptionist" }), "email"),
            probe(Method::POST, "/users", json!({ "email": "s@example.com", "password": long(257), "name": "S", "role": "receptionist" }), "password"),
            probe(Method::POST, "/users", json!({ "email": "s@example.com", "password": PASSWORD, "name": "S", "role": "receptionist", "phone": "+4915112345678".repeat(30) }), "phone"),
            probe(Method::PATCH, format!("/users/{p}"), json!({ "name": long(201) }), "name"),
            probe(Method::PATCH, format!("/users/{p}"), json!({ "phone": "+4915112345678".repeat(30) }), "phone"),
            probe(Method::POST, "/me/password", json!({ "current_password": PASSWORD, "new_password": long(257) }), "new_password"),
            probe(Method::POST, "/me/password", json!({ "current_password": long(257), "new_password": "another long secret" }), "current_password"),
            probe(Method::POST, "/specialties", json!({ "name": long(201) }), "name"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "name": long(201) }), "name"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "bio": long(4001) }), "bio"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "qualifications": long(1001) }), "qualifications"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "languages": [long(51)] }), "languages[0]"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "languages": vec!["English"; 21] }), "languages"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "specialty_ids": vec!["spc_x"; 21] }), "specialty_ids"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "visit_modes": [long(300)] }), "visit_modes[0]"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "fee": { "amount": 100, "currency": long(300) } }), "fee.currency"),
            probe(Method::PATCH, format!("/doctors/{d}"), json!({ "payment_mode": long(300) }), "payment_mode"),
            probe(Method::POST, format!("/appointments/{a}/payments"), json!({ "method": long(300) }), "method"),
            probe(Method::POST, format!("/appointments/{a}/payments"), json!({ "method": "cash", "amount_minor": 100, "currency": long(300) }), "currency"),
            probe(Method::PUT, format!("/doctors/{d}/schedule"), {
                let mut schedule = default_schedule();
                schedule["time_zone"] = json!(long(300));
                schedule
            }, "time_zone"),
            probe(Method::PUT, format!("/doctors/{d}/schedule"), {
                let mut schedule = default_schedule();
                schedule["weekly_hours"][0]["day"] = json!(long(300));
                schedule["weekly_hours"][1]["start"] = json!(long(300));
                schedule["weekly_hours"][2]["end"] = json!(long(300));
                schedule
            }, "weekly_hours[0].day"),
            probe(Method::POST, format!("/doctors/{d}/time-off"), json!({ "start": "2026-03-10", "end": "2026-03-11", "reason": long(501) }), "reason"),
            probe(Method::POST, format!("/doctors/{d}/time-off"), json!({ "start": long(300), "end": "2026-03-11" }), "start"),
            probe(Method::POST, "/appointments", json!({ "doctor_id": d, "start": WED_0900, "reason": long(1001) }), "reason"),
            probe(Method::POST, "/appointments", json!({ "doctor_id": d, "start": long(300) }), "start"),
            probe(Method::POST, "/appointments", json!({ "doctor_id": d, "start": WED_0900, "mode": long(300) }), "mode"),
            probe(Method::POST, format!("/appointments/{a}/reschedule"), json!({ "start": WED_1000, "reason": long(1001) }), "reason"),
            probe(Method::PATCH, "/me/notification-preferences", json!({ "phone": format!("+49{}", "1".repeat(300)) }), "phone"),
            probe(Method::POST, "/auth/login", json!({ "email": "n@example.com", "password": PASSWORD, "otp": "1".repeat(65) }), "otp"),
            probe(Method::POST, "/auth/oidc/link", json!({ "password": long(257) }), "password"),
            probe(Method::POST, "/auth/oidc/link", json!({ "password": PASSWORD, "otp": "1".repeat(65) }), "otp"),
            probe(Method::POST, "/auth/password-reset", json!({ "email": email(255) }), "email"),
            probe(Method::POST, "/auth/password-reset/confirm", json!({ "token": "t".repeat(129), "new_password": PASSWORD }), "token"),
            probe(Method::POST, "/auth/password-reset/confirm", json!({ "token": "t", "new_password": long(257) }), "new_password"),
            probe(Method::POST, "/auth/email-verification/confirm", json!({ "token": "t".repeat(129) }), "token"),
            probe(Method::POST, "/me/2fa/confirm", json!({ "otp": "1".repeat(65) }), "otp"),
            probe(Method::POST, "/me/2fa/disable", json!({ "password": PASSWORD, "otp": "1".repeat(65) }), "otp"),
            probe(Method::POST, "/me/2fa/disable", json!({ "password": long(257), "otp": "123456" }), "password"),
            // Prescriptions and feedback check values before anything else, so any id
            // will do (`a` stands for a prescription's and a feedback's).
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": [rx_line("name", long(201))] }), "lines[0].name"),
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": [rx_line("strength", long(101))] }), "lines[0].strength"),
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": [rx_line("dose", long(101))] }), "lines[0].dose"),
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": [rx_line("route", long(51))] }), "lines[0].route"),
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": [rx_line("frequency", long(101))] }), "lines[0].frequency"),
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": [rx_line("quantity", long(101))] }), "lines[0].quantity"),
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": [rx_line("instructions", long(1001))] }), "lines[0].instructions"),
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": [rx_line("name", "Ibuprofen".into())], "notes": long(2001) }), "notes"),
            probe(Method::POST, format!("/appointments/{a}/prescriptions"), json!({ "lines": vec![rx_line("name", "Ibuprofen".into()); 21] }), "lines"),
            probe(Method::POST, format!("/prescriptions/{a}/revoke"), json!({ "reason": long(1001) }), "reason"),
            probe(Method::POST, format!("/appointments/{a}/feedback"), json!({ "rating": 5, "comment": long(2001) }), "comment"),
            probe(Method::PATCH, format!("/appointments/{a}/feedback"), json!({ "comment": long(2001) }), "comment"),
            probe(Method::POST, format!("/feedback/{a}/reply"), json!({ "reply": long(2001) }), "reply"),
            probe(Method::POST, format!("/feedback/{a}/hide"), json!({ "reason": long(1001) }), "reason"),
        ];
        let record = format!("/appointments/{a}/record");
        let amendments = format!("/records/{a}/amendments");
        let summary = format!("/patients/{p}/summary");
        for field in ["symptoms", "diagnosis", "notes", "follow_up_advice"] {
            probes.push(probe(Method::POST, record.clone(), json!({ field: long(4001) }), field));
            probes.push(probe(Method::POST, amendments.clone(), json!({ "base_version": 1, "reason": "r", field: long(4001) }), field));
        }
        probes.push(probe(Method::POST, record.clone(), json!({ "icd10_code": long(17) }), "icd10_code"));
        probes.push(probe(Method::POST, amendments.clone(), json!({ "base_version": 1, "reason": "r", "icd10_code": long(17) }), "icd10_code"));
        probes.push(probe(Method::POST, amendments.clone(), json!({ "base_version": 1, "reason": long(501), "notes": "n" }), "reason"));
        for (field, item) in [
            ("allergies", "allergies[0]"),
            ("chronic_conditions", "chronic_conditions[0]"),
            ("current_medications", "current_medications[0]"),
        ] {
            probes.push(probe(Method::PUT, summary.clone(), json!({ field: [long(201)] }), item));
        }
        probes.push(probe(Method::PUT, summary.clone(), json!({ "blood_group": long(300) }), "blood_group"));
        probes.push(probe(Method::PUT, summary.clone(), json!({ "note": long(1001) }), "note"));
        let conversation = patient
            .post("/api/v1/conversations", &json!({ "doctor_id": d }))
            .await
            .str("id")
            .to_owned();
        let c = &conversation;
        probes.push(probe(Method::POST, format!("/conversations/{c}/messages"), json!({ "client_id": "c1", "text": long(4001) }), "text"));
        probes.push(probe(Method::POST, format!("/conversations/{c}/messages"), json!({ "client_id": "c".repeat(65), "text": "hi" }), "client_id"));
        probes.push(probe(Method::POST, format!("/conversations/{c}/messages"), json!({ "client_id": "c2", "text": "hi", "attachment_id": "a".repeat(65) }), "attachment_id"));
        for action in ["confirm", "reject", "cancel", "check-in", "complete", "no-show"] {
            probes.push(probe(Method::POST, format!("/appointments/{a}/{action}"), json!({ "reason": long(1001) }), "reason"));
        }
        for probe in &probes {
            let caller = match probe.path.as_str() {
                p if p.starts_with("/auth/") => app.anon(),
                p if p.starts_with("/me/") => patient.api.clone(),
                "/appointments" => patient.api.clone(),
                p if p.starts_with("/conversations/") => patient.api.clone(),
                p if p.ends_with("/cancel") || p.ends_with("/reschedule") => patient.api.clone(),
                p if p.starts_with("/doctors/") => doctor.api.clone(),
                _ => admin.api.clone(),
            };
            let res = Res::from(
                caller
                    .request(probe.method.clone(), &format!("/api/v1{}", probe.path))
                    .json(&probe.body)
                    .send()
                    .await,
            )
            .await;
            assert_eq!(res.status.as_u16(), 422, "{} {}: {:#}", probe.method, probe.path, res.body);
            let named = res.error_fields();
            assert!(
                named.iter().any(|f| f == probe.field),
                "{} {}: expected {:?} among {named:?}",
                probe.method, probe.path, probe.field
            );
        }
        // Searches are bounded too (and the whole address by max_header_bytes).
        for path in ["/doctors", "/users", "/appointments"] {
            let q = "q".repeat(201);
            admin.get(&format!("/api/v1{path}?q={q}")).await.assert_invalid(&["q"]);
        }

        // Nothing changed.
        assert_eq!(user_count(&app).await, users);
        let profile = app.anon().get(&format!("/api/v1/doctors/{d}")).await;
        assert_eq!(profile.body["name"], "Dora Keller");
        assert_eq!(profile.body["bio"], Value::Null);
        let booked = patient.appointment(a).await;
        assert_eq!(booked.body["status"], "requested");
        assert_eq!(booked.body["start"], TUE_0900);
        assert_eq!(booked.body["reason"], Value::Null);

        // Every string a request body can carry is covered above, or is an id, an
        // enum or an instant whose parser accepts only short values. A new text
        // field fails here until it has a maximum and a row.
        let document = app.anon().get("/api/openapi.json").await;
        let fields = request_string_fields(&document.body);
        let strictly_parsed = [
            "POST /api/v1/appointments doctor_id", // looked up: an unknown id is a 404/422
            "POST /api/v1/appointments patient_id",
            "POST /api/v1/auth/register date_of_birth", // YYYY-MM-DD
            "POST /api/v1/users date_of_birth",
            "PATCH /api/v1/users/{id} date_of_birth",
            "POST /api/v1/auth/register role", // an enum
            "POST /api/v1/users role",
            "PATCH /api/v1/users/{id} role",
            "PATCH /api/v1/doctors/{id} specialty_ids[]", // looked up, at most 20
            "PUT /api/v1/doctors/{id}/schedule weekly_hours[].start", // HH:MM
            "PUT /api/v1/doctors/{id}/schedule weekly_hours[].end",
            "POST /api/v1/doctors/{id}/time-off end",
            "POST /api/v1/appointments/{id}/reschedule start",
            "POST /api/v1/appointments/{id}/record follow_up_date", // YYYY-MM-DD
            "POST /api/v1/records/{id}/amendments follow_up_date",
            "POST /api/v1/conversations doctor_id", // looked up: no appointment with it is a 403
            "POST /api/v1/conversations patient_id",
            // Stripe's raw event: checked by its signature before it is read, and
            // bounded by max_body_bytes like every body.
            "POST /api/v1/payments/stripe/webhook ",
        ];
        let covered: BTreeSet<String> = probes
            .iter()
            .map(|probe| {
                let template = [d.as_str(), p.as_str(), a.as_str(), c.as_str()]
                    .iter()
                    .fold(probe.path.clone(), |path, id| path.replace(id, "{id}"));
                format!("{} /api/v1{template} {}", probe.method, probe.field.replace("[0]", "[]"))
            })
            .collect();
        let missing: Vec<&String> = fields
            .iter()
            .filter(|f| !covered.contains(*f) && !strictly_parsed.contains(&f.as_str()))
            .collect();
        assert!(missing.is_empty(), "text inputs without a tested maximum: {missing:?}");
    }
}

#[tokio::test]
async fn every_list_takes_1_to_100_items_a_page() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Dora Keller").await;
    // A patient's lists (`/patients/{id}/...`) are read by the patient: clinical
    // lists are closed to the admin without a break-glass reason. A conversation's
    // messages are only its two participants'.
    let patient = app.register_patient("Pia Patient").await;
    app.booked(&patient, &doctor.id, TUE_0900).await;
    let conversation = patient
        .post("/api/v1/conversations", &json!({ "doctor_id": doctor.id }))
        .await
        .str("id")
        .to_owned();
    let document = app.anon().get("/api/openapi.json").await;
    let mut lists = Vec::new();
    for (path, operations) in document.body["paths"].as_object().expect("paths") {
        let takes_limit = operations["get"]["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "limit"));
        if !takes_limit {
            continue;
        }
        if path.starts_with("/api/v1/patients/") {
            lists.push((&patient, path.replace("{id}", &patient.id)));
        } else if path.starts_with("/api/v1/conversations/") {
            lists.push((&patient, path.replace("{id}", &conversation)));
        } else {
            lists.push((&admin, path.replace("{id}", &doctor.id)));
        }
    }
    let paths: Vec<&String> = lists.iter().map(|(_, path)| path).collect();
    assert!(lists.len() >= 6, "{paths:?}");
    for (caller, path) in &lists {
        for bad in ["0", "101"] {
            caller
                .get(&format!("{path}?limit={bad}"))
                .await
                .assert_invalid(&["limit"]);
        }
        caller
            .get(&format!("{path}?limit=-1"))
            .await
            .assert_problem(400, "malformed-request");
        caller
            .get(&format!("{path}?limit=100"))
            .await
            .assert_status(200);
    }
}

dual! {
    #[tokio::test]
    async fn a_schedule_holds_at_most_70_weekly_intervals() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let path = format!("/api/v1/doctors/{}/schedule", doctor.id);
        let with_intervals = |count: usize| {
            let days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
            let hours: Vec<Value> = (0..count)
                .map(|i| {
                    let (day, slot) = (days[i % 7], i / 7);
                    json!({ "day": day, "start": format!("{:02}:00", 6 + slot),
                        "end": format!("{:02}:30", 6 + slot) })
                })
                .collect();
            let mut schedule = default_schedule();
            schedule["weekly_hours"] = json!(hours);
            schedule
        };
        doctor.put(&path, &with_intervals(71)).await.assert_invalid(&["weekly_hours"]);
        let kept = doctor.get(&path).await;
        assert_eq!(kept.body["weekly_hours"].as_array().map(Vec::len), Some(10), "unchanged");
        doctor.put(&path, &with_intervals(70)).await.assert_status(200);
        let saved = doctor.get(&path).await;
        assert_eq!(saved.body["weekly_hours"].as_array().map(Vec::len), Some(70));
    }
}

#[tokio::test]
async fn web_forms_take_the_largest_real_form_and_no_more_than_max_form_bytes() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Dora Keller").await;
    let pages = app.pages();
    pages.sign_in_as(&doctor).await;
    pages.get("/doctor/profile").await.assert_status(200);
    // The longest profile there can be, in a script whose characters take 3 bytes
    // (9 once form-encoded): about 46 KB on the wire.
    let bio = "診".repeat(4000);
    let qualifications = "資".repeat(1000);
    let languages = vec!["語".repeat(50); 20].join(",");
    let saved = pages
        .post(
            "/doctor/profile",
            &[
                ("bio", &bio),
                ("qualifications", &qualifications),
                ("languages", &languages),
            ],
        )
        .await;
    saved.assert_redirect("/doctor/profile");
    let profile = app
        .anon()
        .get(&format!("/api/v1/doctors/{}", doctor.id))
        .await;
    assert_eq!(profile.body["bio"], bio.as_str());

    // Over 128 KiB: a clear page, nothing saved.
    let too_much = "x".repeat(128 * 1024);
    let refused = pages
        .post(
            "/doctor/profile",
            &[("bio", "short"), ("padding", &too_much)],
        )
        .await;
    refused.assert_status(413).assert_contains("Too much data");
    let profile = app
        .anon()
        .get(&format!("/api/v1/doctors/{}", doctor.id))
        .await;
    assert_eq!(profile.body["bio"], bio.as_str());
}

#[tokio::test]
async fn a_client_that_stalls_in_its_body_gets_408_and_others_are_served() {
    let app = TestApp::spawn_with(|s| s.body_timeout_seconds = 1).await;
    let users = user_count(&app).await;
    let mut slow = TcpStream::connect(host_of(&app)).await.expect("connect");
    let head = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 200\r\n\r\n{{\"email\":\"slow@example.com\",",
        host_of(&app)
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    // Meanwhile another client is served at once.
    app.anon()
        .get("/api/v1/specialties")
        .await
        .assert_status(200);
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the stalled connection was not closed");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("/problems/request-timeout"), "{answer}");
    assert_eq!(user_count(&app).await, users);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_header_timeout_seconds() {
    let app = TestApp::spawn_with(|s| s.header_timeout_seconds = 1).await;
    let mut stream = TcpStream::connect(host_of(&app)).await.expect("connect");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", host_of(&app));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut first = vec![0u8; 4096];
    let n = stream.read(&mut first).await.expect("an answer");
    let first = String::from_utf8_lossy(&first[..n]);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    // Kept alive, then idle: closed once the next request's headers are overdue.
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "an idle connection stayed open");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

/// A client whose connections come from `local` (any 127.x.y.z works on loopback).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().expect("an address"))
        .build()
        .expect("a client")
}

#[track_caller]
fn assert_rate_limited(res: &Res) {
    res.assert_problem(429, "rate-limited");
    let seconds: u64 = res
        .header(header::RETRY_AFTER)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {:?}", res.headers));
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
}

#[tokio::test]
async fn each_token_has_its_own_budget() {
    let app = TestApp::spawn_with(|s| s.rate_limit_per_token_per_minute = 5).await;
    let a = app.register_patient("Ann A").await;
    let b = app.register_patient("Ben B").await;
    for _ in 0..5 {
        a.get("/api/v1/me").await.assert_status(200);
    }
    let refused = a.get("/api/v1/me").await;
    assert_rate_limited(&refused);
    // 5 a minute: the next request is about 12 seconds away.
    let wait: u64 = refused
        .header(header::RETRY_AFTER)
        .unwrap()
        .parse()
        .unwrap();
    assert!((10..=13).contains(&wait), "{wait}");
    b.get("/api/v1/me").await.assert_status(200);
    app.anon()
        .get("/api/v1/specialties")
        .await
        .assert_status(200);
    // Not a write either: the refused token cannot change anything.
    let res = a
        .patch(
            &format!("/api/v1/users/{}", a.id),
            &json!({ "name": "Changed" }),
        )
        .await;
    assert_rate_limited(&res);
    let me = b.get(&format!("/api/v1/users/{}", b.id)).await;
    assert_eq!(me.body["name"], "Ben B");
}

#[tokio::test]
async fn each_client_address_has_its_own_budget() {
    let app = TestApp::spawn_with(|s| s.rate_limit_per_address_per_minute = 5).await;
    let (first, second) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    let url = format!("{}/api/v1/specialties", app.base);
    for _ in 0..5 {
        let res = Res::from(first.get(&url).send().await).await;
        res.assert_status(200);
    }
    assert_rate_limited(&Res::from(first.get(&url).send().await).await);
    Res::from(second.get(&url).send().await)
        .await
        .assert_status(200);
    // Pages and health checks are not counted.
    Res::from(first.get(format!("{}/healthz", app.base)).send().await)
        .await
        .assert_status(200);
    Res::from(first.get(format!("{}/login", app.base)).send().await)
        .await
        .assert_status(200);
}

dual! {
    #[tokio::test]
    async fn the_auth_endpoints_have_a_stricter_budget_and_a_refusal_changes_nothing() {
        let app = TestApp::spawn_with(|s| {
            s.rate_limit_auth_per_address_per_minute = 3;
            s.rate_limit_per_address_per_minute = 1000;
        })
        .await;
        for _ in 0..3 {
            app.login("nobody@example.com", "not the password")
                .await
                .assert_problem(401, "invalid-credentials");
        }
        assert_rate_limited(&app.login("nobody@example.com", "not the password").await);
        let email = app.email_for("Late Registrant");
        let refused = app
            .register(json!({ "email": email, "password": PASSWORD, "name": "Late Registrant" }))
            .await;
        assert_rate_limited(&refused);
        // The web sign-in form is in the same class: a page, with Retry-After.
        let pages = app.pages();
        pages.get("/login").await.assert_status(200);
        let page = pages
            .post("/login", &[("email", "nobody@example.com"), ("password", "x")])
            .await;
        page.assert_status(429).assert_contains("Too many attempts");
        assert!(page.headers.contains_key(header::RETRY_AFTER));
        // Everything else still answers.
        app.anon().get("/api/v1/specialties").await.assert_status(200);
        // From another address: the refused registration made no account.
        let other = client_from("127.0.0.2");
        let res = Res::from(
            other
                .post(format!("{}/api/v1/auth/login", app.base))
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await,
        )
        .await;
        res.assert_problem(401, "invalid-credentials");
    }
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let login = |app: &TestApp, forwarded: &str| {
        app.anon()
            .request(Method::POST, "/api/v1/auth/login")
            .header("x-forwarded-for", forwarded)
            .json(&json!({ "email": "nobody@example.com", "password": "not the password" }))
            .send()
    };
    // No trusted proxy: a client inventing a new address each time gains nothing.
    let direct = TestApp::spawn_with(|s| s.rate_limit_auth_per_address_per_minute = 2).await;
    for spoofed in ["198.51.100.1", "198.51.100.2"] {
        Res::from(login(&direct, spoofed).await)
            .await
            .assert_status(401);
    }
    assert_rate_limited(&Res::from(login(&direct, "198.51.100.3").await).await);

    // Behind a trusted proxy (here 127.0.0.1), the address it appends is the client.
    let proxied = TestApp::spawn_with(|s| {
        s.rate_limit_auth_per_address_per_minute = 2;
        s.trusted_proxies = vec!["127.0.0.0/8".to_owned()];
    })
    .await;
    for _ in 0..2 {
        Res::from(login(&proxied, "198.51.100.1").await)
            .await
            .assert_status(401);
    }
    assert_rate_limited(&Res::from(login(&proxied, "198.51.100.1").await).await);
    // A client that writes its own header before the proxy's entry is still known
    // by the proxy's entry.
    assert_rate_limited(&Res::from(login(&proxied, "203.0.113.7, 198.51.100.1").await).await);
    Res::from(login(&proxied, "198.51.100.2").await)
        .await
        .assert_status(401);
}

/// A valid medication line with `field` set to `value`.
fn rx_line(field: &str, value: String) -> Value {
    let mut line = json!({
        "name": "Ibuprofen", "dose": "1 tablet", "frequency": "daily", "duration_days": 5,
    });
    line[field] = json!(value);
    line
}
