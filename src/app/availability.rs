//! Availability from memory: each doctor's profile, rating, photo, schedule, time
//! off and live appointments, kept after the first read and updated from what every
//! commit changed (see [`crate::store::changes`]), here and, over PostgreSQL's
//! LISTEN/NOTIFY, in every other instance; and the directory search picks its
//! candidates from (every doctor's name, status and specialties), dropped by any
//! change other than an appointment's.
//!
//! The database stays the only guard against double booking: a stale copy can cost
//! a 409, never a second claim. Staleness is bounded anyway: every copy carries the
//! doctor's availability version, changes apply only in version order (a gap drops
//! the copy), a copy older than what was already heard is never installed, and
//! copies are reloaded after `max_age` whatever happens.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use carebook_domain::{DayIndex, SlotGrid, SlotRefusal};
use jiff::{SignedDuration, Timestamp};

use super::{App, AppError};
use crate::store::postgres::LISTEN_GAP;
use crate::store::{
    AVAILABILITY_CHANNEL, AppointmentId, AvailabilityChange, CommittedChanges, Cursor,
    DoctorRecord, Interval, ListedDoctor, RatingTotals, SpecialtyId, Store, StoreResult, Tx,
    UserId, UserStatus,
};

/// How far before "now" a copy reaches (an appointment is at most a day long, and
/// a day's window starts at its local midnight).
const LOOKBACK_HOURS: i64 = 48;
/// How far past the booking horizon a copy reaches, so that it still covers the
/// horizon for a while as time moves on.
const LOOKAHEAD_DAYS: i64 = 3;

/// One doctor's bookable time as of one committed version.
#[derive(Debug, Clone)]
pub struct DoctorAvailability {
    pub version: i64,
    /// Shared by the versions of a copy and the profiles made from them.
    pub doctor: Arc<DoctorRecord>,
    /// From completed visits' feedback; `None` before the first.
    pub rating: Option<RatingTotals>,
    /// The version of the doctor's photo, when they have one.
    pub photo_version: Option<String>,
    /// The card search and the profile send, rendered on first use; shared by the
    /// versions of a copy like `grid`, since what it shows drops the copy when it
    /// changes.
    pub card: super::CardMemo,
    /// The span whose time off and appointments this copy holds.
    covered: Interval,
    /// Time off overlapping `covered`, by start.
    time_off: Vec<Interval>,
    /// Live appointments overlapping `covered`, by start.
    busy: Vec<Busy>,
    /// Where each day's appointments begin in `busy`; rebuilt whenever `busy` changes.
    busy_days: DayIndex,
    /// The schedule's slot grid over `covered`, built on first use. It depends only
    /// on the schedule, which no version of one copy changes (a schedule change
    /// drops the copy), so the versions of a copy share it.
    grid: Arc<OnceLock<SlotGrid>>,
    loaded_at: Instant,
}

/// A live appointment's slot, compactly (a large clinic holds hundreds of thousands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Busy {
    start_ms: i64,
    end_ms: i64,
    /// A hash of the appointment's id: what a later change of it is matched by.
    key: u64,
}

fn key_of(id: &AppointmentId) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.as_str().hash(&mut hasher);
    hasher.finish()
}

const MS_PER_DAY: i64 = 24 * 3_600_000;

fn index_days(busy: &[Busy]) -> DayIndex {
    DayIndex::new(busy.iter().map(|b| b.start_ms), MS_PER_DAY)
}

fn instant(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX)
}

impl DoctorAvailability {
    /// Reads one doctor's availability in `tx` (one snapshot) over the span a copy
    /// holds (see [`DoctorAvailability::span`]), or over `window` alone when it lies
    /// outside that span (then the copy is not for keeping: the second value).
    /// `None` when there is no such doctor.
    pub(crate) fn load(
        tx: &mut dyn Tx,
        doctor_id: &UserId,
        now: Timestamp,
        window: Option<Interval>,
    ) -> StoreResult<Option<(DoctorAvailability, bool)>> {
        let Some(version) = tx.availability_version(doctor_id)? else {
            return Ok(None);
        };
        let Some(doctor) = tx.find_doctor(doctor_id)? else {
            return Ok(None);
        };
        let one = std::slice::from_ref(doctor_id);
        let rating = tx.rating_totals(one)?.into_iter().next().map(|(_, t)| t);
        let photo_version = tx.photo_versions(one)?.into_iter().next().map(|(_, v)| v);
        let span = DoctorAvailability::span(doctor.schedule.rules.horizon_days, now);
        let (covered, keep) = match window {
            Some(w) if !(span.start <= w.start && w.end <= span.end) => (w, false),
            _ => (span, true),
        };
        let time_off = tx
            .list_time_off(doctor_id, covered)?
            .into_iter()
            .map(|t| t.period)
            .collect();
        let mut busy: Vec<Busy> = tx
            .busy_slots(doctor_id, covered)?
            .into_iter()
            .map(|b| Busy {
                start_ms: b.slot.start.as_millisecond(),
                end_ms: b.slot.end.as_millisecond(),
                key: key_of(&b.appointment_id),
            })
            .collect();
        busy.sort_unstable_by_key(|b| (b.start_ms, b.key));
        let copy = DoctorAvailability {
            version,
            doctor: Arc::new(doctor),
            rating,
            photo_version,
            card: Arc::default(),
            covered,
            time_off,
            busy_days: index_days(&busy),
            busy,
            grid: Arc::default(),
            loaded_at: Instant::now(),
        };
        Ok(Some((copy, keep)))
    }

