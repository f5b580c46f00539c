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

/// A lifecycle's moves, for code over any of them: a write that moves a row to `next` filters
/// on `sources(next)` (`UPDATE … WHERE status IN (…)`), so a move the lifecycle does not allow
/// (a job's `failed` over a user's `stopped`) changes nothing, even when two writers race.
pub trait Lifecycle: Copy + PartialEq + 'static {
    fn all() -> &'static [Self];
    fn can_become(self, next: Self) -> bool;

    /// The states a row may be in to move to `next`.
    fn sources(next: Self) -> Vec<Self> {
        Self::all()
            .iter()
            .copied()
            .filter(|s| s.can_become(next))
            .collect()
    }
}

/// The `Lifecycle` of enums whose `can_become` is written beside their states.
macro_rules! lifecycle {
    ($($name:ident),+) => {
        $(impl Lifecycle for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn can_become(self, next: Self) -> bool {
                $name::can_become(self, next)
            }
        })+
    };
}

/// An enum stored as text: its variants and their database text, `as_str`, `parse`, `ALL`,
/// `Display` and diesel's `Text` mapping, written once for every lifecycle.
macro_rules! text_state {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($(#[$vdoc:meta])* $var:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vdoc])* $var),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $text),+
                }
            }

            pub fn parse(text: &str) -> Result<Self, UnknownState> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|s| s.as_str() == text)
                    .ok_or_else(|| UnknownState {
                        kind: $kind,
                        text: text.to_string(),
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(serialize::IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let text = std::str::from_utf8(bytes.as_bytes())?;
                Ok(Self::parse(text)?)
            }
        }
    };
}

text_state!(
    /// A shipper (`shippers.status`): what runs a data storage's writes.
    ShipperStatus, "shipper", {
        /// Started: a worker ships (or is about to take the job).
        Running => "running",
        /// Stopped by a user (by name, or with its clean).
        Stopped => "stopped",
        /// Given up on (kept for rows of earlier versions; a failing shipper retries and
        /// stays `Running`).
        Failed => "failed",
    }
);

impl ShipperStatus {
    /// BKData's `status_display`.
    pub fn display(self) -> &'static str {
        match self {
            Self::Running => "正常",
            Self::Failed => "异常",
            Self::Stopped => "已停止",
        }
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

text_state!(
    /// A clean (`cleans.status`).
    CleanStatus, "clean", {
        /// Not running (never started, or stopped by a user).
        Stopped => "stopped",
        /// Started: a worker cleans (or is about to take the job).
        Started => "started",
        /// Its config did not compile at start: fixed by an update and a start.
        Failed => "failed",
    }
);

impl CleanStatus {
    /// Whether a clean in this state may be put in `next` (staying is always allowed).
    pub fn can_become(self, next: Self) -> bool {
        use CleanStatus::*;
        self == next
            || matches!(
                (self, next),
                (Stopped, Started) | (Started, _) | (Failed, _)
            )
    }

    /// The state of the clean's task (`tasks/`), read as a shipper's.
    pub fn as_task(self) -> ShipperStatus {
        match self {
            Self::Started => ShipperStatus::Running,
            Self::Failed => ShipperStatus::Failed,
            Self::Stopped => ShipperStatus::Stopped,
        }
    }
}

text_state!(
    /// A raw data's collector (`raw_datas.collector_status`, BKData's collectorhub).
    CollectorStatus, "collector", {
        /// Records are taken.
        Started => "started",
        /// Ingest is refused until started again.
        Stopped => "stopped",
    }
);

text_state!(
    /// A dataflow (`flows.status`), as BKData shows it.
    FlowStatus, "flow", {
        /// Never started, or stopped.
        NoStart => "no-start",
        /// A start or restart is being carried out.
        Starting => "starting",
        Running => "running",
        /// A stop is being carried out.
        Stopping => "stopping",
        /// The last deploy failed (its nodes were stopped).
        Failure => "failure",
    }
);

impl FlowStatus {
    /// Whether a flow in this state may be put in `next` (staying is always allowed): a
    /// deploy moves it from a settled state through `starting`/`stopping` to another.
    pub fn can_become(self, next: Self) -> bool {
        use FlowStatus::*;
        self == next
            || matches!(
                (self, next),
                (NoStart | Failure, Starting)
                    | (Running, Starting | Stopping)
                    | (Failure, Stopping)
                    | (Starting | Stopping, NoStart | Running | Failure)
            )
    }

