//! The admin's pages: users (search, approve pending doctors, change roles,
//! deactivate and reactivate, create staff) and the audit log. Each action is the
//! same `app` call as the JSON API; the policy there decides, the pages only offer
//! what makes sense (no role or status buttons on one's own account).

use super::session::unprocessable;
use super::view::{clinic_zone, day_bounds, optional, short_date};
use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::appointments::refusal_flash;
use super::session::{
    Chrome, CsrfForm, Flash, WebResult, form_urlencoded_component, local_path, render, see_other,
};
use super::view::{self, FieldErrors};
use crate::app::{App, AppError, AuditSearch, PageParams, RegisterInput, UserPatch, UserSearch};
use crate::store::{AuditEntry, Role, UserId, UserRecord, UserStatus};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/users", get(list_users).post(create_user))
        .route("/admin/users/new", get(find_new_user))
        .route("/admin/users/{id}", get(find_user))
        .route("/admin/users/{id}/approve", post(update_user_approval))
        .route("/admin/users/{id}/role", post(update_user_role))
        .route("/admin/users/{id}/active", post(update_user_active))
        .route("/admin/audit", get(list_audit))
}

const ADMIN: &[Role] = &[Role::Admin];

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Patient => "Patient",
        Role::Doctor => "Doctor",
        Role::Receptionist => "Receptionist",
        Role::Admin => "Admin",
    }
}

fn status_label(status: UserStatus) -> &'static str {
    match status {
        UserStatus::Pending => "Waiting for approval",
        UserStatus::Active => "Active",
        UserStatus::Deactivated => "Deactivated",
    }
}

/// A role for a `<select>`.
pub struct RoleOption {
    pub value: &'static str,
    pub label: &'static str,
}

fn role_options() -> Vec<RoleOption> {
    Role::ALL
        .into_iter()
        .map(|role| RoleOption {
            value: role.as_str(),
            label: role_label(role),
        })
        .collect()
}

/// A user in the list or on their page, ready to print.
struct UserRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    role_label: &'static str,
    status: &'static str,
    status_label: &'static str,
    phone: String,
    date_of_birth: String,
    created: String,
    updated: String,
    /// The signed-in admin themself: no role or status buttons.
    is_me: bool,
    can_approve: bool,
    can_deactivate: bool,
    can_reactivate: bool,
}

fn user_row(user: &UserRecord, me: &UserId, zone: &TimeZone) -> UserRow {
    let is_me = &user.id == me;
    UserRow {
        id: user.id.to_string(),
        name: user.name.clone(),
        email: user.email.clone(),
        role: user.role.as_str(),
        role_label: role_label(user.role),
        status: user.status.as_str(),
        status_label: status_label(user.status),
        phone: user.phone.clone().unwrap_or_default(),
        date_of_birth: user
            .date_of_birth
            .map(|d| d.strftime("%-d %b %Y").to_string())
            .unwrap_or_default(),
        created: short_date(user.created_at, zone),
        updated: view::date_time(user.updated_at, zone),
        is_me,
        can_approve: user.role == Role::Doctor && user.status == UserStatus::Pending,
        can_deactivate: !is_me && user.status != UserStatus::Deactivated,
        can_reactivate: !is_me && user.status == UserStatus::Deactivated,
    }
}

#[derive(Deserialize, Default)]
struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    status: String,
    cursor: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    q: String,
    role: String,
    status: String,
    roles: Vec<RoleOption>,
    pending: Vec<UserRow>,
    users: Vec<UserRow>,
    next_page: Option<String>,
    first_page: bool,
    filtered: bool,
    errors: FieldErrors,
}

