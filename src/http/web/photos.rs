//! The profile photo form on `/profile`, for every role: upload (multipart, with a
//! progress bar when the script runs) and removal. Refusals the user can act on
//! (too large, not a picture) come back as a message on the page.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;

use super::files::done;
use super::session::{CsrfForm, CsrfUpload, Flash, WebError, WebResult, see_other};
use crate::app::{App, AppError, PHOTO_MAX_BYTES};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/profile/photo", post(update_photo))
        .route("/profile/photo/delete", post(delete_photo))
}

const BACK: &str = "/profile#photo";

/// `POST /profile/photo`: fields `_csrf` and `file`.
async fn update_photo(
    State(app): State<App>,
    headers: HeaderMap,
    CsrfUpload { chrome, upload }: CsrfUpload,
) -> WebResult {
    let user = chrome.require()?;
    let flash = match app.set_photo(&user.actor, upload.bytes).await {
        Ok(_) => Flash::success("Your photo is saved."),
        Err(error) => refusal(error)?,
    };
    Ok(done(&app, &headers, BACK, flash))
}

/// `POST /profile/photo/delete`: field `_csrf`.
async fn delete_photo(
    State(app): State<App>,
    CsrfForm { chrome, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let user = chrome.require()?;
    let flash = match app.delete_photo(&user.actor).await {
        Ok(()) | Err(AppError::NotFound(_)) => Flash::success("Your photo was removed."),
        Err(other) => return Err(other.into()),
    };
    Ok(see_other(&app, BACK, Some(flash)))
}

fn refusal(error: AppError) -> Result<Flash, WebError> {
    match error {
        AppError::TooLarge { .. } => Ok(Flash::error(format!(
            "The photo is too large: photos of at most {} MB can be uploaded.",
            PHOTO_MAX_BYTES / (1024 * 1024)
        ))),
        AppError::UnsupportedPhotoType => Ok(Flash::error(
            "This kind of file is not accepted: please upload a PNG or JPEG photo.",
        )),
        // The app's messages read as the end of a sentence about the file.
        AppError::Invalid(errors) => Ok(Flash::error(match errors.errors.first() {
            Some(error) => format!("The photo {}.", error.message),
            None => "Please choose a photo to upload.".to_owned(),
        })),
        other => Err(other.into()),
    }
}
