//! Pictures of the main screens, light and dark, on a desktop (1280×900) and a phone
//! (390×844). Every run writes them under Cargo's temporary folder
//! (`target/tmp/screenshots/`); `scripts/screenshots.sh` (CAREBOOK_SCREENSHOTS=1) also
//! refreshes the committed ones in `docs/screenshots/`, shown in the README.

use carebook::testing::webdriver::BrowserOptions;

use crate::harness::{
    assert_no_horizontal_scroll, open, public_screens, screenshot, seed_clinic, set_theme, visit,
};
use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn the_public_screens_are_photographed_light_and_dark_on_desktop_and_phone() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app).await;

    for (device, options) in [
        ("desktop", BrowserOptions::desktop()),
        ("phone", BrowserOptions::phone()),
    ] {
        let Some(browser) = open(&app, options).await else {
            return;
        };
        for theme in ["light", "dark"] {
            set_theme(&browser, theme).await;
            for screen in public_screens(&clinic) {
                if screen.name == "not-found" {
                    continue;
                }
                visit(&browser, &screen).await;
                if device == "phone" {
                    assert_no_horizontal_scroll(&browser, screen.name).await;
                }
                screenshot(&browser, &format!("{}-{theme}-{device}", screen.name)).await;
            }
        }
    }
}