/// `GET /admin/users?q=&role=&status=&cursor=`.
async fn list_users(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<UsersQuery>,
) -> WebResult {
    let me = chrome.require_role(ADMIN)?;
    let actor = me.actor.clone();
    let zone = clinic_zone(&app);
    let search = UserSearch {
        q: optional(&query.q),
        role: optional(&query.role),
        status: optional(&query.status),
    };
    let filtered = search.q.is_some() || search.role.is_some() || search.status.is_some();
    let page = PageParams {
        limit: Some(25),
        cursor: query.cursor.clone(),
    };
    let (users, next_cursor, errors) = match app.list_users(&actor, search, page).await {
        Ok(page) => (page.items, page.next_cursor, FieldErrors::new()),
        Err(AppError::Invalid(errors)) => (Vec::new(), None, errors.into()),
        Err(other) => return Err(other.into()),
    };
    // Doctors waiting for approval come first on the unfiltered first page.
    let pending = if filtered || query.cursor.is_some() {
        Vec::new()
    } else {
        let waiting = UserSearch {
            role: Some(Role::Doctor.as_str().into()),
            status: Some(UserStatus::Pending.as_str().into()),
            q: None,
        };
        let page = PageParams {
            limit: Some(100),
            cursor: None,
        };
        app.list_users(&actor, waiting, page).await?.items
    };
    let next_page = next_cursor.map(|cursor| {
        let pairs = [
            ("q", query.q.trim()),
            ("role", query.role.as_str()),
            ("status", query.status.as_str()),
            ("cursor", cursor.as_str()),
        ];
        format!(
            "/admin/users?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    Ok(render(&UsersPage {
        q: query.q.trim().to_owned(),
        role: query.role,
        status: query.status,
        roles: role_options(),
        pending: pending
            .iter()
            .map(|u| user_row(u, &actor.user_id, &zone))
            .collect(),
        users: users
            .iter()
            .map(|u| user_row(u, &actor.user_id, &zone))
            .collect(),
        next_page,
        first_page: query.cursor.is_none(),
        filtered,
        errors,
        chrome,
    }))
}

#[derive(askama::Template)]
#[template(path = "web/admin/user.html")]
struct UserPage {
    chrome: Chrome,
    user: UserRow,
    roles: Vec<RoleOption>,
    audit_about: String,
    audit_by: String,
}

/// `GET /admin/users/{id}`: one account, with the same actions as the list.
async fn find_user(State(app): State<App>, chrome: Chrome, Path(id): Path<String>) -> WebResult {
    let me = chrome.require_role(ADMIN)?;
    let user = app.find_user(&me.actor, UserId::new(id)).await?;
    let row = user_row(&user, &me.actor.user_id, &clinic_zone(&app));
    let id = form_urlencoded_component(user.id.as_str());
    Ok(render(&UserPage {
        audit_about: format!("/admin/audit?subject_id={id}"),
        audit_by: format!("/admin/audit?actor_id={id}"),
        user: row,
        roles: role_options(),
        chrome,
    }))
}

#[derive(Deserialize, Default)]
struct ActionForm {
    back: Option<String>,
    #[serde(default)]
    role: String,
    #[serde(default)]
    active: String,
}

/// Where an action returns: the page it came from, else the user's page.
fn back_to(form: &ActionForm, id: &str) -> String {
    local_path(form.back.as_deref(), &format!("/admin/users/{id}"))
}

/// `POST /admin/users/{id}/approve`: a pending doctor may sign in from now on.
async fn update_user_approval(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<ActionForm>,
) -> WebResult {
    let me = chrome.require_role(ADMIN)?;
    let flash = match app.approve_doctor(&me.actor, UserId::new(id.clone())).await {
        Ok(user) => Flash::success(format!(
            "{} is approved and can now sign in as a doctor.",
            user.name
        )),
        Err(error) => refusal_flash(error)?,
    };
    Ok(see_other(&app, &back_to(&form, &id), Some(flash)))
}

