//! The databus. This version holds the clean engine (`etl`): BKData v3 `json_config` compiled
//! to a plan, with BKData's operators, types, time handling, error names and verify output.
pub mod etl;
