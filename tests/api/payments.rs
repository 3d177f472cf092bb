//! Online payment (docs/PAYMENTS.md) against a fake Stripe that checks the exact
//! requests: the held slot, Checkout, the signed webhook, the hold running out, late
//! payments, refunds, desk payments, and the admin's list, totals and export.

use carebook::testing::stripe::{FakeStripe, RecordedRequest, sign};
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::security::mails_to;
use crate::support::*;

const SECRET_KEY: &str = "sk_test_carebook_payments";
const WEBHOOK_SECRET: &str = "whsec_carebook_test";
/// `NOW` plus the default 15-minute hold.
const HOLD_UNTIL: &str = "2026-03-02T06:15:00Z";

/// A server taking fees online through `stripe`, with sessions that outlive the
/// clock moves of these tests.
async fn payments_app(
    stripe: &FakeStripe,
    configure: impl FnOnce(&mut carebook::config::Settings),
) -> TestApp {
    let api_base = stripe.url();
    TestApp::spawn_with_base(move |s, base| {
        s.public_url = base.to_owned();
        s.stripe_secret_key = Some(carebook::config::Secret(SECRET_KEY.into()));
        s.stripe_webhook_secret = Some(carebook::config::Secret(WEBHOOK_SECRET.into()));
        s.stripe_api_base = api_base;
        s.session_ttl_hours = 24 * 7;
        configure(s);
    })
    .await
}

/// A doctor (default schedule) whose fee of EUR 50.00 is paid online.
async fn online_doctor(app: &TestApp, name: &str) -> User {
    let doctor = app.create_doctor(name).await;
    let res = doctor
        .patch(
            &format!("/api/v1/doctors/{}", doctor.id),
            &json!({ "fee": { "amount": 5000, "currency": "EUR" }, "payment_mode": "online" }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["payment_mode"], "online");
    doctor
}

/// Books `start` as `patient`; the booking must be held for its payment.
async fn held(app: &TestApp, patient: &User, doctor: &User, start: &str) -> Value {
    let res = app.book(patient, &doctor.id, start).await;
    res.assert_status(201);
    assert_eq!(res.body["status"], "awaiting_payment", "{}", res.body);
    res.body.clone()
}

/// The Checkout Session a held booking's patient is sent to (the last part of its
/// `checkout_url`).
fn session_of(booked: &Value) -> String {
    let url = booked["payment"]["checkout_url"]
        .as_str()
        .expect("a checkout_url");
    url.rsplit('/').next().unwrap().to_owned()
}

fn checkout_requests(stripe: &FakeStripe) -> Vec<RecordedRequest> {
    stripe
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/checkout/sessions")
        .collect()
}

fn requests_to(stripe: &FakeStripe, path_start: &str) -> Vec<RecordedRequest> {
    stripe
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.starts_with(path_start))
        .collect()
}

/// POSTs a webhook body with the given `Stripe-Signature` (none when `None`).
async fn post_webhook(app: &TestApp, body: &str, signature: Option<&str>) -> Res {
    let mut request = app
        .anon()
        .request(Method::POST, "/api/v1/payments/stripe/webhook")
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    Res::from(request.send().await).await
}

/// Stripe's word that the booking's checkout was paid, signed now.
async fn pay(app: &TestApp, stripe: &FakeStripe, booked: &Value) -> Res {
    let body = stripe.completed_event(&session_of(booked));
    let signature = sign(&body, WEBHOOK_SECRET, app.app.now());
    post_webhook(app, &body, Some(&signature)).await
}