    /// The span a copy loaded at `now` holds: from a little before now to a little
    /// past the doctor's horizon.
    fn span(horizon_days: i64, now: Timestamp) -> Interval {
        let start = now - SignedDuration::from_hours(LOOKBACK_HOURS);
        let end = now + SignedDuration::from_hours(24 * (horizon_days.max(0) + LOOKAHEAD_DAYS));
        Interval::new(start, end).expect("a span that ends after it starts")
    }

    pub fn covers(&self, window: Interval) -> bool {
        self.covered.start <= window.start && window.end <= self.covered.end
    }

    /// Time off and live appointments overlapping `window` (which it must cover):
    /// what free slots avoid.
    pub fn busy_in(&self, window: Interval) -> Vec<Interval> {
        let (from, to) = (window.start.as_millisecond(), window.end.as_millisecond());
        let mut busy: Vec<Interval> = self
            .time_off
            .iter()
            .filter(|t| t.start < window.end && t.end > window.start)
            .copied()
            .collect();
        // Appointments are at most a day long: those starting more than a day before
        // the window cannot reach into it.
        let first = self
            .busy_days
            .partition_point(&self.busy, from - MS_PER_DAY, |b| b.start_ms);
        busy.extend(
            self.busy[first..]
                .iter()
                .take_while(|b| b.start_ms < to)
                .filter(|b| b.end_ms > from)
                .filter_map(|b| Interval::new(instant(b.start_ms), instant(b.end_ms))),
        );
        busy
    }

    fn grid(&self) -> &SlotGrid {
        self.grid
            .get_or_init(|| self.doctor.schedule.slot_grid(self.covered))
    }

    /// [`Schedule::check_bookable`] on the copy's grid.
    pub fn check_bookable(
        &self,
        start: Timestamp,
        busy: &[Interval],
        now: Timestamp,
    ) -> Result<Interval, SlotRefusal> {
        self.doctor
            .schedule
            .check_bookable_from(self.grid(), start, busy, now)
    }

    /// The free slots wholly inside `window`, from the copy's grid.
    pub fn free_slots(&self, window: Interval, now: Timestamp) -> Vec<Interval> {
        self.doctor
            .schedule
            .free_slots_from(self.grid(), window, &self.busy_in(window), now)
    }

