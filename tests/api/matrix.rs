//! The authorization matrix (issue 8, "Access"): every operation of the OpenAPI
//! document, called by each of nine callers, with the expected status of every cell
//! written out in [`MATRIX`]. Grants and denials are equally visible there.
//!
//! - The rows come from the route table: `every_operation_of_the_api_has_a_row` reads
//!   `carebook::http::api_parts().1` (the OpenAPI document made from the same route
//!   table as the router) and fails, naming them, when an operation has no row or a
//!   row names an operation that does not exist. Adding a route without adding it
//!   here fails the suite.
//! - Objects that an allowed caller changes (appointments, time off, a pending
//!   doctor) are made afresh before every cell, so every allowed caller meets the same
//!   subject in the same state, and an allowed state-changing cell is a 2xx.
//! - Every app has the same fixtures ([`World`]). A row that ends sessions (logout,
//!   password change, deactivation), logs in (which purges expired sessions) or moves
//!   the clock gets an app of its own ([`needs_own_app`]); the other rows share one
//!   app and run one after another in table order. They change nothing that another
//!   row's callers or subjects depend on (a renamed patient, one more specialty or
//!   time off in April, bookings on slots no other cell uses); a row that did would
//!   show up as failing cells in the rows after it. Apps run a few at a time. (A
//!   fresh app per row works too, but its ~17 password hashes per app took the test
//!   to 20-35 s on two cores.)
//! - Every answer outside 2xx must be an `application/problem+json` document whose
//!   `status` member is the status of the answer.
//!
//! Authorization does not depend on the store, so this runs on SQLite only.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use reqwest::{Method, header};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::support::{Api, NOW, PASSWORD, TUE_0900, TestApp, User, default_schedule, ts};

/// The callers, one column each.
///
/// - `anon`: no credentials.
/// - `A`, `B`: self-registered patients. A has a requested appointment with doctor X
///   next Tuesday, B one with doctor Y.
/// - `X`, `Y`: doctors (created by the admin) with the default weekly schedule; X also
///   has a period of time off.
/// - `rec`: a receptionist; `adm`: the admin.
/// - `deact`: a patient who logged in and was then deactivated by the admin; the
///   column uses the token from before the deactivation.
/// - `exp`: a patient whose token is past the 24 h session lifetime: logged in with
///   the clock 24 h + 1 s before `NOW`, then the clock moved on to `NOW`. This is done
///   last in the fixtures, so that the expired session is still stored and it is the
///   expiry check that refuses it (every login purges expired sessions).
const CALLERS: [&str; 9] = ["anon", "A", "B", "X", "Y", "rec", "adm", "deact", "exp"];

