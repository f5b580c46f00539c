//! A realtime node in parallel: `N` tasks, each owning a share of the window keys.
//!
//! One exchange per input partition reads it and sends each row to the task that owns its
//! key ([`Route`], [`Splitter`]): a message per input message to every task, with the rows for
//! that task after a header line naming the input partition and the greatest event time of
//! the whole input message ([`header`]). A task thus hears every input partition's progress
//! even when it gets none of its rows, and its watermark is the minimum over the input
//! partitions ([`Clock`]), with the idle rule per partition. The split depends only on the
//! row, so an input message exchanged again after a crash goes out the same (and the bus drops
//! it as a duplicate by its id).
use crate::rows::{RowReader, TIME_COLUMN};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::logical_expr::{Expr, LogicalPlan};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most tasks a node runs in.
pub const MAX_TASKS: u32 = 64;

/// How a node's rows may be split over its tasks, from its SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Rows with equal values in these input columns go to one task (the GROUP BY columns).
    Keys(Vec<String>),
    /// Each row stands alone (no aggregate): rows are dealt out in turn.
    Any,
    /// The SQL needs all rows in one place (an aggregate over all rows or by an expression,
    /// DISTINCT, ORDER BY, LIMIT, window functions): every row goes to task 0.
    One,
}

/// The route of a planned query over one input.
pub fn route_of(plan: &LogicalPlan) -> Route {
    match plan {
        LogicalPlan::Projection(p) => route_of(&p.input),
        LogicalPlan::Filter(f) => route_of(&f.input),
        LogicalPlan::SubqueryAlias(s) => route_of(&s.input),
        LogicalPlan::TableScan(_) => Route::Any,
        LogicalPlan::Aggregate(a) if row_wise(&a.input) => {
            let mut keys = Vec::new();
            for e in &a.group_expr {
                match e {
                    Expr::Column(c) => keys.push(c.name.clone()),
                    _ => return Route::One,
                }
            }
            if keys.is_empty() {
                Route::One
            } else {
                Route::Keys(keys)
            }
        }
        _ => Route::One,
    }
}

/// Input columns reach the plan unchanged (only filtered).
fn row_wise(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Filter(f) => row_wise(&f.input),
        LogicalPlan::SubqueryAlias(s) => row_wise(&s.input),
        LogicalPlan::TableScan(_) => true,
        _ => false,
    }
}

/// Which task takes each row.
pub struct Splitter {
    route: Route,
    tasks: u32,
    /// Reads only the key columns and the event time.
    reader: RowReader,
    keys: Vec<usize>,
    scratch: Vec<u8>,
}

impl Splitter {
    /// `input`: the schema of the node's input rows.
    pub fn new(input: &SchemaRef, route: Route, tasks: u32) -> Self {
        let wanted: Vec<String> = match &route {
            Route::Keys(k) => k.clone(),
            _ => Vec::new(),
        };
        let mut fields: Vec<_> = input
            .fields()
            .iter()
            .filter(|f| wanted.contains(f.name()) && f.name() != TIME_COLUMN)
            .cloned()
            .collect();
        let keys = (0..fields.len()).collect();
        if let Ok(t) = input.field_with_name(TIME_COLUMN) {
            fields.push(Arc::new(t.clone()));
        }
        let reader = RowReader::new(Arc::new(Schema::new(fields)));
        Splitter {
            route,
            tasks: tasks.max(1),
            reader,
            keys,
            scratch: Vec::new(),
        }
    }

    /// The task of row `index` of its message, and the row's event time (`None`: not a
    /// row; task 0 gets it and counts it as bad).
    pub fn task_of(&mut self, line: &[u8], index: usize) -> (u32, Option<i64>) {
        let Ok(t) = self.reader.read(line) else {
            return (0, None);
        };
        let task = match &self.route {
            _ if self.tasks == 1 => 0,
            Route::One => 0,
            Route::Any => (index % self.tasks as usize) as u32,
            Route::Keys(_) => {
                self.scratch.clear();
                for &i in &self.keys {
                    self.reader.key_bytes(i, &mut self.scratch);
                }
                (bkdata_databus::spread::fnv1a(&self.scratch) % u64::from(self.tasks)) as u32
            }
        };
        (task, Some(t))
    }

