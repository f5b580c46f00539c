//! Flows over HTTP: seed 004's create body as sent (only host and credentials differ), get,
//! list, graph, export → delete → import, and bad nodes leaving nothing behind.
use bkdata_tests::seed004::{self, tutorial_nodes};
use bkdata_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

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
    let t = srv
        .bk_ok(
            Method::GET,
            "/v3/databus/result_tables/591_system_proc_ip_grp/",
            None,
        )
        .await;
    let names: Vec<&str> = t["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["field_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["mem", "cpu_usage_pct", "mem_usage_pct", "ip", "pid"],
        "{t}"
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