/// One line per row: method, path, setup, body, then the expected status for each
/// caller of [`CALLERS`]. The path is the OpenAPI template with the value bound to
/// each parameter: `{id=A}` is the template's `{id}`, filled with patient A's id.
///
/// Bindings: `A`, `B`, `X`, `Y` (those callers' user ids), `P` (the setup's pending
/// doctor), `nobody` (a well-formed id of no account), `apt` (the setup's
/// appointment), `off` (the setup's time off), `ntfA` (patient A's welcome notification),
/// `rx` (the setup's prescription), `fbk` (the setup's feedback), `att` (the setup's
/// attachment).
///
/// Setups, made before each cell:
/// - `-`: nothing beyond the fixtures.
/// - `pending`: a fresh self-registered doctor awaiting approval (`P`).
/// - `off:X`, `off:Y`: a fresh period of time off of that doctor (`off`).
/// - `apt:A-X`, `apt:B-Y`: the fixture appointment of that patient with that doctor
///   (requested, next Tuesday); only for rows that change nothing.
/// - `new:A-X`, `new:B-Y`: a fresh requested appointment of that patient with that
///   doctor, more than 24 h ahead: outside the cancellation window, so the patient's
///   own cancel and reschedule are not refused by a time rule.
/// - `due:A-X`: a fresh appointment of A with X today, confirmed, and the clock moved
///   to 22:00 local that day: it has started (a no-show may be recorded) and check-in
///   is open (from 60 min before the start until local midnight).
/// - `in:A-X`: as `due:A-X`, and checked in (so it can be completed, or its record
///   written).
/// - `rec:A-X`: as `in:A-X`, and X wrote its visit record (`rec`, version 1).
/// - `seen:A-X`: the fixture visit of A with X today, checked in (prescriptions
///   may be issued for it, any number of times).
/// - `rx:A-X`: the fixture prescription X issued for that visit (`rx`); for reads.
/// - `rx-new:A-X`: a fresh prescription X issued for that visit (`rx`).
/// - `done:A-X`: the fixture completed visit of A with X today, not yet rated. Only
///   A may rate it, and every other caller is refused before the "rated already"
///   check, so the one 201 is A's.
/// - `rated:A-X`: the fixture completed visit that A rated (`fbk` is its feedback):
///   only X replies and only the admin hides, each once; the others are refused by
///   the policy first.
///
/// So every move below is judged by the policy and then passes the state and time
/// rules: an allowed move is a 2xx, never a 409.
///
/// - `att:A`: a fresh file patient A uploaded to their own file (`att`).
/// - `photo:A`/`photo:X`: patient A / doctor X has uploaded a profile photo.
///
/// Bodies: `-` (none), `file` (a small PDF as multipart/form-data), `photo` (a small
/// PNG, likewise), `register` (a new patient's email, password and name), `login`
/// (patient A's email and password), `password` (the caller's current password and a
/// new one), `patient`/`doctor` (a new account of that role), `rename` (`name`),
/// `deactivate` (`active: false`), `specialty` (a new name), `profile` (a bio and the
/// fixture specialty), `schedule` (the default schedule), `time-off` (a period in
/// April), `book-A`/`book-B` (a free slot of X for patient A / of Y for patient B),
/// `reschedule` (another free slot of the appointment's doctor), `prefs`
/// (notification preferences), `reset` (a fresh address, known to no account),
/// `reset-token`/`verify-token` (a token the server never sent), `otp` (a code),
/// `disable` (the caller's password and a code), `record` (a visit record's
/// diagnosis), `amend` (an amendment of version 1), `summary` (a health summary), `rx` (one
/// medication line), `revoke`/`hide` (a reason), `rate`/`rate-edit` (stars), `reply`
/// (a reply), `desk-pay` (a cash payment of EUR 60.00).
///
/// Notes on cells that are not obvious:
/// - Register and login are public and never look at the token: a dead token is
///   ignored there (201/200), as it is on `GET /specialties`. The other public routes
///   (doctors, their profiles and slots) look at credentials when sent, and answer a
///   dead token with 401 so that a client learns it has expired.
/// - Hidden objects are 404, not 403: an appointment the caller may not see, and an
///   account the caller may not see (a doctor sees a patient only once that patient
///   has had an appointment with them). When the caller may see the object but not do
///   this to it, the answer is 403 (patient A confirming their own appointment,
///   doctor X renaming patient A whom X treats).
/// - Approving: only admins. Every other caller gets 403 whether the account exists
///   (`P`) or not (`nobody`), so the answer tells nothing about which ids exist; an
///   admin gets 404 for `nobody`.
/// - A notification belongs to one user: anyone else's read of it is 404.
/// - Reminders: the patient may see the appointment but not send its reminder (403).
/// - Schedules and time off are 403 to anyone who may not see them, whichever doctor
///   they name: doctors' ids are public.
/// - Chat (`cnvAX`: the conversation of A and X, made in the fixtures): only A and X
///   use it; everyone else, staff and admins included, gets 404. Opening one needs an
///   appointment between the two (403 otherwise, and for staff); a patient names a
///   doctor (`chat-X`), a doctor a patient (`chat-A`), the other way round is 422.
///   Only its doctor closes it (A, who may see it, gets 403). `GET /live` without a
///   WebSocket handshake is 426 once authenticated.
/// - Linking a provider's identity (`/auth/oidc/link`, sent the `disable` body: a
///   password and a code) is 404 for everyone here: this app has no OpenID Connect
///   provider configured, and the route never looks at the token (with a provider
///   it needs the link step's browser cookie; see `tests/api/oidc.rs`).
/// - Photos: everyone sets and removes their own (the first `DELETE` removes the
///   photo the `PUT` row gave each caller, the second finds none). A doctor's photo is
///   public; a patient's is seen by them, staff and doctors who treat them, and is
///   404 (as if there were none) to everyone else.
const MATRIX: &str = "
# method path                                            setup     body        anon  A    B    X    Y    rec  adm  deact exp
POST   /api/v1/auth/register                             -         register    201  201  201  201  201  201  201  201  201
POST   /api/v1/auth/login                                -         login       200  200  200  200  200  200  200  200  200
POST   /api/v1/auth/logout                               -         -           401  204  204  204  204  204  204  401  401
POST   /api/v1/auth/oidc/link                            -         disable     404  404  404  404  404  404  404  404  404
GET    /api/v1/me                                        -         -           401  200  200  200  200  200  200  401  401
POST   /api/v1/me/password                               -         password    401  204  204  204  204  204  204  401  401
POST   /api/v1/auth/password-reset                       -         reset       202  202  202  202  202  202  202  202  202
POST   /api/v1/auth/password-reset/confirm               -         reset-token 422  422  422  422  422  422  422  422  422
POST   /api/v1/auth/email-verification/confirm           -         verify-token 422 422  422  422  422  422  422  422  422
POST   /api/v1/me/email-verification                     -         -           401  409  409  409  409  409  409  401  401
GET    /api/v1/me/security                               -         -           401  200  200  200  200  200  200  401  401
POST   /api/v1/me/2fa/confirm                            -         otp         401  409  409  409  409  409  409  401  401
POST   /api/v1/me/2fa/setup                              -         -           401  200  200  200  200  200  200  401  401
POST   /api/v1/me/2fa/disable                            -         disable     401  409  409  409  409  409  409  401  401

GET    /api/v1/users                                     -         -           401  403  403  403  403  200  200  401  401
POST   /api/v1/users                                     -         patient     401  403  403  403  403  201  201  401  401
POST   /api/v1/users                                     -         doctor      401  403  403  403  403  403  201  401  401
GET    /api/v1/users/{id=A}                              -         -           401  200  404  200  404  200  200  401  401
GET    /api/v1/users/{id=B}                              -         -           401  404  200  404  200  200  200  401  401
PATCH  /api/v1/users/{id=A}                              -         rename      401  200  404  403  404  200  200  401  401
PATCH  /api/v1/users/{id=B}                              -         rename      401  404  200  404  403  200  200  401  401
PATCH  /api/v1/users/{id=A}                              -         deactivate  401  403  404  403  404  403  200  401  401
POST   /api/v1/users/{id=P}/approve                      pending   -           401  403  403  403  403  403  200  401  401
POST   /api/v1/users/{id=nobody}/approve                 -         -           401  403  403  403  403  403  404  401  401
GET    /api/v1/audit                                     -         -           401  403  403  403  403  403  200  401  401

GET    /api/v1/specialties                               -         -           200  200  200  200  200  200  200  200  200
POST   /api/v1/specialties                               -         specialty   401  403  403  403  403  403  201  401  401
GET    /api/v1/doctors                                   -         -           200  200  200  200  200  200  200  401  401
GET    /api/v1/doctors/{id=X}                            -         -           200  200  200  200  200  200  200  401  401
PATCH  /api/v1/doctors/{id=X}                            -         profile     401  403  403  200  403  403  200  401  401
PATCH  /api/v1/doctors/{id=Y}                            -         profile     401  403  403  403  200  403  200  401  401
GET    /api/v1/doctors/{id=X}/slots                      -         -           200  200  200  200  200  200  200  401  401
GET    /api/v1/doctors/{id=X}/schedule                   -         -           401  403  403  200  403  200  200  401  401
GET    /api/v1/doctors/{id=Y}/schedule                   -         -           401  403  403  403  200  200  200  401  401
PUT    /api/v1/doctors/{id=X}/schedule                   -         schedule    401  403  403  200  403  403  200  401  401
PUT    /api/v1/doctors/{id=Y}/schedule                   -         schedule    401  403  403  403  200  403  200  401  401
GET    /api/v1/doctors/{id=X}/time-off                   -         -           401  403  403  200  403  200  200  401  401
GET    /api/v1/doctors/{id=Y}/time-off                   -         -           401  403  403  403  200  200  200  401  401
POST   /api/v1/doctors/{id=X}/time-off                   -         time-off    401  403  403  201  403  403  201  401  401
POST   /api/v1/doctors/{id=Y}/time-off                   -         time-off    401  403  403  403  201  403  201  401  401
DELETE /api/v1/doctors/{id=X}/time-off/{time_off_id=off} off:X     -           401  403  403  204  403  403  204  401  401
DELETE /api/v1/doctors/{id=Y}/time-off/{time_off_id=off} off:Y     -           401  403  403  403  204  403  204  401  401

