//! The web pages' shared behaviour over HTTP: sign-in and sign-out, CSRF, flash
//! messages, the theme, error pages, assets, and the public search and profile.

use serde_json::json;

use crate::support::*;

dual! {
    #[tokio::test]
    async fn a_visitor_searches_doctors_by_name_specialty_and_free_day() {
        let app = TestApp::spawn().await;
        let keller = app.create_doctor("Dora Keller").await;
        let admin = app.admin().await;
        let cardiology = admin
            .post("/api/v1/specialties", &json!({ "name": "Cardiology" }))
            .await;
        cardiology.assert_status(201);
        admin
            .patch(
                &format!("/api/v1/doctors/{}", keller.id),
                &json!({ "specialty_ids": [cardiology.str("id")], "languages": ["English", "German"],
                        "fee": { "amount": 6000, "currency": "EUR" } }),
            )
            .await
            .assert_status(200);
        app.create_doctor("Otto Brandt").await;
        let pages = app.pages();

        let all = pages.get("/").await;
        all.assert_status(200)
            .assert_contains("Dora Keller")
            .assert_contains("Otto Brandt")
            .assert_contains("EUR 60.00")
            .assert_contains("English, German");
        pages
            .get("/?specialty=cardiology")
            .await
            .assert_contains("Dora Keller")
            .assert_lacks("Otto Brandt");
        pages
            .get("/?q=brandt")
            .await
            .assert_contains("Otto Brandt")
            .assert_lacks("Dora Keller");
        // Saturday: nobody works; Tuesday: both do.
        pages
            .get("/?date=2026-03-07")
            .await
            .assert_contains("No doctor matches")
            .assert_lacks("Dora Keller");
        pages
            .get("/?date=2026-03-03")
            .await
            .assert_contains("Dora Keller")
            .assert_contains("Otto Brandt");
        let bad = pages.get("/?date=next-week").await;
        bad.assert_status(200)
            .assert_contains("aria-invalid=\"true\"")
            .assert_contains("value=\"next-week\"");
    }
}

dual! {
    #[tokio::test]
    async fn a_doctor_profile_shows_the_next_free_times_in_the_doctors_zone() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let page = app.pages().get(&format!("/doctors/{}", doctor.id)).await;
        page.assert_status(200)
            .assert_contains("Dora Keller")
            .assert_contains("Europe/Berlin")
            // Monday 2 March at 07:00 Berlin: the first free slot is 09:00 today.
            .assert_contains("Monday 2 March 2026")
            .assert_contains(">09:00<");
        let links = page.links(&format!("/book/{}/confirm?start=", doctor.id));
        assert!(
            links[0].ends_with("start=2026-03-02T08%3A00%3A00Z"),
            "{links:?}"
        );
        app.pages()
            .get("/doctors/usr_nobody")
            .await
            .assert_status(404)
            .assert_contains("Page not found");
    }
}

dual! {
    #[tokio::test]
    async fn signing_in_goes_where_the_visitor_was_headed_and_never_off_site() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Pia Patient").await;
        let pages = app.pages();
        pages.get("/login?next=/profile").await.assert_status(200);
        let wrong = pages
            .post(
                "/login",
                &[("email", &patient.email), ("password", "wrong password!"), ("next", "/profile")],
            )
            .await;
        wrong
            .assert_status(401)
            .assert_contains("Wrong email or password")
            .assert_contains(&format!("value=\"{}\"", patient.email));
        assert!(pages.cookie("carebook_session").is_none());

        pages
            .post(
                "/login",
                &[("email", &patient.email), ("password", PASSWORD), ("next", "/profile")],
            )
            .await
            .assert_redirect("/profile");
        assert!(pages.cookie("carebook_session").is_some());

        let other = app.pages();
        other.get("/login").await;
        other
            .post(
                "/login",
                &[("email", &patient.email), ("password", PASSWORD), ("next", "//evil.example/")],
            )
            .await
            .assert_redirect("/visits");
    }
}