    /// The first free slot at or after `from` and before `until` (default: the
    /// horizon), searched a week at a time.
    pub fn next_free_slot(
        &self,
        from: Timestamp,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<Interval> {
        let schedule = &self.doctor.schedule;
        let bookable = schedule.bookable_window(now);
        let mut start = from.max(bookable.start);
        // The horizon bounds slot starts; one slot length past it covers the last slot.
        let limit = until.unwrap_or(bookable.end + schedule.slot_length());
        while start < limit {
            let end = (start + SignedDuration::from_hours(24 * 7)).min(limit);
            // Most often the first day has a free slot: look there before gathering a
            // week's busy time. All slots have one length, so the first slot wholly
            // inside the day is also the first of the week.
            let day = (start + SignedDuration::from_hours(24)).min(end);
            for probe in [day, end] {
                let window = Interval::new(start, probe)?;
                if let Some(slot) =
                    schedule.first_free_slot(self.grid(), window, &self.busy_in(window), now)
                {
                    return Some(slot);
                }
                if probe == end {
                    break;
                }
            }
            start = end;
        }
        None
    }

    /// This copy with the changes of `change` (the next version) applied.
    fn with(&self, change: &AvailabilityChange) -> Option<DoctorAvailability> {
        let appointments = change.appointments.as_ref()?;
        let mut next = self.clone();
        next.version = change.version;
        // The day index follows each entry in and out; building it again over the
        // copy's thousand entries was a thirtieth of the writer's time.
        let mut index_kept = true;
        for moved in appointments {
            let key = key_of(&moved.appointment_id);
            while let Some(at) = next.busy.iter().position(|b| b.key == key) {
                let gone = next.busy.remove(at);
                index_kept &= next.busy_days.note_removed(gone.start_ms);
            }
            if let Some(slot) = moved.slot {
                let busy = Busy {
                    start_ms: slot.start.as_millisecond(),
                    end_ms: slot.end.as_millisecond(),
                    key,
                };
                let at = next
                    .busy
                    .partition_point(|b| (b.start_ms, b.key) < (busy.start_ms, busy.key));
                next.busy.insert(at, busy);
                index_kept &= next.busy_days.note_inserted(at, busy.start_ms);
            }
        }
        if !index_kept {
            next.busy_days = index_days(&next.busy);
        }
        Some(next)
    }
}

/// Every doctor as search picks candidates, by name then id.
#[derive(Debug)]
pub struct DoctorDirectory {
    doctors: Vec<ListedDoctor>,
    /// Each specialty's doctors, as positions in `doctors` (so in the same order).
    by_specialty: HashMap<SpecialtyId, Vec<usize>>,
    loaded_at: Instant,
}

impl DoctorDirectory {
    /// `doctors` ordered as [`ListedDoctor::fold`] orders them.
    pub fn new(doctors: Vec<ListedDoctor>) -> DoctorDirectory {
        let mut by_specialty: HashMap<SpecialtyId, Vec<usize>> = HashMap::new();
        for (at, doctor) in doctors.iter().enumerate() {
            for specialty in &doctor.specialty_ids {
                by_specialty.entry(specialty.clone()).or_default().push(at);
            }
        }
        DoctorDirectory {
            doctors,
            by_specialty,
            loaded_at: Instant::now(),
        }
    }

    /// The doctors a search without text lists after `after`, in order: those of
    /// `specialty` (every doctor without one), only the active ones if `only_active`.
    pub fn candidates<'a>(
        &'a self,
        specialty: Option<&SpecialtyId>,
        only_active: bool,
        after: Option<&Cursor>,
    ) -> impl Iterator<Item = &'a ListedDoctor> + Send + 'a {
        // Names and ids compare byte for byte, as the stores order them.
        let listed_by = |d: &ListedDoctor| {
            after.is_some_and(|c| (d.name.as_str(), d.id.as_str()) <= (&c.key, &c.id))
        };
        let listed: Box<dyn Iterator<Item = &'a ListedDoctor> + Send + 'a> = match specialty {
            Some(specialty) => {
                let positions = self
                    .by_specialty
                    .get(specialty)
                    .map_or(&[][..], Vec::as_slice);
                let start = positions.partition_point(|&at| listed_by(&self.doctors[at]));
                Box::new(positions[start..].iter().map(|&at| &self.doctors[at]))
            }
            None => {
                let start = self.doctors.partition_point(listed_by);
                Box::new(self.doctors[start..].iter())
            }
        };
        listed.filter(move |d| !only_active || d.status == UserStatus::Active)
    }
}

/// Keeps `cache` in step with every commit: this instance's, reported by the store,
/// and, on PostgreSQL, every instance's, heard over LISTEN (our own come back too,
/// and are recognised by their version). If the channel cannot be heard, the cache
/// cannot know what other instances change, so it is turned off.
pub(crate) fn follow_commits(store: &Store, cache: &Arc<AvailabilityCache>) {
    if !cache.is_on() {
        return;
    }
    let following = cache.clone();
    store.observe(Arc::new(move |changes| following.apply(changes)));
    if store.backend() != "postgres" {
        return;
    }
    let heard = tokio::runtime::Handle::try_current()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            let payloads = store
                .listen(AVAILABILITY_CHANNEL)
                .map_err(|e| e.to_string())?;
            Ok((runtime, payloads))
        });
    let (runtime, mut payloads) = match heard {
        Ok(heard) => heard,
        Err(error) => {
            tracing::error!(%error, "cannot hear other instances' changes: availability is read from the database");
            cache.turn_off();
            return;
        }
    };
    let cache = cache.clone();
    runtime.spawn(async move {
        while let Some(payload) = payloads.recv().await {
            if payload == LISTEN_GAP {
                cache.forget_all();
                continue;
            }
            match serde_json::from_str::<CommittedChanges>(&payload) {
                Ok(changes) => cache.apply(&changes),
                Err(_) => {
                    tracing::warn!(
                        "a change this version does not understand: forgetting availability"
                    );
                    cache.forget_all();
                }
            }
        }
    });
}

