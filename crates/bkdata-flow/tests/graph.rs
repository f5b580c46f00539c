//! Flow node checks: the seed 004 tutorial's nodes as sent, and each kind of bad input with
//! the node and field it names.
use bkdata_flow::graph::{check, Catalog, NodeKind, NodeSpec};
use serde_json::{json, Value};

struct Fake;

impl Catalog for Fake {
    fn table_fields(&self, rt: &str) -> Option<Vec<(String, String)>> {
        (rt == "591_system_proc").then(|| {
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
        })
    }
    fn cluster_type(&self, name: &str) -> Option<String> {
        match name {
            "yyy-lasting" => Some("tspider".into()),
            "cache" => Some("redis".into()),
            _ => None,
        }
    }
}

/// Seed 004's `nodes`, verbatim but for the biz id (`xxx` → 591).
fn tutorial() -> Value {
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

fn specs(v: Value) -> Vec<NodeSpec> {
    serde_json::from_value(v).unwrap()
}

async fn error_of(v: Value) -> (String, String, String) {
    let e = check(&specs(v), &Fake).await.unwrap_err();
    (e.node, e.field, e.message)
}

#[tokio::test]
async fn the_tutorial_nodes_check() {
    let nodes = check(&specs(tutorial()), &Fake).await.unwrap();
    let outline: Vec<(&str, &str, &str)> = nodes
        .iter()
        .map(|n| (n.id.as_str(), n.node_type.as_str(), n.output.as_str()))
        .collect();
    assert_eq!(
        outline,
        [
            ("1", "stream_source", "591_system_proc"),
            ("2", "realtime", "591_system_proc_ip_grp"),
            ("3", "tspider_storage", "591_system_proc_ip_grp")
        ]
    );
    let NodeKind::Realtime { fields, window, .. } = &nodes[1].kind else {
        panic!()
    };
    assert_eq!(
        fields
            .iter()
            .map(|(n, t)| format!("{n}:{t}"))
            .collect::<Vec<_>>(),
        [
            "mem:long",
            "cpu_usage_pct:double",
            "mem_usage_pct:double",
            "ip:string",
            "pid:int"
        ]
    );
    assert_eq!((window.freq_ms, window.wait_ms), (300_000, 60_000));
    assert_eq!(nodes[2].reads, ["591_system_proc_ip_grp"]);
}

#[tokio::test]
async fn chained_realtime_nodes_read_the_output_before_them() {
    let mut v = tutorial();
    v.as_array_mut().unwrap().push(
        json!({"id": 4, "bk_biz_id": 591, "node_type": "realtime", "name": "top",
        "table_name": "top_mem", "window_type": "none",
        "from_nodes": [{"id": 2, "from_result_table_ids": ["591_system_proc_ip_grp"]}],
        "sql": "SELECT ip, mem FROM 591_system_proc_ip_grp WHERE mem > 100"}),
    );
    // Listed before its input: the order comes from the links.
    v.as_array_mut().unwrap().swap(0, 3);
    let nodes = check(&specs(v), &Fake).await.unwrap();
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    assert!(
        pos("1") < pos("2") && pos("2") < pos("4") && pos("2") < pos("3"),
        "{ids:?}"
    );
}

#[tokio::test]
async fn bad_nodes_name_the_node_and_field() {
    let with = |i: usize, k: &str, val: Value| {
        let mut v = tutorial();
        if val.is_null() {
            v[i].as_object_mut().unwrap().remove(k);
        } else {
            v[i][k] = val;
        }
        v
    };
    let (node, field, msg) = error_of(with(
        1,
        "sql",
        json!("SELECT max(nope) AS x FROM 591_system_proc"),
    ))
    .await;
    assert_eq!((node.as_str(), field.as_str()), ("2", "sql"));
    assert!(msg.contains("nope"), "{msg}");
    let (node, field, msg) = error_of(with(0, "result_table_id", json!("591_missing"))).await;
    assert_eq!((node.as_str(), field.as_str()), ("1", "result_table_id"));
    assert!(msg.contains("591_missing"), "{msg}");
    let (node, field, _) = error_of(with(1, "from_nodes", Value::Null)).await;
    assert_eq!((node.as_str(), field.as_str()), ("2", "from_nodes"));
    let (node, field, msg) = error_of(with(
        1,
        "from_nodes",
        json!([{"id": 9, "from_result_table_ids": []}]),
    ))
    .await;
    assert_eq!((node.as_str(), field.as_str()), ("2", "from_nodes"));
    assert!(msg.contains("node 9"), "{msg}");
    let (node, field, _) = error_of(with(2, "cluster", Value::Null)).await;
    assert_eq!((node.as_str(), field.as_str()), ("3", "cluster"));
    let (_, field, msg) = error_of(with(2, "cluster", json!("cache"))).await;
    assert_eq!(field, "cluster");
    assert!(msg.contains("needs a tspider cluster"), "{msg}");
    let (node, field, msg) = error_of(with(2, "node_type", json!("hdfs_storage"))).await;
    assert_eq!((node.as_str(), field.as_str()), ("3", "node_type"));
    assert!(
        msg.contains("unknown node type") && msg.contains("tspider_storage"),
        "{msg}"
    );
    let (_, field, _) = error_of(with(1, "table_name", json!("1bad"))).await;
    assert_eq!(field, "table_name");
    let (_, field, _) = error_of(with(1, "window_type", json!("session"))).await;
    assert_eq!(field, "window_type");
    let (_, field, _) = error_of(with(1, "count_freq", Value::Null)).await;
    assert_eq!(field, "count_freq");
    let (_, field, _) = error_of(with(1, "bk_biz_id", Value::Null)).await;
    assert_eq!(field, "bk_biz_id");
    // A cycle: 1 → 2 → 4 → 2.
    let mut v = tutorial();
    v[1]["from_nodes"] = json!([{"id": 1}, {"id": 4}]);
    v.as_array_mut().unwrap().push(json!({"id": 4, "bk_biz_id": 591, "node_type": "realtime", "name": "loop",
        "table_name": "loop", "from_nodes": [{"id": 2}], "sql": "SELECT ip FROM 591_system_proc_ip_grp"}));
    let (_, field, msg) = error_of(v).await;
    assert_eq!(
        (field.as_str(), msg.as_str()),
        ("from_nodes", "the links make a cycle")
    );
    let mut v = tutorial();
    v[2]["id"] = json!(1);
    let (_, field, _) = error_of(v).await;
    assert_eq!(field, "id");
    let (_, field, _) = error_of(json!([])).await;
    assert_eq!(field, "nodes");
}
