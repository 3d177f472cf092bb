//! Stylesheets, scripts and icons, embedded in the binary. Each is served under a
//! name carrying a hash of its content (`/assets/app.3f2a9c1b.css`), so browsers may
//! keep it forever and a new release can never be served a stale copy; each is
//! gzip-compressed once, at first use.

use std::io::Write;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The stylesheet is one file for the browser, written as one file per part of the
/// site (the order matters: later parts refine the base).
const STYLESHEETS: &[&str] = &[
    include_str!("../../../assets/css/base.css"),
    include_str!("../../../assets/css/public.css"),
    include_str!("../../../assets/css/patient.css"),
    include_str!("../../../assets/css/doctor.css"),
    include_str!("../../../assets/css/desk.css"),
    include_str!("../../../assets/css/admin.css"),
    include_str!("../../../assets/css/chat.css"),
];

const SCRIPT: &str = include_str!("../../../assets/js/app.js");
const ICON: &str = include_str!("../../../assets/icon.svg");

pub struct Asset {
    /// `app.css`: the name templates ask for.
    pub name: &'static str,
    /// `app.<hash>.css`: the name the browser fetches.
    pub hashed_name: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub gzipped: Vec<u8>,
}

fn asset(name: &'static str, content_type: &'static str, body: Vec<u8>) -> Asset {
    let hash = &crate::app::sha256_hex_bytes(&body)[..12];
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(&body)
        .and_then(|()| encoder.try_finish())
        .expect("compressing into memory cannot fail");
    Asset {
        name,
        hashed_name: format!("{stem}.{hash}.{extension}"),
        content_type,
        gzipped: encoder.get_ref().clone(),
        body,
    }
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        asset(
            "app.css",
            "text/css; charset=utf-8",
            STYLESHEETS.join("\n").into_bytes(),
        ),
        asset(
            "app.js",
            "text/javascript; charset=utf-8",
            SCRIPT.as_bytes().to_vec(),
        ),
        asset("icon.svg", "image/svg+xml", ICON.as_bytes().to_vec()),
    ]
});

/// The address of an embedded asset, e.g. `url("app.css")` -> `/assets/app.3f2a….css`.
pub fn url(name: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| format!("/assets/{}", a.hashed_name))
        .unwrap_or_else(|| panic!("no embedded asset named {name}"))
}

/// `GET /assets/{file}`: the current content under its hashed name, cached for a
/// year; under its plain name (or an old hash), the current content, revalidated.
pub async fn find_asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let exact = ASSETS.iter().find(|a| a.hashed_name == file);
    let Some(asset) = exact.or_else(|| {
        ASSETS.iter().find(|a| {
            let (stem, extension) = a.name.rsplit_once('.').unwrap_or((a.name, ""));
            file == a.name
                || (file.starts_with(&format!("{stem}."))
                    && file.ends_with(&format!(".{extension}")))
        })
    }) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let accepts_gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            parts
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("gzip"))
                && !parts.any(|p| p.trim().replace(' ', "") == "q=0")
        });
    let cache = if exact.is_some() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if accepts_gzip {
        let mut response = asset.gzipped.clone().into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        asset.body.clone().into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_change_with_the_content_and_keep_the_extension() {
        let a = asset("app.css", "text/css", b"body{}".to_vec());
        let b = asset("app.css", "text/css", b"body{color:red}".to_vec());
        assert!(a.hashed_name.starts_with("app.") && a.hashed_name.ends_with(".css"));
        assert_ne!(a.hashed_name, b.hashed_name);
        assert_eq!(url("app.css"), format!("/assets/{}", ASSETS[0].hashed_name));
    }

    #[test]
    fn the_compressed_copy_inflates_to_the_original() {
        use std::io::Read;
        let css = &ASSETS[0];
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&css.gzipped[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, css.body);
        assert!(css.gzipped.len() < css.body.len());
    }
}