impl App {
    /// `doctor`'s availability covering `window` (default: from a little before now
    /// to past the booking horizon), from memory when a copy is held, else read
    /// (and kept, when it is the usual span). `None`: no such doctor.
    pub(crate) async fn doctor_availability(
        &self,
        doctor: &UserId,
        window: Option<Interval>,
    ) -> Result<Option<Arc<DoctorAvailability>>, AppError> {
        if let Some(copy) = self.availability.get(doctor)
            && window.is_none_or(|w| copy.covers(w))
        {
            return Ok(Some(copy));
        }
        let (now, epoch, id) = (self.now(), self.availability.epoch(), doctor.clone());
        let loaded = self
            .store
            .read(move |tx| DoctorAvailability::load(tx, &id, now, window))
            .await?;
        Ok(loaded.map(|(copy, keep)| {
            if keep {
                self.availability.install(copy, epoch)
            } else {
                Arc::new(copy)
            }
        }))
    }
}

impl App {
    /// Every doctor as search picks candidates, from memory when held, else read
    /// (once, however many searches wait for it) and kept. `None` while the cache
    /// is off: then search reads its candidates from the database.
    pub(crate) async fn doctor_directory(&self) -> Result<Option<Arc<DoctorDirectory>>, AppError> {
        if !self.availability.is_on() {
            return Ok(None);
        }
        if let Some(held) = self.availability.directory() {
            return Ok(Some(held));
        }
        let _loading = self.availability.directory_load.lock().await;
        if let Some(held) = self.availability.directory() {
            return Ok(Some(held));
        }
        let epoch = self.availability.directory_epoch();
        let doctors = self.store.read(|tx| tx.list_doctor_directory()).await?;
        let directory = DoctorDirectory::new(doctors);
        Ok(Some(self.availability.keep_directory(directory, epoch)))
    }
}

/// The copies of every doctor's availability this instance has read.
pub struct AvailabilityCache {
    state: RwLock<State>,
    /// `None`: the cache is off and every read goes to the database.
    max_age: Option<Duration>,
    off: std::sync::atomic::AtomicBool,
    /// Held while the directory is read, so that searches waiting for it share one read.
    directory_load: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    doctors: HashMap<UserId, Arc<DoctorAvailability>>,
    /// The newest version heard of per doctor, kept when a copy is dropped, so that
    /// a load that read an older snapshot is not installed over it.
    heard: HashMap<UserId, i64>,
    /// Moves on when everything is forgotten: a load begun before is not installed.
    epoch: u64,
    directory: Option<Arc<DoctorDirectory>>,
    /// Moves on whenever the directory is dropped: a load begun before is not kept.
    directory_epoch: u64,
}

impl AvailabilityCache {
    /// `max_age` of zero turns the cache off.
    pub fn new(max_age: Duration) -> AvailabilityCache {
        AvailabilityCache {
            state: RwLock::default(),
            max_age: (!max_age.is_zero()).then_some(max_age),
            off: std::sync::atomic::AtomicBool::new(false),
            directory_load: tokio::sync::Mutex::new(()),
        }
    }

