//! Files on a visit's page: the list, the upload form (multipart, with a progress
//! bar when the script runs) and deletion. Every refusal the user can act on (too
//! large, not a PDF/PNG/JPEG) comes back as a message on the page.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use carebook_domain::Role;
use serde::Deserialize;

use super::session::{
    Chrome, CsrfForm, CsrfUpload, Flash, WebError, WebResult, local_path, render, see_other,
};
use crate::app::clinical::BreakGlass;
use crate::app::{App, AppError, AttachmentTarget};
use crate::store::{AppointmentId, AttachmentRecord, UserId};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/files", get(list_own_files).post(create_own_file))
        .route("/appointments/{id}/files", post(create_visit_file))
        .route("/files/{id}/delete", post(delete_file))
}

/// One file as the pages list it.
pub struct FileRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub size: String,
    pub when: String,
    /// The viewer uploaded it, so may delete it.
    pub mine: bool,
    /// The visit it belongs to; `None` for the patient's general file.
    pub appointment_id: Option<String>,
}

impl FileRow {
    pub fn new(file: &AttachmentRecord, viewer: &UserId, zone: &jiff::tz::TimeZone) -> FileRow {
        FileRow {
            id: file.id.clone(),
            name: file.file_name.clone(),
            kind: FileRow::describe(&file.media_type, file.size_bytes).0,
            size: human_size(file.size_bytes),
            when: super::view::date_time(file.created_at, zone),
            mine: &file.uploaded_by == viewer,
            appointment_id: file.appointment_id.as_ref().map(|id| id.to_string()),
        }
    }
}

impl FileRow {
    /// "PDF" and "120 KB" for a file's type and size.
    pub fn describe(media_type: &str, size_bytes: i64) -> (&'static str, String) {
        let kind = match media_type {
            "application/pdf" => "PDF",
            "image/png" => "PNG image",
            _ => "JPEG image",
        };
        (kind, human_size(size_bytes))
    }
}

fn human_size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// `POST /appointments/{id}/files`: fields `_csrf` and `file`.
async fn create_visit_file(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    CsrfUpload { chrome, upload }: CsrfUpload,
) -> WebResult {
    let user = chrome.require()?;
    let back = format!("/appointments/{id}#files");
    let target = AttachmentTarget::Appointment(AppointmentId::new(id));
    let flash = match app
        .upload_attachment(&user.actor, target, &upload.file_name, upload.bytes)
        .await
    {
        Ok(file) => Flash::success(format!("{} was added.", file.file_name)),
        Err(error) => refusal(error)?,
    };
    Ok(done(&app, &headers, &back, flash))
}

#[derive(askama::Template)]
#[template(path = "web/records/files.html")]
struct FilesPage {
    chrome: Chrome,
    files: Vec<FileRow>,
    max_upload_mb: usize,
}

/// `GET /files`: the patient's files, their general file and their visits' (every
/// list is an audited clinical read, as in the API), with the upload form.
async fn list_own_files(State(app): State<App>, chrome: Chrome) -> WebResult {
    let user = chrome.require_role(&[Role::Patient])?;
    let me = user.actor.user_id.clone();
    let files = app
        .list_attachments(
            &user.actor,
            AttachmentTarget::Patient(me.clone()),
            BreakGlass::default(),
        )
        .await?;
    let zone = super::view::zone(&app.settings.clinic_time_zone);
    let page = FilesPage {
        files: files.iter().map(|f| FileRow::new(f, &me, &zone)).collect(),
        max_upload_mb: app.settings.attachment_max_bytes / (1024 * 1024),
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}

/// `POST /files`: fields `_csrf` and `file`, into the patient's general file.
async fn create_own_file(
    State(app): State<App>,
    headers: HeaderMap,
    CsrfUpload { chrome, upload }: CsrfUpload,
) -> WebResult {
    let user = chrome.require_role(&[Role::Patient])?;
    let target = AttachmentTarget::Patient(user.actor.user_id.clone());
    let flash = match app
        .upload_attachment(&user.actor, target, &upload.file_name, upload.bytes)
        .await
    {
        Ok(file) => Flash::success(format!("{} was added.", file.file_name)),
        Err(error) => refusal(error)?,
    };
    Ok(done(&app, &headers, "/files", flash))
}

#[derive(Deserialize)]
struct DeleteForm {
    back: Option<String>,
}

/// `POST /files/{id}/delete`: fields `_csrf`, optional `back`.
async fn delete_file(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<DeleteForm>,
) -> WebResult {
    let user = chrome.require()?;
    let back = local_path(form.back.as_deref(), "/");
    app.delete_attachment(&user.actor, id).await?;
    Ok(see_other(
        &app,
        &back,
        Some(Flash::success("The file was deleted.")),
    ))
}

/// Refusals the uploader can act on become a message; the rest an error page.
pub(super) fn refusal(error: AppError) -> Result<Flash, WebError> {
    match error {
        AppError::TooLarge { max_bytes } => Ok(Flash::error(format!(
            "The file is too large: files of at most {} MB can be uploaded.",
            max_bytes / (1024 * 1024)
        ))),
        AppError::UnsupportedFileType => Ok(Flash::error(
            "This kind of file is not accepted: please upload a PDF, PNG or JPEG file.",
        )),
        AppError::Invalid(_) => Ok(Flash::error("Please choose a file to upload.")),
        other => Err(other.into()),
    }
}

/// The script uploads with `XMLHttpRequest` to show progress, and would follow a
/// redirect itself (using up the message on the way); it asks with
/// `X-Requested-With` and gets the address to go to instead.
pub(super) fn done(app: &App, headers: &HeaderMap, to: &str, flash: Flash) -> Response {
    let redirect = see_other(app, to, Some(flash));
    if headers.get("x-requested-with").is_none() {
        return redirect;
    }
    let mut response = axum::Json(serde_json::json!({ "location": to })).into_response();
    for cookie in redirect.headers().get_all(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}
