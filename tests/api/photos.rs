//! Profile photos: uploads become two clean JPEG squares, bad files change nothing,
//! replacing and deleting remove old bytes, and who may see a patient's photo.

use std::io::Cursor;

use image::{ImageFormat, RgbImage, RgbaImage};
use reqwest::header;
use reqwest::{Method, StatusCode};

use crate::support::{TUE_0900, TestApp, User, default_schedule};

const ME_PHOTO: &str = "/api/v1/me/photo";

fn photo_path(user: &User, size: u32) -> String {
    format!("/api/v1/users/{}/photo?size={size}", user.id)
}

/// A real PNG with transparency, wider than tall (so it must be cropped).
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([
            (x % 256) as u8,
            (y % 256) as u8,
            200,
            if x < 10 { 0 } else { 255 },
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .expect("a PNG encodes");
    out.into_inner()
}

/// A real JPEG, taller than wide, carrying an EXIF APP1 segment (with a made-up
/// location) right after its start marker and a payload after its end marker.
fn jpeg_with_exif() -> Vec<u8> {
    let image = RgbImage::from_fn(120, 180, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut plain = Cursor::new(Vec::new());
    image
        .write_to(&mut plain, ImageFormat::Jpeg)
        .expect("a JPEG encodes");
    let plain = plain.into_inner();
    assert_eq!(&plain[..2], b"\xff\xd8");
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\0GPS 51.5007N 0.1246W SECRET-LOCATION".to_vec();
    exif.resize(64, 0);
    let length = u16::try_from(exif.len() + 2).expect("a short segment");
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(b"\xff\xe1");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&plain[2..]);
    out.extend_from_slice(b"APPENDED-PAYLOAD");
    out
}

/// The markers of a JPEG's header segments, up to the start of scan.
fn jpeg_segments(bytes: &[u8]) -> Vec<u8> {
    assert_eq!(&bytes[..2], b"\xff\xd8", "not a JPEG");
    let mut markers = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() {
        assert_eq!(bytes[at], 0xff, "a segment starts at {at}");
        let marker = bytes[at + 1];
        markers.push(marker);
        if marker == 0xda {
            break;
        }
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + length;
    }
    markers
}

/// Checks a served photo: a JPEG square of `side` px without EXIF or any trace of
/// the upload's metadata.
fn assert_clean_square(bytes: &[u8], side: u32) {
    let markers = jpeg_segments(bytes);
    assert!(
        !markers.contains(&0xe1),
        "an APP1 (EXIF) segment: {markers:x?}"
    );
    let found = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!found(b"Exif"));
    assert!(!found(b"SECRET-LOCATION"));
    assert!(!found(b"APPENDED-PAYLOAD"));
    let decoded = image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
        .expect("the photo decodes as a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (side, side));
}

/// The paths of every file in the file store.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    crate::attachments::stored_files(app)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

async fn upload(user: &User, name: &str, bytes: &[u8]) -> crate::support::Res {
    user.api
        .upload_with(Method::PUT, ME_PHOTO, name, bytes)
        .await
}

dual! {
    #[tokio::test]
    async fn a_png_and_a_jpeg_with_exif_become_two_clean_jpeg_squares() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Ada Patient").await;

        let set = upload(&patient, "me.png", &png(300, 200)).await;
        set.assert_status(200);
        let version = set.str("version").to_owned();
        assert_eq!(
            set.str("photo_url"),
            format!("/api/v1/users/{}/photo?v={version}", patient.id)
        );
        for side in [256, 64] {
            let (status, headers, bytes) = patient.api.download(&photo_path(&patient, side)).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::CACHE_CONTROL], "private, max-age=300");
            assert_eq!(headers[header::ETAG], format!("\"{version}-{side}\"").as_str());
            assert_clean_square(&bytes, side);
        }
        // The default size is the large one.
        let (_, _, default) = patient.api.download(&format!("/api/v1/users/{}/photo", patient.id)).await;
        assert_eq!(image::load_from_memory(&default).expect("a JPEG").width(), 256);

        let set = upload(&patient, "phone.jpg", &jpeg_with_exif()).await;
        set.assert_status(200);
        assert_ne!(set.str("version"), version, "a new photo has a new version");
        for side in [256, 64] {
            let (status, _, bytes) = patient.api.download(&photo_path(&patient, side)).await;
            assert_eq!(status, StatusCode::OK);
            assert_clean_square(&bytes, side);
        }
    }
}

