//! The window runtime on the seed 004 tutorial's SQL and on every window type, with output
//! values checked against the same computation done by hand.
use bkdata_flow::rows::{schema_of, write_rows};
use bkdata_flow::{Emitted, FlowSql, Pushed, WindowConf, WindowRuntime, WindowType};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const RT: &str = "591_system_proc";
/// 2026-11-22 00:00:00 UTC, a multiple of every window length used here.
const T0: i64 = 1_795_305_600_000;
const TUTORIAL_SQL: &str = "SELECT max(mem_res) as mem, max(cpu_usage_pct)  as cpu_usage_pct,max(mem_usage_pct) as mem_usage_pct,ip,pid
                       FROM 591_system_proc
                     group by ip, pid";

fn proc_fields() -> Vec<(String, String)> {
    [
        ("cpu_usage_pct", "double"),
        ("mem_usage_pct", "double"),
        ("mem_res", "long"),
        ("ip", "string"),
        ("pid", "int"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// One `system_proc` row as the clean puts it on the stream.
fn proc_row(t: i64, ip: &str, pid: i64, cpu: f64, mem_pct: f64, mem_res: i64) -> Vec<u8> {
    json!({"cpu_usage_pct": cpu, "mem_usage_pct": mem_pct, "mem_res": mem_res, "ip": ip, "pid": pid,
        "dtEventTime": "x", "dtEventTimeStamp": t, "localTime": "x"})
    .to_string()
    .into_bytes()
}

/// Synthetic records every 10 s over 20 minutes for 3 hosts × 2 processes.
fn twenty_minutes() -> Vec<(i64, String, i64, f64, f64, i64)> {
    let mut out = Vec::new();
    let mut x: u64 = 42;
    for s in (0..20 * 60).step_by(10) {
        for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            for pid in [100, 200] {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let cpu = ((x >> 33) % 10_000) as f64 / 100.0;
                let mem_pct = ((x >> 17) % 10_000) as f64 / 100.0;
                let mem_res = ((x >> 40) % 1_000_000) as i64;
                out.push((T0 + s * 1000, ip.to_string(), pid, cpu, mem_pct, mem_res));
            }
        }
    }
    out
}

async fn runtime(
    kind: WindowType,
    freq: i64,
    len_min: Option<i64>,
    wait: i64,
    sql: &str,
) -> WindowRuntime {
    let schema = schema_of(&proc_fields());
    let sql = FlowSql::compile(sql, vec![(RT.to_string(), schema)])
        .await
        .unwrap();
    let conf = WindowConf::new(kind, Some(freq), len_min, Some(wait)).unwrap();
    WindowRuntime::new(conf, sql, RT).unwrap()
}

/// Result rows as JSON objects keyed by (window start, ip, pid).
fn rows_of(out: &[Emitted]) -> BTreeMap<(i64, String, i64), Value> {
    let mut lines = Vec::new();
    for e in out {
        for b in &e.batches {
            write_rows(b, e.start, &|_| "t".into(), "l", &mut lines);
        }
    }
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_slice(l).unwrap();
            let key = (
                v["dtEventTimeStamp"].as_i64().unwrap(),
                v["ip"].as_str().unwrap_or_default().to_string(),
                v["pid"].as_i64().unwrap_or_default(),
            );
            (key, v)
        })
        .collect()
}

/// The tutorial's aggregate computed by hand over the records in [start, end).
fn by_hand(
    data: &[(i64, String, i64, f64, f64, i64)],
    window_of: impl Fn(i64) -> Vec<i64>,
) -> BTreeMap<(i64, String, i64), (i64, f64, f64)> {
    let mut out: BTreeMap<(i64, String, i64), (i64, f64, f64)> = BTreeMap::new();
    for (t, ip, pid, cpu, memp, memr) in data {
        for w in window_of(*t) {
            let e = out
                .entry((w, ip.clone(), *pid))
                .or_insert((i64::MIN, f64::MIN, f64::MIN));
            e.0 = e.0.max(*memr);
            e.1 = e.1.max(*cpu);
            e.2 = e.2.max(*memp);
        }
    }
    out
}

fn assert_matches(
    got: &BTreeMap<(i64, String, i64), Value>,
    want: &BTreeMap<(i64, String, i64), (i64, f64, f64)>,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the same windows and groups"
    );
    for (k, (mem, cpu, memp)) in want {
        let v = &got[k];
        assert_eq!(v["mem"].as_i64(), Some(*mem), "{k:?}");
        assert_eq!(v["cpu_usage_pct"].as_f64(), Some(*cpu), "{k:?}");
        assert_eq!(v["mem_usage_pct"].as_f64(), Some(*memp), "{k:?}");
        assert_eq!(v["dtEventTime"], "t");
    }
}

