//! Helpers for the browser tests: open a browser on a test server, sign in, switch
//! the theme, and the checks every main screen gets: [`assert_accessible`] (axe-core),
//! [`assert_no_horizontal_scroll`] and [`screenshot`].

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use carebook::testing::webdriver::{
    Browser, BrowserOptions, png_size, require_axe_core, require_chromium,
};
use serde_json::{Value, json};

use crate::support::{TestApp, User};

/// A headless Chromium on `app` (relative URLs lead to it) with `options`' viewport;
/// `None` after a loud "SKIPPED" banner when Chromium is not installed (a failure
/// under `CI=true`). Start every test with
/// `let Some(browser) = open(&app, BrowserOptions::desktop()).await else { return };`.
pub async fn open(app: &TestApp, options: BrowserOptions) -> Option<Browser> {
    let paths = require_chromium()?;
    Some(Browser::launch(options.paths(paths).base_url(&app.base)).await)
}

/// Signs in through the sign-in form and waits until the browser has left it for
/// the person's home page (`/visits`, `/doctor/today`, `/desk`, `/admin/users`),
/// holding a session cookie.
pub async fn sign_in(browser: &Browser, user: &User, password: &str) {
    browser.goto("/login").await;
    browser.fill("#f-email", &user.email).await;
    browser.fill("#f-password", password).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .wait_for_path("the home page after signing in", |p| {
            !p.starts_with("/login")
        })
        .await;
    assert!(
        browser.cookie("carebook_session").await.is_some(),
        "no session after signing in as {}: {}",
        user.email,
        browser.here().await
    );
}

/// Chooses the `light` or `dark` theme the way a returning visitor has it (the
/// theme cookie), opens the home page and checks that it says so on `<html>`.
/// Visit the screen to check afterwards.
pub async fn set_theme(browser: &Browser, theme: &str) {
    if !browser.current_url().await.starts_with("http") {
        browser.goto("/").await;
    }
    browser.add_cookie("carebook_theme", theme).await;
    browser.goto("/").await;
    assert_eq!(
        theme_of(browser).await.as_deref(),
        Some(theme),
        "the home page is not in the {theme} theme: {}",
        browser.here().await
    );
}

/// The `data-theme` on `<html>` (`None` when the system's choice applies).
pub async fn theme_of(browser: &Browser) -> Option<String> {
    browser
        .execute(
            "return document.documentElement.getAttribute('data-theme')",
            vec![],
        )
        .await
        .as_str()
        .map(str::to_owned)
}

/// axe-core's source, read once per process (`None`: not installed, already said loudly).
fn axe_source() -> Option<&'static str> {
    static SOURCE: OnceLock<Option<String>> = OnceLock::new();
    SOURCE.get_or_init(require_axe_core).as_deref()
}