dual! {
    #[tokio::test]
    async fn a_doctors_photo_is_public_and_named_on_their_profile() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dr Grace").await;
        let profile = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await;
        profile.assert_status(200);
        assert!(profile.body.get("photo_url").is_none(), "no photo, no photo_url");

        let set = upload(&doctor, "me.png", &png(64, 64)).await;
        set.assert_status(200);
        let url = set.str("photo_url").to_owned();

        let profile = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await;
        assert_eq!(profile.str("photo_url"), url);
        let list = app.anon().get("/api/v1/doctors?q=Grace").await;
        list.assert_status(200);
        assert_eq!(list.items()[0]["photo_url"], url.as_str());

        let (status, headers, bytes) = app.anon().download(&url).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=86400");
        assert_clean_square(&bytes, 256);

        // A client holding the current photo is told so without the bytes.
        let etag = headers[header::ETAG].to_str().expect("an ASCII ETag").to_owned();
        let again = app
            .anon()
            .request(Method::GET, &url)
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
}

dual! {
    #[tokio::test]
    async fn files_that_are_not_photos_are_refused_and_nothing_is_stored() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Ada Patient").await;

        upload(&patient, "report.pdf", b"%PDF-1.4\n%%EOF\n")
            .await
            .assert_problem(415, "unsupported-file-type");
        upload(&patient, "notes.txt", b"just some text, not a picture")
            .await
            .assert_problem(415, "unsupported-file-type");
        // PNG and JPEG signatures followed by garbage.
        upload(&patient, "broken.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR garbage")
            .await
            .assert_invalid(&["file"]);
        upload(&patient, "broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
            .await
            .assert_invalid(&["file"]);
        // A picture too large to decode safely (a side over 10,000 px).
        upload(&patient, "wide.png", &png(10_001, 1))
            .await
            .assert_invalid(&["file"]);
        // Over 5 MiB, even though it starts like a PNG.
        let mut huge = png(8, 8);
        huge.resize(5 * 1024 * 1024 + 1, 0);
        upload(&patient, "huge.png", &huge)
            .await
            .assert_problem(413, "payload-too-large");

        assert!(stored_files(&app).is_empty(), "nothing stored: {:?}", stored_files(&app));
        patient.api.get(&photo_path(&patient, 256)).await.assert_status(404);
        patient
            .api
            .get(&format!("/api/v1/users/{}/photo?size=128", patient.id))
            .await
            .assert_invalid(&["size"]);
    }
}

dual! {
    #[tokio::test]
    async fn replacing_and_deleting_remove_the_old_bytes() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Ada Patient").await;

        upload(&patient, "one.png", &png(100, 100)).await.assert_status(200);
        let first = stored_files(&app);
        assert_eq!(first.len(), 2, "the two sizes: {first:?}");

        upload(&patient, "two.jpg", &jpeg_with_exif()).await.assert_status(200);
        let second = stored_files(&app);
        assert_eq!(second.len(), 2, "only the new photo's two sizes: {second:?}");
        assert!(second.iter().all(|path| !first.contains(path)));

        patient.api.delete(ME_PHOTO).await.assert_status(204);
        assert!(stored_files(&app).is_empty());
        patient.api.get(&photo_path(&patient, 256)).await.assert_status(404);
        patient.api.get(&photo_path(&patient, 64)).await.assert_status(404);
        patient.api.delete(ME_PHOTO).await.assert_status(404);
    }
}