    /// One input message's rows for each task, each after its header line.
    pub fn split(&mut self, source: u32, lines: Vec<Vec<u8>>) -> Vec<Vec<Vec<u8>>> {
        // Each task's header first; its event time is filled in once all rows are read.
        let mut out: Vec<Vec<Vec<u8>>> = vec![vec![Vec::new()]; self.tasks as usize];
        let mut max: Option<i64> = None;
        for (i, l) in lines.into_iter().enumerate() {
            let (task, t) = self.task_of(&l, i);
            if let Some(t) = t {
                max = Some(max.map_or(t, |m| m.max(t)));
            }
            out[task as usize].push(l);
        }
        let head = header(source, max);
        for rows in &mut out {
            rows[0] = head.clone();
        }
        out
    }
}

/// The header line of an exchanged message: `#x{source} {max event time or -}`. Rows are
/// JSON objects, so a line starting with `#` is never a row.
pub fn header(source: u32, max: Option<i64>) -> Vec<u8> {
    match max {
        Some(t) => format!("#x{source} {t}").into_bytes(),
        None => format!("#x{source} -").into_bytes(),
    }
}

/// A header line's input partition and greatest event time.
pub fn parse_header(line: &[u8]) -> Option<(u32, Option<i64>)> {
    let s = std::str::from_utf8(line.strip_prefix(b"#x")?).ok()?;
    let (p, t) = s.split_once(' ')?;
    let p = p.parse().ok()?;
    let t = if t == "-" {
        None
    } else {
        Some(t.parse().ok()?)
    };
    Some((p, t))
}

/// A task's event clock: the greatest event time of each input partition, and when it last
/// heard from each.
#[derive(Debug, Clone)]
pub struct Clock {
    max: Vec<Option<i64>>,
    heard: Vec<Instant>,
}

impl Clock {
    /// `max`: the maxima kept in the task's checkpoint (shorter than `sources` when the
    /// input gained partitions).
    pub fn new(sources: usize, mut max: Vec<Option<i64>>, now: Instant) -> Self {
        max.resize(sources.max(max.len()), None);
        let heard = vec![now; max.len()];
        Clock { max, heard }
    }

    /// The input gained partitions.
    pub fn grow(&mut self, sources: usize, now: Instant) {
        if sources > self.max.len() {
            self.max.resize(sources, None);
            self.heard.resize(sources, now);
        }
    }

    pub fn heard(&mut self, source: u32, max: Option<i64>, now: Instant) {
        let s = source as usize;
        self.grow(s + 1, now);
        self.heard[s] = now;
        if let Some(t) = max {
            self.max[s] = Some(self.max[s].map_or(t, |m| m.max(t)));
        }
    }

    pub fn maxima(&self) -> Vec<Option<i64>> {
        self.max.clone()
    }

