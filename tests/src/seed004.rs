//! Seed 004's tutorial: its `nodes` as sent, its prerequisites (raw data cleaned into
//! `591_system_proc`, a project of biz 591, the `yyy-lasting` MariaDB cluster) and synthetic
//! `system_proc` records with the per-window maxima the tutorial's SQL should give.
use crate::TestServer;
use mysql_async::prelude::Queryable;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Seed 004's `nodes` with biz 591.
pub fn tutorial_nodes() -> Value {
    json!([
      {"result_table_id": "591_system_proc", "bk_biz_id": 591, "from_nodes": [], "frontend_info": {"y": 50, "x": 30},
       "id": 1, "node_type": "stream_source", "name": "数据源"},
      {"id": 2, "bk_biz_id": 591, "count_freq": 300, "window_type": "scroll", "table_name": "system_proc_ip_grp",
       "from_nodes": [{"from_result_table_ids": ["591_system_proc"], "id": 1}],
       "output_name": "统计 5min 最大内存和 cpu", "waiting_time": 60, "frontend_info": {"y": 50, "x": 350},
       "sql": "SELECT max(mem_res) as mem, max(cpu_usage_pct)  as cpu_usage_pct,max(mem_usage_pct) as mem_usage_pct,ip,pid\n                       FROM 591_system_proc \n                     group by ip, pid",
       "node_type": "realtime", "name": "统计 5min 最大内存和 cpu"},
      {"indexed_fields": ["create_by", "biz_id", "visitor_department", "visitor_group"], "expires": 3,
       "result_table_id": "591_cpu_mem_test_5min", "bk_biz_id": 591,
       "from_nodes": [{"from_result_table_ids": ["591_system_proc_ip_grp"], "id": 2}],
       "frontend_info": {"y": 50, "x": 600}, "id": 3, "cluster": "yyy-lasting", "node_type": "tspider_storage",
       "name": "统计5min最大内存和cpu"}
    ])
}

/// The clean making `591_system_proc` from JSON records: its `json_config` (event time from
/// the record's `time`, in ms, as a collector stamps it) and the result table's fields.
pub fn system_proc_clean() -> (Value, Vec<Value>) {
    let typed = [
        ("cpu_usage_pct", "double"),
        ("mem_usage_pct", "double"),
        ("mem_res", "long"),
        ("ip", "string"),
        ("pid", "int"),
        ("time", "long"),
    ];
    let assign: Vec<Value> = typed
        .iter()
        .map(|(k, t)| json!({"key": k, "assign_to": k, "type": t}))
        .collect();
    let fields: Vec<Value> = typed[..5]
        .iter()
        .enumerate()
        .map(|(i, (k, t))| json!({"field_name": k, "field_type": t, "field_alias": k, "is_dimension": false, "field_index": i + 1}))
        .collect();
    let config = json!({"extract": {"type": "fun", "method": "from_json", "label": "j",
        "next": {"type": "assign", "subtype": "assign_obj", "label": "a", "assign": assign}},
        "conf": {"time_field_name": "time", "time_format": "Unix Time Stamp(milliseconds)",
                 "timestamp_len": 13, "timezone": 8}});
    (config, fields)
}

/// The tutorial's prerequisites. `mariadb_database`: the database the `yyy-lasting` cluster
/// writes to (tests share one MariaDB). Answers `(project_id, raw_data_id)`.
pub async fn prerequisites(srv: &TestServer, mariadb_database: &str) -> (i64, i64) {
    let raw = srv
        .bk_ok(
            Method::POST,
            "/v3/access/rawdata/",
            Some(json!({"bk_biz_id": 591, "raw_data_name": "system_proc"})),
        )
        .await;
    let raw_id = raw["raw_data_id"].as_i64().unwrap();
    let (config, fields) = system_proc_clean();
    srv.bk_ok(
        Method::POST,
        "/v3/databus/cleans/",
        Some(json!({"raw_data_id": raw_id, "bk_biz_id": 591,
        "result_table_name": "system_proc", "json_config": config.to_string(), "fields": fields})),
    )
    .await;
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(
            json!({"cluster_name": "yyy-lasting", "cluster_type": "tspider",
        "connection_info": {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "",
                            "database": mariadb_database}}),
        ),
    )
    .await;
    let p = srv
        .bk_ok(
            Method::POST,
            "/v3/meta/projects/",
            Some(json!({"project_name": "tutorial", "bk_biz_id": 591})),
        )
        .await;
    (p["project_id"].as_i64().unwrap(), raw_id)
}