dual! {
    #[tokio::test]
    async fn a_booking_with_an_online_doctor_holds_the_slot_and_opens_a_checkout() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("Paula Patient").await;
        let other = app.register_patient("Otto Other").await;
        let told_before = doctor.get("/api/v1/notifications").await.items().len();

        let booked = held(&app, &patient, &doctor, TUE_0900).await;
        let id = booked["id"].as_str().unwrap();
        let payment = &booked["payment"];
        assert_eq!(payment["status"], "pending");
        assert_eq!(payment["method"], "stripe");
        assert_eq!(payment["amount_minor"], 5000);
        assert_eq!(payment["currency"], "EUR");
        assert_eq!(payment["hold_until"], HOLD_UNTIL);
        let checkout_url = payment["checkout_url"].as_str().unwrap();
        assert!(checkout_url.starts_with(&format!("{}/checkout/cs_test_", stripe.url())), "{checkout_url}");

        // Exactly one session, made as Stripe documents it.
        let made = checkout_requests(&stripe);
        assert_eq!(made.len(), 1);
        let request = &made[0];
        assert_eq!(request.header("authorization"), Some(format!("Bearer {SECRET_KEY}").as_str()));
        let payment_id = payment["id"].as_str().unwrap();
        assert_eq!(request.header("idempotency-key"), Some(format!("checkout-{payment_id}").as_str()));
        let field = |name: &str| request.form_field(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(field("mode"), "payment");
        assert_eq!(field("client_reference_id"), id);
        assert_eq!(field("line_items[0][quantity]"), "1");
        assert_eq!(field("line_items[0][price_data][currency]"), "eur");
        assert_eq!(field("line_items[0][price_data][unit_amount]"), "5000");
        assert!(field("line_items[0][price_data][product_data][name]").contains("Dr Olivia Online"));
        assert_eq!(field("success_url"), format!("{}/appointments/{id}?payment=done", app.base));
        assert_eq!(field("cancel_url"), format!("{}/appointments/{id}?payment=cancelled", app.base));
        assert_eq!(field("metadata[payment_id]"), payment_id);
        assert_eq!(field("metadata[appointment_id]"), id);
        assert_eq!(field("payment_intent_data[metadata][payment_id]"), payment_id);
        // Stripe's shortest lifetime (30 min) and a minute: the hold is shorter.
        let expected = ts(NOW) + SignedDuration::from_mins(31);
        assert_eq!(field("expires_at"), expected.as_second().to_string());

        // The hold blocks the slot like any booking.
        assert!(!app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03").await.contains(&TUE_0900.to_owned()));
        app.book(&other, &doctor.id, TUE_0900).await.assert_problem(409, "slot-taken");
        // The doctor sees the hold, not the patient's checkout; nobody was told yet.
        let seen = doctor.appointment(id).await;
        assert_eq!(seen.body["status"], "awaiting_payment");
        assert_eq!(seen.body["payment"]["status"], "pending");
        assert!(seen.body["payment"].get("checkout_url").is_none());
        let notices = doctor.get("/api/v1/notifications").await;
        assert_eq!(notices.items().len(), told_before, "{}", notices.body);
        // A hold cannot be moved: pay first.
        patient
            .post(&format!("/api/v1/appointments/{id}/reschedule"), &json!({ "start": TUE_1000 }))
            .await
            .assert_problem(409, "illegal-transition");
        // The desk's bookings are paid at the desk.
        let desk = app.create_receptionist().await;
        let by_desk = desk
            .post("/api/v1/appointments", &json!({ "doctor_id": doctor.id, "start": WED_0900, "patient_id": other.id }))
            .await;
        by_desk.assert_status(201);
        assert_eq!(by_desk.body["status"], "requested");
        assert!(by_desk.body["payment"].is_null());
        assert_eq!(checkout_requests(&stripe).len(), 1);
    }
}

dual! {
    #[tokio::test]
    async fn a_signed_payment_books_the_visit_once_and_sends_a_receipt() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("Paula Patient").await;
        let told_before = doctor.get("/api/v1/notifications").await.items().len();
        let id_held = held(&app, &patient, &doctor, TUE_0900).await;
        let id = id_held["id"].as_str().unwrap().to_owned();

        let body = stripe.completed_event(&session_of(&id_held));
        let signature = sign(&body, WEBHOOK_SECRET, app.app.now());
        let res = post_webhook(&app, &body, Some(&signature)).await;
        res.assert_status(200);
        assert_eq!(res.body["outcome"], "paid");

        // The doctor's confirmation rule (requests) applies now.
        let now_booked = patient.appointment(&id).await;
        assert_eq!(now_booked.body["status"], "requested");
        assert_eq!(now_booked.body["payment"]["status"], "paid");
        assert!(now_booked.body["payment"].get("checkout_url").is_none());
        let history: Vec<&str> = now_booked.body["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(history, ["book", "pay"]);

        // The same event again (Stripe retries) changes nothing.
        let again = post_webhook(&app, &body, Some(&signature)).await;
        again.assert_status(200);
        assert_eq!(again.body["outcome"], "duplicate");

        // The doctor hears of the request now; the patient gets one receipt.
        let notices = doctor.get("/api/v1/notifications").await;
        assert_eq!(notices.items().len(), told_before + 1, "{}", notices.body);
        app.deliver().await;
        let receipts: Vec<String> = mails_to(&app, &patient.email)
            .into_iter()
            .filter(|m| m.contains("Receipt: EUR 50.00"))
            .collect();
        assert_eq!(receipts.len(), 1, "one receipt");
        assert!(receipts[0].contains("online (card)"));
        let payment_id = now_booked.body["payment"]["id"].as_str().unwrap();
        assert!(receipts[0].contains(payment_id));
    }
}

dual! {
    #[tokio::test]
    async fn webhooks_with_a_bad_signature_are_refused_and_change_nothing() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("Paula Patient").await;
        let id_held = held(&app, &patient, &doctor, TUE_0900).await;
        let id = id_held["id"].as_str().unwrap().to_owned();
        let body = stripe.completed_event(&session_of(&id_held));
        let now = app.app.now();

        let wrong_secret = sign(&body, "whsec_someone_else", now);
        post_webhook(&app, &body, Some(&wrong_secret)).await.assert_problem(400, "invalid-signature");
        let stale = sign(&body, WEBHOOK_SECRET, now - SignedDuration::from_secs(301));
        post_webhook(&app, &body, Some(&stale)).await.assert_problem(400, "invalid-signature");
        let tampered = body.replace("\"paid\"", "\"unpaid\"");
        let signed_original = sign(&body, WEBHOOK_SECRET, now);
        post_webhook(&app, &tampered, Some(&signed_original)).await.assert_problem(400, "invalid-signature");
        post_webhook(&app, &body, None).await.assert_problem(400, "invalid-signature");
        post_webhook(&app, &body, Some("t=abc,v1=zz")).await.assert_problem(400, "invalid-signature");
        // Still held; an event with a good signature (one of several) still works.
        assert_eq!(patient.appointment(&id).await.body["status"], "awaiting_payment");
        let rolled = format!("{},v1={}", sign(&body, WEBHOOK_SECRET, now), "00".repeat(32));
        let res = post_webhook(&app, &body, Some(&rolled)).await;
        res.assert_status(200);
        assert_eq!(res.body["outcome"], "paid");
    }
}