GET    /api/v1/appointments                              -         -           401  200  200  200  200  200  200  401  401
POST   /api/v1/appointments                              -         book-A      401  201  403  403  403  201  201  401  401
POST   /api/v1/appointments                              -         book-B      401  403  201  403  403  201  201  401  401
GET    /api/v1/appointments/{id=apt}                     apt:A-X   -           401  200  404  200  404  200  200  401  401
GET    /api/v1/appointments/{id=apt}                     apt:B-Y   -           401  404  200  404  200  200  200  401  401
POST   /api/v1/appointments/{id=apt}/confirm             new:A-X   -           401  403  404  200  404  200  200  401  401
POST   /api/v1/appointments/{id=apt}/confirm             new:B-Y   -           401  404  403  404  200  200  200  401  401
POST   /api/v1/appointments/{id=apt}/reject              new:A-X   -           401  403  404  200  404  200  200  401  401
POST   /api/v1/appointments/{id=apt}/reject              new:B-Y   -           401  404  403  404  200  200  200  401  401
POST   /api/v1/appointments/{id=apt}/cancel              new:A-X   -           401  200  404  200  404  200  200  401  401
POST   /api/v1/appointments/{id=apt}/cancel              new:B-Y   -           401  404  200  404  200  200  200  401  401
POST   /api/v1/appointments/{id=apt}/reschedule          new:A-X   reschedule  401  200  404  200  404  200  200  401  401
POST   /api/v1/appointments/{id=apt}/reschedule          new:B-Y   reschedule  401  404  200  404  200  200  200  401  401
POST   /api/v1/appointments/{id=apt}/check-in            due:A-X   -           401  403  404  200  404  200  200  401  401
POST   /api/v1/appointments/{id=apt}/complete            in:A-X    -           401  403  404  200  404  403  200  401  401
POST   /api/v1/appointments/{id=apt}/no-show             due:A-X   -           401  403  404  200  404  200  200  401  401
POST   /api/v1/appointments/{id=apt}/remind              new:A-X   -           401  403  404  202  404  202  202  401  401
POST   /api/v1/appointments/{id=apt}/payments            new:A-X   desk-pay    401  403  404  403  404  201  201  401  401

GET    /api/v1/notifications                             -         -           401  200  200  200  200  200  200  401  401
POST   /api/v1/notifications/{id=ntfA}/read              -         -           401  204  404  404  404  404  404  401  401
POST   /api/v1/notifications/read-all                    -         -           401  200  200  200  200  200  200  401  401
GET    /api/v1/me/notification-preferences               -         -           401  200  200  200  200  200  200  401  401
PATCH  /api/v1/me/notification-preferences               -         prefs       401  200  200  200  200  200  200  401  401
GET    /api/v1/notifications/deliveries                  -         -           401  403  403  403  403  403  200  401  401
POST   /api/v1/notifications/deliveries/{id=nobody}/retry -        -           401  403  403  403  403  403  404  401  401

GET    /api/v1/events                                    -         -           401  200  200  200  200  200  200  401  401

GET    /api/v1/stats                                     -         -           401  403  403  403  403  403  200  401  401
GET    /api/v1/payments                                  -         -           401  403  403  403  403  403  200  401  401
GET    /api/v1/payments/summary                          -         -           401  403  403  403  403  403  200  401  401
GET    /api/v1/payments/export.csv                       -         -           401  403  403  403  403  403  200  401  401
POST   /api/v1/payments/stripe/webhook                   -         -           404  404  404  404  404  404  404  404  404

POST   /api/v1/appointments/{id=apt}/record              in:A-X    record      401  403  404  201  404  403  403  401  401
GET    /api/v1/appointments/{id=apt}/record              rec:A-X   -           401  200  404  200  404  403  403  401  401
POST   /api/v1/records/{id=rec}/amendments               rec:A-X   amend       401  403  404  201  404  403  403  401  401
GET    /api/v1/records/{id=rec}/versions                 rec:A-X   -           401  200  404  200  404  403  403  401  401
GET    /api/v1/patients/{id=A}/records                   -         -           401  200  404  200  404  200  200  401  401
GET    /api/v1/patients/{id=B}/records                   -         -           401  404  200  404  200  200  200  401  401
GET    /api/v1/patients/{id=A}/summary                   -         -           401  200  404  200  404  403  403  401  401
PUT    /api/v1/patients/{id=A}/summary                   -         summary     401  200  404  200  404  403  403  401  401
GET    /api/v1/me/access-log                             -         -           401  200  200  200  200  200  200  401  401
GET    /api/v1/me/export                                 -         -           401  200  200  403  403  403  403  401  401

POST   /api/v1/appointments/{id=apt}/prescriptions       seen:A-X  rx          401  403  404  201  404  403  403  401  401
GET    /api/v1/patients/{id=A}/prescriptions             -         -           401  200  404  200  404  403  403  401  401
GET    /api/v1/prescriptions/{id=rx}                     rx:A-X    -           401  200  404  200  404  403  403  401  401
GET    /api/v1/prescriptions/{id=rx}/pdf                 rx:A-X    -           401  200  404  200  404  403  403  401  401
POST   /api/v1/prescriptions/{id=rx}/revoke              rx-new:A-X revoke     401  403  404  200  404  403  403  401  401

