//! Times on the wire are local and naive, as the seed shows them: `2025-06-27T14:30:52`.
use chrono::{DateTime, Local, Utc};

pub fn wire(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

pub fn wire_opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(wire)
}

/// `20250627_143052`, used in task and execution ids.
pub fn compact(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y%m%d_%H%M%S").to_string()
}

/// File-log line time: `2025-07-01 14:30:52`.
pub fn log_line(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}