#[tokio::test]
async fn tutorial_scroll_windows_equal_the_sql_by_hand() {
    let mut rt = runtime(WindowType::Scroll, 300, None, 60, TUTORIAL_SQL).await;
    let fields: Vec<_> = rt
        .sql()
        .output_fields()
        .into_iter()
        .map(|(n, t)| format!("{n}:{t}"))
        .collect();
    assert_eq!(
        fields,
        [
            "mem:long",
            "cpu_usage_pct:double",
            "mem_usage_pct:double",
            "ip:string",
            "pid:int"
        ]
    );
    let data = twenty_minutes();
    let mut out = Vec::new();
    for (t, ip, pid, cpu, memp, memr) in &data {
        rt.push(&proc_row(*t, ip, *pid, *cpu, *memp, *memr), 1);
        out.extend(rt.advance(0).await.unwrap());
    }
    // The watermark (last event 19:50 − 60 s) has closed the first three windows only.
    assert_eq!(
        out.iter().map(|e| e.start - T0).collect::<Vec<_>>(),
        [0, 300_000, 600_000]
    );
    assert_eq!(out[0].rows_in, 30 * 6);
    // Idle past the timeout: the last window closes too.
    out.extend(rt.advance(120_000).await.unwrap());
    assert_eq!(out.len(), 4);
    assert_eq!(rt.pending_rows(), 0);
    let want = by_hand(&data, |t| vec![t - (t - T0) % 300_000]);
    assert_matches(&rows_of(&out), &want);
    assert_eq!((rt.late, rt.bad), (0, 0));
}

#[tokio::test]
async fn slide_and_accumulate_windows() {
    let data = twenty_minutes();
    // Slide: 10-minute windows every 5 minutes; a window is stamped with its start.
    let mut rt = runtime(WindowType::Slide, 300, Some(10), 0, TUTORIAL_SQL).await;
    let mut out = Vec::new();
    for (t, ip, pid, cpu, memp, memr) in &data {
        rt.push(&proc_row(*t, ip, *pid, *cpu, *memp, *memr), 1);
    }
    out.extend(rt.advance(600_000).await.unwrap());
    // Ends at 5, 10, 15, 20, 25 min: starts -5, 0, 5, 10, 15.
    assert_eq!(
        out.iter()
            .map(|e| (e.start - T0) / 60_000)
            .collect::<Vec<_>>(),
        [-5, 0, 5, 10, 15]
    );
    let want = by_hand(&data, |t| {
        let pane = t - (t - T0) % 300_000;
        vec![pane - 300_000, pane]
    });
    assert_matches(&rows_of(&out), &want);

    // Accumulate: within each 10-minute period, an output every 5 minutes from the period's
    // start; both outputs of a period carry its start, so compare them one by one.
    let mut rt = runtime(WindowType::Accumulate, 300, Some(10), 0, TUTORIAL_SQL).await;
    for (t, ip, pid, cpu, memp, memr) in &data {
        rt.push(&proc_row(*t, ip, *pid, *cpu, *memp, *memr), 1);
    }
    let out = rt.advance(600_000).await.unwrap();
    assert_eq!(
        out.iter()
            .map(|e| ((e.start - T0) / 60_000, (e.end - T0) / 60_000))
            .collect::<Vec<_>>(),
        [(0, 5), (0, 10), (10, 15), (10, 20)]
    );
    for e in &out {
        let want = by_hand(
            &data
                .iter()
                .filter(|d| d.0 >= e.start && d.0 < e.end)
                .cloned()
                .collect::<Vec<_>>(),
            |_| vec![e.start],
        );
        assert_matches(&rows_of(std::slice::from_ref(e)), &want);
        assert_eq!(e.rows_in as i64, (e.end - e.start) / 10_000 * 6);
    }
}

