//! Flows over HTTP: seed 004's create body as sent (only host and credentials differ), get,
//! list, graph, export → delete → import, and bad nodes leaving nothing behind.
use bkdata_tests::seed004::{self, tutorial_nodes};
use bkdata_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The field names of the tutorial's realtime output table, in order.
async fn output_fields(srv: &TestServer) -> Vec<String> {
    let t = srv
        .bk_ok(
            Method::GET,
            "/v3/databus/result_tables/591_system_proc_ip_grp/",
            None,
        )
        .await;
    t["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["field_name"].as_str().unwrap().to_string())
        .collect()
}

async fn prerequisites(srv: &TestServer) -> i64 {
    seed004::prerequisites(srv, "bkdata_flows_api").await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tutorial_flow_is_created_as_sent() {
    let srv = TestServer::start().await;
    let project = prerequisites(&srv).await;
    // The tutorial's body: credentials in the body, the nodes, /prod/v3/ root.
    let r = srv
        .client
        .post(srv.url("/prod/v3/dataflow/flow/flows/create/"))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(
            json!({"bk_app_code": srv.app_code, "bk_app_secret": srv.secret, "bkdata_authentication_method": "user",
                "bk_username": "admin", "project_id": project, "flow_name": "data-test", "nodes": tutorial_nodes()})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (
            v["result"].as_bool(),
            v["code"].as_str(),
            v["message"].as_str()
        ),
        (Some(true), Some("1500200"), Some("ok")),
        "{v}"
    );
    let flow_id = v["data"]["flow_id"].as_i64().unwrap();
    let node_ids: Vec<i64> = v["data"]["node_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(node_ids.len(), 3);

    let f = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow_id}/"),
            None,
        )
        .await;
    assert_eq!(
        (
            f["flow_name"].as_str(),
            f["status"].as_str(),
            f["project_id"].as_i64()
        ),
        (Some("data-test"), Some("no-start"), Some(project))
    );
    let list = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/?project_id={project}"),
            None,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // The realtime node's output is a result table with the fields its SQL makes.
    assert_eq!(
        output_fields(&srv).await,
        ["mem", "cpu_usage_pct", "mem_usage_pct", "ip", "pid"]
    );

    let g = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow_id}/graph/"),
            None,
        )
        .await;
    let nodes = g["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let types: Vec<&str> = nodes
        .iter()
        .map(|n| n["node_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["stream_source", "realtime", "tspider_storage"]);
    assert!(nodes.iter().all(|n| n["status"] == "no-start"));
    assert_eq!(nodes[1]["node_config"]["sql"], tutorial_nodes()[1]["sql"]);
    let links: Vec<(i64, i64)> = g["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["from_node_id"].as_i64().unwrap(),
                l["to_node_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        links,
        [(node_ids[0], node_ids[1]), (node_ids[1], node_ids[2])]
    );

    // Export, delete, import: an equal flow.
    let exported = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow_id}/export/"),
            None,
        )
        .await;
    srv.bk_ok(
        Method::DELETE,
        &format!("/v3/dataflow/flow/flows/{flow_id}/"),
        None,
    )
    .await;
    let (_, v) = srv
        .bk(
            Method::GET,
            "/v3/databus/result_tables/591_system_proc_ip_grp/",
            None,
        )
        .await;
    assert_eq!(
        v["code"], "1500004",
        "the realtime table went with the flow: {v}"
    );
    let again = srv
        .bk_ok(
            Method::POST,
            "/v3/dataflow/flow/flows/create/",
            Some(exported.clone()),
        )
        .await;
    let g2 = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{}/graph/", again["flow_id"]),
            None,
        )
        .await;
    let strip = |g: &Value| -> Vec<Value> {
        g["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let mut c = n["node_config"].clone();
                c.as_object_mut().unwrap().remove("id");
                c.as_object_mut().unwrap().remove("from_nodes");
                json!([n["node_type"], c])
            })
            .collect()
    };
    assert_eq!(strip(&g), strip(&g2), "an equal flow");
    assert_eq!(g2["links"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_nodes_leave_no_flow() {
    let srv = TestServer::start().await;
    let project = prerequisites(&srv).await;
    let create = |nodes: Value| {
        let srv = &srv;
        async move {
            srv.bk(
                Method::POST,
                "/v3/dataflow/flow/flows/create/",
                Some(json!({"project_id": project, "flow_name": "bad", "nodes": nodes})),
            )
            .await
            .1
        }
    };
    let mut cases = Vec::new();
    let mut n = tutorial_nodes();
    n[1]["sql"] = json!("SELECT max(nope) AS x FROM 591_system_proc");
    cases.push((n, "2", "sql"));
    let mut n = tutorial_nodes();
    n[0]["result_table_id"] = json!("591_unknown");
    cases.push((n, "1", "result_table_id"));
    let mut n = tutorial_nodes();
    n[1]["from_nodes"] = json!([{"id": 1}, {"id": 3}]);
    cases.push((n, "2", "from_nodes")); // a cycle 2 → 3 → 2
    let mut n = tutorial_nodes();
    n[2].as_object_mut().unwrap().remove("from_nodes");
    cases.push((n, "3", "from_nodes"));
    let mut n = tutorial_nodes();
    n[2].as_object_mut().unwrap().remove("cluster");
    cases.push((n, "3", "cluster"));
    let mut n = tutorial_nodes();
    n[2]["node_type"] = json!("druid_storage");
    cases.push((n, "3", "node_type"));
    for (nodes, node, field) in cases {
        let v = create(nodes).await;
        assert_eq!(
            (v["result"].as_bool(), v["code"].as_str()),
            (Some(false), Some("1500400")),
            "{v}"
        );
        assert!(
            v["errors"]["nodes"][node][field].is_array(),
            "{node}.{field}: {v}"
        );
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("node {node} (")),
            "{v}"
        );
    }
    let list = srv
        .bk_ok(Method::GET, "/v3/dataflow/flow/flows/", None)
        .await;
    assert_eq!(list, json!([]), "no flow was left behind");
    let (_, v) = srv
        .bk(
            Method::GET,
            "/v3/databus/result_tables/591_system_proc_ip_grp/",
            None,
        )
        .await;
    assert_eq!(v["code"], "1500004", "nor a result table: {v}");

    // A project that may not read the table: the source is refused.
    let other = srv
        .bk_ok(
            Method::POST,
            "/v3/meta/projects/",
            Some(json!({"project_name": "elsewhere", "bk_biz_id": 2})),
        )
        .await;
    let (_, v) = srv
        .bk(Method::POST, "/v3/dataflow/flow/flows/create/", Some(json!({"project_id": other["project_id"], "flow_name": "x", "nodes": tutorial_nodes()})))
        .await;
    assert!(
        v["errors"]["nodes"]["1"]["result_table_id"].is_array(),
        "{v}"
    );
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/dataflow/flow/flows/create/",
            Some(json!({"project_id": 999999, "flow_name": "x", "nodes": tutorial_nodes()})),
        )
        .await;
    assert!(v["errors"]["project_id"].is_array(), "{v}");
    // Another app sees no flow of ours.
    let ok = create(tutorial_nodes()).await;
    let id = ok["data"]["flow_id"].as_i64().unwrap();
    let eve = srv.other_app("other-app");
    let (_, v) = srv
        .bk_as(
            &eve,
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{id}/"),
            None,
        )
        .await;
    assert_eq!(v["code"], "1500004", "{v}");
    let (_, v) = srv
        .bk_as(
            &eve,
            Method::DELETE,
            &format!("/v3/dataflow/flow/flows/{id}/"),
            None,
        )
        .await;
    assert_eq!(v["code"], "1500004", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_are_added_patched_deleted_and_replaced() {
    let srv = TestServer::start().await;
    let project = prerequisites(&srv).await;
    let v = srv
        .bk_ok(
            Method::POST,
            "/v3/dataflow/flow/flows/create/",
            Some(json!({"project_id": project, "flow_name": "edits", "nodes": tutorial_nodes()})),
        )
        .await;
    let flow = v["flow_id"].as_i64().unwrap();
    let rt_node = v["node_ids"][1].as_i64().unwrap();
    let path = |tail: &str| format!("/v3/dataflow/flow/flows/{flow}/{tail}");
    let graph = || async {
        srv.bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/graph/"),
            None,
        )
        .await
    };

    // bklog's add: settings under `config`, the link as `from_links`.
    let added = srv
        .bk_ok(
            Method::POST,
            &path("nodes/"),
            Some(json!({"flow_id": flow, "result_table_id": "591_system_proc_ip_grp", "node_type": "postgresql_storage",
                "config": {"bk_biz_id": 591, "from_result_table_ids": ["591_system_proc_ip_grp"], "name": "pg copy",
                           "result_table_id": "591_system_proc_ip_grp", "cluster": "default-postgresql", "expires": 7},
                "from_links": [{"source": {"node_id": rt_node, "id": format!("ch_{rt_node}"), "arrow": "Right"},
                                "target": {"id": "ch_new", "arrow": "Left"}}],
                "frontend_info": {"x": 600, "y": 200}})),
        )
        .await;
    let pg_node = added["node_id"].as_i64().unwrap();
    let g = graph().await;
    assert_eq!(g["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(g["version"], "2", "{g}");
    assert!(g["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["from_node_id"] == rt_node && l["to_node_id"] == pg_node));
    assert_eq!(
        g["nodes"][3]["node_config"]["frontend_info"],
        json!({"x": 600, "y": 200})
    );

    // Only the table it names: linked to the node producing it; a bad add names the node.
    let (_, bad) = srv
        .bk(
            Method::POST,
            &path("nodes/"),
            Some(
                json!({"node_type": "tspider_storage", "bk_biz_id": 591, "name": "nowhere",
                "from_result_table_ids": ["591_system_proc_ip_grp"], "cluster": "no-such-cluster"}),
            ),
        )
        .await;
    assert_eq!(bad["result"], false);
    assert!(bad["errors"]["nodes"]["new"]["cluster"].is_array(), "{bad}");
    let by_table = srv
        .bk_ok(
            Method::POST,
            &path("nodes/"),
            Some(
                json!({"node_type": "tspider_storage", "bk_biz_id": 591, "name": "by table",
                "from_result_table_ids": ["591_system_proc_ip_grp"], "cluster": "yyy-lasting"}),
            ),
        )
        .await;
    let by_table = by_table["node_id"].as_i64().unwrap();
    let g = graph().await;
    assert!(g["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["from_node_id"] == rt_node && l["to_node_id"] == by_table));

    // PATCH part of the realtime node: its result table gets the new SQL's fields.
    srv.bk_ok(
        Method::PATCH,
        &path(&format!("nodes/{rt_node}/")),
        Some(json!({"sql": "SELECT max(mem_res) AS mem, min(mem_res) AS mem_min, ip, pid FROM 591_system_proc GROUP BY ip, pid"})),
    )
    .await;
    assert_eq!(output_fields(&srv).await, ["mem", "mem_min", "ip", "pid"]);
    let g = graph().await;
    assert_eq!(
        g["nodes"][1]["node_config"]["count_freq"], 300,
        "the rest kept"
    );
    assert_eq!(g["nodes"][1]["node_config"]["window_type"], "scroll");
    // Bad patches change nothing.
    for (body, field) in [
        (
            json!({"sql": "SELECT max(nope) AS x FROM 591_system_proc"}),
            "sql",
        ),
        (json!({"window_type": "tumbling"}), "window_type"),
    ] {
        let (_, v) = srv
            .bk(
                Method::PATCH,
                &path(&format!("nodes/{rt_node}/")),
                Some(body),
            )
            .await;
        assert!(
            v["errors"]["nodes"][rt_node.to_string()][field].is_array(),
            "{v}"
        );
    }
    let (_, v) = srv
        .bk(
            Method::PATCH,
            &path(&format!("nodes/{rt_node}/")),
            Some(json!({"table_name": "renamed"})),
        )
        .await;
    assert!(
        v["message"].as_str().unwrap().contains("cannot change"),
        "{v}"
    );
    assert_eq!(
        graph().await["nodes"][1]["node_config"]["sql"],
        g["nodes"][1]["node_config"]["sql"]
    );

    // Delete: not a node others read; then the storage nodes, then it.
    let (_, v) = srv
        .bk(Method::DELETE, &path(&format!("nodes/{rt_node}/")), None)
        .await;
    assert!(
        v["message"].as_str().unwrap().contains("delete it first"),
        "{v}"
    );
    srv.bk_ok(Method::DELETE, &path(&format!("nodes/{pg_node}/")), None)
        .await;
    srv.bk_ok(Method::DELETE, &path(&format!("nodes/{by_table}/")), None)
        .await;
    assert_eq!(graph().await["nodes"].as_array().unwrap().len(), 3);

    // {fid}/create/: the nodes replaced by the tutorial's again.
    let r = srv
        .bk_ok(
            Method::POST,
            &path("create/"),
            Some(json!({"nodes": tutorial_nodes()})),
        )
        .await;
    assert_eq!(r["node_ids"].as_array().unwrap().len(), 3);
    let g = graph().await;
    assert_eq!(
        g["nodes"][1]["node_config"]["sql"],
        tutorial_nodes()[1]["sql"]
    );
    assert_eq!(output_fields(&srv).await.len(), 5);
    let (_, v) = srv
        .bk(
            Method::PATCH,
            &format!("/v3/dataflow/flow/flows/{flow}/nodes/{rt_node}/"),
            Some(json!({"sql": "x"})),
        )
        .await;
    assert_eq!(v["code"], "1500004", "the old node is gone: {v}");
}
