//! Partitions (BKData's `rawdatas/{id}/partitions/`, `set_partitions/` of raw data, result
//! tables and cleans). A raw data's stream is `partitions` topics (`raw.{id}` is partition 0,
//! `raw.{id}.p{k}` the others: see [`bkdata_bus::partition_topic`]); a clean reads partition k
//! of its raw data and writes partition k of its table, so a clean's table always has its raw
//! data's partitions. Each partition of a clean and of a shipper is its own leased job. A
//! count is only ever raised (as Kafka's): records already in a partition stay there, in
//! order, and a raise starts the new partitions' jobs of what runs.
use crate::clean_job::{CleanJob, CleanRun};
use crate::error::DatabusError;
use crate::shipper::{ShipJob, ShipRun};
use bkdata_models::auth::Caller;
use bkdata_models::jobs::Job;
use bkdata_models::schema::{cleans as c, raw_datas as r, result_tables as rt, shippers as sh};
use bkdata_models::states::{CleanStatus, ShipperStatus};
use diesel::prelude::*;

/// The most partitions a stream may have: each is a stream of the bus and a job per stage.
pub const MAX_PARTITIONS: i32 = 64;

/// A requested count, checked against the limits and the current count.
pub fn check_count(requested: i64, current: i32) -> Result<i32, DatabusError> {
    if !(1..=i64::from(MAX_PARTITIONS)).contains(&requested) {
        return Err(DatabusError::field(
            "partitions",
            format!("partitions must be between 1 and {MAX_PARTITIONS}, got {requested}"),
        ));
    }
    let n = requested as i32;
    if n < current {
        return Err(DatabusError::field(
            "partitions",
            format!(
                "partitions can only be raised: the stream has {current}, asked {n} (records \
                 already in a partition stay there)"
            ),
        ));
    }
    Ok(n)
}

/// The raw data's partitions.
pub fn of_raw(conn: &mut PgConnection, caller: &Caller, id: i64) -> Result<i32, DatabusError> {
    Ok(crate::rawdata::get(conn, caller, id)?.partitions)
}

/// A raised count and the topics that have it (the raw data's and its cleans' tables'), whose
/// new partitions' streams the caller makes.
#[derive(Debug, Clone)]
pub struct Raised {
    pub partitions: i32,
    pub topics: Vec<String>,
}

impl Raised {
    /// Every partition topic of the raised topics.
    pub fn partition_topics(&self) -> Vec<String> {
        self.topics
            .iter()
            .flat_map(|t| (0..self.partitions as u32).map(|k| bkdata_bus::partition_topic(t, k)))
            .collect()
    }
}

/// Raise a raw data's partitions, with its cleans' tables; start the new partitions' jobs of
/// its running cleans and shippers.
pub fn set_raw(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
    requested: i64,
) -> Result<Raised, DatabusError> {
    let raw = crate::rawdata::get(conn, caller, id)?;
    let n = check_count(requested, raw.partitions)?;
    conn.transaction(|conn| {
        diesel::update(r::table.find(id))
            .set((r::partitions.eq(n), r::updated_at.eq(chrono::Utc::now())))
            .execute(conn)?;
        let tables: Vec<String> = c::table
            .filter(c::raw_data_id.eq(id))
            .select(c::processing_id)
            .load(conn)?;
        diesel::update(rt::table.filter(rt::result_table_id.eq_any(&tables)))
            .set(rt::partitions.eq(n))
            .execute(conn)?;
        for t in &tables {
            start_jobs(conn, t)?;
        }
        let mut topics = vec![crate::rawdata::topic(id)];
        topics.extend(tables.iter().map(|t| crate::clean_job::output_topic(t)));
        Ok(Raised {
            partitions: n,
            topics,
        })
    })
}

/// A result table's partitions.
pub fn of_table(conn: &mut PgConnection, caller: &Caller, id: &str) -> Result<i32, DatabusError> {
    Ok(crate::clean::result_table(conn, caller, id)?.partitions)
}

/// Raise a clean's table's partitions: its raw data's (and so its other cleans') with it, as
/// a clean maps partition k to partition k. Other tables have their producer's partitions.
pub fn set_table(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
    requested: i64,
) -> Result<Raised, DatabusError> {
    let table = crate::clean::result_table(conn, caller, id)?;
    let raw: Option<i64> = c::table
        .find(id)
        .select(c::raw_data_id)
        .first(conn)
        .optional()?;
    match raw {
        Some(raw) => set_raw(conn, caller, raw, requested),
        None => {
            check_count(requested, table.partitions)?;
            Err(DatabusError::field(
                "partitions",
                format!(
                    "{id} is written by a {} node: its partitions follow that node's input \
                     (set the partitions of the raw data or clean upstream)",
                    table.processing_type
                ),
            ))
        }
    }
}

/// Queue the jobs of every partition of a table's started clean and running shippers (those
/// queued or running already are left alone).
pub fn start_jobs(conn: &mut PgConnection, table: &str) -> QueryResult<()> {
    let n: i32 = rt::table.find(table).select(rt::partitions).first(conn)?;
    let clean: Option<CleanStatus> = c::table
        .find(table)
        .select(c::status)
        .first(conn)
        .optional()?;
    if clean == Some(CleanStatus::Started) {
        start_clean(conn, table, n)?;
    }
    let shippers: Vec<String> = sh::table
        .filter(sh::result_table_id.eq(table))
        .filter(sh::status.eq(ShipperStatus::Running))
        .select(sh::storage_type)
        .load(conn)?;
    for st in shippers {
        start_shipper(conn, table, &st, n)?;
    }
    Ok(())
}

/// Queue a clean's job for each of its `n` partitions.
pub fn start_clean(conn: &mut PgConnection, pid: &str, n: i32) -> QueryResult<()> {
    for k in 0..n.max(1) as u32 {
        CleanJob::enqueue_unique(
            conn,
            &CleanRun {
                processing_id: pid.to_string(),
                partition: k,
            },
        )?;
    }
    Ok(())
}

/// Queue a shipper's job for each of its table's `n` partitions.
pub fn start_shipper(conn: &mut PgConnection, table: &str, st: &str, n: i32) -> QueryResult<()> {
    for k in 0..n.max(1) as u32 {
        ShipJob::enqueue_unique(
            conn,
            &ShipRun {
                result_table_id: table.to_string(),
                storage_type: st.to_string(),
                partition: k,
            },
        )?;
    }
    Ok(())
}

/// The latest `limit` records of a topic's `n` partitions: the latest of each, partition by
/// partition (partitions have no order between them).
pub async fn tail(
    bus: &impl bkdata_bus::Bus,
    topic: &str,
    n: i32,
    limit: usize,
) -> Result<Vec<Vec<u8>>, bkdata_bus::BusError> {
    let mut records = Vec::new();
    for k in 0..n.max(1) as u32 {
        records.extend(
            bus.tail(&bkdata_bus::partition_topic(topic, k), limit)
                .await?,
        );
    }
    let skip = records.len().saturating_sub(limit);
    records.drain(..skip);
    Ok(records)
}

/// Serde: partition 0 is left out of a job's payload, so a one-partition job's payload is
/// what it was before partitions (and a queued one from then still matches).
pub fn is_zero(k: &u32) -> bool {
    *k == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_bounded_and_only_raised() {
        assert_eq!(super::check_count(4, 1).unwrap(), 4);
        assert_eq!(super::check_count(4, 4).unwrap(), 4);
        assert!(super::check_count(2, 4).is_err());
        assert!(super::check_count(0, 1).is_err());
        assert!(super::check_count(65, 1).is_err());
    }
}