#[tokio::test]
async fn waiting_time_keeps_a_window_open_and_late_rows_are_counted() {
    let sql = "SELECT count(*) AS n, sum(mem_res) AS total, ip FROM 591_system_proc GROUP BY ip";
    let mut rt = runtime(WindowType::Scroll, 60, None, 30, sql).await;
    let row = |s: i64, mem: i64| proc_row(T0 + s * 1000, "h", 1, 1.0, 1.0, mem);
    assert_eq!(rt.push(&row(10, 1), 3), Pushed::Kept);
    rt.push(&row(70, 2), 4); // the next window; watermark 40 s: the first stays open
    assert!(rt.advance(0).await.unwrap().is_empty());
    assert_eq!(
        rt.replay_from(),
        Some(3),
        "the first window's rows came from position 3"
    );
    rt.push(&row(50, 4), 5); // out of order but within waiting_time: still counted in window 0
    rt.push(&row(95, 8), 6); // watermark 65 s: window 0 closes
    let out = rt.advance(0).await.unwrap();
    let got = rows_of(&out);
    assert_eq!(got.len(), 1);
    let v = got.values().next().unwrap();
    assert_eq!((v["n"].as_i64(), v["total"].as_i64()), (Some(2), Some(5)));
    assert_eq!(rt.emitted_to(), T0 + 60_000);
    assert_eq!(rt.replay_from(), Some(4), "only the second window is held");
    // Its window has been emitted: late.
    assert_eq!(
        rt.push(&row(20, 100), 7),
        Pushed::Late {
            last_end: T0 + 60_000
        }
    );
    assert_eq!(rt.late, 1);
    assert_eq!(rt.push(b"{\"ip\": \"no time\"}", 8), Pushed::Bad);
    rt.push(b"not json", 8);
    assert_eq!(rt.bad, 2);
    let out = rt.advance(60_000).await.unwrap();
    let v = rows_of(&out).into_values().next().unwrap();
    assert_eq!(
        (v["n"].as_i64(), v["total"].as_i64()),
        (Some(2), Some(10)),
        "the late row is not in it"
    );
}

#[tokio::test]
async fn sql_errors_are_clear() {
    let schema = schema_of(&proc_fields());
    let inputs = || vec![(RT.to_string(), schema.clone())];
    let err = |sql: &'static str| {
        let inputs = inputs();
        async move {
            FlowSql::compile(sql, inputs)
                .await
                .err()
                .unwrap()
                .to_string()
        }
    };
    let e = err("SELECT max(nope) AS x FROM 591_system_proc").await;
    assert!(e.contains("nope"), "{e}");
    let e = err("SELECT ip FROM 591_other").await;
    assert!(e.contains("591_other"), "{e}");
    let e = err("SELEC ip FROM 591_system_proc").await;
    assert!(e.starts_with("sql:"), "{e}");
    let e = err("SELECT max(mem_res) FROM 591_system_proc").await;
    assert!(e.contains("needs a name"), "{e}");
    let e = err("CREATE TABLE x (a INT)").await;
    assert!(e.starts_with("sql:"), "{e}");
    let e = err("").await;
    assert!(e.contains("empty"), "{e}");
    // Backquotes and case are kept.
    let ok = FlowSql::compile(
        "SELECT `ip`, cpu_usage_pct AS cpuUsage FROM `591_system_proc`",
        inputs(),
    )
    .await
    .unwrap();
    assert_eq!(
        ok.output_fields(),
        [
            ("ip".to_string(), "string"),
            ("cpuUsage".to_string(), "double")
        ]
    );
}

#[tokio::test]
async fn none_windows_pass_each_batch_through() {
    let schema = schema_of(&proc_fields());
    let sql = FlowSql::compile(
        "SELECT ip, cpu_usage_pct * 2 AS doubled FROM 591_system_proc WHERE pid = 100",
        vec![(RT.to_string(), schema)],
    )
    .await
    .unwrap();
    let conf = WindowConf::new(WindowType::None, None, None, None).unwrap();
    let mut rt = WindowRuntime::new(conf, sql, RT).unwrap();
    rt.push(&proc_row(T0, "a", 100, 1.5, 0.0, 0), 1);
    rt.push(&proc_row(T0 + 5, "b", 200, 9.0, 0.0, 0), 1);
    let out = rt.advance(0).await.unwrap();
    let mut lines = Vec::new();
    write_rows(
        &out[0].batches[0],
        out[0].start,
        &|_| "t".into(),
        "l",
        &mut lines,
    );
    let v: Value = serde_json::from_slice(&lines[0]).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (v["ip"].as_str(), v["doubled"].as_f64()),
        (Some("a"), Some(3.0))
    );
    assert_eq!(v["dtEventTimeStamp"].as_i64(), Some(T0 + 5));
    assert!(rt.advance(0).await.unwrap().is_empty());
}
