//! Cleans (`/v3/databus/cleans/`) and their result tables, as bklog creates them (wire
//! reference §2.4): `{raw_data_id, result_table_name, result_table_name_alias,
//! clean_config_name, description, bk_biz_id, json_config: "<string>", fields: [...]}` →
//! `{result_table_id: "{biz}_{name}", processing_id}`.
use crate::error::DatabusError;
use crate::etl::{CleanPlan, FieldType};
use crate::rawdata::{self, bk_time};
use bkdata_api::databus::{CleanInfo, CleanRequest, FieldSpec, ResultTableInfo};
use bkdata_models::auth::Caller;
use bkdata_models::databus::{Clean, ResultTable};
use bkdata_models::schema::{cleans as c, result_tables as rt};
use bkdata_models::states::CleanStatus;
use diesel::prelude::*;
use serde_json::{json, Value};

fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 50
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The json_config as sent (a JSON string, or an object), compiled.
fn compile(v: Option<&Value>) -> Result<(Value, CleanPlan), DatabusError> {
    let bad = |m: String| DatabusError::CleanConfig {
        errors: json!({"json_config": [m.clone()]}),
        message: format!("clean config is invalid: {m}"),
    };
    let value = match v {
        Some(Value::String(s)) => serde_json::from_str(s)
            .map_err(|e| bad(format!("json_config is not valid JSON: {e}")))?,
        Some(v @ Value::Object(_)) => v.clone(),
        _ => {
            return Err(DatabusError::field(
                "json_config",
                "json_config is required (a JSON string)",
            ))
        }
    };
    let plan = CleanPlan::compile_value(value.clone()).map_err(|e| bad(e.0))?;
    Ok((value, plan))
}

/// bklog's fields, checked against what the config produces; duplicates dropped.
fn fields(list: Option<&[FieldSpec]>, plan: &CleanPlan) -> Result<Value, DatabusError> {
    let list = list
        .filter(|l| !l.is_empty())
        .ok_or_else(|| DatabusError::field("fields", "fields is required (a non-empty list)"))?;
    let mut out: Vec<Value> = Vec::new();
    let mut missing = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let name = f.field_name.as_deref().unwrap_or("");
        if name.is_empty() {
            return Err(DatabusError::field(
                "fields",
                format!("fields[{i}] has no field_name"),
            ));
        }
        if out.iter().any(|o| o["field_name"] == name) {
            continue;
        }
        let ty = f.field_type.as_deref().unwrap_or("string");
        let parsed = FieldType::parse(ty).ok_or_else(|| {
            DatabusError::field(
                "fields",
                format!(
                    "field {name}: unknown field_type {ty:?} (int, long, double, string, text)"
                ),
            )
        })?;
        if !plan.schema().iter().any(|s| s.name == name) {
            missing.push(name.to_string());
        }
        out.push(json!({
            "field_name": name,
            "field_type": parsed.name(),
            "field_alias": f.field_alias.as_deref().unwrap_or(name),
            "is_dimension": f.is_dimension.unwrap_or(false),
            "field_index": f.field_index.unwrap_or(out.len() as i64 + 1),
        }));
    }
    if !missing.is_empty() {
        let m = format!("fields not produced by json_config: {}", missing.join(", "));
        return Err(DatabusError::CleanConfig {
            errors: json!({"fields": [m.clone()]}),
            message: format!("clean config is invalid: {m}"),
        });
    }
    Ok(Value::Array(out))
}

/// Fields as stored (the same shape as sent).
pub(crate) fn stored_fields(v: &Value) -> Vec<FieldSpec> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

pub fn view(x: &Clean, t: &ResultTable) -> CleanInfo {
    CleanInfo {
        processing_id: x.processing_id.clone(),
        result_table_id: t.result_table_id.clone(),
        raw_data_id: x.raw_data_id,
        bk_biz_id: x.bk_biz_id,
        clean_config_name: x.clean_config_name.clone(),
        description: x.description.clone(),
        clean_result_table_name: t.result_table_name.clone(),
        clean_result_table_name_alias: t.result_table_name_alias.clone(),
        json_config: x.json_config.to_string(),
        status: x.status.to_string(),
        status_display: x.status.to_string(),
        status_message: x.status_message.clone(),
        records_in: x.records_in,
        rows_out: x.rows_out,
        errors_total: x.errors_total,
        started_at: x.started_at.map(bk_time),
        created_by: x.created_by.clone(),
        created_at: Some(bk_time(x.created_at)),
        updated_by: x.updated_by.clone(),
        updated_at: Some(bk_time(x.updated_at)),
        result_table: Some(result_table_view(t)),
    }
}

