//! Tasks (`tasks/`): what runs for a result table. `kafka` (or `queue`) is the table's own
//! stream, i.e. its clean; every other storage type is a shipper from that stream into the
//! table's data storage of that type. `POST tasks/ {result_table_id, storages}` starts the
//! listed ones (all when the list is absent or empty), `DELETE tasks/{rt}/` stops them, and
//! `GET tasks/{rt}/` shows each with its counters and bus lag.
use crate::error::DatabusError;
use crate::physical::shipper_name;
use crate::rawdata::bk_time;
use bkdata_api::databus::{StorageTask, TaskState as TaskStateView};
use bkdata_bus::{AnyBus, Bus};
use bkdata_models::auth::Caller;
use bkdata_models::databus::{Clean, DataStorage, Shipper};
use bkdata_models::schema::{cleans as c, data_storages as ds, shippers as sh};
use bkdata_models::states::ShipperStatus;
use diesel::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What `storages` may name: the stream itself and each storage type.
pub const TASK_STORAGES: [&str; 8] = [
    "kafka",
    "queue",
    "postgresql",
    "mysql",
    "tspider",
    "redis",
    "es",
    "alert",
];

fn is_stream(s: &str) -> bool {
    s == "kafka" || s == "queue"
}

/// `storages` as a list, or a comma-separated string; `None` = all.
pub fn parse_storages(v: Option<&Value>) -> Result<Option<Vec<String>>, DatabusError> {
    let list: Vec<String> = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(|s| s.trim().to_string()))
            .collect::<Option<_>>()
            .ok_or_else(|| DatabusError::field("storages", "storages must be a list of names"))?,
        Some(_) => {
            return Err(DatabusError::field(
                "storages",
                "storages must be a list of names",
            ))
        }
    };
    for s in &list {
        if !TASK_STORAGES.contains(&s.as_str()) {
            return Err(DatabusError::field(
                "storages",
                format!(
                    "unsupported storage {s:?}: supported are {}",
                    TASK_STORAGES.join(", ")
                ),
            ));
        }
    }
    Ok(if list.is_empty() { None } else { Some(list) })
}

/// Mark a shipper running and queue its job (unless one is queued or running).
pub fn start_shipper(conn: &mut PgConnection, rt_id: &str, storage_type: &str) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::insert_into(sh::table)
            .values((
                sh::result_table_id.eq(rt_id),
                sh::storage_type.eq(storage_type),
                sh::status.eq(ShipperStatus::Running),
                sh::status_message.eq("queued for a worker"),
                sh::started_at.eq(chrono::Utc::now()),
            ))
            .on_conflict((sh::result_table_id, sh::storage_type))
            .do_update()
            .set((
                sh::status.eq(ShipperStatus::Running),
                sh::stopped_with_clean.eq(false),
                sh::started_at.eq(chrono::Utc::now()),
                sh::updated_at.eq(chrono::Utc::now()),
            ))
            .execute(conn)?;
        let n: i32 = bkdata_models::schema::result_tables::table
            .find(rt_id)
            .select(bkdata_models::schema::result_tables::partitions)
            .first(conn)?;
        crate::partitions::start_shipper(conn, rt_id, storage_type, n)
    })
}

fn selected(want: &Option<Vec<String>>, name: &str) -> bool {
    want.as_ref().is_none_or(|w| w.iter().any(|x| x == name))
}

fn clean_of(conn: &mut PgConnection, rt_id: &str) -> QueryResult<Option<Clean>> {
    c::table
        .find(rt_id)
        .select(Clean::as_select())
        .first(conn)
        .optional()
}

fn bindings(conn: &mut PgConnection, rt_id: &str) -> QueryResult<Vec<DataStorage>> {
    ds::table
        .filter(ds::result_table_id.eq(rt_id))
        .order(ds::storage_type)
        .select(DataStorage::as_select())
        .load(conn)
}