/// `POST /admin/users/{id}/role`.
async fn update_user_role(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<ActionForm>,
) -> WebResult {
    let me = chrome.require_role(ADMIN)?;
    let patch = UserPatch {
        role: Some(form.role.trim().to_owned()),
        ..UserPatch::default()
    };
    let flash = match app
        .update_user(&me.actor, UserId::new(id.clone()), patch)
        .await
    {
        Ok(user) => Flash::success(format!(
            "{} is now {}.",
            user.name,
            with_article(role_label(user.role))
        )),
        Err(error) => refusal_flash(error)?,
    };
    Ok(see_other(&app, &back_to(&form, &id), Some(flash)))
}

fn with_article(label: &str) -> String {
    let article = if label.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {}", label.to_lowercase())
}

/// `POST /admin/users/{id}/active` with `active=true|false`.
async fn update_user_active(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<ActionForm>,
) -> WebResult {
    let me = chrome.require_role(ADMIN)?;
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(super::session::WebError::BadForm),
    };
    let patch = UserPatch {
        active: Some(active),
        ..UserPatch::default()
    };
    let flash = match app
        .update_user(&me.actor, UserId::new(id.clone()), patch)
        .await
    {
        Ok(user) if active && user.status == UserStatus::Pending => Flash::info(format!(
            "{} is still waiting for approval; approve them to let them sign in.",
            user.name
        )),
        Ok(user) if active => Flash::success(format!("{} can sign in again.", user.name)),
        Ok(user) => Flash::success(format!(
            "{} is deactivated and signed out everywhere.",
            user.name
        )),
        Err(error) => refusal_flash(error)?,
    };
    Ok(see_other(&app, &back_to(&form, &id), Some(flash)))
}

#[derive(Deserialize, Default)]
struct StaffForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    role: String,
}

#[derive(askama::Template)]
#[template(path = "web/admin/new_user.html")]
struct NewUserPage {
    chrome: Chrome,
    form: StaffForm,
    roles: Vec<RoleOption>,
    errors: FieldErrors,
}

/// `GET /admin/users/new`: create an account of any role.
async fn find_new_user(chrome: Chrome) -> WebResult {
    chrome.require_role(ADMIN)?;
    Ok(render(&NewUserPage {
        chrome,
        form: StaffForm {
            role: Role::Receptionist.as_str().into(),
            ..StaffForm::default()
        },
        roles: role_options(),
        errors: FieldErrors::new(),
    }))
}

/// `POST /admin/users`: the account is active at once.
async fn create_user(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<StaffForm>,
) -> WebResult {
    let me = chrome.require_role(ADMIN)?;
    let input = RegisterInput {
        email: form.email.clone(),
        password: form.password.clone(),
        name: form.name.clone(),
        phone: optional(&form.phone),
        date_of_birth: None,
        role: Some(form.role.trim().to_owned()),
    };
    match app.create_user(&me.actor, input).await {
        Ok(user) => Ok(see_other(
            &app,
            &format!("/admin/users/{}", user.id),
            Some(Flash::success(format!(
                "{}'s account is ready: they can sign in as {} with the password you set.",
                user.name,
                with_article(role_label(user.role))
            ))),
        )),
        Err(error) => {
            let errors: FieldErrors = match error {
                AppError::Invalid(errors) => errors.into(),
                AppError::Conflict { detail, .. } => {
                    let mut errors = FieldErrors::new();
                    errors.add("email", &detail);
                    errors
                }
                other => return Err(other.into()),
            };
            Ok(unprocessable(render(&NewUserPage {
                chrome,
                form: StaffForm {
                    password: String::new(),
                    ..form
                },
                roles: role_options(),
                errors,
            })))
        }
    }
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    actor_id: String,
    #[serde(default)]
    subject_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    cursor: Option<String>,
}