pub fn result_table_view(t: &ResultTable) -> ResultTableInfo {
    ResultTableInfo {
        result_table_id: t.result_table_id.clone(),
        bk_biz_id: t.bk_biz_id,
        result_table_name: t.result_table_name.clone(),
        result_table_name_alias: t.result_table_name_alias.clone(),
        processing_type: t.processing_type.clone(),
        description: t.description.clone(),
        fields: t.fields.clone(),
        partitions: i64::from(t.partitions),
        created_by: t.created_by.clone(),
        created_at: Some(bk_time(t.created_at)),
        updated_by: t.updated_by.clone(),
        updated_at: Some(bk_time(t.updated_at)),
    }
}

pub fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    body: &CleanRequest,
) -> Result<(Clean, ResultTable), DatabusError> {
    let raw_id = body
        .raw_data_id
        .ok_or_else(|| DatabusError::field("raw_data_id", "raw_data_id is required"))?;
    let raw = rawdata::get(conn, caller, raw_id)?;
    if let Some(b) = body.bk_biz_id {
        if b != raw.bk_biz_id {
            return Err(DatabusError::field(
                "bk_biz_id",
                format!(
                    "bk_biz_id {b} differs from the raw data's {}",
                    raw.bk_biz_id
                ),
            ));
        }
    }
    let s = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let name = s(&body.result_table_name);
    if !name_ok(&name) {
        return Err(DatabusError::field(
            "result_table_name",
            "result_table_name is required: a letter, then letters, digits or '_' (at most 50)",
        ));
    }
    let (config, plan) = compile(body.json_config.as_ref())?;
    let fields = fields(body.fields.as_deref(), &plan)?;
    let rt_id = format!("{}_{name}", raw.bk_biz_id);
    let alias = Some(s(&body.result_table_name_alias))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| name.clone());
    conn.transaction(|conn| {
        let t: Option<ResultTable> = diesel::insert_into(rt::table)
            .values((
                rt::result_table_id.eq(&rt_id),
                rt::bk_biz_id.eq(raw.bk_biz_id),
                rt::result_table_name.eq(&name),
                rt::result_table_name_alias.eq(&alias),
                rt::processing_type.eq("clean"),
                rt::partitions.eq(raw.partitions),
                rt::description.eq(s(&body.description)),
                rt::fields.eq(&fields),
                rt::bk_app_code.eq(&caller.app_code),
                rt::created_by.eq(&caller.username),
                rt::updated_by.eq(&caller.username),
            ))
            .on_conflict(rt::result_table_id)
            .do_nothing()
            .returning(ResultTable::as_returning())
            .get_result(conn)
            .optional()?;
        let t = t.ok_or_else(|| {
            DatabusError::AlreadyExists(format!("result table {rt_id} already exists"))
        })?;
        let x: Clean = diesel::insert_into(c::table)
            .values((
                c::processing_id.eq(&rt_id),
                c::raw_data_id.eq(raw.id),
                c::bk_biz_id.eq(raw.bk_biz_id),
                c::clean_config_name.eq(Some(s(&body.clean_config_name))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| alias.clone())),
                c::description.eq(s(&body.description)),
                c::json_config.eq(&config),
                c::bk_app_code.eq(&caller.app_code),
                c::created_by.eq(&caller.username),
                c::updated_by.eq(&caller.username),
            ))
            .returning(Clean::as_returning())
            .get_result(conn)?;
        Ok((x, t))
    })
}

pub fn get(
    conn: &mut PgConnection,
    caller: &Caller,
    pid: &str,
) -> Result<(Clean, ResultTable), DatabusError> {
    c::table
        .inner_join(rt::table)
        .filter(c::processing_id.eq(pid))
        .filter(c::bk_app_code.eq(&caller.app_code))
        .select((Clean::as_select(), ResultTable::as_select()))
        .first(conn)
        .optional()?
        .ok_or_else(|| DatabusError::NotFound(format!("clean {pid} does not exist")))
}

pub fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    raw_data_id: Option<i64>,
    bk_biz_id: Option<i64>,
) -> Result<Vec<(Clean, ResultTable)>, DatabusError> {
    let mut q = c::table
        .inner_join(rt::table)
        .filter(c::bk_app_code.eq(&caller.app_code))
        .into_boxed();
    if let Some(r) = raw_data_id {
        q = q.filter(c::raw_data_id.eq(r));
    }
    if let Some(b) = bk_biz_id {
        q = q.filter(c::bk_biz_id.eq(b));
    }
    Ok(q.order(c::created_at)
        .select((Clean::as_select(), ResultTable::as_select()))
        .load(conn)?)
}