    /// A deploy is under way: the graph may not change.
    pub fn is_busy(self) -> bool {
        matches!(self, Self::Starting | Self::Stopping)
    }
}

text_state!(
    /// A flow node (`flow_nodes.status`): whether its job (realtime) or shipper (storage) runs.
    NodeStatus, "flow node", {
        NoStart => "no-start",
        Running => "running",
        /// Kept for rows of earlier versions: a failing node stays `Running` and says why in
        /// its message.
        Failure => "failure",
    }
);

text_state!(
    /// A deploy (`flow_deploys.status`): a start, stop or restart being carried out.
    DeployStatus, "deploy", {
        /// Queued for a worker.
        Pending => "pending",
        Running => "running",
        Success => "success",
        Failure => "failure",
    }
);

impl DeployStatus {
    /// Queued or under way (one at a time per flow).
    pub const LIVE: [DeployStatus; 2] = [DeployStatus::Pending, DeployStatus::Running];

    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Failure)
    }

    /// Whether a deploy in this state may be put in `next` (staying is always allowed).
    pub fn can_become(self, next: Self) -> bool {
        use DeployStatus::*;
        self == next || matches!((self, next), (Pending, _) | (Running, Success | Failure))
    }
}

text_state!(
    /// A pipeline task (`data_pipeline_tasks.status`, seed 002): follows from its steps.
    TaskStatus, "task", {
        Pending => "pending",
        /// An execution is queued or runs.
        InProgress => "in_progress",
        /// Some steps completed, none failed, not all done.
        PartialCompleted => "partial_completed",
        /// Every step completed or skipped.
        Completed => "completed",
        Failed => "failed",
    }
);