/// The actions the audit log records, for the filter's suggestions.
const AUDIT_ACTIONS: &[&str] = &[
    "appointment.book",
    "appointment.confirm",
    "appointment.reject",
    "appointment.cancel",
    "appointment.reschedule",
    "appointment.check_in",
    "appointment.complete",
    "appointment.no_show",
    "appointment.reminded",
    "delivery.retried",
    "doctor.approved",
    "doctor.profile_updated",
    "doctor.schedule_updated",
    "doctor.time_off_added",
    "doctor.time_off_removed",
    "login.failed",
    "login.succeeded",
    "notification_preferences.updated",
    "specialty.created",
    "user.created",
    "user.deactivated",
    "user.password_changed",
    "user.reactivated",
    "user.registered",
    "user.role_changed",
];

/// A person or thing named in the log: a name with a link where we have a page.
struct Named {
    text: String,
    href: Option<String>,
}

struct AuditRow {
    when: String,
    who: Named,
    action: String,
    subject_type: String,
    subject: Option<Named>,
    detail: Vec<(String, String)>,
}

#[derive(askama::Template)]
#[template(path = "web/admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    query: AuditQuery,
    actions: &'static [&'static str],
    zone: String,
    rows: Vec<AuditRow>,
    next_page: Option<String>,
    first_page: bool,
    filtered: bool,
    errors: FieldErrors,
}

fn parse_day(
    field: &str,
    value: &str,
    errors: &mut FieldErrors,
    zone: &TimeZone,
    end: bool,
) -> Option<Timestamp> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match value.parse::<Date>() {
        Ok(date) => {
            let (start, next) = day_bounds(date, zone);
            Some(if end { next } else { start })
        }
        Err(_) => {
            errors.add(field, "must be a date such as 2026-03-02");
            None
        }
    }
}

/// `GET /admin/audit?actor_id=&subject_id=&action=&from=&to=&cursor=`, newest first.
async fn list_audit(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<AuditQuery>,
) -> WebResult {
    let me = chrome.require_role(ADMIN)?;
    let actor = me.actor.clone();
    let zone = clinic_zone(&app);
    let mut errors = FieldErrors::new();
    let from = parse_day("from", &query.from, &mut errors, &zone, false);
    let to = parse_day("to", &query.to, &mut errors, &zone, true);
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        errors.add("to", "must be on or after the first day");
    }
    let filtered = [
        &query.actor_id,
        &query.subject_id,
        &query.action,
        &query.from,
        &query.to,
    ]
    .iter()
    .any(|v| !v.trim().is_empty());
    let (entries, next_cursor) = if errors.is_empty() {
        let search = AuditSearch {
            actor_id: optional(&query.actor_id),
            subject_id: optional(&query.subject_id),
            action: optional(&query.action),
            from: from.map(|t| t.to_string()),
            to: to.map(|t| t.to_string()),
        };
        let page = PageParams {
            limit: Some(50),
            cursor: query.cursor.clone(),
        };
        match app.list_audit(&actor, search, page).await {
            Ok(page) => (page.items, page.next_cursor),
            Err(AppError::Invalid(invalid)) => {
                errors = invalid.into();
                (Vec::new(), None)
            }
            Err(other) => return Err(other.into()),
        }
    } else {
        (Vec::new(), None)
    };

    // Names for the people in this page of the log; an account that is gone (or
    // a lookup that fails) is shown by its id.
    let mut names: HashMap<String, String> = HashMap::new();
    for entry in &entries {
        let e = &entry.entry;
        let mut ids: Vec<&str> = Vec::new();
        if let Some(actor_id) = &e.actor_id {
            ids.push(actor_id.as_str());
        }
        if e.subject_type == "user"
            && let Some(subject) = &e.subject_id
        {
            ids.push(subject);
        }
        for id in ids {
            if !names.contains_key(id) {
                let name = app
                    .find_user(&actor, UserId::new(id))
                    .await
                    .map(|u| u.name)
                    .unwrap_or_default();
                names.insert(id.to_owned(), name);
            }
        }
    }
    let person = |id: &str| Named {
        text: names
            .get(id)
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| id.to_owned()),
        href: Some(format!("/admin/users/{id}")),
    };
    let rows = entries
        .iter()
        .map(|entry| audit_row(entry, &zone, &person))
        .collect();

    let next_page = next_cursor.map(|cursor| {
        let pairs = [
            ("actor_id", query.actor_id.trim()),
            ("subject_id", query.subject_id.trim()),
            ("action", query.action.trim()),
            ("from", query.from.trim()),
            ("to", query.to.trim()),
            ("cursor", cursor.as_str()),
        ];
        format!(
            "/admin/audit?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    Ok(render(&AuditPage {
        first_page: query.cursor.is_none(),
        query,
        actions: AUDIT_ACTIONS,
        zone: app.settings.clinic_time_zone.clone(),
        rows,
        next_page,
        filtered,
        errors,
        chrome,
    }))
}