/// Runs axe-core (every rule of its default set, WCAG 2.x A/AA and best practices)
/// on the page the browser shows and fails listing each serious or critical
/// violation: rule, impact, help, and the selectors of the offending elements.
/// `label` names the screen in the message (e.g. "home, dark").
///
/// axe is injected through WebDriver's execute, which is not subject to the page's
/// Content-Security-Policy (that forbids inline and foreign scripts); the check
/// below that `axe.run` exists proves it. Without axe-core installed this says so
/// loudly once and returns (a failure under `CI=true`).
pub async fn assert_accessible(browser: &Browser, label: &str) {
    let Some(source) = axe_source() else { return };
    let present = browser
        .execute("return typeof window.axe === 'object'", vec![])
        .await;
    if present != Value::Bool(true) {
        browser.execute(source, vec![]).await;
        let injected = browser
            .execute(
                "return typeof window.axe === 'object' && typeof window.axe.run === 'function'",
                vec![],
            )
            .await;
        assert_eq!(
            injected,
            Value::Bool(true),
            "axe-core could not be injected into {}",
            browser.here().await
        );
    }
    let outcome = browser
        .execute_async(
            r#"
            var done = arguments[arguments.length - 1];
            window.axe.run(document, { resultTypes: ["violations"] }).then(function (result) {
              done({ violations: result.violations.map(function (v) {
                return {
                  id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                  nodes: v.nodes.map(function (n) {
                    return { target: n.target.join(" "), summary: n.failureSummary || "" };
                  })
                };
              }) });
            }).catch(function (e) { done({ error: String(e && e.stack || e) }); });
            "#,
            vec![],
        )
        .await;
    if let Some(error) = outcome["error"].as_str() {
        panic!("axe-core failed on {label}: {error}");
    }
    let violations = outcome["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("axe-core answered oddly on {label}: {outcome:#}"));
    let serious: Vec<&Value> = violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    if serious.is_empty() {
        return;
    }
    let mut report = format!(
        "{} serious or critical accessibility violation(s) on {label} ({}):\n",
        serious.len(),
        browser.here().await
    );
    for violation in serious {
        report.push_str(&format!(
            "- {} [{}]: {} ({})\n",
            violation["id"].as_str().unwrap_or("?"),
            violation["impact"].as_str().unwrap_or("?"),
            violation["help"].as_str().unwrap_or(""),
            violation["helpUrl"].as_str().unwrap_or("")
        ));
        for node in violation["nodes"].as_array().into_iter().flatten().take(10) {
            report.push_str(&format!(
                "    at `{}`: {}\n",
                node["target"].as_str().unwrap_or("?"),
                node["summary"]
                    .as_str()
                    .unwrap_or("")
                    .replace('\n', "\n      ")
            ));
        }
    }
    panic!("{report}");
}

/// Fails when the page is wider than the viewport (it would scroll sideways),
/// naming the elements that stick out. `label` names the screen in the message.
pub async fn assert_no_horizontal_scroll(browser: &Browser, label: &str) {
    let measured = browser
        .execute(
            r##"
            var width = window.innerWidth;
            var wide = [];
            document.querySelectorAll("body *").forEach(function (e) {
              var box = e.getBoundingClientRect();
              if (box.width > 0 && box.right > width + 0.5 && wide.length < 8) {
                var cls = typeof e.className === "string" && e.className.trim()
                  ? "." + e.className.trim().split(/\s+/).join(".") : "";
                wide.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + cls
                  + " (right edge " + Math.round(box.right) + ")");
              }
            });
            return { scroll: document.documentElement.scrollWidth, inner: width, wide: wide };
            "##,
            vec![],
        )
        .await;
    let scroll = measured["scroll"].as_u64().unwrap_or(u64::MAX);
    let inner = measured["inner"].as_u64().unwrap_or(0);
    assert!(
        scroll <= inner,
        "{label} scrolls sideways at {inner} px wide: the page is {scroll} px wide on {}; \
         elements past the edge: {}",
        browser.here().await,
        measured["wide"]
    );
}

/// Where [`screenshot`] always writes: a folder under Cargo's temporary directory
/// for tests (overwritten by each run).
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

/// The committed screenshots shown in the README.
pub fn committed_screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
}

/// Takes a PNG of the viewport, checks it is a PNG of the viewport's size, and
/// writes it as `<name>.png` into [`screenshot_dir`], and also into `docs/screenshots/`
/// when `CAREBOOK_SCREENSHOTS=1` (`scripts/screenshots.sh`), so an ordinary test run
/// never rewrites the committed pictures. Returns the temporary file's path.
pub async fn screenshot(browser: &Browser, name: &str) -> PathBuf {
    // Fonts and images settle before the picture is taken.
    browser
        .execute_async(
            "var done = arguments[arguments.length - 1];\
             (document.fonts ? document.fonts.ready : Promise.resolve()).then(function () {\
               requestAnimationFrame(function () { requestAnimationFrame(function () { done(true); }); });\
             });",
            vec![],
        )
        .await;
    let png = browser.screenshot().await;
    let (width, height) = browser.viewport().await;
    let ratio = browser
        .execute("return window.devicePixelRatio", vec![])
        .await
        .as_f64()
        .unwrap_or(1.0);
    let expected = (
        (f64::from(width) * ratio).round() as u32,
        (f64::from(height) * ratio).round() as u32,
    );
    assert_eq!(
        png_size(&png),
        Some(expected),
        "the screenshot {name} is not a PNG of the viewport's size"
    );
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, &png).expect("the screenshot is written");
    if std::env::var("CAREBOOK_SCREENSHOTS").is_ok_and(|v| v.trim() == "1") {
        let committed = committed_screenshot_dir();
        std::fs::create_dir_all(&committed).expect("docs/screenshots");
        std::fs::write(committed.join(format!("{name}.png")), &png)
            .expect("the screenshot is written to docs/screenshots");
    }
    path
}