dual! {
    #[tokio::test]
    async fn an_unpaid_hold_runs_out_and_frees_the_slot() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("Paula Patient").await;
        let id_held = held(&app, &patient, &doctor, TUE_0900).await;
        let id = id_held["id"].as_str().unwrap().to_owned();
        let session = session_of(&id_held);

        app.advance_clock(SignedDuration::from_mins(14));
        assert_eq!(app.app.expire_holds().await.unwrap(), 0, "not yet");
        app.advance_clock(SignedDuration::from_mins(1));
        assert_eq!(app.app.expire_holds().await.unwrap(), 1);
        assert_eq!(app.app.expire_holds().await.unwrap(), 0, "once");

        let after = patient.appointment(&id).await;
        assert_eq!(after.body["status"], "cancelled");
        assert_eq!(after.body["status_reason"], "the payment did not arrive in time");
        assert_eq!(after.body["payment"]["status"], "expired");
        assert!(app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03").await.contains(&TUE_0900.to_owned()));
        // Its checkout page is closed at Stripe.
        let closed = requests_to(&stripe, &format!("/v1/checkout/sessions/{session}/expire"));
        assert_eq!(closed.len(), 1);
        assert_eq!(stripe.session_status(&session).as_deref(), Some("expired"));
    }
}

dual! {
    #[tokio::test]
    async fn two_patients_race_for_a_held_slot_and_the_late_payment_goes_back() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let first = app.register_patient("Fiona First").await;
        let second = app.register_patient("Sam Second").await;

        let first_id_held = held(&app, &first, &doctor, TUE_0900).await;
        let first_id = first_id_held["id"].as_str().unwrap().to_owned();
        app.book(&second, &doctor.id, TUE_0900).await.assert_problem(409, "slot-taken");
        // The first hold runs out; the second patient takes the slot.
        let body = stripe.completed_event(&session_of(&first_id_held));
        app.advance_clock(SignedDuration::from_mins(16));
        assert_eq!(app.app.expire_holds().await.unwrap(), 1);
        let second_id_held = held(&app, &second, &doctor, TUE_0900).await;
        let second_id = second_id_held["id"].as_str().unwrap().to_owned();

        // The first patient's payment arrives after all: it goes back.
        let res = post_webhook(&app, &body, Some(&sign(&body, WEBHOOK_SECRET, app.app.now()))).await;
        res.assert_status(200);
        assert_eq!(res.body["outcome"], "refunding");
        let refunds = requests_to(&stripe, "/v1/refunds");
        assert_eq!(refunds.len(), 1);
        let payment = first.appointment(&first_id).await.body["payment"].clone();
        assert_eq!(payment["status"], "refunded");
        let payment_id = payment["id"].as_str().unwrap();
        assert_eq!(refunds[0].header("idempotency-key"), Some(format!("refund-{payment_id}").as_str()));
        assert_eq!(refunds[0].header("authorization"), Some(format!("Bearer {SECRET_KEY}").as_str()));
        assert!(refunds[0].form_field("payment_intent").unwrap().starts_with("pi_"));
        assert_eq!(first.appointment(&first_id).await.body["status"], "cancelled");
        assert_eq!(second.appointment(&second_id).await.body["status"], "awaiting_payment");
        // The first patient is told.
        app.deliver().await;
        let told = mails_to(&app, &first.email)
            .into_iter()
            .filter(|m| m.contains("Refund: EUR 50.00"))
            .count();
        assert_eq!(told, 1);
        // The refund worker has nothing left to send.
        assert_eq!(app.app.send_due_refunds().await.unwrap(), 0);
        assert_eq!(requests_to(&stripe, "/v1/refunds").len(), 1);
    }
}

