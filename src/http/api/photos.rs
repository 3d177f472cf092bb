//! Profile photos: set or remove your own; see one (a doctor's is public).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carebook_domain::UserId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::{App, AppError, PhotoDownload, PhotoSize, photo_url};
use crate::http::extract::{ApiPath, ApiQuery, CurrentUser, FileUpload, MaybeUser};
use crate::http::problem::{ApiError, Problem};
use crate::store::PhotoRecord;

#[derive(Serialize, ToSchema)]
pub struct PhotoResponse {
    /// Where the photo is served (`?size=64` for the small one); a new upload
    /// gets a new URL.
    pub photo_url: String,
    /// Random per upload; the `v` of `photo_url` and the photo's ETag.
    pub version: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<PhotoRecord> for PhotoResponse {
    fn from(photo: PhotoRecord) -> Self {
        PhotoResponse {
            photo_url: photo_url(&photo.user_id, &photo.version),
            version: photo.version,
            updated_at: photo.updated_at,
        }
    }
}

/// A `multipart/form-data` body with one photo in the field `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PhotoForm {
    /// A PNG or JPEG image, at most 5 MiB, 10000 pixels a side and 50 megapixels.
    #[schema(value_type = String, format = Binary, max_length = 5242880)]
    file: Vec<u8>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PhotoQuery {
    /// The square's side in pixels: 256 (the default) or 64.
    #[param(minimum = 64, maximum = 256)]
    pub size: Option<u32>,
    /// The photo's version, from `photo_url`; it only makes a new photo's URL new
    /// and is otherwise ignored.
    pub v: Option<String>,
}

/// Set your profile photo (any role), replacing the one you had. The photo is
/// decoded, turned upright, cropped to its middle square and stored as new
/// 256 px and 64 px JPEGs: nothing of the uploaded file (EXIF, location) is kept.
#[utoipa::path(put, path = "/me/photo", tag = "photos", security(("bearer" = [])),
    request_body(content = PhotoForm, content_type = "multipart/form-data"),
    responses((status = 200, body = PhotoResponse), (status = 400, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn update_my_photo(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    upload: FileUpload,
) -> Result<Json<PhotoResponse>, ApiError> {
    let photo = app.set_photo(&me.actor, upload.bytes).await?;
    Ok(Json(photo.into()))
}

/// Remove your profile photo.
#[utoipa::path(delete, path = "/me/photo", tag = "photos", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_my_photo(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
) -> Result<StatusCode, ApiError> {
    app.delete_photo(&me.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's profile photo, a square JPEG. An active doctor's is public; a
/// patient's is seen by the patient, the front desk, admins and doctors caring for
/// them, and is 404 to anyone else (as is a user without a photo).
#[utoipa::path(get, path = "/users/{id}/photo", tag = "photos", security((), ("bearer" = [])),
    params(("id" = String, Path), PhotoQuery),
    responses((status = 200, description = "The photo", content((Vec<u8> = "image/jpeg")),
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "The photo named by `If-None-Match` is still current"),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn find_user_photo(
    State(app): State<App>,
    MaybeUser(me): MaybeUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PhotoQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pixels = query.size.unwrap_or(256);
    let size = PhotoSize::from_pixels(pixels)
        .ok_or_else(|| AppError::invalid("size", "must be 256 or 64"))?;
    let actor = me.as_ref().map(|m| &m.actor);
    let download = app.photo(actor, UserId::new(id), size).await?;
    Ok(photo_response(download, size, &headers))
}

fn photo_response(download: PhotoDownload, size: PhotoSize, request: &HeaderMap) -> Response {
    let PhotoDownload {
        bytes,
        version,
        public,
    } = download;
    // Both sizes share a version; the ETag names the rendition.
    let etag = format!("\"{version}-{}\"", size.pixels());
    let cache = if public {
        "public, max-age=86400"
    } else {
        "private, max-age=300"
    };
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    let common = [
        (header::ETAG, etag_value),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    let still_current = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
        });
    if still_current {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))],
        bytes,
    )
        .into_response()
}
