//! The audit trail the store keeps: who changed what, when, and the state before and after.
//! Entries are only ever appended; ids grow with each entry, so "newest first" is "highest
//! id first" even when clocks step back.

use crate::model::DeviceRecord;
use chrono::{DateTime, Utc};

/// One kept entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the trail: a later entry has a higher id.
    pub id: i64,
    /// When the change was made.
    pub time: DateTime<Utc>,
    /// Who made it (`token`, `local`, `config`, `cli`).
    pub who: String,
    /// The client's address, when the server knew it.
    pub peer: Option<String>,
    /// What was done, e.g. `device.create` or `storage.maintenance`.
    pub action: String,
    /// What it was done to (a device name, a config file).
    pub target: String,
    /// The state before, as JSON text; `None` where there was none (a creation).
    pub before: Option<String>,
    /// The state after, as JSON text; `None` where there is none (a deletion).
    pub after: Option<String>,
}

/// An entry to append; the store gives it its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When the change was made.
    pub time: DateTime<Utc>,
    /// Who made it.
    pub who: String,
    /// The client's address, when known.
    pub peer: Option<String>,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// The state before, as JSON text.
    pub before: Option<String>,
    /// The state after, as JSON text.
    pub after: Option<String>,
}

impl NewAuditEntry {
    /// The kept entry this becomes under `id`.
    pub fn with_id(self, id: i64) -> AuditEntry {
        AuditEntry {
            id,
            time: self.time,
            who: self.who,
            peer: self.peer,
            action: self.action,
            target: self.target,
            before: self.before,
            after: self.after,
        }
    }
}

/// Which entries to read: newest first, filtered, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries at or after this time.
    pub start: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub end: Option<DateTime<Utc>>,
    /// Only entries with exactly this action.
    pub action: Option<String>,
    /// Only entries with exactly this target.
    pub target: Option<String>,
    /// Only entries older than this id (the last id of the previous page).
    pub before_id: Option<i64>,
    /// Most entries to return (the caller bounds it: entries carry whole devices).
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            start: None,
            end: None,
            action: None,
            target: None,
            before_id: None,
            limit: 100,
        }
    }
}

impl AuditQuery {
    /// `limit` as SQL takes it.
    pub(crate) fn sql_limit(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX)
    }
}

/// Builds the audit entry of a device change. The store calls it inside the change's
/// transaction with the devices the change touched, as they were and as they are, so the
/// entry is kept if and only if the change is; `None` records nothing.
pub type DeviceAudit =
    Box<dyn FnOnce(&[DeviceRecord], &[DeviceRecord]) -> Option<NewAuditEntry> + Send>;

/// The answer of an audited change, with the entry kept for it (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Audited<T> {
    /// What the change itself answers.
    pub value: T,
    /// The entry appended in the same transaction.
    pub entry: Option<AuditEntry>,
}