dual! {
    #[tokio::test]
    async fn a_late_payment_for_a_slot_still_free_books_the_visit() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("Paula Patient").await;
        let other = app.register_patient("Otto Other").await;
        let id_held = held(&app, &patient, &doctor, TUE_0900).await;
        let id = id_held["id"].as_str().unwrap().to_owned();
        let body = stripe.completed_event(&session_of(&id_held));
        app.advance_clock(SignedDuration::from_mins(20));
        assert_eq!(app.app.expire_holds().await.unwrap(), 1);

        let res = post_webhook(&app, &body, Some(&sign(&body, WEBHOOK_SECRET, app.app.now()))).await;
        assert_eq!(res.body["outcome"], "paid");
        let booked = patient.appointment(&id).await;
        assert_eq!(booked.body["status"], "requested");
        assert_eq!(booked.body["payment"]["status"], "paid");
        // Its claims are back: the slot is not free.
        app.book(&other, &doctor.id, TUE_0900).await.assert_problem(409, "slot-taken");
        assert!(requests_to(&stripe, "/v1/refunds").is_empty());
    }
}

dual! {
    #[tokio::test]
    async fn cancellations_refund_by_who_cancels_and_when() {
        let stripe = FakeStripe::start().await;
        // Refunds for patients' own cancellations up to 48 h before the start;
        // patients may cancel up to 24 h before.
        let app = payments_app(&stripe, |s| s.payment_refund_window_hours = 48).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("Paula Patient").await;
        let desk = app.create_receptionist().await;

        // Tuesday 09:00 is 26 h away: the patient's cancellation keeps the fee.
        let late_held = held(&app, &patient, &doctor, TUE_0900).await;
        let late = late_held["id"].as_str().unwrap().to_owned();
        pay(&app, &stripe, &late_held).await.assert_status(200);
        let cancelled = patient.act(&late, "cancel").await;
        cancelled.assert_status(200);
        assert_eq!(cancelled.body["payment"]["status"], "paid");
        assert!(requests_to(&stripe, "/v1/refunds").is_empty());

        // Wednesday 09:00 is 50 h away: refunded.
        let early_held = held(&app, &patient, &doctor, WED_0900).await;
        let early = early_held["id"].as_str().unwrap().to_owned();
        pay(&app, &stripe, &early_held).await.assert_status(200);
        let cancelled = patient.act(&early, "cancel").await;
        cancelled.assert_status(200);
        assert_eq!(requests_to(&stripe, "/v1/refunds").len(), 1);
        assert_eq!(patient.appointment(&early).await.body["payment"]["status"], "refunded");

        // The clinic's cancellation refunds whenever it is made.
        let by_clinic_held = held(&app, &patient, &doctor, TUE_1000).await;
        let by_clinic = by_clinic_held["id"].as_str().unwrap().to_owned();
        pay(&app, &stripe, &by_clinic_held).await.assert_status(200);
        desk.act(&by_clinic, "cancel").await.assert_status(200);
        assert_eq!(requests_to(&stripe, "/v1/refunds").len(), 2);
        assert_eq!(patient.appointment(&by_clinic).await.body["payment"]["status"], "refunded");

        // An unpaid hold that is let go calls its checkout off; nothing to refund.
        let unpaid_held = held(&app, &patient, &doctor, WED_1000).await;
        let unpaid = unpaid_held["id"].as_str().unwrap().to_owned();
        let session = session_of(&unpaid_held);
        let let_go = patient.act(&unpaid, "cancel").await;
        let_go.assert_status(200);
        assert_eq!(let_go.body["payment"]["status"], "cancelled");
        assert_eq!(stripe.session_status(&session).as_deref(), Some("expired"));
        assert_eq!(requests_to(&stripe, "/v1/refunds").len(), 2);
    }
}