/// A small clinic for pages worth looking at: four doctors with specialties, fees,
/// languages and a short biography, in the order the home page lists them.
pub struct Clinic {
    /// Dora Keller, cardiology: the one the journeys follow.
    pub keller: User,
    pub doctors: Vec<User>,
}

pub async fn seed_clinic(app: &TestApp) -> Clinic {
    let admin = app.admin().await;
    let mut specialty = std::collections::BTreeMap::new();
    for name in [
        "Cardiology",
        "Dermatology",
        "General practice",
        "Paediatrics",
    ] {
        let created = admin
            .post("/api/v1/specialties", &json!({ "name": name }))
            .await;
        created.assert_status(201);
        specialty.insert(name, created.str("id").to_owned());
    }
    let profiles = [
        (
            "Dora Keller",
            vec!["Cardiology"],
            vec!["English", "German"],
            9000,
            "Heart health, blood pressure and check-ups after a heart attack.",
            18,
        ),
        (
            "Amir Haddad",
            vec!["General practice"],
            vec!["English", "Arabic", "French"],
            5000,
            "Family doctor for everyday illnesses, vaccinations and referrals.",
            9,
        ),
        (
            "Lena Sommer",
            vec!["Paediatrics", "General practice"],
            vec!["German", "English"],
            6000,
            "Care for children from birth to eighteen, and their worried parents.",
            12,
        ),
        (
            "Tomás Ruiz",
            vec!["Dermatology"],
            vec!["Spanish", "English"],
            7500,
            "Skin, hair and nails: rashes, moles and acne.",
            6,
        ),
    ];
    let mut doctors = Vec::new();
    for (name, specialties, languages, fee, bio, years) in profiles {
        let doctor = app.create_doctor(name).await;
        let ids: Vec<&str> = specialties.iter().map(|s| specialty[s].as_str()).collect();
        admin
            .patch(
                &format!("/api/v1/doctors/{}", doctor.id),
                &json!({
                    "specialty_ids": ids,
                    "languages": languages,
                    "fee": { "amount": fee, "currency": "EUR" },
                    "bio": bio,
                    "years_experience": years,
                }),
            )
            .await
            .assert_status(200);
        doctors.push(doctor);
    }
    Clinic {
        keller: doctors[0].clone(),
        doctors,
    }
}

/// A main screen for the accessibility, width and screenshot checks.
pub struct Screen {
    /// Short, file-name safe: `home`, `doctor`, ...
    pub name: &'static str,
    pub path: String,
    /// Something that shows the screen has loaded.
    pub ready: &'static str,
}

/// The public screens: home, a doctor's profile, sign-in, registration, and the
/// not-found page.
pub fn public_screens(clinic: &Clinic) -> Vec<Screen> {
    vec![
        Screen {
            name: "home",
            path: "/".into(),
            ready: ".doctor-list",
        },
        Screen {
            name: "doctor",
            path: format!("/doctors/{}", clinic.keller.id),
            ready: "#slots-heading",
        },
        Screen {
            name: "login",
            path: "/login".into(),
            ready: "#f-email",
        },
        Screen {
            name: "register",
            path: "/register".into(),
            ready: "#f-name",
        },
        Screen {
            name: "password-reset",
            path: "/password-reset".into(),
            ready: "#f-email",
        },
        Screen {
            name: "not-found",
            path: "/no/such/page".into(),
            ready: "h1",
        },
    ]
}

/// Opens `screen` and waits until it has loaded.
pub async fn visit(browser: &Browser, screen: &Screen) {
    browser.goto(&screen.path).await;
    browser.wait_for(screen.ready).await;
}
