//! The admin's pages: users (approve, change role, deactivate and reactivate,
//! create staff), the audit log, and who may open them.

use serde_json::json;

use crate::support::*;

/// A doctor who registered themself and waits for approval: (id, email).
async fn pending_doctor(app: &TestApp, name: &str) -> (String, String) {
    let email = app.email_for(name);
    let res = app
        .register(json!({ "email": email, "password": PASSWORD, "name": name, "role": "doctor" }))
        .await;
    res.assert_status(201);
    (res.str("id").to_owned(), email)
}

dual! {
    #[tokio::test]
    async fn the_admin_approves_a_pending_doctor_who_can_then_sign_in() {
        let app = TestApp::spawn().await;
        let (dana, email) = pending_doctor(&app, "Dana Newdoc").await;
        assert_ne!(app.login(&email, PASSWORD).await.status, 200);
        let admin = app.admin().await;
        let pages = app.pages();
        pages.sign_in_as(&admin).await;

        let users = pages.get("/admin/users").await;
        users
            .assert_status(200)
            .assert_contains("Doctors waiting for approval (1)")
            .assert_contains("Dana Newdoc")
            .assert_contains(&format!("action=\"/admin/users/{dana}/approve\""));
        pages
            .get("/admin/users?status=pending")
            .await
            .assert_contains("Dana Newdoc")
            .assert_lacks(&admin.email);

        let done = pages
            .post(&format!("/admin/users/{dana}/approve"), &[("back", "/admin/users")])
            .await;
        done.assert_redirect("/admin/users");
        let after = pages.follow(&done).await;
        assert_eq!(
            after.flash().as_deref(),
            Some("Dana Newdoc is approved and can now sign in as a doctor.")
        );
        after.assert_lacks("Doctors waiting for approval");
        let signed_in = app.log_in(&email, PASSWORD).await;
        assert_eq!(signed_in.role, "doctor");

        // Approving twice is refused with the reason, on the page it came from.
        let again = pages
            .post(&format!("/admin/users/{dana}/approve"), &[("back", "/admin/users")])
            .await;
        let refused = pages.follow(&again).await;
        assert!(refused.flash().unwrap().contains("Only a pending doctor can be approved"), "{:?}", refused.flash());
    }
}

dual! {
    #[tokio::test]
    async fn the_admin_changes_a_role_and_deactivates_and_reactivates_an_account() {
        let app = TestApp::spawn().await;
        let pia = app.register_patient("Pia Patient").await;
        let admin = app.admin().await;
        let pages = app.pages();
        pages.sign_in_as(&admin).await;
        let back = format!("/admin/users/{}", pia.id);

        let page = pages.get(&back).await;
        page.assert_status(200)
            .assert_contains(&pia.email)
            .assert_contains("Patient")
            .assert_contains(&format!("action=\"/admin/users/{}/active\"", pia.id));
        let changed = pages
            .post(
                &format!("/admin/users/{}/role", pia.id),
                &[("role", "receptionist"), ("back", &back)],
            )
            .await;
        changed.assert_redirect(&back);
        let after = pages.follow(&changed).await;
        assert_eq!(after.flash().as_deref(), Some("Pia Patient is now a receptionist."));
        assert_eq!(app.log_in(&pia.email, PASSWORD).await.role, "receptionist");

        let bad = pages
            .post(
                &format!("/admin/users/{}/role", pia.id),
                &[("role", "overlord"), ("back", &back)],
            )
            .await;
        assert!(pages.follow(&bad).await.flash().unwrap().contains("Role: must be one of"));

        let off = pages
            .post(
                &format!("/admin/users/{}/active", pia.id),
                &[("active", "false"), ("back", &back)],
            )
            .await;
        let after = pages.follow(&off).await;
        assert!(after.flash().unwrap().contains("is deactivated"));
        after.assert_contains("Reactivate");
        assert_ne!(app.login(&pia.email, PASSWORD).await.status, 200);
        // Their existing session ended too.
        pia.get("/api/v1/me").await.assert_status(401);

        let on = pages
            .post(
                &format!("/admin/users/{}/active", pia.id),
                &[("active", "true"), ("back", &back)],
            )
            .await;
        assert!(pages.follow(&on).await.flash().unwrap().contains("can sign in again"));
        app.log_in(&pia.email, PASSWORD).await;

        // No buttons against oneself.
        let me = pages.get(&format!("/admin/users/{}", admin.id)).await;
        me.assert_contains("This is you")
            .assert_lacks(&format!("action=\"/admin/users/{}/active\"", admin.id));
    }
}