dual! {
    #[tokio::test]
    async fn a_refund_stripe_cannot_take_now_is_retried_later() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("Paula Patient").await;
        let desk = app.create_receptionist().await;
        let id_held = held(&app, &patient, &doctor, TUE_0900).await;
        let id = id_held["id"].as_str().unwrap().to_owned();
        pay(&app, &stripe, &id_held).await.assert_status(200);

        stripe.fail_next(1, 503);
        desk.act(&id, "cancel").await.assert_status(200);
        assert_eq!(patient.appointment(&id).await.body["payment"]["status"], "refund_pending");
        // Not due again at once; then it goes through with the same key.
        assert_eq!(app.app.send_due_refunds().await.unwrap(), 0);
        app.advance_clock(SignedDuration::from_mins(2));
        assert_eq!(app.app.send_due_refunds().await.unwrap(), 1);
        assert_eq!(patient.appointment(&id).await.body["payment"]["status"], "refunded");
        let keys: Vec<String> = requests_to(&stripe, "/v1/refunds")
            .iter()
            .map(|r| r.header("idempotency-key").unwrap().to_owned())
            .collect();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], keys[1]);
    }
}

dual! {
    #[tokio::test]
    async fn when_stripe_is_down_the_booking_fails_and_the_slot_stays_free() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("Paula Patient").await;

        stripe.fail_next(2, 500);
        app.book(&patient, &doctor.id, TUE_0900).await.assert_problem(503, "payment-provider-unavailable");
        assert!(app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03").await.contains(&TUE_0900.to_owned()));
        held(&app, &patient, &doctor, TUE_0900).await;
    }
}

