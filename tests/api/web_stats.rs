//! The statistics page, `/admin/stats`: who may open it, the window form, the
//! summary, the SVG charts and their tables.

use crate::stats::{Week, week};
use crate::support::TestApp;

/// The numbers of a table row headed `label`, tags and whitespace removed.
fn row(body: &str, label: &str) -> Vec<String> {
    let head = format!("<th scope=\"row\">{label}</th>");
    let at = body
        .find(&head)
        .unwrap_or_else(|| panic!("no row {label:?}:\n{body}"));
    let rest = &body[at + head.len()..];
    let rest = &rest[..rest.find("</tr>").expect("the row ends")];
    rest.split("</td>")
        .filter_map(|cell| {
            cell.rsplit_once('>')
                .map(|(_, text)| text.trim().to_owned())
        })
        .filter(|text| !text.is_empty())
        .collect()
}

dual! {
#[tokio::test]
async fn the_admin_sees_charts_and_tables_of_the_window() {
    let Week { app, admin, .. } = week().await;
    let pages = app.pages();
    pages.sign_in_as(&admin).await;
    let page = pages.get("/admin/stats?from=2026-03-01&to=2026-03-07").await;
    page.assert_status(200)
        .assert_contains("<h1>Clinic statistics</h1>")
        .assert_contains("Europe/Berlin")
        .assert_contains(r#"id="f-from" name="from" type="date" value="2026-03-01""#)
        .assert_contains(r#"id="f-to" name="to" type="date" value="2026-03-07""#)
        // Summary cards.
        .assert_contains("50.0%")
        .assert_contains("16.7%")
        // Two charts, each named and described, drawn without inline styles.
        .assert_contains(r#"<svg class="chart" role="img" aria-labelledby="chart-days-title chart-days-desc""#)
        .assert_contains(r#"<title id="chart-days-title">Appointments per day, 1 March 2026 to 7 March 2026</title>"#)
        .assert_contains(r#"<desc id="chart-days-desc">Stacked bars"#)
        .assert_contains("the busiest day was Tue 3 Mar with 3")
        .assert_contains(r#"<svg class="chart" role="img" aria-labelledby="chart-doctors-title chart-doctors-desc""#)
        .assert_contains(r#"<title id="chart-doctors-title">Utilisation per doctor, 1 March 2026 to 7 March 2026</title>"#)
        .assert_contains(">4.3%</text>")
        .assert_contains(">no hours</text>")
        // Legends name every status; patterns tell them apart without colour.
        .assert_contains(">No-show</text>")
        .assert_contains(r#"fill="url(#chart-days-cross)""#)
        .assert_lacks("style=");
    assert_eq!(page.body.matches(r#"role="img""#).count(), 2);
    assert_eq!(page.body.matches("<details").count(), 2);

    // The tables hold the charts' numbers: Completed, Checked in, Confirmed,
    // Requested, No-show, Cancelled, Rejected, Total.
    assert_eq!(row(&page.body, "Sun 1 Mar 2026"), ["0", "0", "0", "0", "0", "0", "0", "0"]);
    assert_eq!(row(&page.body, "Mon 2 Mar 2026"), ["1", "0", "0", "0", "1", "0", "0", "2"]);
    assert_eq!(row(&page.body, "Tue 3 Mar 2026"), ["0", "0", "1", "0", "0", "1", "1", "3"]);
    assert_eq!(row(&page.body, "All days"), ["1", "0", "1", "1", "1", "1", "1", "6"]);
    assert_eq!(row(&page.body, "Amy Able"), ["1 h 30 min", "33 h 30 min", "4.3%"]);
    assert_eq!(row(&page.body, "Ben Busy"), ["30 min", "30 h 30 min", "1.6%"]);
    assert_eq!(row(&page.body, "Cleo Nohours"), ["0 min", "0 min", "–"]);

    // Without dates: the last 30 days, shown in the form.
    pages
        .get("/admin/stats")
        .await
        .assert_status(200)
        .assert_contains(r#"value="2026-02-01""#)
        .assert_contains(r#"value="2026-03-02""#);
}
}

dual! {
#[tokio::test]
async fn a_bad_window_is_shown_next_to_its_field_with_the_values_kept() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let pages = app.pages();
    pages.sign_in_as(&admin).await;
    let page = pages.get("/admin/stats?from=2026-03-07&to=2026-03-01").await;
    page.assert_status(200)
        .assert_contains(r#"value="2026-03-07""#)
        .assert_contains(r#"value="2026-03-01""#)
        .assert_contains(r#"aria-describedby="h-to e-to" aria-invalid="true""#)
        .assert_contains(r#"<p class="field-error" id="e-to">must not be before from</p>"#)
        .assert_contains("Choose a valid date range")
        .assert_lacks("<svg class=\"chart\"");
    pages
        .get("/admin/stats?from=someday")
        .await
        .assert_contains(r#"<p class="field-error" id="e-from">must be a date such as 2026-03-02</p>"#)
        .assert_contains(r#"value="someday""#);

    // A clinic without doctors or appointments: empty states, and the empty chart
    // still has its title and table.
    let empty = pages.get("/admin/stats").await;
    empty
        .assert_status(200)
        .assert_contains("No appointments in this window.")
        .assert_contains("No active doctors and no appointments in this window.")
        .assert_contains(r#"<title id="chart-days-title">"#);
}
}

dual! {
#[tokio::test]
async fn only_admins_open_the_statistics_page() {
    let Week { app, amy, receptionist, patient, .. } = week().await;
    app.pages()
        .get("/admin/stats?from=2026-03-01")
        .await
        .assert_redirect("/login?next=%2Fadmin%2Fstats%3Ffrom%3D2026-03-01");
    for user in [&amy, &receptionist, &patient] {
        let pages = app.pages();
        pages.sign_in_as(user).await;
        pages
            .get("/admin/stats")
            .await
            .assert_status(403)
            .assert_contains("Not allowed")
            .assert_lacks("<svg class=\"chart\"");
    }
}
}