/// 2026-11-22 00:00:00 UTC, on a 5-minute boundary (ms).
pub const T0: i64 = 1_795_305_600_000;

/// One `system_proc` record.
#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    pub time: i64,
    pub ip: String,
    pub pid: i64,
    pub cpu: f64,
    pub mem_pct: f64,
    pub mem_res: i64,
}

impl Proc {
    pub fn line(&self) -> String {
        json!({"time": self.time, "ip": self.ip, "pid": self.pid, "cpu_usage_pct": self.cpu,
               "mem_usage_pct": self.mem_pct, "mem_res": self.mem_res})
        .to_string()
    }
}

/// `minutes` simulated minutes from `from` of three hosts with two processes each, a record
/// every 10 s per process. Values are quarter steps (exact in binary floating point).
pub fn system_proc(from: i64, minutes: i64, seed: u64) -> Vec<Proc> {
    let mut out = Vec::new();
    for s in (0..minutes * 60).step_by(10) {
        for (h, ip) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            for pid in [100i64, 200] {
                let k = (s as u64)
                    .wrapping_mul(2654435761)
                    .wrapping_add(seed + h as u64 * 97 + pid as u64);
                out.push(Proc {
                    time: from + s * 1000,
                    ip: ip.to_string(),
                    pid,
                    cpu: (k % 400) as f64 / 4.0,
                    mem_pct: ((k / 7) % 400) as f64 / 4.0,
                    mem_res: ((k / 3) % 1_000_000) as i64,
                });
            }
        }
    }
    out
}

/// The tutorial's SQL by hand: per 5-minute window start and (ip, pid), the maxima
/// `(mem, cpu_usage_pct, mem_usage_pct)`.
pub fn maxima_by_hand(rows: &[Proc]) -> BTreeMap<(i64, String, i64), (i64, f64, f64)> {
    let mut out: BTreeMap<(i64, String, i64), (i64, f64, f64)> = BTreeMap::new();
    for r in rows {
        let w = r.time.div_euclid(300_000) * 300_000;
        let e = out
            .entry((w, r.ip.clone(), r.pid))
            .or_insert((i64::MIN, f64::MIN, f64::MIN));
        e.0 = e.0.max(r.mem_res);
        e.1 = e.1.max(r.cpu);
        e.2 = e.2.max(r.mem_pct);
    }
    out
}

/// Newline-separated records for the ingest endpoint.
pub fn ndjson(rows: &[Proc]) -> String {
    let mut s = String::new();
    for r in rows {
        s.push_str(&r.line());
        s.push('\n');
    }
    s
}

/// Per (window start, ip, pid): (mem, cpu_usage_pct, mem_usage_pct).
pub type Maxima = BTreeMap<(i64, String, i64), (i64, f64, f64)>;

/// The tutorial's stored windows in MariaDB `table` (none when it cannot be read); a
/// window stored twice fails.
pub async fn maria_maxima(pool: &mysql_async::Pool, table: &str) -> Maxima {
    let mut c = pool.get_conn().await.unwrap();
    let rows: Vec<(i64, String, i64, i64, f64, f64)> = c
        .query(format!(
            "SELECT dtEventTimeStamp, ip, pid, mem, cpu_usage_pct, mem_usage_pct FROM {table}"
        ))
        .await
        .unwrap_or_default();
    let mut out = Maxima::new();
    for (w, ip, pid, mem, cpu, memp) in rows {
        assert!(
            out.insert((w, ip, pid), (mem, cpu, memp)).is_none(),
            "a window's row is stored twice"
        );
    }
    out
}