/// Start the listed tasks of a result table (all when `storages` is `None`).
pub fn start(
    conn: &mut PgConnection,
    caller: &Caller,
    rt_id: &str,
    storages: Option<Vec<String>>,
) -> Result<(), DatabusError> {
    crate::clean::result_table(conn, caller, rt_id)?;
    let clean = clean_of(conn, rt_id)?;
    let bound = bindings(conn, rt_id)?;
    if let Some(list) = &storages {
        for s in list.iter().filter(|s| !is_stream(s)) {
            if !bound.iter().any(|b| &b.storage_type == s) {
                return Err(DatabusError::NotFound(format!(
                    "result table {rt_id} has no {s} storage: create it with data_storages/ first"
                )));
            }
        }
    }
    let stream = storages
        .as_ref()
        .is_none_or(|l| l.iter().any(|s| is_stream(s)));
    if stream && clean.is_some() {
        crate::clean::start(conn, caller, rt_id)?;
    }
    // Starting the clean also resumes the shippers a DELETE of all tasks stopped with it
    // (bklog's clean update: DELETE tasks, then POST tasks ["kafka"]); a shipper stopped by
    // name stays stopped.
    let stopped_with_clean: Vec<String> = if stream {
        sh::table
            .filter(sh::result_table_id.eq(rt_id))
            .filter(sh::status.eq(ShipperStatus::Stopped))
            .filter(sh::stopped_with_clean)
            .select(sh::storage_type)
            .load(conn)?
    } else {
        Vec::new()
    };
    for b in bound.iter().filter(|b| b.storage_type != "queue") {
        if selected(&storages, &b.storage_type) || stopped_with_clean.contains(&b.storage_type) {
            start_shipper(conn, rt_id, &b.storage_type)?;
        }
    }
    Ok(())
}

/// Stop the listed tasks (all when `None`): their jobs see it within a second and end.
pub fn stop(
    conn: &mut PgConnection,
    caller: &Caller,
    rt_id: &str,
    storages: Option<Vec<String>>,
) -> Result<(), DatabusError> {
    crate::clean::result_table(conn, caller, rt_id)?;
    let stream = storages
        .as_ref()
        .is_none_or(|l| l.iter().any(|s| is_stream(s)));
    if stream && clean_of(conn, rt_id)?.is_some() {
        crate::clean::stop(conn, caller, rt_id)?;
    }
    // Stopping all marks the running shippers stopped with the clean and leaves one stopped
    // by name as it was (it stays stopped when the clean starts again); stopping by name
    // always marks it stopped by name.
    let with_clean = storages.is_none();
    let (message, keep) = if with_clean {
        (
            format!("stopped with the clean by {}", caller.username),
            vec![ShipperStatus::Stopped],
        )
    } else {
        (format!("stopped by {}", caller.username), Vec::new())
    };
    for b in bindings(conn, rt_id)? {
        if selected(&storages, &b.storage_type) {
            diesel::update(
                sh::table
                    .find((&b.result_table_id, &b.storage_type))
                    .filter(sh::status.ne_all(&keep)),
            )
            .set((
                sh::status.eq(ShipperStatus::Stopped),
                sh::stopped_with_clean.eq(with_clean),
                sh::status_message.eq(&message),
                sh::updated_at.eq(chrono::Utc::now()),
            ))
            .execute(conn)?;
        }
    }
    Ok(())
}

/// What runs for a result table, read from the database; `view` adds the bus lag.
pub struct TaskState {
    pub result_table_id: String,
    pub clean: Option<Clean>,
    pub shippers: Vec<(DataStorage, Option<Shipper>)>,
    /// The table's partitions (its clean's raw data has as many).
    pub partitions: i32,
}

