//! A browser stand-in for the web pages' HTTP behaviour: it keeps cookies, sends the
//! CSRF token of the last page it saw with each form, and does not follow redirects
//! (tests assert where they lead). What only a real browser can show (scripts,
//! layout, accessibility) is in the `browser` test binary.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

use crate::support::{PASSWORD, TestApp, User};

pub struct Pages {
    base: String,
    client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
    csrf: Mutex<Option<String>>,
}

/// A page or redirect as the server sent it.
#[derive(Debug)]
pub struct PageRes {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl PageRes {
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &PageRes {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body:\n{}",
            self.body.chars().take(3000).collect::<String>()
        );
        self
    }

    /// Where a 303 leads; panics unless the response is a redirect.
    #[track_caller]
    pub fn location(&self) -> &str {
        assert!(
            self.status.is_redirection(),
            "expected a redirect, got {}:\n{}",
            self.status,
            self.body.chars().take(2000).collect::<String>()
        );
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("a Location header")
    }

    #[track_caller]
    pub fn assert_redirect(&self, to: &str) -> &PageRes {
        assert_eq!(self.location(), to);
        self
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &PageRes {
        assert!(
            self.body.contains(text),
            "the page lacks {text:?}:\n{}",
            self.body
        );
        self
    }

    #[track_caller]
    pub fn assert_lacks(&self, text: &str) -> &PageRes {
        assert!(!self.body.contains(text), "the page shows {text:?}");
        self
    }

    /// The flash message shown on this page, if any.
    pub fn flash(&self) -> Option<String> {
        let start = self.body.find("class=\"flash ")?;
        let rest = &self.body[start..];
        let open = rest.find('>')? + 1;
        let close = rest.find("</div>")?;
        Some(unescape(&rest[open..close]))
    }

    /// Every `href` on the page that starts with `prefix`.
    pub fn links(&self, prefix: &str) -> Vec<String> {
        let needle = format!("href=\"{prefix}");
        self.body
            .match_indices(&needle)
            .map(|(at, _)| {
                let rest = &self.body[at + 6..];
                unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
            })
            .collect()
    }
}

/// Undoes askama's HTML escaping of text and attributes.
pub fn unescape(text: &str) -> String {
    text.replace("&#43;", "+")
        .replace("&#61;", "=")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

impl Pages {
    pub fn new(app: &TestApp) -> Pages {
        carebook::notify::install_crypto_provider();
        Pages {
            base: app.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            cookies: Mutex::new(BTreeMap::new()),
            csrf: Mutex::new(None),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// The server's address, `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Puts a cookie back (as a browser that kept an old one would).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> PageRes {
        let response = request
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().expect("an ASCII cookie");
            let pair = set.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').expect("name=value");
            let removed = set.contains("Max-Age=0");
            let mut cookies = self.cookies.lock().unwrap();
            if removed {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = response.text().await.expect("a body");
        if let Some(at) = body.find("name=\"_csrf\" value=\"") {
            let rest = &body[at + 20..];
            let token = &rest[..rest.find('"').unwrap_or(0)];
            if !token.is_empty() {
                *self.csrf.lock().unwrap() = Some(token.to_owned());
            }
        }
        PageRes {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> PageRes {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// Submits a form with the CSRF token of the last page seen.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> PageRes {
        let csrf = self.csrf.lock().unwrap().clone().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// Submits exactly these fields (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> PageRes {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .form(fields),
        )
        .await
    }

    /// Submits a `multipart/form-data` form with the CSRF token of the last page
    /// seen, text `fields` and the file field `file`.
    pub async fn post_file(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file_name: &str,
        bytes: &[u8],
    ) -> PageRes {
        let boundary = "carebook-page-boundary-51c9";
        let csrf = self.csrf.lock().unwrap().clone().unwrap_or_default();
        let mut body = Vec::new();
        for (name, value) in [("_csrf", csrf.as_str())].iter().chain(fields) {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body),
        )
        .await
    }

    /// Submits one file in the field `file` (an upload form without other fields).
    pub async fn upload(&self, path: &str, file_name: &str, bytes: &[u8]) -> PageRes {
        self.post_file(path, &[], file_name, bytes).await
    }

    /// Follows a redirect with a GET.
    pub async fn follow(&self, res: &PageRes) -> PageRes {
        self.get(res.location()).await
    }

    /// Signs in through the login form; panics unless it works.
    pub async fn sign_in(&self, email: &str, password: &str) -> PageRes {
        self.get("/login").await.assert_status(200);
        let res = self
            .post("/login", &[("email", email), ("password", password)])
            .await;
        assert!(
            res.status == StatusCode::SEE_OTHER,
            "sign-in failed: {}",
            res.body
        );
        res
    }

    /// Signs `user` (made through the API helpers, password [`PASSWORD`]) in.
    pub async fn sign_in_as(&self, user: &User) -> PageRes {
        self.sign_in(&user.email, PASSWORD).await
    }
}

impl TestApp {
    /// A fresh browser stand-in with no cookies.
    pub fn pages(&self) -> Pages {
        Pages::new(self)
    }
}