fn audit_row(entry: &AuditEntry, zone: &TimeZone, person: &dyn Fn(&str) -> Named) -> AuditRow {
    let e = &entry.entry;
    let who = match &e.actor_id {
        Some(id) => person(id.as_str()),
        None => Named {
            text: if e.action == "login.failed" {
                "Someone (not signed in)".into()
            } else {
                "The system".into()
            },
            href: None,
        },
    };
    let subject = e
        .subject_id
        .as_deref()
        .map(|id| match e.subject_type.as_str() {
            "user" => person(id),
            "appointment" => Named {
                text: id.to_owned(),
                href: Some(format!("/appointments/{id}")),
            },
            _ => Named {
                text: id.to_owned(),
                href: None,
            },
        });
    AuditRow {
        when: view::date_time(e.at, zone),
        who,
        action: e.action.clone(),
        subject_type: view::humanize(&e.subject_type),
        subject,
        detail: detail_pairs(&e.detail, zone),
    }
}

/// The detail object as `key: value` pairs: nested objects flattened to dotted
/// keys, empty values left out, instants shown in the clinic's zone. Never a raw
/// JSON blob.
fn detail_pairs(detail: &serde_json::Value, zone: &TimeZone) -> Vec<(String, String)> {
    fn walk(
        prefix: &str,
        value: &serde_json::Value,
        zone: &TimeZone,
        out: &mut Vec<(String, String)>,
    ) {
        use serde_json::Value;
        let text = match value {
            Value::Null => return,
            Value::Object(map) => {
                for (key, inner) in map {
                    let key = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&key, inner, zone, out);
                }
                return;
            }
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            Value::String(s) => match s.parse::<Timestamp>() {
                Ok(at) => view::date_time(at, zone),
                Err(_) => s.clone(),
            },
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            Value::Number(n) => n.to_string(),
        };
        if text.is_empty() {
            return;
        }
        let text: String = if text.chars().count() > 120 {
            text.chars().take(119).chain(['…']).collect()
        } else {
            text
        };
        let key = if prefix.is_empty() { "value" } else { prefix };
        out.push((key.replace('_', " "), text));
    }
    let mut out = Vec::new();
    walk("", detail, zone, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audit_detail_is_compact_text_in_the_clinic_zone() {
        let zone = view::zone("Europe/Berlin");
        let pairs = detail_pairs(
            &json!({ "from": "confirmed", "to": "checked_in", "reason": null,
                     "to_start": "2026-03-03T08:00:00Z", "fee": { "amount": 6000 },
                     "languages": ["en", "de"] }),
            &zone,
        );
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert!(text.contains(&"from: confirmed".to_owned()), "{text:?}");
        assert!(text.contains(&"to start: Tue 3 Mar 2026, 09:00".to_owned()));
        assert!(text.contains(&"fee.amount: 6000".to_owned()));
        assert!(text.contains(&"languages: en, de".to_owned()));
        assert!(!text.iter().any(|t| t.starts_with("reason")));
        assert!(detail_pairs(&json!({}), &zone).is_empty());
    }
}
