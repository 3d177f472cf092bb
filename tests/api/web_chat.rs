//! The chat pages over HTTP (issue 10): the conversation list with unread badges,
//! one conversation with its send form (no script), read marks, closing, and the
//! roles that have no chat.

use serde_json::json;

use crate::pages::{PageRes, Pages, unescape};
use crate::support::*;

async fn signed_in(app: &TestApp, user: &User) -> Pages {
    let pages = app.pages();
    pages.sign_in_as(user).await;
    pages
}

/// The value of the hidden `client_id` field of the send form.
fn client_id(page: &PageRes) -> String {
    let at = page
        .body
        .find("name=\"client_id\" value=\"")
        .unwrap_or_else(|| panic!("no send form:\n{}", page.body));
    let rest = &page.body[at + 24..];
    unescape(&rest[..rest.find('"').unwrap()])
}

/// The unread-messages badge in the navigation: `None` when hidden.
fn nav_badge(page: &PageRes) -> Option<String> {
    let at = page.body.find("data-messages-badge")?;
    let rest = &page.body[at..];
    if rest.starts_with("data-messages-badge hidden") {
        return None;
    }
    let open = rest.find("<span data-count>")? + 17;
    Some(rest[open..open + rest[open..].find('<')?].to_owned())
}

/// The patient opens the conversation from their visit's page.
async fn opened(pages: &Pages, visit: &str) -> String {
    let page = pages.get(&format!("/appointments/{visit}")).await;
    page.assert_status(200)
        .assert_contains("action=\"/messages/open\"");
    let doctor_id = {
        let at = page
            .body
            .find("name=\"doctor_id\" value=\"")
            .expect("the doctor's id");
        let rest = &page.body[at + 24..];
        rest[..rest.find('"').unwrap()].to_owned()
    };
    let res = pages
        .post("/messages/open", &[("doctor_id", &doctor_id)])
        .await;
    let to = res.location().to_owned();
    assert!(to.starts_with("/messages/cnv"), "{to}");
    to.trim_start_matches("/messages/").to_owned()
}

dual! {
    #[tokio::test]
    async fn a_patient_and_their_doctor_chat_by_form_with_read_marks_and_badges() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dr Chat").await;
        let patient = app.register_patient("Pat Chat").await;
        let visit = app.booked(&patient, &doctor.id, TUE_0900).await;

        let mine = signed_in(&app, &patient).await;
        let id = opened(&mine, &visit).await;
        let page = mine.get(&format!("/messages/{id}")).await;
        page.assert_status(200)
            .assert_contains("Messages with Dr Chat")
            .assert_contains("No messages yet.")
            .assert_lacks("Close the conversation");
        let form_id = client_id(&page);

        // A double submit of one form is one message.
        for _ in 0..2 {
            mine.post(
                &format!("/messages/{id}"),
                &[("client_id", &form_id), ("text", "Is the <b>result</b> in?\nThanks")],
            )
            .await
            .assert_redirect(&format!("/messages/{id}#m-1"));
        }
        let listed = patient.get(&format!("/api/v1/conversations/{id}/messages")).await;
        assert_eq!(listed.items().len(), 1);
        let page = mine.get(&format!("/messages/{id}")).await;
        page.assert_status(200)
            .assert_contains("Is the &#60;b&#62;result&#60;/b&#62; in?")
            .assert_contains("<p class=\"message-mark muted\" data-mark>Sent</p>");
        assert_ne!(client_id(&page), form_id, "every form gets a fresh client id");

        // The doctor sees the unread message in the list and the navigation.
        let theirs = signed_in(&app, &doctor).await;
        let list = theirs.get("/messages").await;
        list.assert_status(200)
            .assert_contains(&format!("href=\"/messages/{id}\""))
            .assert_contains("Pat Chat")
            .assert_contains("1<span class=\"visually-hidden\"> unread</span>");
        assert_eq!(nav_badge(&list).as_deref(), Some("1"));
        // Their appointment page offers the message button too (naming the patient).
        theirs
            .get(&format!("/appointments/{visit}"))
            .await
            .assert_status(200)
            .assert_contains(&format!("name=\"patient_id\" value=\"{}\"", patient.id));

        // Opening the conversation reads it: the badge goes, the patient sees "Read".
        let page = theirs.get(&format!("/messages/{id}")).await;
        page.assert_status(200)
            .assert_contains("Messages with Pat Chat")
            .assert_contains("Close the conversation");
        assert_eq!(nav_badge(&page), None);
        mine.get(&format!("/messages/{id}"))
            .await
            .assert_contains("<p class=\"message-mark muted\" data-mark>Read</p>");

        // The doctor answers; the patient's badge counts it until they open it.
        let reply = client_id(&page);
        theirs
            .post(&format!("/messages/{id}"), &[("client_id", &reply), ("text", "Yes, all fine.")])
            .await
            .assert_redirect(&format!("/messages/{id}#m-2"));
        let visits = mine.get("/visits").await;
        assert_eq!(nav_badge(&visits).as_deref(), Some("1"));
        let page = mine.get(&format!("/messages/{id}")).await;
        page.assert_contains("Yes, all fine.");
        assert_eq!(nav_badge(&page), None);

        // An empty message is shown again with its error, and nothing is stored.
        let res = mine
            .post(&format!("/messages/{id}"), &[("client_id", &client_id(&page)), ("text", "   ")])
            .await;
        res.assert_status(422)
            .assert_contains("aria-invalid=\"true\" aria-describedby=\"e-text\"")
            .assert_contains("id=\"e-text\"");
        assert_eq!(
            patient.get(&format!("/api/v1/conversations/{id}/messages")).await.items().len(),
            2
        );
    }
}