/// The result tables of the caller that have a clean or a data storage: what the overview
/// lists tasks for.
pub fn owned_tables(conn: &mut PgConnection, caller: &Caller) -> Result<Vec<String>, DatabusError> {
    let mut ids: Vec<String> = c::table
        .filter(c::bk_app_code.eq(&caller.app_code))
        .select(c::processing_id)
        .load(conn)?;
    ids.extend(
        ds::table
            .filter(ds::bk_app_code.eq(&caller.app_code))
            .select(ds::result_table_id)
            .load::<String>(conn)?,
    );
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// A stage's lag summed over its partitions (`None` when the bus cannot say for one).
async fn lag_over(
    bus: &AnyBus,
    topic: &str,
    name: &str,
    per_partition_name: bool,
    partitions: i32,
) -> Option<u64> {
    let mut total = 0;
    for k in 0..partitions.max(1) as u32 {
        let name = if per_partition_name {
            crate::shipper::partition_shipper(name, k)
        } else {
            name.to_string()
        };
        total += bus
            .lag(&bkdata_bus::partition_topic(topic, k), &name)
            .await
            .ok()?;
    }
    Some(total)
}

pub fn state(
    conn: &mut PgConnection,
    caller: &Caller,
    rt_id: &str,
) -> Result<TaskState, DatabusError> {
    let table = crate::clean::result_table(conn, caller, rt_id)?;
    let clean = clean_of(conn, rt_id)?;
    let mut shippers = Vec::new();
    for b in bindings(conn, rt_id)? {
        let s = sh::table
            .find((&b.result_table_id, &b.storage_type))
            .select(Shipper::as_select())
            .first(conn)
            .optional()?;
        shippers.push((b, s));
    }
    Ok(TaskState {
        result_table_id: rt_id.to_string(),
        clean,
        shippers,
        partitions: table.partitions,
    })
}

/// The state as the API answers it: per storage, status, counters and lag (messages not yet
/// consumed; `null` when the bus cannot say).
pub async fn view(bus: &AnyBus, st: &TaskState) -> TaskStateView {
    let mut storages = BTreeMap::new();
    let mut any_running = false;
    if let Some(cl) = &st.clean {
        let lag = lag_over(
            bus,
            &crate::rawdata::topic(cl.raw_data_id),
            &crate::clean_job::consumer_name(&cl.processing_id),
            false,
            st.partitions,
        )
        .await;
        let status = cl.status.as_task();
        any_running |= status == ShipperStatus::Running;
        storages.insert(
            "kafka".to_string(),
            StorageTask {
                status: status.to_string(),
                status_display: status.display().to_string(),
                status_message: Some(cl.status_message.clone()),
                processing_id: Some(cl.processing_id.clone()),
                records_in: Some(cl.records_in),
                rows_out: Some(cl.rows_out),
                errors_total: Some(cl.errors_total),
                lag,
                started_at: cl.started_at.map(bk_time),
                topic: Some(crate::clean_job::output_topic(&cl.processing_id)),
                ..Default::default()
            },
        );
    }
    for (b, s) in &st.shippers {
        if b.storage_type == "queue" {
            continue;
        }
        let lag = lag_over(
            bus,
            &crate::clean_job::output_topic(&b.result_table_id),
            &shipper_name(&b.result_table_id, &b.storage_type),
            true,
            st.partitions,
        )
        .await;
        let status = s.as_ref().map_or(ShipperStatus::Stopped, |s| s.status);
        any_running |= status == ShipperStatus::Running;
        storages.insert(
            b.storage_type.clone(),
            StorageTask {
                status: status.to_string(),
                status_display: status.display().to_string(),
                status_message: s.as_ref().map(|s| s.status_message.clone()),
                storage_cluster: Some(b.cluster_name.clone()),
                physical_table_name: Some(b.physical_table_name.clone()),
                rows_written: Some(s.as_ref().map_or(0, |s| s.rows_written)),
                batches: Some(s.as_ref().map_or(0, |s| s.batches)),
                dead_letters: Some(s.as_ref().map_or(0, |s| s.dead_letters)),
                last_seq: Some(s.as_ref().map_or(0, |s| s.last_seq)),
                last_write_at: s.as_ref().and_then(|s| s.last_write_at).map(bk_time),
                started_at: s.as_ref().and_then(|s| s.started_at).map(bk_time),
                lag,
                ..Default::default()
            },
        );
    }
    let status = if any_running {
        ShipperStatus::Running
    } else {
        ShipperStatus::Stopped
    };
    TaskStateView {
        result_table_id: st.result_table_id.clone(),
        status: status.to_string(),
        status_display: status.display().to_string(),
        storages,
    }
}

/// Rows a storage refused for good, newest first.
pub fn dead_letters(
    conn: &mut PgConnection,
    caller: &Caller,
    rt_id: &str,
    storage_type: Option<&str>,
    limit: i64,
) -> Result<Value, DatabusError> {
    use bkdata_models::schema::shipper_dead_letters as d;
    crate::clean::result_table(conn, caller, rt_id)?;
    let mut q = d::table.filter(d::result_table_id.eq(rt_id)).into_boxed();
    if let Some(t) = storage_type {
        q = q.filter(d::storage_type.eq(t.to_string()));
    }
    let rows: Vec<(
        String,
        i64,
        i32,
        String,
        String,
        chrono::DateTime<chrono::Utc>,
    )> = q
        .order(d::id.desc())
        .limit(limit)
        .select((
            d::storage_type,
            d::seq,
            d::item_index,
            d::error,
            d::document,
            d::created_at,
        ))
        .load(conn)?;
    Ok(json!(rows
        .into_iter()
        .map(|(t, seq, i, e, doc, at)| json!({"storage_type": t, "seq": seq, "item_index": i, "error": e, "document": doc, "created_at": bk_time(at)}))
        .collect::<Vec<_>>()))
}
