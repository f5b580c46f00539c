//! Data storages (`data_storages/`): a result table bound to a storage cluster, with its
//! physical table (created from the table's fields when the binding is made), expiry and
//! fields. bklog's body is accepted as sent: `{bk_biz_id, raw_data_id, data_type,
//! result_table_name, result_table_name_alias, storage_type, storage_cluster, expires, fields,
//! physical_table_name?}`.
use crate::error::DatabusError;
use crate::rawdata::bk_time;
use bkdata_api::databus::{DataStorageInfo, DataStorageRequest};
use bkdata_models::auth::Caller;
use bkdata_models::databus::{DataStorage, ResultTable, Shipper, StorageCluster};
use bkdata_models::schema::{
    data_storages as ds, raw_datas, result_tables as rt, shippers as sh, storage_clusters as sc,
};
use diesel::prelude::*;
use serde_json::{json, Value};

pub use crate::physical::*;
use crate::physical::{physical_name, storage_fields};

fn cluster(conn: &mut PgConnection, name: &str) -> Result<StorageCluster, DatabusError> {
    sc::table
        .find(name)
        .select(StorageCluster::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            DatabusError::field(
                "storage_cluster",
                format!("storage cluster {name} does not exist"),
            )
        })
}

/// Which binding a [`save`] writes.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveAt {
    /// A new one (`POST data_storages/`).
    New,
    /// The one of this table (and the body's `storage_type`, when it has several):
    /// `PUT data_storages/{rt}/`.
    Table(String),
    /// The body's table and storage type, made or changed (a flow's storage node).
    Upsert,
}

/// Bind a result table to a storage, or change the binding: the body checked, the physical
/// table created (or its new columns added) on the cluster, the binding saved, and its
/// shipper started when the table is live. The one way the API and flows write a binding.
pub async fn save(
    pool: &bkdata_models::PgPool,
    caller: &Caller,
    body: DataStorageRequest,
    at: SaveAt,
) -> Result<DataStorage, DatabusError> {
    use bkdata_models::db::blocking;
    let c = caller.clone();
    let (p, exists) = blocking(pool, move |conn| {
        let (existing, path_rt) = match &at {
            SaveAt::New => (None, None),
            SaveAt::Table(rt) => (
                Some(one_of_table(conn, &c, rt, body.storage_type.as_deref())?),
                Some(rt.as_str()),
            ),
            SaveAt::Upsert => {
                let rt = body.result_table_id.as_deref().unwrap_or_default();
                let ty = body.storage_type.as_deref().unwrap_or_default();
                let found = ds::table
                    .find((rt, ty))
                    .select(DataStorage::as_select())
                    .first(conn)
                    .optional()?;
                (found, None)
            }
        };
        let p = prepare(conn, &c, &body, existing.as_ref(), path_rt)?;
        Ok::<_, DatabusError>((p, existing.is_some()))
    })
    .await?;
    p.create_physical().await.map_err(|e| {
        e.context(&format!(
            "creating the table {} on {}",
            p.row.physical_table_name, p.row.cluster_name
        ))
    })?;
    blocking(pool, move |conn| {
        let d = if exists {
            update(conn, &p)?
        } else {
            insert(conn, &p)?
        };
        follow_table(conn, &d)?;
        Ok(d)
    })
    .await
}