dual! {
    #[tokio::test]
    async fn each_role_lands_on_its_own_home_after_signing_in() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let desk = app.create_receptionist().await;
        let admin = app.admin().await;
        for (user, home) in [(&doctor, "/doctor/today"), (&desk, "/desk"), (&admin, "/admin/users")] {
            app.pages().sign_in_as(user).await.assert_redirect(home);
        }
    }
}

dual! {
    #[tokio::test]
    async fn registering_as_a_patient_signs_in_and_errors_keep_the_values() {
        let app = TestApp::spawn().await;
        let pages = app.pages();
        pages.get("/register").await.assert_status(200);
        let bad = pages
            .post(
                "/register",
                &[("name", "Pia Patient"), ("email", "not-an-email"), ("password", "short"),
                  ("phone", ""), ("date_of_birth", ""), ("role", "patient")],
            )
            .await;
        bad.assert_status(422)
            .assert_contains("value=\"Pia Patient\"")
            .assert_contains("id=\"e-email\"")
            .assert_contains("id=\"e-password\"");
        assert!(!bad.body.contains("value=\"short\""), "a password is never echoed");

        let done = pages
            .post(
                "/register",
                &[("name", "Pia Patient"), ("email", "pia@example.com"), ("password", PASSWORD),
                  ("phone", "+49 151 2345678"), ("date_of_birth", "1990-04-23"), ("role", "patient")],
            )
            .await;
        done.assert_redirect("/visits");
        assert!(pages.cookie("carebook_session").is_some());

        let again = app.pages();
        again.get("/register").await;
        again
            .post(
                "/register",
                &[("name", "Pia Again"), ("email", "pia@example.com"), ("password", PASSWORD),
                  ("role", "patient")],
            )
            .await
            .assert_status(422)
            .assert_contains("id=\"e-email\"");
    }
}

dual! {
    #[tokio::test]
    async fn a_doctor_who_registers_waits_for_approval() {
        let app = TestApp::spawn().await;
        let pages = app.pages();
        pages.get("/register").await;
        let done = pages
            .post(
                "/register",
                &[("name", "Dr Dana New"), ("email", "dana@example.com"), ("password", PASSWORD),
                  ("role", "doctor")],
            )
            .await;
        done.assert_redirect("/login");
        assert!(pages.cookie("carebook_session").is_none());
        let login = pages.follow(&done).await;
        assert!(login.flash().unwrap().contains("administrator will approve"));
        let refused = pages
            .post("/login", &[("email", "dana@example.com"), ("password", PASSWORD)])
            .await;
        refused.assert_status(401).assert_contains("approval");
    }
}

dual! {
    #[tokio::test]
    async fn forms_without_the_pages_csrf_token_or_from_another_site_are_refused() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Pia Patient").await;
        let pages = app.pages();
        pages.get("/login").await;
        let forged = pages
            .post_raw("/login", &[("email", &patient.email), ("password", PASSWORD)])
            .await;
        forged.assert_status(403).assert_contains("This form has expired");
        assert!(pages.cookie("carebook_session").is_none());

        pages.sign_in_as(&patient).await;
        // A signed-in form needs the session's token, not the anonymous one.
        let stale = pages
            .post_raw("/logout", &[("_csrf", "not-the-token")])
            .await;
        stale.assert_status(403);

        let cross_site = reqwest::Client::new()
            .post(format!("{}/logout", app.base))
            .header("origin", "https://evil.example")
            .header(
                "cookie",
                format!("carebook_session={}", pages.cookie("carebook_session").unwrap()),
            )
            .form(&[("_csrf", "whatever")])
            .send()
            .await
            .unwrap();
        assert_eq!(cross_site.status(), 403);
        // Still signed in.
        pages.get("/login").await.assert_status(303);
    }
}

dual! {
    #[tokio::test]
    async fn signing_out_ends_the_session_and_says_so_once() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Pia Patient").await;
        let pages = app.pages();
        pages.sign_in_as(&patient).await;
        let token = pages.cookie("carebook_session").unwrap();
        pages.get("/").await.assert_contains("Sign out");
        let out = pages.post("/logout", &[]).await;
        out.assert_redirect("/");
        assert!(pages.cookie("carebook_session").is_none());
        let home = pages.follow(&out).await;
        assert_eq!(home.flash().as_deref(), Some("You have signed out."));
        assert!(pages.get("/").await.flash().is_none(), "a flash shows once");
        // The old cookie no longer opens the API either.
        app.with_token(&token)
            .get("/api/v1/me")
            .await
            .assert_status(401);
    }
}