    pub fn is_on(&self) -> bool {
        self.max_age.is_some() && !self.off.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn turn_off(&self) {
        self.off.store(true, std::sync::atomic::Ordering::Relaxed);
        self.forget_all();
    }

    /// How long a copy is trusted, while the cache is on.
    fn trusted_for(&self) -> Option<Duration> {
        self.max_age.filter(|_| self.is_on())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The copy of `doctor`'s availability, if one is held and young enough.
    pub fn get(&self, doctor: &UserId) -> Option<Arc<DoctorAvailability>> {
        let max_age = self.trusted_for()?;
        self.read()
            .doctors
            .get(doctor)
            .filter(|copy| copy.loaded_at.elapsed() < max_age)
            .cloned()
    }

    /// The copy of `doctor` at exactly `version`, if held (whatever its age: a
    /// version is a fact, not a guess).
    pub fn at_version(&self, doctor: &UserId, version: i64) -> Option<Arc<DoctorAvailability>> {
        self.trusted_for()?;
        self.read()
            .doctors
            .get(doctor)
            .filter(|copy| copy.version == version)
            .cloned()
    }

    /// Where loads stand: pass it back to [`AvailabilityCache::install`].
    pub fn epoch(&self) -> u64 {
        self.read().epoch
    }

    /// Keeps `copy` unless something newer was heard of since the load began.
    pub fn install(&self, copy: DoctorAvailability, epoch: u64) -> Arc<DoctorAvailability> {
        let copy = Arc::new(copy);
        if self.trusted_for().is_none() {
            return copy;
        }
        let mut state = self.write();
        let doctor = &copy.doctor.user_id;
        let stale = state.epoch != epoch
            || state.heard.get(doctor).is_some_and(|&v| v > copy.version)
            || state
                .doctors
                .get(doctor)
                .is_some_and(|held| held.version > copy.version);
        if !stale {
            state.heard.insert(doctor.clone(), copy.version);
            state.doctors.insert(doctor.clone(), copy.clone());
        }
        copy
    }

    /// Follows what a commit (here or in another instance) changed.
    pub fn apply(&self, changes: &CommittedChanges) {
        if self.trusted_for().is_none() {
            return;
        }
        let mut state = self.write();
        if changes.everything {
            state.forget_all();
        }
        for change in &changes.doctors {
            let heard = state.heard.entry(change.doctor_id.clone()).or_insert(0);
            let news = change.version > *heard;
            *heard = (*heard).max(change.version);
            // A name, status or specialty may have changed: not worth telling apart
            // from hours or a rating, which change as rarely.
            if news && change.appointments.is_none() {
                state.forget_directory();
            }
            let Some(held) = state.doctors.get(&change.doctor_id) else {
                continue;
            };
            if change.version <= held.version {
                continue; // already seen (our own change, heard back)
            }
            let next = (change.version == held.version + 1)
                .then(|| held.with(change))
                .flatten();
            match next {
                Some(next) => {
                    state
                        .doctors
                        .insert(change.doctor_id.clone(), Arc::new(next));
                }
                None => {
                    state.doctors.remove(&change.doctor_id);
                }
            }
        }
    }

    /// The directory, if one is held and young enough.
    pub fn directory(&self) -> Option<Arc<DoctorDirectory>> {
        let max_age = self.trusted_for()?;
        self.read()
            .directory
            .as_ref()
            .filter(|held| held.loaded_at.elapsed() < max_age)
            .cloned()
    }

    /// Where directory loads stand: pass it back to [`AvailabilityCache::keep_directory`].
    pub fn directory_epoch(&self) -> u64 {
        self.read().directory_epoch
    }

    /// Keeps `directory` unless a change dropped the directory since its load began.
    pub fn keep_directory(&self, directory: DoctorDirectory, epoch: u64) -> Arc<DoctorDirectory> {
        let directory = Arc::new(directory);
        if self.trusted_for().is_some() {
            let mut state = self.write();
            if state.directory_epoch == epoch {
                state.directory = Some(directory.clone());
            }
        }
        directory
    }

    /// Drops every copy (changes may have been missed).
    pub fn forget_all(&self) {
        self.write().forget_all();
    }

    /// Copies held, and live appointments in them (for `/metrics`).
    pub fn size(&self) -> (usize, usize) {
        let state = self.read();
        let appointments = state.doctors.values().map(|d| d.busy.len()).sum();
        (state.doctors.len(), appointments)
    }
}

impl State {
    fn forget_all(&mut self) {
        self.doctors.clear();
        self.heard.clear();
        self.epoch += 1;
        self.forget_directory();
    }

    fn forget_directory(&mut self) {
        self.directory = None;
        self.directory_epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BusyChange;
    use crate::store::{Role, UserRecord, UserStatus};

    fn at(value: &str) -> Timestamp {
        value.parse().unwrap()
    }

    fn slot(start: &str, minutes: i64) -> Interval {
        let start = at(start);
        Interval::new(start, start + SignedDuration::from_mins(minutes)).unwrap()
    }

    fn copy(version: i64, busy: &[(&str, Interval)]) -> DoctorAvailability {
        let mut busy: Vec<Busy> = busy
            .iter()
            .map(|(id, s)| Busy {
                start_ms: s.start.as_millisecond(),
                end_ms: s.end.as_millisecond(),
                key: key_of(&AppointmentId::new(*id)),
            })
            .collect();
        busy.sort_unstable_by_key(|b| (b.start_ms, b.key));
        DoctorAvailability {
            version,
            doctor: Arc::new(DoctorRecord::new_for(
                &UserRecord {
                    id: UserId::new("usr_doc"),
                    email: "doc@clinic.test".into(),
                    name: "Dr Test".into(),
                    phone: None,
                    date_of_birth: None,
                    role: Role::Doctor,
                    status: UserStatus::Active,
                    password_hash: String::new(),
                    created_at: Timestamp::UNIX_EPOCH,
                    updated_at: Timestamp::UNIX_EPOCH,
                },
                jiff::tz::TimeZone::UTC,
            )),
            rating: None,
            photo_version: None,
            card: Arc::default(),
            covered: slot("2026-03-01T00:00:00Z", 60 * 24 * 30),
            time_off: Vec::new(),
            busy_days: index_days(&busy),
            busy,
            grid: Arc::default(),
            loaded_at: Instant::now(),
        }
    }

    fn change(version: i64, moves: &[(&str, Option<Interval>)]) -> CommittedChanges {
        CommittedChanges {
            everything: false,
            doctors: vec![AvailabilityChange {
                doctor_id: UserId::new("usr_doc"),
                version,
                appointments: Some(
                    moves
                        .iter()
                        .map(|(id, slot)| BusyChange {
                            appointment_id: AppointmentId::new(*id),
                            slot: *slot,
                        })
                        .collect(),
                ),
            }],
        }
    }

    fn busy_of(cache: &AvailabilityCache) -> Vec<Interval> {
        cache
            .get(&UserId::new("usr_doc"))
            .expect("a copy")
            .busy_in(slot("2026-03-01T00:00:00Z", 60 * 24 * 30))
    }

    fn cache() -> AvailabilityCache {
        AvailabilityCache::new(Duration::from_secs(60))
    }

    #[test]
    fn changes_apply_in_version_order_and_gaps_drop_the_copy() {
        let cache = cache();
        let nine = slot("2026-03-03T09:00:00Z", 30);
        let ten = slot("2026-03-03T10:00:00Z", 30);
        cache.install(copy(4, &[("apt_a", nine)]), cache.epoch());

        cache.apply(&change(5, &[("apt_b", Some(ten))]));
        assert_eq!(busy_of(&cache), vec![nine, ten]);

        // Heard twice (our own change, back from NOTIFY): no effect.
        cache.apply(&change(5, &[("apt_b", None)]));
        assert_eq!(busy_of(&cache), vec![nine, ten]);

        // A reschedule moves the appointment; a cancel releases it.
        cache.apply(&change(6, &[("apt_a", Some(ten.start.into_slot(30)))]));
        cache.apply(&change(7, &[("apt_b", None)]));
        assert_eq!(busy_of(&cache), vec![ten]);

        // Version 9 without 8: something was missed.
        cache.apply(&change(9, &[("apt_c", Some(nine))]));
        assert!(cache.get(&UserId::new("usr_doc")).is_none());
    }

    trait IntoSlot {
        fn into_slot(self, minutes: i64) -> Interval;
    }

    impl IntoSlot for Timestamp {
        fn into_slot(self, minutes: i64) -> Interval {
            Interval::new(self, self + SignedDuration::from_mins(minutes)).unwrap()
        }
    }

    #[test]
    fn a_load_older_than_what_was_heard_is_not_kept() {
        let cache = cache();
        let epoch = cache.epoch();
        // A change to version 8 is heard while a load of version 7 is under way.
        cache.apply(&change(8, &[]));
        let loaded = cache.install(copy(7, &[]), epoch);
        assert_eq!(loaded.version, 7, "the load still answers its own request");
        assert!(cache.get(&UserId::new("usr_doc")).is_none());
        cache.install(copy(8, &[]), epoch);
        assert_eq!(cache.get(&UserId::new("usr_doc")).unwrap().version, 8);
    }

    #[test]
    fn forgetting_everything_discards_loads_begun_before() {
        let cache = cache();
        let epoch = cache.epoch();
        cache.forget_all();
        cache.install(copy(3, &[]), epoch);
        assert!(cache.get(&UserId::new("usr_doc")).is_none());
        cache.install(copy(3, &[]), cache.epoch());
        assert!(cache.at_version(&UserId::new("usr_doc"), 3).is_some());
        assert!(cache.at_version(&UserId::new("usr_doc"), 2).is_none());
    }

    #[test]
    fn a_reload_change_drops_the_copy() {
        let cache = cache();
        cache.install(copy(1, &[]), cache.epoch());
        let mut reload = change(2, &[]);
        reload.doctors[0].appointments = None;
        cache.apply(&reload);
        assert!(cache.get(&UserId::new("usr_doc")).is_none());
    }

    #[test]
    fn a_zero_max_age_turns_the_cache_off() {
        let cache = AvailabilityCache::new(Duration::ZERO);
        cache.install(copy(1, &[]), cache.epoch());
        assert!(!cache.is_on());
        assert!(cache.get(&UserId::new("usr_doc")).is_none());
        assert!(cache.at_version(&UserId::new("usr_doc"), 1).is_none());
    }

    #[test]
    fn busy_time_is_found_by_day_after_changes() {
        let cache = cache();
        let third = slot("2026-03-03T09:00:00Z", 30);
        let first = slot("2026-03-01T09:00:00Z", 30);
        let tenth = slot("2026-03-10T09:00:00Z", 30);
        cache.install(copy(1, &[("apt_a", third)]), cache.epoch());
        cache.apply(&change(
            2,
            &[("apt_b", Some(tenth)), ("apt_c", Some(first))],
        ));
        let held = cache.get(&UserId::new("usr_doc")).expect("a copy");
        for day in [first, third, tenth] {
            let window = slot(&day.start.to_string(), 60);
            assert_eq!(held.busy_in(window), vec![day], "{day:?}");
        }
    }

    #[test]
    fn the_next_free_slot_is_the_first_free_slot_wherever_the_search_starts_and_ends() {
        // Slots of 45 minutes in New York (which moves its clocks on 8 March), mornings
        // and evenings, so that days in UTC cut through them; about two in three booked.
        let every_day = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        let hours = every_day
            .iter()
            .flat_map(|day| [(day, "08:00", "12:00"), (day, "19:00", "24:00")])
            .map(
                |(day, start, end)| carebook_domain::schedule::WeeklyIntervalInput {
                    day: (*day).to_owned(),
                    start: start.to_owned(),
                    end: end.to_owned(),
                },
            )
            .collect();
        let schedule =
            carebook_domain::Schedule::parse(&carebook_domain::schedule::ScheduleInput {
                time_zone: "America/New_York".into(),
                slot_minutes: 45,
                weekly_hours: hours,
                min_notice_minutes: 0,
                horizon_days: 20,
                auto_confirm: false,
                cancel_window_hours: 0,
            })
            .expect("a valid schedule");
        let now = at("2026-03-01T00:00:00Z");
        let mut open = copy(1, &[]);
        Arc::make_mut(&mut open.doctor).schedule = schedule;
        let month = slot("2026-03-01T00:00:00Z", 60 * 24 * 30);
        let mut seed = 7_u64;
        let booked: Vec<(String, Interval)> = open
            .free_slots(month, now)
            .into_iter()
            .enumerate()
            .filter(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                !(seed >> 33).is_multiple_of(3)
            })
            .map(|(i, slot)| (format!("apt_{i}"), slot))
            .collect();
        let booked: Vec<(&str, Interval)> =
            booked.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let mut held = copy(1, &booked);
        held.doctor = open.doctor.clone();
        let bookable_end = at("2026-03-21T00:00:00Z") + SignedDuration::from_mins(45);
        let mut checked = 0;
        for hour in (0..24 * 24).step_by(5) {
            let from = now + SignedDuration::from_hours(hour) + SignedDuration::from_mins(hour % 7);
            for until in [
                None,
                Some(from + SignedDuration::from_hours(3)),
                Some(from + SignedDuration::from_hours(30 + hour % 200)),
            ] {
                let limit = until.unwrap_or(bookable_end).min(bookable_end);
                let expected = Interval::new(from, limit)
                    .and_then(|window| held.free_slots(window, now).first().copied());
                assert_eq!(
                    held.next_free_slot(from, until, now),
                    expected,
                    "from {from} until {until:?}"
                );
                checked += usize::from(expected.is_some());
            }
        }
        assert!(checked > 100, "most searches find a slot: {checked}");
    }

    fn directory() -> DoctorDirectory {
        let row = |id: &str, name: &str, status: &str, specialty: Option<&str>| {
            (
                id.to_owned(),
                name.to_owned(),
                status.to_owned(),
                specialty.map(str::to_owned),
            )
        };
        // As the statement returns them: by id, a doctor's rows together.
        let doctors = ListedDoctor::fold([
            row("usr_a", "de Vries", "active", Some("spc_heart")),
            row("usr_b", "Zoe Zed", "active", Some("spc_heart")),
            row("usr_b", "Zoe Zed", "active", Some("spc_skin")),
            row("usr_c", "Anna Alt", "deactivated", Some("spc_heart")),
            row("usr_d", "Anna Alt", "active", None),
            row("usr_e", "Bea Berg", "active", Some("spc_skin")),
        ])
        .expect("valid rows");
        DoctorDirectory::new(doctors)
    }

    fn ids<'a>(listed: impl Iterator<Item = &'a ListedDoctor>) -> Vec<&'a str> {
        listed.map(|d| d.id.as_str()).collect()
    }