dual! {
    #[tokio::test]
    async fn the_desk_records_payments_taken_in_person() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let desk = app.create_receptionist().await;
        let patient = app.register_patient("Paula Patient").await;
        let at_clinic = app.create_doctor("Carl Clinic").await;
        at_clinic
            .patch(&format!("/api/v1/doctors/{}", at_clinic.id), &json!({ "fee": { "amount": 6000, "currency": "EUR" } }))
            .await
            .assert_status(200);
        let id = app.booked(&patient, &at_clinic.id, TUE_0900).await;
        let path = format!("/api/v1/appointments/{id}/payments");

        // Only the front desk and admins take money; checked before anything else.
        at_clinic.post(&path, &json!({ "method": "cash" })).await.assert_problem(403, "forbidden");
        patient.post(&path, &json!({ "method": "cash" })).await.assert_problem(403, "forbidden");
        desk.post(&path, &json!({ "method": "stripe" })).await.assert_invalid(&["method"]);
        desk.post(&path, &json!({ "method": "cash", "amount_minor": 0, "currency": "EUR" })).await.assert_invalid(&["amount_minor"]);
        desk.post(&path, &json!({ "method": "cash", "amount_minor": 100 })).await.assert_invalid(&["currency"]);

        let paid = desk.post(&path, &json!({ "method": "cash" })).await;
        paid.assert_status(201);
        assert_eq!(paid.body["payment"]["status"], "paid");
        assert_eq!(paid.body["payment"]["method"], "cash");
        assert_eq!(paid.body["payment"]["amount_minor"], 6000);
        assert_eq!(paid.body["status"], "requested", "a desk payment decides nothing else");
        desk.post(&path, &json!({ "method": "card_terminal" })).await.assert_problem(409, "payment-exists");

        // A cancelled visit takes no payment.
        let other = app.booked(&patient, &at_clinic.id, WED_0900).await;
        desk.act(&other, "cancel").await.assert_status(200);
        desk.post(&format!("/api/v1/appointments/{other}/payments"), &json!({ "method": "cash" }))
            .await
            .assert_problem(409, "not-payable");

        // A visit waiting for its online payment is booked by a desk payment, and
        // its checkout called off.
        let online = online_doctor(&app, "Olivia Online").await;
        let waiting_held = held(&app, &patient, &online, TUE_1000).await;
        let waiting = waiting_held["id"].as_str().unwrap().to_owned();
        let session = session_of(&waiting_held);
        let paid = desk
            .post(&format!("/api/v1/appointments/{waiting}/payments"), &json!({ "method": "card_terminal" }))
            .await;
        paid.assert_status(201);
        assert_eq!(paid.body["status"], "requested");
        assert_eq!(paid.body["payment"]["method"], "card_terminal");
        assert_eq!(stripe.session_status(&session).as_deref(), Some("expired"));
        app.deliver().await;
        assert_eq!(
            mails_to(&app, &patient.email).iter().filter(|m| m.contains("Receipt: EUR")).count(),
            2
        );
    }
}

