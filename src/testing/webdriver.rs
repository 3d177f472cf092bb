//! A small W3C WebDriver client for the browser tests: Debian's Chromium, headless,
//! driven through `chromedriver` over JSON/HTTP (reqwest), with methods named after
//! what a person does on a page (`goto`, `click`, `fill`, `select`, `press_tab`).
//!
//! ```no_run
//! # use carebook::testing::webdriver::{Browser, BrowserOptions, require_chromium};
//! # async fn example(base: &str) {
//! let Some(paths) = require_chromium() else { return };   // loud skip, or a CI failure
//! let browser = Browser::launch(BrowserOptions::desktop().paths(paths).base_url(base)).await;
//! browser.goto("/login").await;
//! browser.fill("#f-email", "ada@example.com").await;
//! browser.click("button[type=submit]").await;
//! browser.wait_for(".flash").await;
//! # }
//! ```
//!
//! Each [`Browser`] is its own `chromedriver` on a free port with its own Chromium
//! session and an empty temporary profile; dropping it ends the session, stops the
//! driver and removes the profile. Nothing is downloaded: the binaries are the
//! system's (`/usr/bin/chromium`, `/usr/bin/chromedriver`, packages `chromium` and
//! `chromium-driver`; `scripts/ensure-chromium.sh` installs them), or those named by
//! `CAREBOOK_CHROMIUM` / `CAREBOOK_CHROMEDRIVER`.
//!
//! The helpers panic with a message naming the page they were on: they are for tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::{TestDir, under_ci};

/// Overrides the Chromium binary (default `/usr/bin/chromium`).
pub const CHROMIUM_ENV: &str = "CAREBOOK_CHROMIUM";
/// Overrides the chromedriver binary (default `/usr/bin/chromedriver`).
pub const CHROMEDRIVER_ENV: &str = "CAREBOOK_CHROMEDRIVER";
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C name of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Tab key, for [`Browser::press_key`].
pub const TAB: char = '\u{E004}';
/// The Enter key.
pub const ENTER: char = '\u{E007}';
/// The Escape key.
pub const ESCAPE: char = '\u{E00C}';

/// Set to `1` to print every WebDriver command and how long it took.
pub const TRACE_ENV: &str = "CAREBOOK_WEBDRIVER_TRACE";

fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var(TRACE_ENV).is_ok_and(|v| v.trim() == "1"))
}

static CHROMIUM_BANNER: Once = Once::new();
static AXE_BANNER: Once = Once::new();