dual! {
    #[tokio::test]
    async fn a_patients_photo_is_seen_only_by_them_staff_and_their_doctors() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Ada Patient").await;
        let other_patient = app.register_patient("Ben Patient").await;
        let caring = app.create_doctor("Dr Grace").await;
        let unrelated = app.create_doctor("Dr Hopper").await;
        let receptionist = app.create_receptionist().await;
        let admin = app.admin().await;
        app.set_schedule(&caring, default_schedule()).await;
        let visit = app.booked(&patient, &caring.id, TUE_0900).await;
        caring.act(&visit, "confirm").await.assert_status(200);

        upload(&patient, "me.png", &png(80, 120)).await.assert_status(200);
        let path = photo_path(&patient, 64);
        let cases = [
            ("the patient", &patient.api, 200),
            ("another patient", &other_patient.api, 404),
            ("a doctor with care", &caring.api, 200),
            ("a doctor without care", &unrelated.api, 404),
            ("the receptionist", &receptionist.api, 200),
            ("an admin", &admin.api, 200),
        ];
        for (who, api, expected) in cases {
            let (status, _, _) = api.download(&path).await;
            assert_eq!(status.as_u16(), expected, "{who}");
        }
        let anonymous = app.anon().get(&path).await;
        anonymous.assert_status(404);
        // Refused looks exactly like "no photo".
        let other = other_patient.api.get(&path).await;
        let missing = patient.api.get(&photo_path(&other_patient, 64)).await;
        assert_eq!(other.body, missing.body);
    }
}

dual! {
    #[tokio::test]
    async fn the_profile_page_sets_and_removes_the_photo_and_doctors_show_theirs() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dr Grace").await;
        app.set_schedule(&doctor, default_schedule()).await;
        let pages = app.pages();
        pages.sign_in_as(&doctor).await;

        let profile = pages.get("/profile").await;
        profile.assert_status(200).assert_contains("You have no photo yet.").assert_lacks("Remove photo");
        // Not a picture: a message, nothing stored.
        let refused = pages.upload("/profile/photo", "notes.txt", b"plain words").await;
        refused.assert_redirect("/profile#photo");
        let shown = pages.follow(&refused).await;
        assert!(shown.flash().unwrap_or_default().contains("not accepted"), "{:?}", shown.flash());
        let broken = pages.upload("/profile/photo", "broken.png", b"\x89PNG\r\n\x1a\n\0\0garbage").await;
        let shown = pages.follow(&broken).await;
        assert!(shown.flash().unwrap_or_default().contains("can be read"), "{:?}", shown.flash());
        assert!(stored_files(&app).is_empty());

        let set = pages.upload("/profile/photo", "me.png", &png(90, 60)).await;
        set.assert_redirect("/profile#photo");
        let shown = pages.follow(&set).await;
        assert_eq!(shown.flash().as_deref(), Some("Your photo is saved."));
        let url = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await.str("photo_url").to_owned();
        shown.assert_contains(&format!("src=\"{url}\"")).assert_contains("Remove photo");

        // The public pages show it: small in search results, large on the profile.
        let visitor = app.pages();
        visitor
            .get("/?q=Grace")
            .await
            .assert_contains(&format!("src=\"{url}&amp;size=64\""));
        visitor
            .get(&format!("/doctors/{}", doctor.id))
            .await
            .assert_contains(&format!("src=\"{url}\" alt=\"Photo of Dr Grace\""));

        let removed = pages.post("/profile/photo/delete", &[]).await;
        removed.assert_redirect("/profile#photo");
        pages.follow(&removed).await.assert_contains("You have no photo yet.");
        assert!(stored_files(&app).is_empty());
        visitor.get(&format!("/doctors/{}", doctor.id)).await.assert_lacks("Photo of Dr Grace");
    }
}