dual! {
    #[tokio::test]
    async fn a_closed_conversation_is_read_only_on_the_page() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dr Chat").await;
        let patient = app.register_patient("Pat Chat").await;
        let visit = app.booked(&patient, &doctor.id, TUE_0900).await;
        let mine = signed_in(&app, &patient).await;
        let id = opened(&mine, &visit).await;
        let page = mine.get(&format!("/messages/{id}")).await;
        let form_id = client_id(&page);

        // Only the doctor closes it.
        mine.post(&format!("/messages/{id}/close"), &[]).await.assert_status(403);
        let theirs = signed_in(&app, &doctor).await;
        theirs.get(&format!("/messages/{id}")).await.assert_status(200);
        let res = theirs.post(&format!("/messages/{id}/close"), &[]).await;
        res.assert_redirect(&format!("/messages/{id}"));
        let page = theirs.follow(&res).await;
        assert_eq!(
            page.flash().as_deref(),
            Some("The conversation is closed. The patient's next booking reopens it.")
        );
        page.assert_contains("You closed it").assert_lacks("data-chat-form");

        let page = mine.get(&format!("/messages/{id}")).await;
        page.assert_status(200)
            .assert_contains("This conversation is closed.")
            .assert_contains("Your doctor closed it")
            .assert_lacks("data-chat-form");
        // A form sent anyway (an old tab) is refused with a message, nothing stored.
        let res = mine
            .post(&format!("/messages/{id}"), &[("client_id", &form_id), ("text", "Hello?")])
            .await;
        res.assert_redirect(&format!("/messages/{id}"));
        let flash = mine.follow(&res).await.flash().unwrap_or_default();
        assert!(flash.contains("closed"), "{flash}");
        assert!(patient.get(&format!("/api/v1/conversations/{id}/messages")).await.items().is_empty());
        let list = mine.get("/messages").await;
        list.assert_status(200).assert_contains("· closed");
    }
}

dual! {
    #[tokio::test]
    async fn only_the_pair_has_chat_pages() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dr Chat").await;
        let other_doctor = app.create_doctor("Dr Other").await;
        let patient = app.register_patient("Pat Chat").await;
        let other = app.register_patient("Otto Other").await;
        let receptionist = app.create_receptionist().await;
        let admin = app.admin().await;
        let visit = app.booked(&patient, &doctor.id, TUE_0900).await;
        let mine = signed_in(&app, &patient).await;
        let id = opened(&mine, &visit).await;

        // Staff have no chat: the pages, the conversation and opening are 403.
        for staff in [&receptionist, &admin] {
            let pages = signed_in(&app, staff).await;
            pages.get("/messages").await.assert_status(403);
            pages.get(&format!("/messages/{id}")).await.assert_status(403);
            pages
                .post("/messages/open", &[("doctor_id", &doctor.id)])
                .await
                .assert_status(403);
            pages
                .get(&format!("/appointments/{visit}"))
                .await
                .assert_status(200)
                .assert_lacks("action=\"/messages/open\"");
        }
        // Another patient or doctor does not see it exists.
        for outsider in [&other, &other_doctor] {
            let pages = signed_in(&app, outsider).await;
            pages.get("/messages").await.assert_status(200).assert_lacks(&id);
            pages.get(&format!("/messages/{id}")).await.assert_status(404);
            pages
                .post(&format!("/messages/{id}"), &[("client_id", "x1"), ("text", "Hi")])
                .await
                .assert_status(404);
        }
        // Without an appointment together, the app refuses to open one: a 403 page.
        mine.post("/messages/open", &[("doctor_id", &other_doctor.id)])
            .await
            .assert_status(403)
            .assert_contains("Not allowed");
        assert!(patient.get(&format!("/api/v1/conversations/{id}/messages")).await.items().is_empty());
        // Signed out: to the login page.
        app.pages()
            .get(&format!("/messages/{id}"))
            .await
            .assert_redirect(&format!("/login?next=%2Fmessages%2F{id}"));
    }
}