POST   /api/v1/appointments/{id=apt}/feedback            done:A-X  rate        401  201  404  403  404  403  403  401  401
PATCH  /api/v1/appointments/{id=apt}/feedback            rated:A-X rate-edit   401  200  404  403  404  403  403  401  401
POST   /api/v1/feedback/{id=fbk}/reply                   rated:A-X reply       401  403  403  200  403  403  403  401  401
POST   /api/v1/feedback/{id=fbk}/hide                    rated:A-X hide        401  403  403  403  403  403  200  401  401
GET    /api/v1/doctors/{id=X}/reviews                    -         -           200  200  200  200  200  200  200  401  401
GET    /api/v1/conversations                             -         -           401  200  200  200  200  200  200  401  401
POST   /api/v1/conversations                             -         chat-X      401  200  403  422  422  403  403  401  401
POST   /api/v1/conversations                             -         chat-A      401  422  422  200  403  403  403  401  401
GET    /api/v1/conversations/{id=cnvAX}/messages         -         -           401  200  404  200  404  404  404  401  401
POST   /api/v1/conversations/{id=cnvAX}/messages         -         message     401  201  404  201  404  404  404  401  401
POST   /api/v1/conversations/{id=cnvAX}/read             -         -           401  200  404  200  404  404  404  401  401
POST   /api/v1/conversations/{id=cnvAX}/close            -         -           401  403  404  200  404  404  404  401  401
GET    /api/v1/live                                      -         -           401  426  426  426  426  426  426  401  401
GET    /api/v1/patients/{id=A}/attachments               -         -           401  200  404  200  404  403  403  401  401
POST   /api/v1/patients/{id=A}/attachments               -         file        401  201  404  201  404  403  403  401  401
GET    /api/v1/appointments/{id=apt}/attachments         apt:A-X   -           401  200  404  200  404  403  403  401  401
POST   /api/v1/appointments/{id=apt}/attachments         apt:A-X   file        401  201  404  201  404  403  403  401  401
GET    /api/v1/attachments/{id=att}                      att:A     -           401  200  404  200  404  403  403  401  401
DELETE /api/v1/attachments/{id=att}                      att:A     -           401  204  404  403  404  403  403  401  401

PUT    /api/v1/me/photo                                  -         photo       401  200  200  200  200  200  200  401  401
DELETE /api/v1/me/photo                                  -         -           401  204  204  204  204  204  204  401  401
DELETE /api/v1/me/photo                                  -         -           401  404  404  404  404  404  404  401  401
GET    /api/v1/users/{id=A}/photo                        photo:A   -           404  200  404  200  404  200  200  401  401
GET    /api/v1/users/{id=X}/photo                        photo:X   -           200  200  200  200  200  200  200  401  401
";

/// The `file` body: a multipart upload of this PDF, named by the marker's value.
const UPLOAD_MARKER: &str = "$upload";
const UPLOADED_PDF: &[u8] = b"%PDF-1.4\n% a lab report\ntrailer<<>>\n%%EOF\n";

/// The `photo` body's bytes: a small real PNG.
fn uploaded_png() -> Vec<u8> {
    let image =
        image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([x as u8 * 8, y as u8 * 10, 120]));
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("a PNG encodes");
    out.into_inner()
}

/// A well-formed user id that no account has.
const NOBODY: &str = "usr_000000000000000000000000";
/// 22:00 in Berlin on the day of `NOW`: after every slot of that day, before its end.
const EVENING: &str = "2026-03-02T21:00:00Z";
/// Apps running at once. Most of an app's setup is password hashing, which runs on
/// the blocking pool, so a few at a time keep every core busy.
const APPS_AT_ONCE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    /// Patient A with doctor X.
    AX,
    /// Patient B with doctor Y.
    BY,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    X,
    Y,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    None,
    Pending,
    TimeOff(Doc),
    Fixture(Pair),
    Requested(Pair),
    Due,
    CheckedIn,
    Recorded,
    Seen,
    Prescription,
    NewPrescription,
    Done,
    Rated,
    /// A file patient A uploaded to their own file (`att`).
    Attachment,
    /// A profile photo of patient A or of a doctor.
    Photo(Photographed),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Photographed {
    A,
    X,
}

impl Setup {
    fn parse(value: &str) -> Option<Setup> {
        Some(match value {
            "-" => Setup::None,
            "pending" => Setup::Pending,
            "off:X" => Setup::TimeOff(Doc::X),
            "off:Y" => Setup::TimeOff(Doc::Y),
            "apt:A-X" => Setup::Fixture(Pair::AX),
            "apt:B-Y" => Setup::Fixture(Pair::BY),
            "new:A-X" => Setup::Requested(Pair::AX),
            "new:B-Y" => Setup::Requested(Pair::BY),
            "due:A-X" => Setup::Due,
            "in:A-X" => Setup::CheckedIn,
            "rec:A-X" => Setup::Recorded,
            "seen:A-X" => Setup::Seen,
            "rx:A-X" => Setup::Prescription,
            "rx-new:A-X" => Setup::NewPrescription,
            "done:A-X" => Setup::Done,
            "rated:A-X" => Setup::Rated,
            "att:A" => Setup::Attachment,
            "photo:A" => Setup::Photo(Photographed::A),
            "photo:X" => Setup::Photo(Photographed::X),
            _ => return None,
        })
    }
}

/// The bodies a row may name (see [`World::body`]).
const BODIES: &[&str] = &[
    "-",
    "register",
    "login",
    "password",
    "patient",
    "doctor",
    "rename",
    "deactivate",
    "specialty",
    "profile",
    "schedule",
    "time-off",
    "book-A",
    "book-B",
    "reschedule",
    "prefs",
    "reset",
    "reset-token",
    "verify-token",
    "otp",
    "disable",
    "record",
    "amend",
    "summary",
    "rx",
    "revoke",
    "rate",
    "rate-edit",
    "reply",
    "hide",
    "desk-pay",
    "chat-X",
    "chat-A",
    "message",
    "file",
    "photo",
];