/// PUT: new json_config, fields, alias or description; the name (and so the id) stays.
pub fn update(
    conn: &mut PgConnection,
    caller: &Caller,
    pid: &str,
    body: &CleanRequest,
) -> Result<(Clean, ResultTable), DatabusError> {
    let (old, old_rt) = get(conn, caller, pid)?;
    if let Some(n) = &body.result_table_name {
        if *n != old_rt.result_table_name {
            return Err(DatabusError::field(
                "result_table_name",
                "result_table_name cannot change; create a new clean",
            ));
        }
    }
    let (config, plan) = compile(Some(body.json_config.as_ref().unwrap_or(&old.json_config)))?;
    let fields = match &body.fields {
        None => fields(Some(&stored_fields(&old_rt.fields)), &plan)?,
        Some(f) => fields(Some(f), &plan)?,
    };
    let s = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
    let now = chrono::Utc::now();
    conn.transaction(|conn| {
        diesel::update(rt::table.find(pid))
            .set((
                rt::fields.eq(&fields),
                rt::result_table_name_alias.eq(s(
                    &body.result_table_name_alias,
                    &old_rt.result_table_name_alias,
                )),
                rt::description.eq(s(&body.description, &old_rt.description)),
                rt::updated_by.eq(&caller.username),
                rt::updated_at.eq(now),
            ))
            .execute(conn)?;
        diesel::update(c::table.find(pid))
            .set((
                c::json_config.eq(&config),
                c::clean_config_name.eq(s(&body.clean_config_name, &old.clean_config_name)),
                c::description.eq(s(&body.description, &old.description)),
                c::updated_by.eq(&caller.username),
                c::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok::<_, DatabusError>(())
    })?;
    get(conn, caller, pid)
}

/// Delete a clean and its result table.
pub fn delete(conn: &mut PgConnection, caller: &Caller, pid: &str) -> Result<(), DatabusError> {
    get(conn, caller, pid)?;
    diesel::delete(rt::table.find(pid)).execute(conn)?;
    Ok(())
}

pub fn result_table(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
) -> Result<ResultTable, DatabusError> {
    rt::table
        .find(id)
        .filter(rt::bk_app_code.eq(&caller.app_code))
        .select(ResultTable::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DatabusError::NotFound(format!("result table {id} does not exist")))
}

/// Start: mark the clean started and queue its runtime (unless one is queued or running).
pub fn start(
    conn: &mut PgConnection,
    caller: &Caller,
    pid: &str,
) -> Result<(Clean, ResultTable), DatabusError> {
    get(conn, caller, pid)?;
    conn.transaction(|conn| {
        diesel::update(c::table.find(pid))
            .set((
                c::status.eq(CleanStatus::Started),
                c::started_at.eq(chrono::Utc::now()),
                c::status_message.eq("queued for a worker"),
            ))
            .execute(conn)?;
        let n: i32 = rt::table.find(pid).select(rt::partitions).first(conn)?;
        crate::partitions::start_clean(conn, pid, n)?;
        Ok::<_, DatabusError>(())
    })?;
    get(conn, caller, pid)
}

/// Stop: the runtime sees it within a second and ends.
pub fn stop(
    conn: &mut PgConnection,
    caller: &Caller,
    pid: &str,
) -> Result<(Clean, ResultTable), DatabusError> {
    get(conn, caller, pid)?;
    diesel::update(c::table.find(pid))
        .set((
            c::status.eq(CleanStatus::Stopped),
            c::status_message.eq("stopped"),
        ))
        .execute(conn)?;
    get(conn, caller, pid)
}

/// Recent bad records of a clean, newest first.
pub fn list_errors(
    conn: &mut PgConnection,
    caller: &Caller,
    pid: &str,
    limit: i64,
) -> Result<Value, DatabusError> {
    use bkdata_models::schema::clean_errors as ce;
    get(conn, caller, pid)?;
    let rows: Vec<(
        i64,
        String,
        String,
        String,
        String,
        chrono::DateTime<chrono::Utc>,
    )> = ce::table
        .filter(ce::processing_id.eq(pid))
        .order(ce::id.desc())
        .limit(limit)
        .select((
            ce::raw_seq,
            ce::node_label,
            ce::error_name,
            ce::error_message,
            ce::raw_record,
            ce::created_at,
        ))
        .load(conn)?;
    Ok(json!(rows
        .into_iter()
        .map(|(seq, label, name, msg, raw, at)| json!({"processing_id": pid, "raw_seq": seq, "node_label": label, "error_name": name, "error_message": msg, "raw_record": raw, "created_at": bk_time(at)}))
        .collect::<Vec<_>>()))
}
