//! Benchmarks of the job queue, printing each figure beside its target.
//!   bkdata-bench queue   [--jobs N]     no-op jobs/s drained by 2 worker processes (target ≥ 5,000)
//!   bkdata-bench latency [--samples N]  enqueue → handler start with 2 idle runners (target p50 < 5 ms)
//! The HTTP figure comes from wrk in scripts/bench.sh.
use bkdata_models::jobs::{self, JobContext, NewJob, Runner, RunnerConfig};
use bkdata_tests::{TempDir, TestDb, WorkerProc};
use diesel::prelude::*;
use serde_json::json;
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

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("queue") => queue(),
        Some("latency") => latency(),
        _ => {
            eprintln!("usage: bkdata-bench queue [--jobs N] | latency [--samples N]");
            std::process::exit(2)
        }
    }
}