/// One row of [`MATRIX`].
#[derive(Debug, Clone)]
struct Row {
    /// Line in `MATRIX`, for messages.
    line: usize,
    method: Method,
    /// The path as written, with bindings.
    path: String,
    /// The OpenAPI path template, e.g. `/api/v1/users/{id}`.
    template: String,
    setup: Setup,
    body: &'static str,
    expect: [u16; 9],
}

impl Row {
    /// `METHOD template`, as the OpenAPI document names the operation.
    fn operation(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    fn label(&self) -> String {
        format!(
            "line {}: {} {} [{:?}, body {}]",
            self.line, self.method, self.path, self.setup, self.body
        )
    }
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, line) in MATRIX.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 4 + CALLERS.len(), "MATRIX line {i}: {line}");
        let method = Method::from_bytes(fields[0].as_bytes()).expect("a method");
        let path = fields[1].to_owned();
        let template = template_of(&path);
        let setup = Setup::parse(fields[2])
            .unwrap_or_else(|| panic!("MATRIX line {i}: unknown setup {:?}", fields[2]));
        let body = BODIES
            .iter()
            .copied()
            .find(|b| *b == fields[3])
            .unwrap_or_else(|| panic!("MATRIX line {i}: unknown body {:?}", fields[3]));
        let mut expect = [0u16; 9];
        for (cell, value) in expect.iter_mut().zip(&fields[4..]) {
            *cell = value
                .parse()
                .unwrap_or_else(|_| panic!("MATRIX line {i}: bad status {value:?}"));
        }
        rows.push(Row {
            line: i,
            method,
            path,
            template,
            setup,
            body,
            expect,
        });
    }
    rows
}

/// `/a/{id=X}/b` → `/a/{id}/b`.
fn template_of(path: &str) -> String {
    let mut template = String::new();
    let mut binding = false;
    for c in path.chars() {
        match c {
            '=' if !binding => binding = true,
            '}' => {
                binding = false;
                template.push(c);
            }
            _ if binding => {}
            _ => template.push(c),
        }
    }
    template
}

/// Every operation of the OpenAPI document, as `METHOD path`.
fn documented_operations() -> BTreeSet<String> {
    let (_, openapi) = carebook::http::api_parts();
    let doc = serde_json::to_value(&openapi).expect("the OpenAPI document serialises");
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item");
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.contains_key(method) {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    operations
}

/// What keeps the matrix and the route table in step: operations without a row, and
/// rows naming no operation.
fn coverage_gaps(rows: &[Row]) -> Vec<String> {
    let documented = documented_operations();
    let covered: BTreeSet<String> = rows.iter().map(Row::operation).collect();
    let mut gaps = Vec::new();
    for operation in documented.difference(&covered) {
        gaps.push(format!("no row in the matrix for {operation}"));
    }
    for row in rows {
        if !documented.contains(&row.operation()) {
            gaps.push(format!(
                "{} names {}, which is not an operation of the API",
                row.label(),
                row.operation()
            ));
        }
    }
    gaps
}

#[test]
fn every_operation_of_the_api_has_a_row() {
    let gaps = coverage_gaps(&rows());
    assert!(gaps.is_empty(), "\n{}", gaps.join("\n"));
}

#[tokio::test]
async fn every_caller_gets_the_expected_status_from_every_operation() {
    let started = Instant::now();
    let rows = rows();
    let gaps = coverage_gaps(&rows);
    assert!(gaps.is_empty(), "\n{}", gaps.join("\n"));

    // Each group of (index, row) runs in one app.
    let (own, shared): (Vec<_>, Vec<_>) = rows
        .iter()
        .cloned()
        .enumerate()
        .partition(|(_, row)| needs_own_app(row));
    let mut groups: Vec<Vec<(usize, Row)>> = vec![shared];
    groups.extend(own.into_iter().map(|row| vec![row]));

    let permits = Arc::new(Semaphore::new(APPS_AT_ONCE));
    let mut running = JoinSet::new();
    for group in groups {
        let permits = permits.clone();
        running.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is open");
            let mut world = World::build().await;
            let mut done = Vec::new();
            for (index, row) in group {
                done.push((index, world.run(&row).await));
            }
            done
        });
    }
    let mut failures = vec![Vec::new(); rows.len()];
    while let Some(done) = running.join_next().await {
        for (index, row_failures) in done.expect("a group of rows ran to its end") {
            failures[index] = row_failures;
        }
    }
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    let cells = rows.len() * CALLERS.len();
    eprintln!(
        "authorization matrix: {} rows, {cells} cells, {} failed, in {:.1?}",
        rows.len(),
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ from the matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Whether a row would change what the rows after it meet: it ends the callers'
/// sessions (logout, password change, deactivating patient A), logs in (every login
/// purges expired sessions, which would leave the `exp` column nothing to expire), or
/// moves the clock and uses up the day's few slots (`due:`, `in:`).
fn needs_own_app(row: &Row) -> bool {
    matches!(row.setup, Setup::Due | Setup::CheckedIn | Setup::Recorded)
        || matches!(row.body, "password" | "deactivate")
        || matches!(
            row.template.as_str(),
            "/api/v1/auth/login"
                | "/api/v1/auth/logout"
                // A closed conversation takes no more messages.
                | "/api/v1/conversations/{id}/close"
        )
}

/// A status, its content type and its body (left unread for an event stream, which
/// never ends).
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    /// Every answer outside 2xx is a problem document about itself.
    fn check_problem(&self) -> Result<(), String> {
        if (200..300).contains(&self.status) {
            return Ok(());
        }
        if self.content_type != "application/problem+json" {
            return Err(format!(
                "a {} answer is {:?}, not application/problem+json: {}",
                self.status, self.content_type, self.body
            ));
        }
        let problem: Value = serde_json::from_str(&self.body)
            .map_err(|e| format!("the problem document is not JSON ({e}): {}", self.body))?;
        let typed = problem["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/"));
        if problem["status"] != self.status || !typed {
            return Err(format!(
                "the problem document does not describe a {}: {}",
                self.status, self.body
            ));
        }
        Ok(())
    }
}

