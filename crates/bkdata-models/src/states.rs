//! Lifecycles as enums: each state's text in the database is written in one place (its
//! `as_str`), read back through diesel, and moved only along its allowed transitions.
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use std::io::Write;

/// Why a state's text was not understood.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} state {text:?}")]
pub struct UnknownState {
    pub kind: &'static str,
    pub text: String,
}

/// A shipper (`shippers.status`): what runs a data storage's writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum ShipperStatus {
    /// Started: a worker ships (or is about to take the job).
    Running,
    /// Stopped by a user (by name, or with its clean).
    Stopped,
    /// Given up on (kept for rows of earlier versions; a failing shipper retries and stays
    /// `Running`).
    Failed,
}

impl ShipperStatus {
    pub const ALL: [ShipperStatus; 3] = [Self::Running, Self::Stopped, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }

    /// BKData's `status_display`.
    pub fn display(self) -> &'static str {
        match self {
            Self::Running => "正常",
            Self::Failed => "异常",
            Self::Stopped => "已停止",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownState {
                kind: "shipper",
                text: text.to_string(),
            })
    }

    /// Whether a shipper in this state may be put in `next` (staying is always allowed).
    pub fn can_become(self, next: Self) -> bool {
        use ShipperStatus::*;
        self == next
            || matches!(
                (self, next),
                (Running, _) | (Stopped, Running) | (Failed, _)
            )
    }
}

impl std::fmt::Display for ShipperStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql<Text, Pg> for ShipperStatus {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.as_str().as_bytes())?;
        Ok(serialize::IsNull::No)
    }
}

impl FromSql<Text, Pg> for ShipperStatus {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let text = std::str::from_utf8(bytes.as_bytes())?;
        Ok(Self::parse(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipper_states_round_trip_and_move_as_allowed() {
        for s in ShipperStatus::ALL {
            assert_eq!(ShipperStatus::parse(s.as_str()).unwrap(), s);
            assert!(s.can_become(s));
        }
        assert!(ShipperStatus::parse("paused").is_err());
        use ShipperStatus::*;
        assert!(Running.can_become(Stopped) && Stopped.can_become(Running));
        assert!(Failed.can_become(Running) && Failed.can_become(Stopped));
        assert!(!Stopped.can_become(Failed));
    }
}
