//! Paying online in a real browser: the booking form holds the time, the
//! appointment's page sends the patient to the (fake) Stripe checkout, Stripe's
//! signed webhook arrives, and the page Stripe sends the patient back to shows the
//! visit paid and booked. The front desk records a cash payment on another visit.

use carebook::config::Secret;
use carebook::testing::stripe::{FakeStripe, sign};
use carebook::testing::webdriver::BrowserOptions;
use reqwest::Method;
use serde_json::json;

use crate::harness::{open, sign_in};
use crate::support::{PASSWORD, TUE_0900, TUE_1000, TestApp};

const WEBHOOK_SECRET: &str = "whsec_browser";

#[tokio::test(flavor = "multi_thread")]
async fn a_patient_pays_online_and_the_desk_records_cash() {
    let stripe = FakeStripe::start().await;
    let api_base = stripe.url();
    let app = TestApp::spawn_with_base(move |s, base| {
        s.public_url = base.to_owned();
        s.stripe_secret_key = Some(Secret("sk_test_browser".into()));
        s.stripe_webhook_secret = Some(Secret(WEBHOOK_SECRET.into()));
        s.stripe_api_base = api_base;
        s.session_ttl_hours = 24 * 7;
    })
    .await;
    let doctor = app.create_doctor("Olivia Online").await;
    doctor
        .patch(
            &format!("/api/v1/doctors/{}", doctor.id),
            &json!({ "fee": { "amount": 5000, "currency": "EUR" }, "payment_mode": "online" }),
        )
        .await
        .assert_status(200);
    let patient = app.register_patient("Paula Patient").await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&browser, &patient, PASSWORD).await;

    // Booking holds the time and leads to the appointment's page and its Pay button.
    browser
        .goto(&format!("/book/{}/confirm?start={TUE_0900}", doctor.id))
        .await;
    browser
        .click(&format!(
            "form[action='/book/{}'] button[type=submit]",
            doctor.id
        ))
        .await;
    let page = browser
        .wait_for_path("the held appointment", |p| p.starts_with("/appointments/"))
        .await;
    let id = page.trim_start_matches("/appointments/").to_owned();
    browser.wait_for_text(".flash", "is held for you").await;
    assert!(
        browser
            .text(".page-head .status")
            .await
            .contains("Awaiting payment")
    );
    let pay = browser.text("#payment a.button").await;
    assert_eq!(pay, "Pay EUR 50.00");

    // Off to the provider's page.
    browser.click("#payment a.button").await;
    browser
        .wait_for_path("the checkout", |p| p.starts_with("/checkout/cs_test_"))
        .await;
    assert_eq!(browser.title().await, "Fake Stripe Checkout");
    assert_eq!(browser.text("#amount").await, "5000 EUR");
    let session = browser
        .current_path()
        .await
        .trim_start_matches("/checkout/")
        .to_owned();

    // Stripe tells carebook, then sends the patient back.
    let body = stripe.completed_event(&session);
    let signature = sign(&body, WEBHOOK_SECRET, app.app.now());
    let answer = app
        .anon()
        .request(Method::POST, "/api/v1/payments/stripe/webhook")
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(answer.status(), 200);
    browser
        .goto(&format!("/appointments/{id}?payment=done"))
        .await;
    browser
        .wait_for_text("#payment", "your payment has arrived")
        .await;
    assert!(
        browser
            .text(".page-head .status")
            .await
            .contains("Requested")
    );
    assert!(browser.text("#payment").await.contains("paid"));
    assert!(
        !browser.exists("#payment a.button").await,
        "nothing left to pay"
    );

    // The front desk takes cash for a visit booked at the desk.
    let desk = app.create_receptionist().await;
    let res = desk
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": TUE_1000, "patient_id": patient.id }),
        )
        .await;
    res.assert_status(201);
    let at_desk = res.str("id").to_owned();
    let Some(front) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&front, &desk, PASSWORD).await;
    front.goto(&format!("/appointments/{at_desk}")).await;
    assert!(front.text("#desk-payment").await.contains("EUR 50.00"));
    front.select("#f-payment-method", "cash").await;
    front.click("#desk-payment button[type=submit]").await;
    front
        .wait_for_text(".flash", "Payment of EUR 50.00 recorded")
        .await;
    assert!(front.text("#payment").await.contains("cash at the desk"));
    assert!(!front.exists("#desk-payment").await);

    // The admin sees both payments and the day's total.
    let admin = app.admin().await;
    let Some(office) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&office, &admin, PASSWORD).await;
    office.goto("/admin/payments").await;
    let table = office.text("table.admin-payments").await;
    assert!(
        table.contains("Online (card)") && table.contains("Cash at the desk"),
        "{table}"
    );
    assert!(office.text("main").await.contains("EUR 100.00"));
}
