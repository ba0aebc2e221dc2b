//! The wall clock as the simulator sees it: its values are functions of Unix milliseconds
//! that change at every step, so a test compares a reading only with the step it fell in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is set before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Waits, if need be, for the next step of `step_ms` so that at least `room_ms` of the
/// current step is left, and returns the time then: a read started at that time and taken
/// within `room_ms` sees one step's values.
pub async fn with_room_in_step(step_ms: i64, room_ms: i64) -> i64 {
    loop {
        let at = now_ms();
        let left = step_ms - at.rem_euclid(step_ms);
        if left >= room_ms {
            return at;
        }
        tokio::time::sleep(Duration::from_millis(left.unsigned_abs())).await;
    }
}
