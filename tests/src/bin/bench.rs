//! Benchmarks of the job queue, printing each figure beside its target.
//!   bkdata-bench queue   [--jobs N]     no-op jobs/s drained by 2 worker processes (target ≥ 5,000)
//!   bkdata-bench latency [--samples N]  enqueue → handler start with 2 idle runners (target p50 < 5 ms)
//!   bkdata-bench e2e     [--secs 60] [--rate 0] [--conns 4] [--batch 5000]
//!                        HTTP ingest → JetStream → clean → PostgreSQL (COPY), rows/s sustained
//!                        over the window with the bus lag printed every 5 s (target ≥ 150,000)
//! The HTTP figure comes from wrk in scripts/bench.sh.
use bkdata_models::jobs::{self, JobContext, NewJob, Runner, RunnerConfig};
use bkdata_tests::{TempDir, TestDb, WorkerProc};
use diesel::prelude::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn count(conn: &mut PgConnection, status: &str) -> i64 {
    use bkdata_models::schema::background_jobs as j;
    j::table
        .filter(j::status.eq(status))
        .count()
        .get_result(conn)
        .unwrap()
}

fn queue() -> anyhow::Result<()> {
    let n = arg("--jobs", 50_000);
    let db = TestDb::new();
    let dir = TempDir::new("bench");
    let env = [
        ("BKDATA_WORKER_CONCURRENCY", "256"),
        ("RUST_LOG", "error"),
        ("BKDATA_METRICS_INTERVAL_MS", "60000"),
    ];
    let _workers = [
        WorkerProc::spawn(&db.url, dir.path(), &env),
        WorkerProc::spawn(&db.url, dir.path(), &env),
    ];
    let mut conn = db.conn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        use bkdata_models::schema::workers as w;
        let live: i64 = w::table
            .filter(w::stopped_at.is_null())
            .count()
            .get_result(&mut conn)?;
        if live == 2 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "workers did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let batch: Vec<NewJob> = (0..n)
        .map(|i| NewJob::new("noop", json!({"i": i})))
        .collect();
    let t0 = Instant::now();
    for chunk in batch.chunks(5_000) {
        jobs::enqueue_many(&mut conn, chunk)?;
    }
    let enqueued = t0.elapsed();
    loop {
        use bkdata_models::schema::background_jobs as j;
        let left: i64 = j::table.count().get_result(&mut conn)?;
        if left == 0 || count(&mut conn, "failed") == left {
            break;
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(600),
            "queue did not drain"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = t0.elapsed();
    let failed = count(&mut conn, "failed");
    let rate = n as f64 / total.as_secs_f64();
    println!(
        "queue throughput: {n} no-op jobs, 2 worker processes (concurrency 256 each), {} cores",
        num_cpus()
    );
    println!(
        "  enqueue {:.2}s, drained after {:.2}s, failed {failed}",
        enqueued.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "  {rate:.0} jobs/s (target >= 5000: {})",
        if rate >= 5000.0 { "met" } else { "NOT met" }
    );
    Ok(())
}

fn latency() -> anyhow::Result<()> {
    let samples = arg("--samples", 2_000);
    let db = TestDb::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (tx, rx) = std::sync::mpsc::channel::<(i64, Instant)>();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    for w in ["bench-a", "bench-b"] {
        let mut cfg = RunnerConfig::new(w, &db.url);
        cfg.poll_interval = Duration::from_secs(5);
        let tx = tx.clone();
        let runner = Runner::new(cfg, bkdata_models::db::pool(&db.url, 8)?).register(
            "ping",
            move |ctx: JobContext| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((ctx.job.data["i"].as_i64().unwrap_or(-1), Instant::now()));
                    Ok(())
                }
            },
        );
        handles.push(rt.spawn(runner.run(stop_rx.clone())));
    }
    let mut conn = db.conn();
    let mut lat = Vec::with_capacity(samples);
    for i in 0..(samples + 50) as i64 {
        let t = Instant::now();
        jobs::enqueue(&mut conn, &NewJob::new("ping", json!({"i": i})))?;
        let (got, at) = rx.recv_timeout(Duration::from_secs(10))?;
        anyhow::ensure!(got == i, "out of order pickup");
        if i >= 50 {
            lat.push(at - t);
        }
        // Let the runners go idle again, so each sample measures a wake-up.
        std::thread::sleep(Duration::from_millis(2));
    }
    stop_tx.send(true)?;
    for h in handles {
        rt.block_on(h)??;
    }
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    let (p50, p99, max) = (
        pct(0.50),
        pct(0.99),
        lat.last().unwrap().as_secs_f64() * 1000.0,
    );
    println!(
        "pickup latency: {samples} jobs, 2 idle runners woken by LISTEN/NOTIFY (poll fallback 5 s)"
    );
    println!(
        "  measured from before the enqueue INSERT (includes its commit) to the handler start"
    );
    println!(
        "  p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms (target p50 < 5 ms: {})",
        if p50 < 5.0 { "met" } else { "NOT met" }
    );
    Ok(())
}