/// Check a POST (no `existing`) or PUT body against the result table and the cluster.
pub fn prepare(
    conn: &mut PgConnection,
    caller: &Caller,
    body: &DataStorageRequest,
    existing: Option<&DataStorage>,
    path_rt: Option<&str>,
) -> Result<Prepared, DatabusError> {
    let s = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let biz = body.bk_biz_id;
    let rt_id = match (
        path_rt,
        s(&body.result_table_id),
        s(&body.result_table_name),
        biz,
    ) {
        (Some(p), _, _, _) => p.to_string(),
        (None, Some(id), _, _) => id,
        (None, None, Some(n), Some(b)) => format!("{b}_{n}"),
        _ => {
            return Err(DatabusError::field(
                "result_table_id",
                "result_table_id (or bk_biz_id and result_table_name) is required",
            ))
        }
    };
    let t = crate::clean::result_table(conn, caller, &rt_id)?;
    if let Some(b) = biz.filter(|b| *b != t.bk_biz_id) {
        return Err(DatabusError::field(
            "bk_biz_id",
            format!(
                "bk_biz_id {b} differs from result table {rt_id}'s {}",
                t.bk_biz_id
            ),
        ));
    }
    let storage_type = match (s(&body.storage_type).or(s(&body.cluster_type)), existing) {
        (Some(t), _) => t,
        (None, Some(e)) => e.storage_type.clone(),
        (None, None) => {
            return Err(DatabusError::field(
                "storage_type",
                format!(
                    "storage_type is required: one of {}",
                    STORAGE_TYPES.join(", ")
                ),
            ))
        }
    };
    check_storage_type(&storage_type, "storage_type")?;
    let c = match (s(&body.storage_cluster).or(s(&body.cluster_name)), existing) {
        (Some(name), _) => cluster(conn, &name)?,
        (None, Some(e)) => cluster(conn, &e.cluster_name)?,
        (None, None) => sc::table
            .filter(sc::cluster_type.eq(&storage_type))
            .order((sc::is_default.desc(), sc::cluster_name))
            .select(StorageCluster::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                DatabusError::field(
                    "storage_cluster",
                    format!("storage_cluster is required: there is no {storage_type} cluster to default to"),
                )
            })?,
    };
    let mariadb = ["mysql", "tspider"];
    let fits = c.cluster_type == storage_type
        || (mariadb.contains(&c.cluster_type.as_str()) && mariadb.contains(&storage_type.as_str()));
    if !fits {
        return Err(DatabusError::field(
            "storage_cluster",
            format!(
                "cluster {} is a {} cluster, not {storage_type}",
                c.cluster_name, c.cluster_type
            ),
        ));
    }
    let expires = match (s(&body.expires), existing) {
        (Some(e), _) => e,
        (None, Some(e)) => e.expires.clone(),
        (None, None) => "7d".to_string(),
    };
    let expire_days = parse_expires(&expires)?;
    let fields = match (&body.fields, existing) {
        (None, Some(e)) => e.fields.clone(),
        (f, _) => storage_fields(&t, f.as_deref())?,
    };
    let physical = match (s(&body.physical_table_name), existing) {
        (None, Some(e)) => e.physical_table_name.clone(),
        (asked, _) => physical_name(&storage_type, &c, &t, asked.as_deref())?,
    };
    let storage_config = match &body.storage_config {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        Some(Value::String(x)) if !x.is_empty() => serde_json::from_str(x).map_err(|e| {
            DatabusError::field("storage_config", format!("storage_config is not JSON: {e}"))
        })?,
        _ => existing.map_or(json!({}), |e| e.storage_config.clone()),
    };
    if let Some(keys) = storage_config.get("key_fields") {
        let ok = keys.as_array().is_some_and(|l| {
            l.iter().all(|k| {
                k.as_str().is_some_and(|k| {
                    fields
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|f| f["field_name"] == k)
                })
            })
        });
        if !ok {
            return Err(DatabusError::field(
                "storage_config",
                "storage_config.key_fields must list fields of the storage",
            ));
        }
    }
    let now = chrono::Utc::now();
    Ok(Prepared {
        row: DataStorage {
            result_table_id: t.result_table_id.clone(),
            storage_type,
            cluster_name: c.cluster_name.clone(),
            physical_table_name: physical,
            expires,
            expire_days,
            storage_config,
            fields,
            raw_data_id: body
                .raw_data_id
                .or(existing.and_then(|e| e.raw_data_id))
                .or_else(|| raw_data_of(conn, &t.result_table_id)),
            bk_biz_id: t.bk_biz_id,
            data_type: s(&body.data_type)
                .or(existing.map(|e| e.data_type.clone()))
                .unwrap_or_else(|| t.processing_type.clone()),
            bk_app_code: caller.app_code.clone(),
            created_by: existing.map_or(caller.username.clone(), |e| e.created_by.clone()),
            created_at: existing.map_or(now, |e| e.created_at),
            updated_by: caller.username.clone(),
            updated_at: now,
        },
        cluster: c,
    })
}

fn raw_data_of(conn: &mut PgConnection, rt_id: &str) -> Option<i64> {
    use bkdata_models::schema::cleans as c;
    c::table
        .find(rt_id)
        .select(c::raw_data_id)
        .first(conn)
        .optional()
        .ok()
        .flatten()
}

