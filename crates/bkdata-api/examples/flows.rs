//! List the flows the app can see, with their nodes and counters, then ask the query API
//! about the first realtime node's table. Runs against the demo server:
//!
//!   BKDATA_URL=http://127.0.0.1:8084 BKDATA_APP_CODE=demo BKDATA_APP_SECRET=<secret> \
//!     cargo run -p bkdata-api --features client --example flows
use bkdata_api::client::BkDataClient;
use bkdata_api::dataflow::QueryRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str| std::env::var(k).map_err(|_| format!("set {k}"));
    let client = BkDataClient::builder()
        .base_url(&env("BKDATA_URL")?)
        .app(&env("BKDATA_APP_CODE")?, &env("BKDATA_APP_SECRET")?)
        .username(&std::env::var("BKDATA_USERNAME").unwrap_or_else(|_| "admin".into()))
        .build()?;
    let flows = client.list_flows(None).await?;
    let mut table = None;
    for f in &flows {
        println!("flow {} {} ({})", f.flow_id, f.flow_name, f.status);
        let g = client.get_flow_graph(f.flow_id).await?;
        for n in &g.nodes {
            let counters = n
                .runtime
                .as_ref()
                .map(|r| {
                    format!(
                        "in {} out {} late {} windows {}",
                        r.rows_in, r.rows_out, r.late_rows, r.windows
                    )
                })
                .unwrap_or_default();
            println!("  #{} {} {} {counters}", n.node_id, n.node_type, n.status);
            if n.node_type == "realtime" && table.is_none() {
                table = n.result_table_ids.first().cloned();
            }
        }
    }
    if let Some(t) = table {
        let q = QueryRequest {
            sql: format!("SELECT * FROM {t} LIMIT 5"),
            prefer_storage: None,
        };
        match client.query(&q).await {
            Ok(rows) => println!("{t}: {:?}", rows.list),
            Err(e) => println!("{t}: {e}"),
        }
    }
    Ok(())
}
