//! What prescriptions and visit feedback keep (migration 0006).

pub use carebook_domain::feedback::FeedbackId;
use carebook_domain::prescription::MedicationLine;
pub use carebook_domain::prescription::PrescriptionId;
use jiff::Timestamp;

use super::{AppointmentId, PageRequest, StoreResult, UserId};

#[derive(Debug, Clone, PartialEq)]
pub struct PrescriptionRecord {
    pub id: PrescriptionId,
    pub appointment_id: AppointmentId,
    pub patient_id: UserId,
    pub doctor_id: UserId,
    pub lines: Vec<MedicationLine>,
    pub notes: Option<String>,
    pub issued_at: Timestamp,
    /// When it becomes `completed` unless revoked first (see
    /// `carebook_domain::prescription::completes_at`).
    pub completes_at: Timestamp,
    /// SHA-256 (hex) of the normalised verification code.
    pub verify_hash: String,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
}

/// A prescription with the names people see.
#[derive(Debug, Clone, PartialEq)]
pub struct PrescriptionView {
    pub record: PrescriptionRecord,
    pub doctor_name: String,
    pub patient_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRecord {
    pub id: FeedbackId,
    pub appointment_id: AppointmentId,
    pub patient_id: UserId,
    pub doctor_id: UserId,
    pub rating: i64,
    pub comment: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub reply: Option<String>,
    pub replied_at: Option<Timestamp>,
    pub hidden_at: Option<Timestamp>,
    pub hidden_by: Option<UserId>,
    pub hidden_reason: Option<String>,
}

/// A doctor's rating totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RatingTotals {
    pub count: i64,
    pub sum: i64,
}

pub trait PrescriptionTx {
    /// Stores a new prescription with the PDF rendered for it (base64).
    fn insert_prescription(&mut self, record: &PrescriptionRecord, pdf: &str) -> StoreResult<()>;
    fn find_prescription(&mut self, id: &PrescriptionId) -> StoreResult<Option<PrescriptionView>>;
    fn find_prescription_by_code(
        &mut self,
        verify_hash: &str,
    ) -> StoreResult<Option<PrescriptionRecord>>;
    /// The PDF as rendered at issue (base64).
    fn prescription_pdf(&mut self, id: &PrescriptionId) -> StoreResult<Option<String>>;
    /// The patient's prescriptions, newest first; the cursor's key is the issue
    /// instant in milliseconds.
    fn list_prescriptions(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<PrescriptionView>>;
    /// Marks it revoked unless it already is: `false` then, and nothing written.
    fn revoke_prescription(
        &mut self,
        id: &PrescriptionId,
        at: Timestamp,
        reason: &str,
    ) -> StoreResult<bool>;
    /// Inserts it unless the appointment has feedback already: `false` then.
    fn insert_feedback(&mut self, feedback: &FeedbackRecord) -> StoreResult<bool>;
    /// Inside a write on PostgreSQL, locks the row until commit.
    fn find_feedback_of_appointment(
        &mut self,
        appointment: &AppointmentId,
    ) -> StoreResult<Option<FeedbackRecord>>;
    fn find_feedback(&mut self, id: &FeedbackId) -> StoreResult<Option<FeedbackRecord>>;
    /// Saves rating, comment and `updated_at`.
    fn update_feedback(&mut self, feedback: &FeedbackRecord) -> StoreResult<()>;
    /// Sets the reply unless there is one: `false` then.
    fn reply_to_feedback(
        &mut self,
        id: &FeedbackId,
        reply: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Hides the comment unless it is hidden: `false` then.
    fn hide_feedback(
        &mut self,
        id: &FeedbackId,
        by: &UserId,
        reason: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// A doctor's feedback, newest first; the cursor's key is the creation instant
    /// in milliseconds.
    fn list_feedback_of_doctor(
        &mut self,
        doctor: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<FeedbackRecord>>;
    /// Adds to a doctor's rating totals (creating them), in one statement.
    fn add_to_rating(&mut self, doctor: &UserId, count: i64, sum: i64) -> StoreResult<()>;
    /// The totals of each doctor named that has any.
    fn rating_totals(&mut self, doctors: &[UserId]) -> StoreResult<Vec<(UserId, RatingTotals)>>;
}
