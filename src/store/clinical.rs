//! What clinical records keep: visit records and their versions, the health summary's
//! versions, and the log of every read of clinical data. Clinical content is stored
//! as one JSON document per version; the store never looks inside it.

use jiff::Timestamp;

use super::{AppointmentId, PageRequest, Role, StoreResult, UserId};

/// One read of a patient's clinical data.
#[derive(Debug, Clone, PartialEq)]
pub struct NewClinicalRead {
    pub at: Timestamp,
    pub actor_id: UserId,
    pub actor_role: Role,
    pub patient_id: UserId,
    /// `record`, `record_versions`, `summary`, `prescription`, `attachment`, ...
    pub subject_kind: String,
    pub subject_id: String,
    /// Present for an admin's break-glass read.
    pub break_glass_reason: Option<String>,
}

/// A stored read, with the reader's name as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct ClinicalRead {
    pub id: i64,
    pub read: NewClinicalRead,
    pub actor_name: String,
}

/// A visit record: the appointment it belongs to, its author and latest version.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub id: String,
    pub appointment_id: AppointmentId,
    pub patient_id: UserId,
    pub author_id: UserId,
    /// The latest version's number (the first is 1).
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A record as lists show it: no clinical field.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordEntry {
    pub record: RecordRow,
    pub author_name: String,
    /// When the visit started.
    pub visit_start: Timestamp,
}

/// One version of a record (never changed once written).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordVersion {
    pub record_id: String,
    pub version: i64,
    pub at: Timestamp,
    pub author_id: UserId,
    /// Why it was amended; `None` for the first version.
    pub reason: Option<String>,
    /// The clinical content, JSON.
    pub content: String,
}

/// A version with the author's name, for reading.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordVersionView {
    pub version: RecordVersion,
    pub author_name: String,
}

/// One version of a patient's health summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryVersion {
    pub patient_id: UserId,
    pub version: i64,
    pub at: Timestamp,
    pub author_id: UserId,
    pub author_role: Role,
    /// `stated` (by the patient), `confirmed` or `corrected` (by a doctor).
    pub kind: String,
    pub note: Option<String>,
    /// The summary, JSON.
    pub content: String,
    /// Read only: the author's name.
    pub author_name: String,
}

pub trait ClinicalTx {
    /// Whether `doctor` and `patient` have an appointment that makes a care
    /// relationship (live, checked in or completed: see
    /// `AppointmentStatus::makes_care_relationship`). Like [`super::Tx::have_met`],
    /// but not counting rejected, cancelled and no-show appointments.
    fn care_relationship(&mut self, doctor: &UserId, patient: &UserId) -> StoreResult<bool>;

    fn insert_clinical_read(&mut self, read: &NewClinicalRead) -> StoreResult<()>;
    /// The reads of `patient`'s data, newest first (cursor: the id).
    fn list_clinical_reads(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<ClinicalRead>>;

    /// Inserts the record and its first version; an appointment that has a record
    /// already is a `Conflict::RecordExists`.
    fn insert_record(&mut self, record: &RecordRow, first: &RecordVersion) -> StoreResult<()>;
    fn find_record(&mut self, id: &str) -> StoreResult<Option<RecordRow>>;
    fn find_record_of_appointment(
        &mut self,
        appointment: &AppointmentId,
    ) -> StoreResult<Option<RecordRow>>;
    /// Adds `version` as the record's next version if the record's latest is still
    /// `version.version - 1`; otherwise nothing is written and it is a
    /// `Conflict::StaleVersion` (two amendments of one version: one wins).
    fn append_record_version(&mut self, version: &RecordVersion) -> StoreResult<()>;
    /// Every version, oldest first.
    fn record_versions(&mut self, record: &str) -> StoreResult<Vec<RecordVersionView>>;
    /// `patient`'s records, newest visit first (cursor: visit start, id).
    fn list_patient_records(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<RecordEntry>>;

    /// Adds the summary's next version; a version number already taken is a
    /// `Conflict::StaleVersion`.
    fn insert_summary_version(&mut self, version: &SummaryVersion) -> StoreResult<()>;
    /// Every version of `patient`'s summary, oldest first.
    fn summary_versions(&mut self, patient: &UserId) -> StoreResult<Vec<SummaryVersion>>;
}