text_state!(
    /// A pipeline execution (`data_pipeline_task_executions.status`): one run of a task's
    /// steps by a worker.
    ExecutionStatus, "execution", {
        /// Queued for a worker.
        Pending => "pending",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl ExecutionStatus {
    /// Queued or running (one at a time per task).
    pub const LIVE: [ExecutionStatus; 2] = [ExecutionStatus::Pending, ExecutionStatus::Running];
    /// Ended.
    pub const FINAL: [ExecutionStatus; 3] = [
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Cancelled,
    ];

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    /// Whether an execution in this state may be put in `next` (staying is always allowed).
    pub fn can_become(self, next: Self) -> bool {
        use ExecutionStatus::*;
        self == next
            || matches!(
                (self, next),
                (Pending, Running | Failed | Cancelled) | (Running, Completed | Failed | Cancelled)
            )
    }

    /// The state the steps it was running take when it ends in this state.
    pub fn step_outcome(self) -> StepStatus {
        match self {
            Self::Pending => StepStatus::Pending,
            Self::Running => StepStatus::Running,
            Self::Completed => StepStatus::Completed,
            Self::Failed => StepStatus::Failed,
            Self::Cancelled => StepStatus::Cancelled,
        }
    }
}

text_state!(
    /// One step of a pipeline task (a value of `data_pipeline_tasks.step_status`).
    StepStatus, "step", {
        Pending => "pending",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
        /// Disabled by the task's parameters: counts as done.
        Skipped => "skipped",
        Cancelled => "cancelled",
    }
);

impl StepStatus {
    /// Done for the steps after it (completed, or skipped by the parameters).
    pub fn is_done(self) -> bool {
        matches!(self, Self::Completed | Self::Skipped)
    }
}

lifecycle!(
    ShipperStatus,
    CleanStatus,
    FlowStatus,
    DeployStatus,
    ExecutionStatus
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarded_moves_start_only_where_allowed() {
        use CleanStatus as C;
        // A clean the user stopped is not marked failed by its job.
        assert_eq!(Lifecycle::sources(C::Failed), vec![C::Started, C::Failed]);
        assert_eq!(
            Lifecycle::sources(C::Stopped),
            vec![C::Stopped, C::Started, C::Failed]
        );
        use FlowStatus as F;
        let mut into_running = <F as Lifecycle>::sources(F::Running);
        into_running.sort_by_key(|s| s.as_str());
        assert_eq!(into_running, vec![F::Running, F::Starting, F::Stopping]);
    }

    #[test]
    fn shipper_states_round_trip_and_move_as_allowed() {
        for &s in ShipperStatus::ALL {
            assert_eq!(ShipperStatus::parse(s.as_str()).unwrap(), s);
            assert!(s.can_become(s));
        }
        assert!(ShipperStatus::parse("paused").is_err());
        use ShipperStatus::*;
        assert!(Running.can_become(Stopped) && Stopped.can_become(Running));
        assert!(Failed.can_become(Running) && Failed.can_become(Stopped));
        assert!(!Stopped.can_become(Failed));
    }

    #[test]
    fn clean_states_round_trip_and_move_as_allowed() {
        for &s in CleanStatus::ALL {
            assert_eq!(CleanStatus::parse(s.as_str()).unwrap(), s);
            assert!(s.can_become(s));
        }
        use CleanStatus::*;
        assert!(Stopped.can_become(Started) && Started.can_become(Failed));
        assert!(Failed.can_become(Started) && !Stopped.can_become(Failed));
        assert_eq!(Started.as_task(), ShipperStatus::Running);
    }

    #[test]
    fn flow_and_deploy_states_round_trip_and_move_as_allowed() {
        for &s in FlowStatus::ALL {
            assert_eq!(FlowStatus::parse(s.as_str()).unwrap(), s);
            assert!(s.can_become(s));
        }
        for &s in DeployStatus::ALL {
            assert_eq!(DeployStatus::parse(s.as_str()).unwrap(), s);
        }
        for &s in NodeStatus::ALL {
            assert_eq!(NodeStatus::parse(s.as_str()).unwrap(), s);
        }
        use FlowStatus::*;
        assert!(NoStart.can_become(Starting) && Starting.can_become(Running));
        assert!(Running.can_become(Stopping) && Stopping.can_become(NoStart));
        assert!(Starting.can_become(Failure) && Failure.can_become(Starting));
        assert!(!NoStart.can_become(Running) && !NoStart.can_become(Stopping));
        assert!(Starting.is_busy() && !Running.is_busy());
        assert!(DeployStatus::Pending.can_become(DeployStatus::Running));
        assert!(!DeployStatus::Success.can_become(DeployStatus::Running));
        assert!(DeployStatus::Failure.is_final() && !DeployStatus::Running.is_final());
    }

    #[test]
    fn pipeline_states_round_trip_and_move_as_allowed() {
        for &s in ExecutionStatus::ALL {
            assert_eq!(ExecutionStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(s.is_live(), !ExecutionStatus::FINAL.contains(&s));
        }
        for &s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()).unwrap(), s);
        }
        let v: StepStatus = serde_json::from_value(serde_json::json!("skipped")).unwrap();
        assert!(v.is_done() && !StepStatus::Failed.is_done());
        assert!(serde_json::from_value::<StepStatus>(serde_json::json!("paused")).is_err());
        use ExecutionStatus::*;
        assert!(Pending.can_become(Running) && Running.can_become(Cancelled));
        assert!(!Completed.can_become(Running) && !Pending.can_become(Completed));
        assert_eq!(Cancelled.step_outcome(), StepStatus::Cancelled);
    }
}