fn binary_from_env(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// The Chromium and chromedriver binaries, when both exist: `CAREBOOK_CHROMIUM` and
/// `CAREBOOK_CHROMEDRIVER` when set, else `/usr/bin/chromium` and `/usr/bin/chromedriver`.
pub fn chromium_paths() -> Option<(PathBuf, PathBuf)> {
    let chromium = binary_from_env(CHROMIUM_ENV, DEFAULT_CHROMIUM);
    let chromedriver = binary_from_env(CHROMEDRIVER_ENV, DEFAULT_CHROMEDRIVER);
    (chromium.is_file() && chromedriver.is_file()).then_some((chromium, chromedriver))
}

/// Prints a loud banner straight to the process's stderr (the test harness captures
/// `eprintln!` of passing tests, and this must be seen).
fn banner(lines: &[String]) {
    let rule = "!".repeat(88);
    let mut text = format!("\n{rule}\n");
    for line in lines {
        text.push_str("!!! ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&rule);
    text.push('\n');
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// [`chromium_paths`], or `None` after a loud "BROWSER TESTS SKIPPED" banner on
/// stderr (once per process). Under `CI=true` a missing browser panics instead: CI
/// must run the browser tests, never skip them silently.
pub fn require_chromium() -> Option<(PathBuf, PathBuf)> {
    if let Some(paths) = chromium_paths() {
        return Some(paths);
    }
    let chromium = binary_from_env(CHROMIUM_ENV, DEFAULT_CHROMIUM);
    let chromedriver = binary_from_env(CHROMEDRIVER_ENV, DEFAULT_CHROMEDRIVER);
    let missing = [&chromium, &chromedriver]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    if under_ci() {
        panic!(
            "the browser tests need Chromium under CI=true, but {missing} is missing: \
             run scripts/ensure-chromium.sh (or set {CHROMIUM_ENV} / {CHROMEDRIVER_ENV})"
        );
    }
    CHROMIUM_BANNER.call_once(|| {
        banner(&[
            "BROWSER TESTS SKIPPED: install chromium and chromium-driver (scripts/ensure-chromium.sh)".into(),
            format!("missing: {missing}"),
            format!("(or point {CHROMIUM_ENV} and {CHROMEDRIVER_ENV} at the binaries);"),
            "under CI=true this is a failure.".into(),
        ]);
    });
    None
}

/// axe-core's `axe.min.js`, from `node_modules` at the repository root (installed by
/// `scripts/ensure-node-packages.sh`), or `None` after a loud banner (once per
/// process). Under `CI=true` a missing axe-core panics instead.
pub fn require_axe_core() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(error) => {
            if under_ci() {
                panic!(
                    "the accessibility checks need axe-core under CI=true, but {} cannot be read \
                     ({error}): run scripts/ensure-node-packages.sh",
                    path.display()
                );
            }
            AXE_BANNER.call_once(|| {
                banner(&[
                    "ACCESSIBILITY CHECKS SKIPPED: axe-core is not installed".into(),
                    format!("{} ({error})", path.display()),
                    "run scripts/ensure-node-packages.sh (npm ci); under CI=true this is a failure."
                        .into(),
                ]);
            });
            None
        }
    }
}

/// How to start a [`Browser`].
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The page area's size in CSS pixels (the window is sized so the viewport is
    /// exactly this).
    pub width: u32,
    pub height: u32,
    /// `(chromium, chromedriver)`; [`chromium_paths`] when `None`.
    pub paths: Option<(PathBuf, PathBuf)>,
    /// Where relative URLs (`/login`) given to [`Browser::goto`] lead.
    pub base_url: Option<String>,
    /// How long [`Browser::wait_for`] and friends wait.
    pub timeout: Duration,
    /// More Chromium switches.
    pub extra_args: Vec<String>,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions::desktop()
    }
}

impl BrowserOptions {
    /// A 1280×900 desktop viewport.
    pub fn desktop() -> BrowserOptions {
        BrowserOptions {
            width: 1280,
            height: 900,
            paths: None,
            base_url: None,
            timeout: Duration::from_secs(10),
            extra_args: Vec::new(),
        }
    }

    /// A 390×844 phone viewport.
    pub fn phone() -> BrowserOptions {
        BrowserOptions::desktop().size(390, 844)
    }

    pub fn size(mut self, width: u32, height: u32) -> BrowserOptions {
        self.width = width;
        self.height = height;
        self
    }

    pub fn paths(mut self, paths: (PathBuf, PathBuf)) -> BrowserOptions {
        self.paths = Some(paths);
        self
    }

    pub fn base_url(mut self, base: &str) -> BrowserOptions {
        self.base_url = Some(base.trim_end_matches('/').to_owned());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> BrowserOptions {
        self.timeout = timeout;
        self
    }

    /// Pages run no scripts (WebDriver's own commands still work), to show that
    /// what must work without JavaScript does.
    pub fn without_javascript(mut self) -> BrowserOptions {
        self.extra_args
            .push("--blink-settings=scriptEnabled=false".to_owned());
        self
    }
}

/// A WebDriver error answer (`{"value": {"error", "message"}}`) or a transport failure.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    /// The W3C error code (`no such element`, `stale element reference`, ...), or
    /// `transport` when chromedriver could not be reached.
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The first line of chromedriver's messages says it; the rest is a stack.
        let first = self.message.lines().next().unwrap_or_default();
        write!(f, "{}: {first}", self.error)
    }
}

