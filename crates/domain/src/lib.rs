//! carebook's rules as plain data and pure functions.
//!
//! Nothing in this crate does I/O, knows HTTP or SQL, or is async: the `app` layer
//! feeds it facts read from the store and the current instant, and stores what it
//! decides. That keeps every rule testable as a table.
#![forbid(unsafe_code)]

pub mod appointment;
pub mod attachment;
pub mod day_index;
pub mod feedback;
pub mod ids;
pub mod payment;
pub mod policy;
pub mod prescription;
pub mod record;
pub mod role;
pub mod schedule;
pub mod time;
pub mod validation;
pub mod video;

pub use appointment::{AppointmentStatus, Transition, TransitionError};
pub use day_index::DayIndex;
pub use ids::{AppointmentId, PaymentId, SpecialtyId, TimeOffId, UserId};
pub use payment::{PaymentMethod, PaymentMode, PaymentStatus};
pub use policy::{Action, Actor, Denied, Subject, authorize};
pub use role::{Role, UserStatus};
pub use schedule::{BookingRules, Schedule, SlotGrid, SlotRefusal, WeeklyInterval};
pub use time::Interval;
pub use validation::{FieldError, ValidationErrors};
pub use video::VisitMode;