dual! {
    #[tokio::test]
    async fn admins_list_total_and_export_the_payments() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let admin = app.admin().await;
        let desk = app.create_receptionist().await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let patient = app.register_patient("=Paula, \"Patient\"").await;

        let kept_held = held(&app, &patient, &doctor, TUE_0900).await;
        pay(&app, &stripe, &kept_held).await.assert_status(200);
        let refunded_held = held(&app, &patient, &doctor, TUE_1000).await;
        let refunded = refunded_held["id"].as_str().unwrap().to_owned();
        pay(&app, &stripe, &refunded_held).await.assert_status(200);
        desk.act(&refunded, "cancel").await.assert_status(200);
        let cash = app.booked(&patient, &app.create_doctor("Carl Clinic").await.id, WED_0900).await;
        desk.post(&format!("/api/v1/appointments/{cash}/payments"), &json!({ "method": "cash", "amount_minor": 2500, "currency": "CHF" }))
            .await
            .assert_status(201);

        let all = admin.get("/api/v1/payments").await;
        all.assert_status(200);
        assert_eq!(all.items().len(), 3);
        let statuses: Vec<&str> = all.items().iter().map(|p| p["status"].as_str().unwrap()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == "refunded").count(), 1);
        let cash_only = admin.get("/api/v1/payments?method=cash").await;
        assert_eq!(cash_only.items().len(), 1);
        assert_eq!(cash_only.items()[0]["currency"], "CHF");
        assert_eq!(cash_only.items()[0]["recorded_by"], desk.id.as_str());
        let paged = admin.get("/api/v1/payments?limit=2").await;
        assert_eq!(paged.items().len(), 2);
        let rest = admin
            .get(&format!("/api/v1/payments?limit=2&cursor={}", paged.body["next_cursor"].as_str().unwrap()))
            .await;
        assert_eq!(rest.items().len(), 1);
        admin.get("/api/v1/payments?status=lost").await.assert_invalid(&["status"]);

        let summary = admin.get("/api/v1/payments/summary?from=2026-03-01&to=2026-03-02").await;
        summary.assert_status(200);
        let totals = summary.body["totals"].as_array().unwrap();
        let chf = totals.iter().find(|t| t["currency"] == "CHF").unwrap();
        assert_eq!((chf["paid_minor"].as_i64(), chf["net_minor"].as_i64()), (Some(2500), Some(2500)));
        let eur = totals.iter().find(|t| t["currency"] == "EUR").unwrap();
        assert_eq!(eur["paid_count"], 2);
        assert_eq!(eur["paid_minor"], 10000);
        assert_eq!(eur["refunded_minor"], 5000);
        assert_eq!(eur["net_minor"], 5000);
        let days = summary.body["days"].as_array().unwrap();
        assert!(days.iter().all(|d| d["date"] == "2026-03-02"), "{days:?}");
        let before = admin.get("/api/v1/payments/summary?from=2026-02-01&to=2026-02-28").await;
        assert!(before.body["totals"].as_array().unwrap().is_empty());

        let (status, headers, bytes) = admin.download("/api/v1/payments/export.csv").await;
        assert_eq!(status, 200);
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(lines[0].starts_with("payment_id,created_at,status,method,amount_minor,amount,currency"));
        assert!(csv.contains(",2500,25.00,CHF,"), "{csv}");
        // A name that looks like a formula is defused and quoted.
        assert!(csv.contains("\"'=Paula, \"\"Patient\"\"\""), "{csv}");

        for not_admin in [&desk, &doctor, &patient] {
            not_admin.get("/api/v1/payments").await.assert_problem(403, "forbidden");
            not_admin.get("/api/v1/payments/summary").await.assert_problem(403, "forbidden");
            not_admin.get("/api/v1/payments/export.csv").await.assert_problem(403, "forbidden");
        }
    }
}

#[tokio::test]
async fn without_stripe_doctors_cannot_take_fees_online_and_the_webhook_is_absent() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Olivia Online").await;
    doctor
        .patch(
            &format!("/api/v1/doctors/{}", doctor.id),
            &json!({ "fee": { "amount": 5000, "currency": "EUR" }, "payment_mode": "online" }),
        )
        .await
        .assert_invalid(&["payment_mode"]);
    let res = post_webhook(&app, "{}", Some("t=1,v1=00")).await;
    res.assert_problem(404, "payments-not-configured");
}

#[tokio::test]
async fn an_online_doctor_needs_a_fee() {
    let stripe = FakeStripe::start().await;
    let app = payments_app(&stripe, |_| {}).await;
    let doctor = app.create_doctor("Nora Nofee").await;
    doctor
        .patch(
            &format!("/api/v1/doctors/{}", doctor.id),
            &json!({ "payment_mode": "online" }),
        )
        .await
        .assert_invalid(&["payment_mode"]);
    doctor
        .patch(
            &format!("/api/v1/doctors/{}", doctor.id),
            &json!({ "payment_mode": "later" }),
        )
        .await
        .assert_invalid(&["payment_mode"]);
}

dual! {
    #[tokio::test]
    async fn two_patients_booking_one_slot_at_once_get_one_hold() {
        let stripe = FakeStripe::start().await;
        let app = payments_app(&stripe, |_| {}).await;
        let doctor = online_doctor(&app, "Olivia Online").await;
        let first = app.register_patient("Fiona First").await;
        let second = app.register_patient("Sam Second").await;

        let (a, b) = tokio::join!(
            app.book(&first, &doctor.id, TUE_0900),
            app.book(&second, &doctor.id, TUE_0900)
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "{} / {}", a.body, b.body);
        let winner = if a.status.as_u16() == 201 { &a } else { &b };
        assert_eq!(winner.body["status"], "awaiting_payment");
        // One checkout only: the loser never reached the provider.
        assert_eq!(checkout_requests(&stripe).len(), 1);
    }
}
