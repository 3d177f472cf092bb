//! The doctor's public profile: bio, qualifications, experience, languages, fee and
//! specialties.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::doctor;
use crate::app::{App, AppError, DoctorPatch, DoctorProfile};
use crate::http::web::session::{Chrome, CsrfForm, Flash, WebResult, render, see_other};
use crate::http::web::view::{self, FieldErrors};
use crate::store::{Fee, Specialty};

/// The profile form as typed.
#[derive(Default)]
pub struct ProfileForm {
    pub bio: String,
    pub qualifications: String,
    pub years_experience: String,
    pub languages: String,
    pub fee_amount: String,
    pub fee_currency: String,
    pub specialties: Vec<String>,
    /// The checked visit modes (`in_person`, `video`).
    pub visit_modes: Vec<String>,
    /// The form showed the visit-mode boxes: an empty set is then a choice to
    /// refuse, not a form from before they existed.
    pub visit_modes_shown: bool,
    /// `at_clinic` or `online`; empty when the form did not offer the choice
    /// (online payment is not configured).
    pub payment_mode: String,
}

impl ProfileForm {
    fn from_profile(profile: &DoctorProfile) -> ProfileForm {
        let doctor = &profile.doctor;
        let (fee_amount, fee_currency) = match &doctor.fee {
            // `EUR 60.00` -> `60.00`, `EUR`.
            Some(fee) => (
                view::money(fee)
                    .split_once(' ')
                    .map(|(_, amount)| amount.to_owned())
                    .unwrap_or_default(),
                fee.currency.clone(),
            ),
            None => (String::new(), String::new()),
        };
        ProfileForm {
            bio: doctor.bio.clone().unwrap_or_default(),
            qualifications: doctor.qualifications.clone().unwrap_or_default(),
            years_experience: doctor
                .years_experience
                .map(|y| y.to_string())
                .unwrap_or_default(),
            languages: doctor.languages.join(", "),
            fee_amount,
            fee_currency,
            specialties: doctor.specialty_ids.iter().map(|s| s.to_string()).collect(),
            visit_modes: doctor
                .visit_modes
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            visit_modes_shown: true,
            payment_mode: doctor.payment_mode.as_str().to_owned(),
        }
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> ProfileForm {
        let mut form = ProfileForm::default();
        for (name, value) in pairs {
            match name.as_str() {
                "bio" => form.bio = value,
                "qualifications" => form.qualifications = value,
                "years_experience" => form.years_experience = value.trim().to_owned(),
                "languages" => form.languages = value,
                "fee_amount" => form.fee_amount = value.trim().to_owned(),
                "fee_currency" => form.fee_currency = value.trim().to_uppercase(),
                "specialty" => form.specialties.push(value),
                "visit_mode" => form.visit_modes.push(value),
                "visit_modes_shown" => form.visit_modes_shown = true,
                "payment_mode" => form.payment_mode = value.trim().to_owned(),
                _ => {}
            }
        }
        form
    }

    /// The app's patch, or messages for what could not be read at all.
    fn to_patch(&self) -> Result<DoctorPatch, FieldErrors> {
        let mut errors = FieldErrors::new();
        let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let years_experience = match self.years_experience.as_str() {
            "" => None,
            text => match text.parse::<i64>() {
                Ok(years) => Some(years),
                Err(_) => {
                    errors.add("years_experience", "must be a whole number of years");
                    None
                }
            },
        };
        let fee = match (self.fee_amount.as_str(), self.fee_currency.as_str()) {
            ("", "") => None,
            ("", _) => {
                errors.add("fee_amount", "is required with a currency");
                None
            }
            (_, "") => {
                errors.add("fee_currency", "is required with an amount");
                None
            }
            (amount, currency) => match minor_units(amount, currency) {
                Some(amount) => Some(Fee {
                    amount,
                    currency: currency.to_owned(),
                }),
                None => {
                    errors.add(
                        "fee_amount",
                        &format!(
                            "must be an amount such as {}",
                            view::money(&Fee {
                                amount: 6000,
                                currency: currency.to_owned()
                            })
                            .split_once(' ')
                            .map_or("60.00", |(_, a)| a)
                        ),
                    );
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DoctorPatch {
            bio: Some(optional(&self.bio)),
            qualifications: Some(optional(&self.qualifications)),
            years_experience: Some(years_experience),
            languages: Some(
                self.languages
                    .split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            fee: Some(fee),
            specialty_ids: Some(self.specialties.clone()),
            visit_modes: self.visit_modes_shown.then(|| self.visit_modes.clone()),
            payment_mode: Some(self.payment_mode.clone()).filter(|m| !m.is_empty()),
            ..DoctorPatch::default()
        })
    }
}

/// How many decimals `currency` has, as [`view::money`] prints it.
fn decimals(currency: &str) -> usize {
    let zero = view::money(&Fee {
        amount: 0,
        currency: currency.to_owned(),
    });
    zero.split_once('.').map_or(0, |(_, minor)| minor.len())
}

/// `60`, `60.5`, `60,50` -> minor units of `currency`; `None` if not such an amount.
fn minor_units(amount: &str, currency: &str) -> Option<i64> {
    let places = decimals(currency);
    let (whole, fraction) = match amount.split_once(['.', ',']) {
        Some((whole, fraction)) => (whole, fraction),
        None => (amount, ""),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > places {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<places$}").parse().ok()?
    };
    whole
        .checked_mul(10_i64.checked_pow(places as u32)?)?
        .checked_add(fraction)
}

pub struct SpecialtyChoice {
    pub id: String,
    pub name: String,
    pub checked: bool,
}

impl ProfileForm {
    /// Whether the box of `mode` is checked.
    pub fn offers(&self, mode: &str) -> bool {
        self.visit_modes.iter().any(|m| m == mode)
    }
}

#[derive(askama::Template)]
#[template(path = "web/doctor/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    id: String,
    name: String,
    form: ProfileForm,
    specialties: Vec<SpecialtyChoice>,
    errors: FieldErrors,
    /// The clinic takes fees online (Stripe is configured): the form offers it.
    online_payments: bool,
}

fn page(
    app: &App,
    chrome: Chrome,
    profile: &DoctorProfile,
    all: Vec<Specialty>,
    form: ProfileForm,
    errors: FieldErrors,
) -> ProfilePage {
    ProfilePage {
        chrome,
        id: profile.doctor.user_id.to_string(),
        name: profile.doctor.name.clone(),
        specialties: all
            .into_iter()
            .map(|s| SpecialtyChoice {
                checked: form.specialties.contains(&s.id.to_string()),
                id: s.id.to_string(),
                name: s.name,
            })
            .collect(),
        form,
        errors,
        online_payments: app.settings.online_payments_enabled(),
    }
}

/// `GET /doctor/profile`.
pub async fn find_profile(State(app): State<App>, chrome: Chrome) -> WebResult {
    let actor = doctor(&chrome)?;
    let profile = app.find_doctor(Some(&actor), actor.user_id.clone()).await?;
    let all = app.list_specialties().await?;
    let form = ProfileForm::from_profile(&profile);
    Ok(render(&page(
        &app,
        chrome,
        &profile,
        all,
        form,
        FieldErrors::new(),
    )))
}

/// `POST /doctor/profile`: saves the profile, or shows it again with the messages.
pub async fn update_profile(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<Vec<(String, String)>>,
) -> WebResult {
    let actor = doctor(&chrome)?;
    let typed = ProfileForm::from_pairs(form);
    let errors = match typed.to_patch() {
        Err(errors) => errors,
        Ok(patch) => match app
            .update_doctor(&actor, actor.user_id.clone(), patch)
            .await
        {
            Ok(_) => {
                return Ok(see_other(
                    &app,
                    "/doctor/profile",
                    Some(Flash::success("Your profile is saved.")),
                ));
            }
            Err(AppError::Invalid(raw)) => {
                let mut errors = FieldErrors::new();
                for error in raw.errors {
                    let field = match error.field.as_str() {
                        "fee.amount" => "fee_amount",
                        "fee.currency" => "fee_currency",
                        f if f.starts_with("languages") => "languages",
                        f if f.starts_with("specialty_ids") => "specialties",
                        f if f.starts_with("visit_modes") => "visit_modes",
                        f => f,
                    }
                    .to_owned();
                    if !errors.has(&field) {
                        errors.add(&field, &error.message);
                    }
                }
                errors
            }
            Err(other) => return Err(other.into()),
        },
    };
    let profile = app.find_doctor(Some(&actor), actor.user_id.clone()).await?;
    let all = app.list_specialties().await?;
    let response = render(&page(&app, chrome, &profile, all, typed, errors));
    Ok((StatusCode::UNPROCESSABLE_ENTITY, response).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_are_typed_as_decimals_of_the_currency() {
        assert_eq!(minor_units("60", "EUR"), Some(6000));
        assert_eq!(minor_units("60.5", "EUR"), Some(6050));
        assert_eq!(minor_units("60,05", "EUR"), Some(6005));
        assert_eq!(minor_units("5000", "JPY"), Some(5000));
        assert_eq!(minor_units("12.345", "KWD"), Some(12345));
        for bad in ["", "-5", "1.234", "abc", ".5", "1.2.3"] {
            assert_eq!(minor_units(bad, "EUR"), None, "{bad}");
        }
        assert_eq!(minor_units("50.5", "JPY"), None);
    }
}