dual! {
    #[tokio::test]
    async fn a_long_conversation_shows_the_last_fifty_with_a_link_to_older_ones() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dr Chat").await;
        let patient = app.register_patient("Pat Chat").await;
        let visit = app.booked(&patient, &doctor.id, TUE_0900).await;
        let mine = signed_in(&app, &patient).await;
        let id = opened(&mine, &visit).await;
        // Both write, so that neither reaches the rate limit.
        for n in 1..=55 {
            let sender = if n % 2 == 0 { &patient } else { &doctor };
            sender
                .post(
                    &format!("/api/v1/conversations/{id}/messages"),
                    &json!({ "client_id": format!("c{n}"), "text": format!("Message number {n}.") }),
                )
                .await
                .assert_status(201);
        }
        let page = mine.get(&format!("/messages/{id}")).await;
        page.assert_status(200)
            .assert_contains("Message number 6.")
            .assert_contains("Message number 55.")
            .assert_lacks("Message number 5.");
        assert_eq!(page.links(&format!("/messages/{id}?before=")), [format!("/messages/{id}?before=6")]);
        let older = mine.get(&format!("/messages/{id}?before=6")).await;
        older
            .assert_status(200)
            .assert_contains("Message number 1.")
            .assert_contains("Message number 5.")
            .assert_lacks("Message number 6.")
            .assert_contains("Newest messages");
        assert!(older.links(&format!("/messages/{id}?before=")).is_empty());
        // A nonsense position leads back to the newest messages.
        mine.get(&format!("/messages/{id}?before=x"))
            .await
            .assert_redirect(&format!("/messages/{id}"));
    }
}

/// A small but real PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

/// The value of the file form's hidden `client_id`.
fn file_client_id(page: &PageRes) -> String {
    let form = &page.body[page.body.find("action=\"/messages/").unwrap()..];
    let form = &form[form.find("/file\"").expect("the file form")..];
    client_id(&PageRes {
        status: page.status,
        headers: page.headers.clone(),
        body: form.to_owned(),
    })
}

dual! {
    #[tokio::test]
    async fn a_file_sent_from_the_page_reaches_the_doctor_as_a_download_link() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dr Chat").await;
        let patient = app.register_patient("Pat Chat").await;
        let visit = app.booked(&patient, &doctor.id, TUE_0900).await;
        let mine = signed_in(&app, &patient).await;
        let id = opened(&mine, &visit).await;
        let page = mine.get(&format!("/messages/{id}")).await;
        page.assert_contains("enctype=\"multipart/form-data\"");
        let form_id = file_client_id(&page);
        assert_ne!(form_id, client_id(&page), "each form has its own id");

        // A file the store refuses is a message on the page; nothing is sent.
        let res = mine
            .post_file(&format!("/messages/{id}/file"), &[("client_id", &form_id)], "x.pdf", b"MZ\x90\0")
            .await;
        res.assert_redirect(&format!("/messages/{id}"));
        let flash = mine.follow(&res).await.flash().unwrap_or_default();
        assert!(flash.contains("PDF, PNG or JPEG"), "{flash}");

        let res = mine
            .post_file(
                &format!("/messages/{id}/file"),
                &[("client_id", &form_id), ("text", "My lab report")],
                "lab.pdf",
                PDF,
            )
            .await;
        res.assert_redirect(&format!("/messages/{id}#m-1"));
        let listed = patient.get(&format!("/api/v1/conversations/{id}/messages")).await;
        assert_eq!(listed.items().len(), 1);
        let file = listed.items()[0]["attachment"]["id"].as_str().unwrap().to_owned();
        assert_eq!(listed.items()[0]["text"], "My lab report");

        let theirs = signed_in(&app, &doctor).await;
        theirs
            .get(&format!("/messages/{id}"))
            .await
            .assert_status(200)
            .assert_contains(&format!("href=\"/api/v1/attachments/{file}\" download>lab.pdf</a>"))
            .assert_contains("My lab report");
        let (status, _, bytes) = doctor.download(&format!("/api/v1/attachments/{file}")).await;
        assert_eq!(status.as_u16(), 200);
        assert_eq!(bytes, PDF);
    }
}