async fn call(caller: &Api, method: Method, path: &str, body: Option<&Value>) -> Answer {
    let mut request = caller
        .request(method.clone(), path)
        .timeout(Duration::from_secs(20));
    if let Some(file_name) = body
        .and_then(|b| b.get(UPLOAD_MARKER))
        .and_then(Value::as_str)
    {
        let boundary = "matrix-upload-boundary";
        let mut multipart = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\r\n"
        )
        .into_bytes();
        if file_name.ends_with(".png") {
            multipart.extend_from_slice(&uploaded_png());
        } else {
            multipart.extend_from_slice(UPLOADED_PDF);
        }
        multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        request = request
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(multipart);
    } else if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: the server answers: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = if content_type.starts_with("text/event-stream") {
        // Live events: the status and headers are the answer; dropping the
        // response ends the stream.
        String::new()
    } else {
        response.text().await.unwrap_or_default()
    };
    Answer {
        status,
        content_type,
        body,
    }
}

/// The subject made for one cell by its row's setup.
#[derive(Default)]
struct Subject {
    appointment: Option<String>,
    /// The doctor of `appointment`.
    doctor: Option<Doc>,
    time_off: Option<String>,
    pending_doctor: Option<String>,
    /// The visit record of `appointment`.
    record: Option<String>,
    prescription: Option<String>,
    feedback: Option<String>,
    attachment: Option<String>,
}

/// A running app with the fixtures every row shares.
struct World {
    app: TestApp,
    admin: User,
    a: User,
    b: User,
    x: User,
    y: User,
    /// In the order of [`CALLERS`].
    callers: [Api; 9],
    specialty: String,
    appointment_ax: String,
    appointment_by: String,
    /// Patient A's welcome notification.
    notification_a: String,
    /// A's visit with X today, checked in; the prescription X issued for it.
    seen_ax: String,
    prescription_ax: String,
    /// A's completed visits with X today: not rated, and rated (`feedback_ax`).
    done_ax: String,
    rated_ax: String,
    feedback_ax: String,
    /// The conversation of A and X.
    conversation_ax: String,
    /// Free slots of X and Y from next Tuesday on, and of X later on the day of `NOW`.
    slots_x: VecDeque<String>,
    slots_y: VecDeque<String>,
    today_x: VecDeque<String>,
    /// Specialties made so far, to name the next one.
    made: usize,
}

impl World {
    async fn build() -> World {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        let x = app.create_doctor("Xaver Exe").await;
        let y = app.create_doctor("Yvonne Why").await;
        let rec = app.create_receptionist().await;
        let a = app.register_patient("Alice Ay").await;
        let b = app.register_patient("Bob Bee").await;
        let deactivated = app.register_patient("Dana Deactivated").await;
        // The token works until the deactivation: that is what the column tests.
        deactivated.get("/api/v1/me").await.assert_status(200);
        admin
            .patch(
                &format!("/api/v1/users/{}", deactivated.id),
                &json!({ "active": false }),
            )
            .await
            .assert_status(200);
        let specialty = admin
            .post("/api/v1/specialties", &json!({ "name": "Cardiology" }))
            .await
            .assert_status(201)
            .str("id")
            .to_owned();
        x.post(
            &format!("/api/v1/doctors/{}/time-off", x.id),
            &json!({
                "start": "2026-04-13T00:00:00Z",
                "end": "2026-04-14T00:00:00Z",
                "reason": "Congress",
            }),
        )
        .await
        .assert_status(201);
        let appointment_ax = app.booked(&a, &x.id, TUE_0900).await;
        let appointment_by = app.booked(&b, &y.id, TUE_0900).await;
        let conversation_ax = a
            .post("/api/v1/conversations", &json!({ "doctor_id": x.id }))
            .await
            .assert_status(200)
            .str("id")
            .to_owned();
        let slots_x = app.slot_starts(&x.id, "2026-03-03", "2026-03-13").await;
        let slots_y = app.slot_starts(&y.id, "2026-03-03", "2026-03-13").await;
        let mut today_x: VecDeque<String> = app
            .slot_starts(&x.id, "2026-03-02", "2026-03-02")
            .await
            .into();
        // Visits of A with X today, seen in the evening: one checked in with a
        // prescription, two completed, one of them rated. The slots come off the
        // end of the day's list, which the `due:`/`in:` setups take from the front.
        let mut today_visit = || today_x.pop_back().expect("a free slot today");
        let (seen_at, done_at, rated_at) = (today_visit(), today_visit(), today_visit());
        let mut visits = Vec::new();
        for start in [&seen_at, &done_at, &rated_at] {
            let booked = admin
                .post(
                    "/api/v1/appointments",
                    &json!({ "doctor_id": x.id, "start": start, "patient_id": a.id }),
                )
                .await;
            visits.push(booked.assert_status(201).str("id").to_owned());
        }
        app.set_clock(EVENING);
        for (i, visit) in visits.iter().enumerate() {
            admin.act(visit, "confirm").await.assert_status(200);
            admin.act(visit, "check-in").await.assert_status(200);
            if i > 0 {
                admin.act(visit, "complete").await.assert_status(200);
            }
        }
        let (seen_ax, done_ax, rated_ax) =
            (visits[0].clone(), visits[1].clone(), visits[2].clone());
        let prescription_ax = x
            .post(
                &format!("/api/v1/appointments/{seen_ax}/prescriptions"),
                &prescription_body(),
            )
            .await
            .assert_status(201)
            .str("id")
            .to_owned();
        let feedback_ax = a
            .post(
                &format!("/api/v1/appointments/{rated_ax}/feedback"),
                &json!({ "rating": 5, "comment": "Very kind." }),
            )
            .await
            .assert_status(201)
            .str("id")
            .to_owned();
        app.set_clock(NOW);
        let notifications = a.get("/api/v1/notifications?limit=100").await;
        notifications.assert_status(200);
        let notification_a = notifications.items().last().expect("A was welcomed")["id"]
            .as_str()
            .expect("an id")
            .to_owned();

        // Last, so that no later login purges the expired session: log in 24 h + 1 s
        // before NOW, then move the clock on to NOW.
        let lifetime = SignedDuration::from_hours(24) + SignedDuration::from_secs(1);
        app.clock.set(ts(NOW) - lifetime);
        let expired = app.register_patient("Eve Expired").await;
        expired.get("/api/v1/me").await.assert_status(200);
        app.advance_clock(lifetime);
        assert_eq!(app.app.now(), ts(NOW));

        let callers = [
            app.anon(),
            a.api.clone(),
            b.api.clone(),
            x.api.clone(),
            y.api.clone(),
            rec.api.clone(),
            admin.api.clone(),
            deactivated.api.clone(),
            expired.api.clone(),
        ];
        World {
            app,
            admin,
            a,
            b,
            x,
            y,
            callers,
            specialty,
            appointment_ax,
            appointment_by,
            notification_a,
            seen_ax,
            prescription_ax,
            done_ax,
            rated_ax,
            feedback_ax,
            conversation_ax,
            slots_x: slots_x.into(),
            slots_y: slots_y.into(),
            today_x,
            made: 0,
        }
    }