/// An element found on the page (a W3C element reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(pub String);

impl Element {
    /// The element as a script argument (`arguments[0]` is the DOM node).
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// A headless Chromium session and the chromedriver serving it.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>`
    driver_url: String,
    driver_port: u16,
    session: String,
    driver: Child,
    base_url: Option<String>,
    timeout: Duration,
    /// The temporary profile; removed after the driver stopped (dropped last).
    _profile: Option<TestDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free local port for chromedriver")
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Browser {
    /// Starts chromedriver on a free port, waits until it is ready, and opens a
    /// headless Chromium session with an empty profile and `options`' viewport.
    /// Panics (with chromedriver's log) when the browser cannot be started.
    pub async fn launch(options: BrowserOptions) -> Browser {
        let (chromium, chromedriver) = options
            .paths
            .clone()
            .or_else(chromium_paths)
            .expect("Chromium and chromedriver (see require_chromium)");
        crate::notify::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client for chromedriver");
        let profile = TestDir::new();
        let user_data = profile.path().join("profile");
        std::fs::create_dir_all(&user_data).expect("an empty Chromium profile folder");
        let log = profile.path().join("chromedriver.log");

        let mut last_failure = String::new();
        // A port picked free can be taken before chromedriver binds it: try again.
        for _ in 0..3 {
            let port = free_port();
            let driver = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
            let driver_url = format!("http://127.0.0.1:{port}");
            let mut browser = Browser {
                http: http.clone(),
                driver_url,
                driver_port: port,
                session: String::new(),
                driver,
                base_url: options.base_url.clone(),
                timeout: options.timeout,
                _profile: None,
            };
            if let Err(failure) = browser.wait_until_ready().await {
                last_failure = failure;
                continue; // dropping `browser` stops this driver
            }
            let mut args: Vec<String> = [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--lang=en-US",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            args.push(format!("--user-data-dir={}", user_data.display()));
            args.push(format!(
                "--window-size={},{}",
                options.width, options.height
            ));
            args.extend(options.extra_args.iter().cloned());
            let capabilities = json!({
                "capabilities": {
                    "alwaysMatch": {
                        "browserName": "chrome",
                        "pageLoadStrategy": "normal",
                        "unhandledPromptBehavior": "dismiss and notify",
                        "goog:chromeOptions": {
                            "binary": chromium.display().to_string(),
                            "args": args,
                        },
                    }
                }
            });
            match browser.raw("POST", "/session", Some(capabilities)).await {
                Ok(value) => {
                    browser.session = value["sessionId"]
                        .as_str()
                        .expect("a sessionId in chromedriver's answer")
                        .to_owned();
                    // The profile folder now belongs to this browser.
                    browser._profile = Some(profile);
                    browser
                        .cmd(
                            "POST",
                            "/timeouts",
                            json!({ "script": 120_000, "pageLoad": 60_000, "implicit": 0 }),
                        )
                        .await;
                    browser.set_window_size(options.width, options.height).await;
                    return browser;
                }
                Err(error) => {
                    panic!(
                        "Chromium ({}) did not start through {}: {error}\nchromedriver's log:\n{}",
                        chromium.display(),
                        chromedriver.display(),
                        log_tail(&log)
                    );
                }
            }
        }
        panic!(
            "chromedriver ({}) did not become ready: {last_failure}\nits log:\n{}",
            chromedriver.display(),
            log_tail(&log)
        );
    }

    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                return Err(format!("chromedriver exited with {status}"));
            }
            if let Ok(value) = self.raw("GET", "/status", None).await
                && value["ready"].as_bool() == Some(true)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("no ready /status within 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One WebDriver request to chromedriver (`path` from the server root); the
    /// answer's `value`.
    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = format!("{}{path}", self.driver_url);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let transport = |e: reqwest::Error| WebDriverError {
            error: "transport".into(),
            message: format!("{method} {path}: {e}"),
        };
        let started = Instant::now();
        let response = request.send().await.map_err(transport)?;
        let ok = response.status().is_success();
        let answer: Value = response.json().await.map_err(transport)?;
        if trace() {
            let _ = writeln!(
                std::io::stderr(),
                "webdriver {method} {path}: {} in {:?}",
                if ok { "ok" } else { "error" },
                started.elapsed()
            );
        }
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if ok {
            Ok(value)
        } else {
            Err(WebDriverError {
                error: value["error"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// A session command (`path` below `/session/{id}`).
    pub async fn try_cmd(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    /// A session command that must succeed; panics naming the page otherwise.
    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (method == "POST").then_some(body);
        match self.try_cmd(method, path, body).await {
            Ok(value) => value,
            Err(error) => panic!(
                "WebDriver {method} {path} failed on {}: {error}",
                self.here().await
            ),
        }
    }

    /// "<url> (“<title>”)", for failure messages.
    pub async fn here(&self) -> String {
        let url = self.try_cmd("GET", "/url", None).await.ok();
        let title = self.try_cmd("GET", "/title", None).await.ok();
        format!(
            "{} (\u{201c}{}\u{201d})",
            url.as_ref()
                .and_then(Value::as_str)
                .unwrap_or("<unknown page>"),
            title.as_ref().and_then(Value::as_str).unwrap_or("")
        )
    }

    /// How long the `wait_*` helpers wait.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn absolute(&self, url: &str) -> String {
        match &self.base_url {
            Some(base) if url.starts_with('/') => format!("{base}{url}"),
            _ => url.to_owned(),
        }
    }

    /// Opens `url` (a path is taken relative to the base URL) and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": self.absolute(url) }))
            .await;
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        self.cmd("POST", "/refresh", json!({})).await;
    }

    /// Goes back one page in the history.
    pub async fn back(&self) {
        self.cmd("POST", "/back", json!({})).await;
    }

    pub async fn current_url(&self) -> String {
        self.cmd("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The current URL's path and query (`/login?next=%2F`).
    pub async fn current_path(&self) -> String {
        let url = self.current_url().await;
        match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/".into(), |i| rest[i..].to_owned()),
            None => url,
        }
    }

    pub async fn title(&self) -> String {
        self.cmd("GET", "/title", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The elements matching `css` now (no waiting).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .cmd(
                "POST",
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item[ELEMENT_KEY].as_str())
                    .map(|id| Element(id.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether something matches `css` now.
    pub async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// Waits until something matches `css` and returns the first match; panics
    /// with the page's URL after the timeout.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {:?} waiting for `{css}` on {}",
                    self.timeout,
                    self.here().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until nothing matches `css`.
    pub async fn wait_for_absent(&self, css: &str) {
        let deadline = Instant::now() + self.timeout;
        while self.exists(css).await {
            if Instant::now() > deadline {
                panic!(
                    "timed out after {:?} waiting for `{css}` to go away on {}",
                    self.timeout,
                    self.here().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the text of the first match of `css` contains `text`; returns
    /// the whole text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let deadline = Instant::now() + self.timeout;
        loop {
            let mut seen = None;
            if let Some(element) = self.find_all(css).await.into_iter().next()
                && let Ok(value) = self
                    .try_cmd("GET", &format!("/element/{}/text", element.0), None)
                    .await
            {
                let shown = value.as_str().unwrap_or_default().to_owned();
                if shown.contains(text) {
                    return shown;
                }
                seen = Some(shown);
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {:?} waiting for `{css}` to say {text:?} on {} (it says {seen:?})",
                    self.timeout,
                    self.here().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the current path (and query) satisfies `expected`; returns it.
    pub async fn wait_for_path(&self, what: &str, expected: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + self.timeout;
        loop {
            let path = self.current_path().await;
            if expected(&path) {
                return path;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {:?} waiting for the address to be {what}; still on {}",
                    self.timeout,
                    self.here().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `script` (a function body) returns something truthy; returns it.
    pub async fn wait_until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + self.timeout;
        loop {
            let value = self.execute(script, vec![]).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {:?} waiting until {what} on {}",
                    self.timeout,
                    self.here().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `action` on the first match of `css`, waiting for one to appear and
    /// trying again while the page is still changing under it (a stale or
    /// covered element) until the timeout.
    async fn on_element(&self, css: &str, verb: &str, path: &str, body: Value) -> Element {
        let deadline = Instant::now() + self.timeout;
        loop {
            let element = self.wait_for(css).await;
            let result = self
                .try_cmd(
                    "POST",
                    &format!("/element/{}{path}", element.0),
                    Some(body.clone()),
                )
                .await;
            match result {
                Ok(_) => return element,
                Err(error)
                    if Instant::now() < deadline
                        && matches!(
                            error.error.as_str(),
                            "stale element reference"
                                | "element click intercepted"
                                | "element not interactable"
                        ) =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cannot {verb} `{css}` on {}: {error}", self.here().await),
            }
        }
    }

    /// Clicks the first element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        self.on_element(css, "click", "/click", json!({})).await;
    }

    /// Empties the field matching `css` and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        self.on_element(css, "clear", "/clear", json!({})).await;
        self.on_element(css, "type into", "/value", json!({ "text": text }))
            .await;
    }

    /// Types `text` into the field matching `css` without clearing it first.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "type into", "/value", json!({ "text": text }))
            .await;
    }

    /// Picks the option with `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
        self.click(&format!("{css} option[value=\"{quoted}\"]"))
            .await;
        let chosen = self
            .execute(
                "return document.querySelector(arguments[0]).value",
                vec![json!(css)],
            )
            .await;
        assert_eq!(
            chosen.as_str(),
            Some(value),
            "`{css}` did not take the value {value:?} on {}",
            self.here().await
        );
    }

    /// The rendered text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        self.cmd("GET", &format!("/element/{}/text", element.0), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The texts of everything matching `css` now.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.find_all(css).await {
            let text = self
                .cmd("GET", &format!("/element/{}/text", element.0), Value::Null)
                .await;
            texts.push(text.as_str().unwrap_or_default().to_owned());
        }
        texts
    }

    /// An attribute of the first element matching `css` (waiting for it).
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.wait_for(css).await;
        self.cmd(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            Value::Null,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Whether the first element matching `css` is shown (waiting for it to exist).
    pub async fn is_displayed(&self, css: &str) -> bool {
        let element = self.wait_for(css).await;
        self.cmd(
            "GET",
            &format!("/element/{}/displayed", element.0),
            Value::Null,
        )
        .await
        .as_bool()
        .unwrap_or(false)
    }

    /// Runs `script` (a function body: use `return`; `arguments[i]` are `args`) in
    /// the page and returns its result. WebDriver scripts are not subject to the
    /// page's Content-Security-Policy.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Runs an asynchronous `script`: it calls `arguments[arguments.length - 1]`
    /// with its result.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// The viewport as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.cmd("GET", "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 screenshot")
    }

    /// The viewport's size in CSS pixels (`innerWidth`, `innerHeight`).
    pub async fn viewport(&self) -> (u32, u32) {
        let size = self
            .execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await;
        let dimension = |i: usize| size[i].as_u64().unwrap_or(0) as u32;
        (dimension(0), dimension(1))
    }

    /// Resizes the window so that the page area (viewport) is `width`×`height` CSS
    /// pixels: headless Chromium counts window decorations in the window's size, so
    /// the difference is measured and made up.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        let (mut outer_width, mut outer_height) = (width, height);
        for _ in 0..3 {
            self.cmd(
                "POST",
                "/window/rect",
                json!({ "width": outer_width, "height": outer_height }),
            )
            .await;
            let (inner_width, inner_height) = self.viewport().await;
            if (inner_width, inner_height) == (width, height) {
                return;
            }
            outer_width = (outer_width + width).saturating_sub(inner_width);
            outer_height = (outer_height + height).saturating_sub(inner_height);
        }
        let actual = self.viewport().await;
        panic!("cannot size the viewport to {width}×{height}: it is {actual:?}");
    }

    /// Sets a cookie for the current page's site (open a page of the site first).
    pub async fn add_cookie(&self, name: &str, value: &str) {
        self.cmd(
            "POST",
            "/cookie",
            json!({ "cookie": { "name": name, "value": value, "path": "/" } }),
        )
        .await;
    }

    /// A cookie's value for the current page, if set.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.try_cmd("GET", &format!("/cookie/{name}"), None)
            .await
            .ok()
            .and_then(|cookie| cookie["value"].as_str().map(str::to_owned))
    }

    /// Forgets every cookie of the current site.
    pub async fn delete_cookies(&self) {
        self.cmd("DELETE", "/cookie", Value::Null).await;
    }

    /// Presses and releases `key` (a character, or [`TAB`], [`ENTER`], [`ESCAPE`])
    /// on whatever has the focus.
    pub async fn press_key(&self, key: char) {
        let key = key.to_string();
        self.cmd(
            "POST",
            "/actions",
            json!({ "actions": [{
                "type": "key",
                "id": "keyboard",
                "actions": [
                    { "type": "keyDown", "value": key },
                    { "type": "keyUp", "value": key },
                ],
            }] }),
        )
        .await;
        self.cmd("DELETE", "/actions", Value::Null).await;
    }

    /// Presses Tab: the focus moves to the next focusable element.
    pub async fn press_tab(&self) {
        self.press_key(TAB).await;
    }

    /// A short description of the focused element (`a.skip-link "Skip to content"`).
    pub async fn focused(&self) -> String {
        self.execute(
            "var e = document.activeElement; if (!e) return '';\
             var cls = e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '';\
             return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + cls + ' ' + JSON.stringify((e.innerText || e.value || '').trim());",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Whether the focused element matches `css`.
    pub async fn focus_matches(&self, css: &str) -> bool {
        self.execute(
            "return !!document.activeElement && document.activeElement.matches(arguments[0])",
            vec![json!(css)],
        )
        .await
        .as_bool()
        .unwrap_or(false)
    }

    /// Ends the session and stops the driver now (dropping does the same).
    pub fn quit(self) {}
}

/// A blocking `DELETE /session/{id}` straight over TCP: `Drop` cannot await, and the
/// browser must be closed even when a test panics.
fn delete_session(port: u16, session: &str) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // Read the answer (chromedriver keeps the connection open: stop at its end).
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(read) = stream.read(&mut chunk) {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&answer);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                break;
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let started = Instant::now();
        if !self.session.is_empty() {
            delete_session(self.driver_port, &self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if trace() {
            let _ = writeln!(
                std::io::stderr(),
                "webdriver: browser closed in {:?}",
                started.elapsed()
            );
        }
    }
}

/// The width and height in an image's PNG header, or `None` when `bytes` is not a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let number =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((number(16), number(20)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_sizes_are_read_from_the_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&390u32.to_be_bytes());
        png.extend_from_slice(&844u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((390, 844)));
        assert_eq!(png_size(b"GIF89a not a png at all, no"), None);
    }

    #[test]
    fn an_unset_override_means_the_default() {
        // Not set in this process by other tests: read the default.
        assert_eq!(
            binary_from_env("CAREBOOK_TEST_NO_SUCH_VARIABLE", "/usr/bin/x"),
            PathBuf::from("/usr/bin/x")
        );
    }
}