dual! {
    #[tokio::test]
    async fn the_admin_creates_staff_accounts() {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        let pages = app.pages();
        pages.sign_in_as(&admin).await;
        pages
            .get("/admin/users/new")
            .await
            .assert_status(200)
            .assert_contains("<option value=\"receptionist\" selected>");
        let bad = pages
            .post(
                "/admin/users",
                &[("name", "Rolf Desk"), ("email", "rolf@example.com"), ("password", "short"),
                  ("role", "receptionist"), ("phone", "")],
            )
            .await;
        bad.assert_status(422)
            .assert_contains("id=\"e-password\"")
            .assert_contains("value=\"rolf@example.com\"");
        let done = pages
            .post(
                "/admin/users",
                &[("name", "Rolf Desk"), ("email", "rolf@example.com"), ("password", PASSWORD),
                  ("role", "receptionist"), ("phone", "")],
            )
            .await;
        let rolf = app.log_in("rolf@example.com", PASSWORD).await;
        assert_eq!(rolf.role, "receptionist");
        done.assert_redirect(&format!("/admin/users/{}", rolf.id));
        let page = pages.follow(&done).await;
        assert!(page.flash().unwrap().contains("sign in as a receptionist"));

        let twice = pages
            .post(
                "/admin/users",
                &[("name", "Rolf Again"), ("email", "rolf@example.com"), ("password", PASSWORD),
                  ("role", "doctor"), ("phone", "")],
            )
            .await;
        twice
            .assert_status(422)
            .assert_contains("id=\"e-email\"")
            .assert_contains("value=\"Rolf Again\"")
            .assert_contains("<option value=\"doctor\" selected>");

        pages
            .get("/admin/users?role=receptionist")
            .await
            .assert_contains("Rolf Desk")
            .assert_lacks(&admin.email);
        pages
            .get("/admin/users?q=rolf")
            .await
            .assert_contains("Rolf Desk")
            .assert_lacks(&admin.email);
    }
}

dual! {
    #[tokio::test]
    async fn the_audit_log_filters_by_action_and_day() {
        let app = TestApp::spawn().await;
        let pia = app.register_patient("Pia Patient").await;
        let admin = app.admin().await;
        admin
            .patch(&format!("/api/v1/users/{}", pia.id), &json!({ "role": "receptionist" }))
            .await
            .assert_status(200);
        let pages = app.pages();
        pages.sign_in_as(&admin).await;

        let all = pages.get("/admin/audit").await;
        all.assert_status(200)
            .assert_contains("user.role_changed")
            .assert_contains("login.succeeded")
            .assert_contains("Europe/Berlin");
        let changed = pages.get("/admin/audit?action=user.role_changed").await;
        changed
            .assert_contains("user.role_changed")
            .assert_lacks("<code>login.succeeded</code>")
            // Who did it and to whom, by name; the detail as plain text.
            .assert_contains(&format!("href=\"/admin/users/{}\">Ada Admin</a>", admin.id))
            .assert_contains(&format!("href=\"/admin/users/{}\">Pia Patient</a>", pia.id))
            .assert_contains("from:</span> patient")
            .assert_contains("to:</span> receptionist");
        assert!(!changed.body.contains("{\""), "no raw JSON");

        pages
            .get("/admin/audit?action=user.role_changed&from=2026-03-03")
            .await
            .assert_contains("No entry matches");
        pages
            .get("/admin/audit?action=user.role_changed&from=2026-03-02&to=2026-03-02")
            .await
            .assert_contains("<code>user.role_changed</code>");
        pages
            .get(&format!("/admin/audit?subject_id={}&action=user.registered", pia.id))
            .await
            .assert_contains("<code>user.registered</code>");
        pages
            .get("/admin/audit?from=yesterday")
            .await
            .assert_status(200)
            .assert_contains("id=\"e-from\"")
            .assert_contains("value=\"yesterday\"");
    }
}

dual! {
    #[tokio::test]
    async fn only_admins_open_the_admin_pages() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Pia Patient").await;
        let desk = app.create_receptionist().await;
        let paths = [
            "/admin/users".to_owned(),
            "/admin/users/new".to_owned(),
            format!("/admin/users/{}", patient.id),
            "/admin/audit".to_owned(),
        ];
        let anonymous = app.pages();
        anonymous
            .get("/admin/users?role=doctor")
            .await
            .assert_redirect("/login?next=%2Fadmin%2Fusers%3Frole%3Ddoctor");
        anonymous
            .get("/admin/audit")
            .await
            .assert_redirect("/login?next=%2Fadmin%2Faudit");

        for user in [&patient, &desk] {
            let pages = app.pages();
            pages.sign_in_as(user).await;
            for path in &paths {
                pages.get(path).await.assert_status(403);
            }
        }
        // Nor can the desk deactivate anyone through the form.
        let pages = app.pages();
        pages.sign_in_as(&desk).await;
        pages.get("/desk").await;
        pages
            .post(
                &format!("/admin/users/{}/active", patient.id),
                &[("active", "false")],
            )
            .await
            .assert_status(403);
        app.log_in(&patient.email, PASSWORD).await;
    }
}