    /// Runs one row: each caller in turn, each on a freshly made subject. Returns a
    /// line per cell that differs from the matrix.
    async fn run(&mut self, row: &Row) -> Vec<String> {
        let mut failures = Vec::new();
        for (column, &expected) in row.expect.iter().enumerate() {
            let subject = self.prepare(row.setup).await;
            let path = self.fill(&row.path, &subject);
            let body = self.body(row.body, &subject);
            let caller = self.callers[column].clone();
            let answer = call(&caller, row.method.clone(), &path, body.as_ref()).await;
            let cell = format!("{} as {}", row.label(), CALLERS[column]);
            if answer.status != expected {
                failures.push(format!(
                    "{cell}: expected {expected}, got {} {}",
                    answer.status, answer.body
                ));
            } else if let Err(problem) = answer.check_problem() {
                failures.push(format!("{cell}: {problem}"));
            }
        }
        failures
    }

    fn doctor(&self, doc: Doc) -> &User {
        match doc {
            Doc::X => &self.x,
            Doc::Y => &self.y,
        }
    }

    fn next_slot(&mut self, doc: Doc) -> String {
        let slots = match doc {
            Doc::X => &mut self.slots_x,
            Doc::Y => &mut self.slots_y,
        };
        slots.pop_front().expect("a free slot left")
    }

    /// Books a slot for the pair's patient (as the admin) and returns the id.
    async fn book(&self, patient: &User, doc: Doc, start: &str) -> String {
        self.admin
            .post(
                "/api/v1/appointments",
                &json!({
                    "doctor_id": self.doctor(doc).id,
                    "start": start,
                    "patient_id": patient.id,
                }),
            )
            .await
            .assert_status(201)
            .str("id")
            .to_owned()
    }

    /// Makes the subject of one cell. The clock is at `NOW` afterwards, except for
    /// the appointments of today that have started (`EVENING`).
    async fn prepare(&mut self, setup: Setup) -> Subject {
        self.app.set_clock(NOW);
        let mut subject = Subject::default();
        match setup {
            Setup::None => {}
            Setup::Pending => {
                let email = self.app.email_for("Pia Pending");
                let id = self
                    .app
                    .register(json!({
                        "email": email, "password": PASSWORD, "name": "Pia Pending",
                        "role": "doctor",
                    }))
                    .await
                    .assert_status(201)
                    .str("id")
                    .to_owned();
                subject.pending_doctor = Some(id);
            }
            Setup::Attachment => {
                let id = self
                    .a
                    .upload(
                        &format!("/api/v1/patients/{}/attachments", self.a.id),
                        "labs.pdf",
                        UPLOADED_PDF,
                    )
                    .await
                    .assert_status(201)
                    .str("id")
                    .to_owned();
                subject.attachment = Some(id);
            }
            Setup::Photo(who) => {
                let user = match who {
                    Photographed::A => &self.a,
                    Photographed::X => &self.x,
                };
                user.api
                    .upload_with(Method::PUT, "/api/v1/me/photo", "me.png", &uploaded_png())
                    .await
                    .assert_status(200);
            }
            Setup::TimeOff(doc) => {
                let id = self
                    .admin
                    .post(
                        &format!("/api/v1/doctors/{}/time-off", self.doctor(doc).id),
                        &json!({ "start": "2026-04-27T00:00:00Z", "end": "2026-04-28T00:00:00Z" }),
                    )
                    .await
                    .assert_status(201)
                    .str("id")
                    .to_owned();
                subject.time_off = Some(id);
            }
            Setup::Fixture(pair) => {
                let (id, doc) = match pair {
                    Pair::AX => (self.appointment_ax.clone(), Doc::X),
                    Pair::BY => (self.appointment_by.clone(), Doc::Y),
                };
                subject.appointment = Some(id);
                subject.doctor = Some(doc);
            }
            Setup::Requested(pair) => {
                let (patient, doc) = match pair {
                    Pair::AX => (self.a.clone(), Doc::X),
                    Pair::BY => (self.b.clone(), Doc::Y),
                };
                let start = self.next_slot(doc);
                subject.appointment = Some(self.book(&patient, doc, &start).await);
                subject.doctor = Some(doc);
            }
            Setup::Due | Setup::CheckedIn | Setup::Recorded => {
                let start = self.today_x.pop_front().expect("a free slot today");
                let id = self.book(&self.a, Doc::X, &start).await;
                self.app.set_clock(EVENING);
                self.admin.act(&id, "confirm").await.assert_status(200);
                if setup != Setup::Due {
                    self.admin.act(&id, "check-in").await.assert_status(200);
                }
                if setup == Setup::Recorded {
                    let record = self
                        .x
                        .post(
                            &format!("/api/v1/appointments/{id}/record"),
                            &json!({ "diagnosis": "Common cold", "icd10_code": "J00" }),
                        )
                        .await
                        .assert_status(201)
                        .str("id")
                        .to_owned();
                    subject.record = Some(record);
                }
                subject.appointment = Some(id);
                subject.doctor = Some(Doc::X);
            }
            Setup::Seen => {
                subject.appointment = Some(self.seen_ax.clone());
                subject.doctor = Some(Doc::X);
            }
            Setup::Prescription => subject.prescription = Some(self.prescription_ax.clone()),
            Setup::NewPrescription => {
                let id = self
                    .x
                    .post(
                        &format!("/api/v1/appointments/{}/prescriptions", self.seen_ax),
                        &prescription_body(),
                    )
                    .await
                    .assert_status(201)
                    .str("id")
                    .to_owned();
                subject.prescription = Some(id);
            }
            Setup::Done => {
                subject.appointment = Some(self.done_ax.clone());
                subject.doctor = Some(Doc::X);
            }
            Setup::Rated => {
                subject.appointment = Some(self.rated_ax.clone());
                subject.doctor = Some(Doc::X);
                subject.feedback = Some(self.feedback_ax.clone());
            }
        }
        subject
    }