    /// The event time all input partitions have reached, skipping those idle longer than
    /// `idle_after`; when all are idle, the greatest, with how long (ms) past the idle timeout
    /// the input has been quiet (it moves the watermark on, as for one input).
    pub fn time(&self, now: Instant, idle_after: Duration) -> (Option<i64>, i64) {
        let active: Vec<Option<i64>> = self
            .max
            .iter()
            .zip(&self.heard)
            .filter(|(_, h)| now.duration_since(**h) < idle_after)
            .map(|(m, _)| *m)
            .collect();
        if active.is_empty() {
            let quiet = self
                .heard
                .iter()
                .map(|h| now.duration_since(*h))
                .min()
                .unwrap_or_default();
            let idle = quiet.saturating_sub(idle_after).as_millis() as i64;
            return (self.max.iter().flatten().max().copied(), idle);
        }
        // A partition heard from but with no event time yet holds the clock.
        let time = active
            .iter()
            .copied()
            .collect::<Option<Vec<i64>>>()
            .and_then(|v| v.into_iter().min());
        (time, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::schema_of;
    use crate::FlowSql;

    fn input() -> SchemaRef {
        schema_of(&[
            ("ip".into(), "string".into()),
            ("pid".into(), "int".into()),
            ("mem".into(), "long".into()),
        ])
    }

    async fn route(sql: &str) -> Route {
        FlowSql::compile(sql, vec![("591_p".into(), input())])
            .await
            .unwrap()
            .route()
            .clone()
    }

    #[tokio::test]
    async fn routes_from_the_sql() {
        assert_eq!(
            route("SELECT ip, count(*) AS n FROM 591_p GROUP BY ip").await,
            Route::Keys(vec!["ip".into()])
        );
        assert_eq!(
            route("SELECT ip, pid, max(mem) AS m FROM 591_p WHERE mem > 1 GROUP BY ip, pid HAVING max(mem) > 2").await,
            Route::Keys(vec!["ip".into(), "pid".into()])
        );
        assert_eq!(
            route("SELECT ip, mem FROM 591_p WHERE mem > 1").await,
            Route::Any
        );
        assert_eq!(route("SELECT count(*) AS n FROM 591_p").await, Route::One);
        assert_eq!(
            route("SELECT substr(ip, 1, 3) AS net, count(*) AS n FROM 591_p GROUP BY substr(ip, 1, 3)").await,
            Route::One
        );
        assert_eq!(
            route("SELECT ip FROM 591_p ORDER BY mem LIMIT 3").await,
            Route::One
        );
        assert_eq!(route("SELECT DISTINCT ip FROM 591_p").await, Route::One);
    }

    #[test]
    fn equal_keys_meet_in_one_task_and_headers_go_to_all() {
        let mut s = Splitter::new(&input(), Route::Keys(vec!["ip".into(), "pid".into()]), 4);
        let rows: Vec<Vec<u8>> = (0..400)
            .map(|i| {
                // The pid sometimes as text: it is stored as the same int.
                let pid = if i % 2 == 0 {
                    format!("{}", i % 7)
                } else {
                    format!("\"{}\"", i % 7)
                };
                format!(
                    r#"{{"ip":"10.0.0.{}","pid":{pid},"mem":1,"dtEventTimeStamp":{}}}"#,
                    i % 5,
                    1000 + i
                )
                .into_bytes()
            })
            .collect();
        let out = s.split(3, rows);
        assert_eq!(out.len(), 4);
        let mut owner = std::collections::HashMap::new();
        let mut n = 0;
        for (k, lines) in out.iter().enumerate() {
            assert_eq!(parse_header(&lines[0]), Some((3, Some(1399))));
            for l in &lines[1..] {
                let v: serde_json::Value = serde_json::from_slice(l).unwrap();
                let key = (
                    v["ip"].as_str().unwrap().to_string(),
                    v["pid"].to_string().trim_matches('"').to_string(),
                );
                assert_eq!(*owner.entry(key).or_insert(k), k, "a key in two tasks");
                n += 1;
            }
        }
        assert_eq!(n, 400);
        assert!(
            owner
                .values()
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 1
        );
        // Bad rows go to task 0, which counts them.
        let out = s.split(0, vec![b"nope".to_vec()]);
        assert_eq!(out[0], vec![b"#x0 -".to_vec(), b"nope".to_vec()]);
        assert_eq!(out[1], vec![b"#x0 -".to_vec()]);
    }

    #[test]
    fn rows_without_keys_are_dealt_out_the_same_every_time() {
        let rows: Vec<Vec<u8>> = (0..10)
            .map(|i| format!(r#"{{"ip":"a","dtEventTimeStamp":{i}}}"#).into_bytes())
            .collect();
        let a = Splitter::new(&input(), Route::Any, 3).split(1, rows.clone());
        let b = Splitter::new(&input(), Route::Any, 3).split(1, rows.clone());
        assert_eq!(a, b);
        assert_eq!(a.iter().map(|l| l.len() - 1).collect::<Vec<_>>(), [4, 3, 3]);
        let one = Splitter::new(&input(), Route::One, 3).split(1, rows.clone());
        assert_eq!(
            one.iter().map(|l| l.len() - 1).collect::<Vec<_>>(),
            [10, 0, 0]
        );
    }

    #[test]
    fn the_clock_is_the_slowest_partition_and_skips_idle_ones() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(30);
        let mut c = Clock::new(3, vec![Some(500)], t0);
        // Partitions 1 and 2 have not said where they are.
        assert_eq!(c.time(t0, idle), (None, 0));
        c.heard(1, Some(900), t0);
        c.heard(2, Some(700), t0);
        assert_eq!(c.time(t0, idle), (Some(500), 0));
        c.heard(0, Some(400), t0); // never back
        c.heard(0, Some(800), t0);
        assert_eq!(c.time(t0, idle), (Some(700), 0));
        // Partition 2 goes quiet: the others carry the clock.
        let t1 = t0 + Duration::from_secs(20);
        c.heard(0, Some(1000), t1);
        c.heard(1, Some(1100), t1);
        assert_eq!(c.time(t0 + Duration::from_secs(31), idle), (Some(1000), 0));
        // All quiet: the greatest, moving on with the time past the timeout.
        assert_eq!(
            c.time(t1 + Duration::from_secs(32), idle),
            (Some(1100), 2000)
        );
        assert_eq!(c.maxima(), vec![Some(1000), Some(1100), Some(700)]);
        assert_eq!(parse_header(&header(12, Some(-5))), Some((12, Some(-5))));
        assert_eq!(parse_header(br#"{"a":1}"#), None);
    }
}