    #[test]
    fn the_directory_lists_doctors_by_name_then_id_byte_for_byte() {
        let directory = directory();
        // Capitals sort before small letters, as `COLLATE "C"` and SQLite's BINARY do.
        assert_eq!(
            ids(directory.candidates(None, false, None)),
            ["usr_c", "usr_d", "usr_e", "usr_b", "usr_a"]
        );
        assert_eq!(
            ids(directory.candidates(None, true, None)),
            ["usr_d", "usr_e", "usr_b", "usr_a"]
        );
        let heart = SpecialtyId::new("spc_heart");
        assert_eq!(
            ids(directory.candidates(Some(&heart), true, None)),
            ["usr_b", "usr_a"]
        );
        assert_eq!(
            ids(directory.candidates(Some(&SpecialtyId::new("spc_none")), false, None)),
            Vec::<&str>::new()
        );
        let zoe = directory
            .candidates(None, false, None)
            .find(|d| d.id.as_str() == "usr_b")
            .unwrap();
        assert_eq!(
            zoe.specialty_ids,
            [SpecialtyId::new("spc_heart"), SpecialtyId::new("spc_skin")]
        );
    }

    #[test]
    fn the_directory_resumes_after_a_cursor_even_one_no_doctor_holds_any_more() {
        let directory = directory();
        let after = |key: &str, id: &str| Cursor {
            key: key.to_owned(),
            id: id.to_owned(),
        };
        // Same name, next id.
        assert_eq!(
            ids(directory.candidates(None, false, Some(&after("Anna Alt", "usr_c")))),
            ["usr_d", "usr_e", "usr_b", "usr_a"]
        );
        // The last of a page was renamed since: resume where the old name stood.
        assert_eq!(
            ids(directory.candidates(None, false, Some(&after("Anna Zed", "usr_x")))),
            ["usr_e", "usr_b", "usr_a"]
        );
        let heart = SpecialtyId::new("spc_heart");
        assert_eq!(
            ids(directory.candidates(Some(&heart), false, Some(&after("Anna Alt", "usr_c")))),
            ["usr_b", "usr_a"]
        );
        assert_eq!(
            ids(directory.candidates(None, false, Some(&after("de Vries", "usr_a")))),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn the_directory_is_dropped_by_any_change_but_an_appointments() {
        let cache = cache();
        cache.keep_directory(directory(), cache.directory_epoch());
        cache.apply(&change(
            2,
            &[("apt_a", Some(slot("2026-03-03T09:00:00Z", 30)))],
        ));
        assert!(cache.directory().is_some(), "a booking changes no name");

        let mut reload = change(3, &[]);
        reload.doctors[0].appointments = None;
        cache.apply(&reload);
        assert!(cache.directory().is_none());

        // A load that began before a change is not kept: it may have read before it.
        let epoch = cache.directory_epoch();
        reload.doctors[0].version = 4;
        cache.apply(&reload);
        let loaded = cache.keep_directory(directory(), epoch);
        assert_eq!(loaded.doctors.len(), 5, "it still answers its own search");
        assert!(cache.directory().is_none());

        // Our own change heard back over NOTIFY drops nothing twice.
        cache.keep_directory(directory(), cache.directory_epoch());
        cache.apply(&reload);
        assert!(cache.directory().is_some());

        cache.forget_all();
        assert!(cache.directory().is_none());
        let off = AvailabilityCache::new(Duration::ZERO);
        off.keep_directory(directory(), off.directory_epoch());
        assert!(off.directory().is_none());
    }

    #[test]
    fn busy_time_is_what_overlaps_the_window() {
        let early = slot("2026-03-03T08:00:00Z", 30);
        let late = slot("2026-03-05T08:00:00Z", 30);
        let held = copy(1, &[("apt_a", early), ("apt_b", late)]);
        assert_eq!(
            held.busy_in(slot("2026-03-03T08:15:00Z", 60)),
            vec![early],
            "an appointment that started before the window still blocks it"
        );
        assert_eq!(held.busy_in(slot("2026-03-03T08:30:00Z", 60)), vec![]);
        assert_eq!(
            held.busy_in(slot("2026-03-03T00:00:00Z", 60 * 24 * 3)),
            vec![early, late]
        );
    }
}