dual! {
    #[tokio::test]
    async fn the_theme_choice_is_remembered_and_rendered_by_the_server() {
        let app = TestApp::spawn().await;
        let pages = app.pages();
        let home = pages.get("/").await;
        home.assert_contains("<html lang=\"en\">");
        pages
            .post("/theme", &[("theme", "dark"), ("back", "/doctors")])
            .await
            .assert_redirect("/doctors");
        assert_eq!(pages.cookie("carebook_theme").as_deref(), Some("dark"));
        pages
            .get("/")
            .await
            .assert_contains("<html lang=\"en\" data-theme=\"dark\">");
        pages.post("/theme", &[("theme", "<script>")]).await;
        assert_eq!(pages.cookie("carebook_theme").as_deref(), Some("system"));
    }
}

#[tokio::test]
async fn unknown_pages_get_the_404_page_and_unknown_api_routes_a_problem() {
    let app = TestApp::spawn().await;
    let page = app.pages().get("/no/such/page").await;
    page.assert_status(404).assert_contains("Page not found");
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    app.anon()
        .get("/api/v1/no-such-thing")
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test]
async fn pages_forbid_inline_scripts_and_other_origins() {
    let app = TestApp::spawn().await;
    let page = app.pages().get("/").await;
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains(" style=\""), "no inline style");
}

#[tokio::test]
async fn assets_are_named_by_content_hash_cached_for_good_and_served_compressed() {
    let app = TestApp::spawn().await;
    let page = app.pages().get("/").await;
    let css = page.links("/assets/app.")[0].clone();
    assert!(
        css.ends_with(".css") && css.len() > "/assets/app..css".len() + 8,
        "{css}"
    );
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let gz = client
        .get(format!("{}{css}", app.base))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(
        gz.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        gz.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let plain = client
        .get(format!("{}{css}", app.base))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let body = plain.text().await.unwrap();
    assert!(body.contains("prefers-color-scheme: dark"));
    let stale = client
        .get(format!("{}/assets/app.000000000000.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers()["cache-control"], "no-cache");
    let missing = client
        .get(format!("{}/assets/nothing.png", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

dual! {
    #[tokio::test]
    async fn lifecycle_buttons_run_the_same_rules_as_the_api() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let id = app.booked(&patient, &doctor.id, TUE_0900).await;

        // The patient may not confirm their own request: nothing changes.
        let as_patient = app.pages();
        as_patient.sign_in_as(&patient).await;
        as_patient.get("/").await;
        let refused = as_patient
            .post(&format!("/appointments/{id}/confirm"), &[("back", "/")])
            .await;
        assert!(refused.status.as_u16() == 404 || refused.status.as_u16() == 403);
        assert_eq!(patient.appointment(&id).await.str("status"), "requested");

        let as_doctor = app.pages();
        as_doctor.sign_in_as(&doctor).await;
        as_doctor.get("/").await;
        let confirmed = as_doctor
            .post(&format!("/appointments/{id}/confirm"), &[("back", "/?q=keller")])
            .await;
        confirmed.assert_redirect("/?q=keller");
        assert_eq!(as_doctor.follow(&confirmed).await.flash().as_deref(), Some("The appointment is confirmed."));
        assert_eq!(doctor.appointment(&id).await.str("status"), "confirmed");

        // Inside the 24 h window the patient's cancel is refused with the reason.
        app.set_clock("2026-03-02T12:00:00Z");
        let late = as_patient
            .post(&format!("/appointments/{id}/cancel"), &[("back", "/")])
            .await;
        late.assert_redirect("/");
        let message = as_patient.follow(&late).await.flash().unwrap();
        assert!(message.contains("24"), "{message}");
        assert_eq!(doctor.appointment(&id).await.str("status"), "confirmed");

        as_doctor
            .post(&format!("/appointments/{id}/dance"), &[])
            .await
            .assert_status(404);
    }
}