    /// The row's path with each binding replaced by its id.
    fn fill(&self, path: &str, subject: &Subject) -> String {
        let mut filled = String::new();
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').expect("a closing brace");
            let (_, name) = rest[open + 1..close]
                .split_once('=')
                .unwrap_or_else(|| panic!("{path}: every parameter is bound"));
            let value = match name {
                "A" => self.a.id.clone(),
                "B" => self.b.id.clone(),
                "X" => self.x.id.clone(),
                "Y" => self.y.id.clone(),
                "nobody" => NOBODY.to_owned(),
                "P" => subject.pending_doctor.clone().expect("setup `pending`"),
                "apt" => subject.appointment.clone().expect("an appointment setup"),
                "off" => subject.time_off.clone().expect("a time-off setup"),
                "rec" => subject.record.clone().expect("a record setup"),
                "ntfA" => self.notification_a.clone(),
                "rx" => subject.prescription.clone().expect("a prescription setup"),
                "fbk" => subject.feedback.clone().expect("setup `rated:A-X`"),
                "cnvAX" => self.conversation_ax.clone(),
                "att" => subject.attachment.clone().expect("setup `att:A`"),
                other => panic!("{path}: unknown binding {other:?}"),
            };
            filled.push_str(&rest[..open]);
            filled.push_str(&value);
            rest = &rest[close + 1..];
        }
        filled.push_str(rest);
        filled
    }

    fn body(&mut self, name: &str, subject: &Subject) -> Option<Value> {
        let new_account = |world: &World, role: &str| {
            let email = world.app.email_for("Newt Account");
            json!({ "email": email, "password": PASSWORD, "name": "Newt Account", "role": role })
        };
        Some(match name {
            "-" => return None,
            // Sent as multipart/form-data by `call`.
            "file" => json!({ UPLOAD_MARKER: "labs.pdf" }),
            "photo" => json!({ UPLOAD_MARKER: "me.png" }),
            "register" => {
                let email = self.app.email_for("Reggie Stered");
                json!({ "email": email, "password": PASSWORD, "name": "Reggie Stered" })
            }
            "login" => json!({ "email": self.a.email, "password": PASSWORD }),
            "password" => json!({
                "current_password": PASSWORD,
                "new_password": "an entirely new passphrase",
            }),
            "patient" => new_account(self, "patient"),
            "doctor" => new_account(self, "doctor"),
            "rename" => json!({ "name": "Renamed Person" }),
            "deactivate" => json!({ "active": false }),
            "specialty" => {
                self.made += 1;
                json!({ "name": format!("Specialty {}", self.made) })
            }
            "profile" => json!({
                "bio": "Sees patients on weekdays.",
                "specialty_ids": [self.specialty],
            }),
            "schedule" => default_schedule(),
            "time-off" => json!({
                "start": "2026-04-20T00:00:00Z",
                "end": "2026-04-21T00:00:00Z",
                "reason": "Training",
            }),
            "prefs" => json!({ "email_enabled": true, "sms_enabled": false }),
            "reset" => json!({ "email": self.app.email_for("Rhea Set") }),
            "reset-token" => json!({
                "token": "not-a-token-we-sent",
                "new_password": "an entirely new passphrase",
            }),
            "verify-token" => json!({ "token": "not-a-token-we-sent" }),
            "otp" => json!({ "otp": "000000" }),
            "disable" => json!({ "password": PASSWORD, "otp": "000000" }),
            "record" => json!({
                "symptoms": "Sore throat",
                "diagnosis": "Common cold",
                "vitals": { "temperature_c": 37.8 },
            }),
            "amend" => json!({
                "base_version": 1,
                "reason": "Coded the diagnosis",
                "icd10_code": "J06.9",
            }),
            "summary" => json!({ "allergies": ["Penicillin"], "blood_group": "O+" }),
            "chat-X" => json!({ "doctor_id": self.x.id }),
            "chat-A" => json!({ "patient_id": self.a.id }),
            "message" => {
                self.made += 1;
                json!({ "client_id": format!("m{}", self.made), "text": "Hello" })
            }
            "book-A" => json!({
                "doctor_id": self.x.id,
                "start": self.next_slot(Doc::X),
                "patient_id": self.a.id,
            }),
            "book-B" => json!({
                "doctor_id": self.y.id,
                "start": self.next_slot(Doc::Y),
                "patient_id": self.b.id,
            }),
            "reschedule" => {
                let doc = subject.doctor.expect("an appointment setup");
                json!({ "start": self.next_slot(doc) })
            }
            "rx" => prescription_body(),
            "revoke" => json!({ "reason": "Issued in error" }),
            "rate" => json!({ "rating": 4, "comment": "Good visit." }),
            "rate-edit" => json!({ "rating": 3 }),
            "reply" => json!({ "reply": "Thank you." }),
            "hide" => json!({ "reason": "Abusive" }),
            "desk-pay" => json!({ "method": "cash", "amount_minor": 6000, "currency": "EUR" }),
            other => panic!("no body named {other:?}"),
        })
    }
}

fn prescription_body() -> Value {
    json!({ "lines": [{
        "name": "Ibuprofen", "strength": "400 mg", "dose": "1 tablet",
        "frequency": "3 times a day", "duration_days": 5,
    }] })
}