/// Save a new binding (its shipper starts stopped).
pub fn insert(conn: &mut PgConnection, p: &Prepared) -> Result<DataStorage, DatabusError> {
    let r = &p.row;
    conn.transaction(|conn| {
        let n = diesel::insert_into(ds::table)
            .values((
                ds::result_table_id.eq(&r.result_table_id),
                ds::storage_type.eq(&r.storage_type),
                ds::cluster_name.eq(&r.cluster_name),
                ds::physical_table_name.eq(&r.physical_table_name),
                ds::expires.eq(&r.expires),
                ds::expire_days.eq(r.expire_days),
                ds::storage_config.eq(&r.storage_config),
                ds::fields.eq(&r.fields),
                ds::raw_data_id.eq(r.raw_data_id),
                ds::bk_biz_id.eq(r.bk_biz_id),
                ds::data_type.eq(&r.data_type),
                ds::bk_app_code.eq(&r.bk_app_code),
                ds::created_by.eq(&r.created_by),
                ds::updated_by.eq(&r.updated_by),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if n == 0 {
            return Err(DatabusError::AlreadyExists(format!(
                "result table {} already has a {} storage: use PUT data_storages/{}/",
                r.result_table_id, r.storage_type, r.result_table_id
            )));
        }
        diesel::insert_into(sh::table)
            .values((
                sh::result_table_id.eq(&r.result_table_id),
                sh::storage_type.eq(&r.storage_type),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    Ok(p.row.clone())
}

pub fn update(conn: &mut PgConnection, p: &Prepared) -> Result<DataStorage, DatabusError> {
    let r = &p.row;
    diesel::update(ds::table.find((&r.result_table_id, &r.storage_type)))
        .set((
            ds::cluster_name.eq(&r.cluster_name),
            ds::physical_table_name.eq(&r.physical_table_name),
            ds::expires.eq(&r.expires),
            ds::expire_days.eq(r.expire_days),
            ds::storage_config.eq(&r.storage_config),
            ds::fields.eq(&r.fields),
            ds::raw_data_id.eq(r.raw_data_id),
            ds::data_type.eq(&r.data_type),
            ds::updated_by.eq(&r.updated_by),
            ds::updated_at.eq(r.updated_at),
        ))
        .execute(conn)?;
    Ok(p.row.clone())
}

/// A result table's bindings (of one storage type, when given).
pub fn of_table(
    conn: &mut PgConnection,
    caller: &Caller,
    rt_id: &str,
    storage_type: Option<&str>,
) -> Result<Vec<DataStorage>, DatabusError> {
    crate::clean::result_table(conn, caller, rt_id)?;
    let mut q = ds::table.filter(ds::result_table_id.eq(rt_id)).into_boxed();
    if let Some(t) = storage_type {
        check_storage_type(t, "storage_type")?;
        q = q.filter(ds::storage_type.eq(t.to_string()));
    }
    let list = q
        .order(ds::storage_type)
        .select(DataStorage::as_select())
        .load(conn)?;
    if list.is_empty() {
        return Err(DatabusError::NotFound(match storage_type {
            Some(t) => format!("result table {rt_id} has no {t} storage"),
            None => format!("result table {rt_id} has no storage"),
        }));
    }
    Ok(list)
}

/// The one binding a PUT or DELETE on `data_storages/{rt}/` means: of the body's or query's
/// `storage_type`, or the table's only one.
pub fn one_of_table(
    conn: &mut PgConnection,
    caller: &Caller,
    rt_id: &str,
    storage_type: Option<&str>,
) -> Result<DataStorage, DatabusError> {
    let mut list = of_table(conn, caller, rt_id, storage_type)?;
    if list.len() > 1 {
        let types: Vec<_> = list.iter().map(|d| d.storage_type.clone()).collect();
        return Err(DatabusError::field(
            "storage_type",
            format!(
                "result table {rt_id} has several storages ({}): say which with storage_type",
                types.join(", ")
            ),
        ));
    }
    Ok(list.remove(0))
}

pub fn delete(conn: &mut PgConnection, d: &DataStorage) -> Result<(), DatabusError> {
    diesel::delete(ds::table.find((&d.result_table_id, &d.storage_type))).execute(conn)?;
    Ok(())
}

pub type Listed = (DataStorage, Option<Shipper>, ResultTable, Option<String>);

/// Filters of `data_storages/` GET.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub raw_data_id: Option<i64>,
    pub bk_biz_id: Option<i64>,
    pub storage_type: Option<String>,
    pub result_table_id: Option<String>,
}

pub fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filter,
) -> Result<Vec<Listed>, DatabusError> {
    let mut q = ds::table
        .inner_join(rt::table)
        .left_join(
            sh::table.on(sh::result_table_id
                .eq(ds::result_table_id)
                .and(sh::storage_type.eq(ds::storage_type))),
        )
        .left_join(raw_datas::table.on(raw_datas::id.nullable().eq(ds::raw_data_id)))
        .filter(ds::bk_app_code.eq(&caller.app_code))
        .into_boxed();
    if let Some(r) = f.raw_data_id {
        q = q.filter(ds::raw_data_id.eq(r));
    }
    if let Some(b) = f.bk_biz_id {
        q = q.filter(ds::bk_biz_id.eq(b));
    }
    if let Some(t) = &f.storage_type {
        check_storage_type(t, "storage_type")?;
        q = q.filter(ds::storage_type.eq(t.clone()));
    }
    if let Some(r) = &f.result_table_id {
        q = q.filter(ds::result_table_id.eq(r.clone()));
    }
    Ok(q.order((ds::result_table_id, ds::storage_type))
        .select((
            DataStorage::as_select(),
            Option::<Shipper>::as_select(),
            ResultTable::as_select(),
            raw_datas::raw_data_name.nullable(),
        ))
        .load(conn)?)
}

/// After a binding is made or changed: its shipper runs when the result table is live (its
/// clean is started or another of its shippers runs), as bklog expects after
/// `tasks(["kafka"])` then `data_storages`.
pub fn follow_table(conn: &mut PgConnection, d: &DataStorage) -> Result<(), DatabusError> {
    use bkdata_models::schema::cleans as c;
    if d.storage_type == "queue" {
        return Ok(());
    }
    let clean_live: i64 = c::table
        .filter(c::processing_id.eq(&d.result_table_id))
        .filter(c::status.eq(bkdata_models::states::CleanStatus::Started))
        .count()
        .get_result(conn)?;
    let shipping: i64 = sh::table
        .filter(sh::result_table_id.eq(&d.result_table_id))
        .filter(sh::status.eq(bkdata_models::states::ShipperStatus::Running))
        .count()
        .get_result(conn)?;
    if clean_live + shipping > 0 {
        crate::tasks::start_shipper(conn, &d.result_table_id, &d.storage_type)?;
    }
    Ok(())
}

pub fn view(
    d: &DataStorage,
    s: Option<&Shipper>,
    t: &ResultTable,
    raw_name: Option<&str>,
) -> DataStorageInfo {
    let status = s.map_or(bkdata_models::states::ShipperStatus::Stopped, |s| s.status);
    DataStorageInfo {
        result_table_id: d.result_table_id.clone(),
        result_table_name: t.result_table_name.clone(),
        result_table_name_alias: t.result_table_name_alias.clone(),
        raw_data_id: d.raw_data_id,
        data_name: raw_name.map(str::to_string),
        data_alias: raw_name.map(str::to_string),
        data_type: d.data_type.clone(),
        bk_biz_id: d.bk_biz_id,
        storage_type: d.storage_type.clone(),
        cluster_type: d.storage_type.clone(),
        storage_cluster: d.cluster_name.clone(),
        physical_table_name: d.physical_table_name.clone(),
        expires: d.expires.clone(),
        storage_config: d.storage_config.clone(),
        fields: d.fields.clone(),
        status: status.to_string(),
        status_display: status.display().to_string(),
        status_message: s.map(|s| s.status_message.clone()),
        created_by: d.created_by.clone(),
        created_at: Some(bk_time(d.created_at)),
        updated_by: d.updated_by.clone(),
        updated_at: Some(bk_time(d.updated_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_expires;

    #[test]
    fn expires_parse() {
        assert_eq!(parse_expires("7d").unwrap(), Some(7));
        assert_eq!(parse_expires("30").unwrap(), Some(30));
        assert_eq!(parse_expires("2w").unwrap(), Some(14));
        assert_eq!(parse_expires("1y").unwrap(), Some(365));
        assert_eq!(parse_expires("-1").unwrap(), None);
        assert!(parse_expires("0d").is_err());
        assert!(parse_expires("7x").is_err());
        assert!(parse_expires("forever").is_err());
    }
}