/// End to end on the real services: this process hosts the server (the same library the
/// `bkdata-server` binary runs) and the load generator; a `bkdata-test-worker` process (the
/// worker library) runs the clean and the shipper.
fn e2e() -> anyhow::Result<()> {
    use bkdata_tests::seed000::*;
    use reqwest::Method;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let secs = arg("--secs", 60) as u64;
    let rate = arg("--rate", 0) as u64;
    let conns = arg("--conns", 4).max(1);
    let batch = arg("--batch", 5_000) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let srv = bkdata_tests::TestServer::start_with(|c| {
            c.nats_url = bkdata_tests::nats_url();
            c.pool_size = 16;
        })
        .await;
        let worker = srv.worker(&[]);
        let (raw_id, rt_id) = shipping_to_postgres(&srv, 2, "bench_log").await;
        let body = bytes_of(ndjson(0..batch));
        let record_bytes = body.len() as u64 / batch;
        println!(
            "end to end: {conns} HTTP clients posting NDJSON bodies of {batch} bklog envelopes (~{record_bytes} B each) \
             for {secs} s{}; bk_log_json clean (6 fields) → PostgreSQL COPY; {} cores shared by everything",
            if rate > 0 { format!(" at {rate} records/s") } else { ", as fast as accepted".into() },
            num_cpus()
        );
        let accepted = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let mut clients = Vec::new();
        for _ in 0..conns {
            let (client, url, auth, body, accepted) = (
                srv.client.clone(),
                srv.url(&format!("/v3/databus/rawdatas/{raw_id}/ingest/")),
                srv.auth_header(),
                body.clone(),
                accepted.clone(),
            );
            clients.push(tokio::spawn(async move {
                let per_client = if rate > 0 { rate as f64 / conns as f64 } else { 0.0 };
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    if per_client > 0.0 {
                        let due = start + Duration::from_secs_f64(sent as f64 / per_client);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let r = client.post(&url).header("X-Bkapi-Authorization", &auth).body(body.clone()).send().await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            accepted.fetch_add(batch, Ordering::Relaxed);
                        }
                        Ok(r) => eprintln!("ingest answered {}", r.status()),
                        Err(e) => eprintln!("ingest failed: {e}"),
                    }
                    sent += batch;
                }
            }));
        }
        let state_path = format!("/v3/databus/tasks/{rt_id}/");
        println!("{:>6} {:>12} {:>12} {:>12} {:>11} {:>11} {:>10} {:>10}", "t (s)", "accepted", "cleaned", "in PG", "ingest/s", "PG rows/s", "clean lag", "ship lag");
        let (mut last_t, mut last_acc, mut last_pg) = (Instant::now(), 0u64, 0u64);
        let mut window_pg = 0;
        while Instant::now() < deadline + Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let acc = accepted.load(Ordering::Relaxed);
            let (_, v) = srv.bk(Method::GET, &state_path, None).await;
            let s = &v["data"]["storages"];
            let n = |x: &Value| x.as_u64().unwrap_or(0);
            let (cleaned, pg, clean_lag, ship_lag) = (
                n(&s["kafka"]["rows_out"]),
                n(&s["postgresql"]["rows_written"]),
                s["kafka"]["lag"].clone(),
                s["postgresql"]["lag"].clone(),
            );
            let dt = last_t.elapsed().as_secs_f64();
            println!(
                "{:>6.0} {:>12} {:>12} {:>12} {:>11.0} {:>11.0} {:>10} {:>10}",
                start.elapsed().as_secs_f64(), acc, cleaned, pg,
                (acc - last_acc) as f64 / dt, (pg - last_pg) as f64 / dt, clean_lag.to_string(), ship_lag.to_string()
            );
            (last_t, last_acc, last_pg) = (Instant::now(), acc, pg);
            if Instant::now() <= deadline + Duration::from_millis(500) {
                window_pg = pg;
            }
            if Instant::now() > deadline && pg >= acc {
                break;
            }
        }
        for c in clients {
            c.await?;
        }
        let total = accepted.load(Ordering::Relaxed);
        let all_in = start.elapsed().as_secs_f64();
        let pgc = pg(&srv).await;
        let rows: i64 = pgc.query_one("SELECT count(*) FROM mapleleaf_2.bench_log_2", &[]).await?.get(0);
        let sustained = window_pg as f64 / secs as f64;
        println!("accepted {total} records in {secs} s ({:.0}/s); {rows} rows in PostgreSQL (equal: {})", total as f64 / secs as f64, rows as u64 == total);
        println!(
            "rows in PostgreSQL during the {secs} s window: {window_pg} = {sustained:.0} rows/s sustained; all {total} in after {all_in:.1} s = {:.0} rows/s end to end (target ≥ 150000: {})",
            total as f64 / all_in,
            if sustained >= 150_000.0 { "met" } else { "NOT met" }
        );
        srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt_id}/"), None).await;
        drop(worker);
        srv.cleanup_bus().await;
        anyhow::Ok(())
    })
}

fn bytes_of(s: String) -> axum::body::Bytes {
    axum::body::Bytes::from(s)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

// Records are many small allocations; mimalloc serves them markedly faster than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("queue") => queue(),
        Some("latency") => latency(),
        Some("e2e") => e2e(),
        _ => {
            eprintln!("usage: bkdata-bench queue [--jobs N] | latency [--samples N] | e2e [--secs S] [--rate R] [--conns C] [--batch B]");
            std::process::exit(2)
        }
    }
}
