//! The window runtime of one realtime node over one input: rows go into panes by event time,
//! the watermark (greatest event time − `waiting_time`) closes windows, and each closed window's
//! rows go through the node's SQL. Rows of windows already emitted are late: counted, dropped.
use crate::rows::{Columns, RowReader};
use crate::window::{WindowConf, WindowType};
use crate::{FlowError, FlowSql};
use datafusion::arrow::array::RecordBatch;
use std::collections::BTreeMap;

/// One window's result.
#[derive(Debug)]
pub struct Emitted {
    /// Window start (ms): the result rows' `dtEventTimeStamp`.
    pub start: i64,
    pub end: i64,
    pub batches: Vec<RecordBatch>,
    /// Input rows the window held.
    pub rows_in: usize,
}

/// What became of a pushed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Kept,
    /// Every window taking it was emitted; `last_end` is the end of the last of them.
    Late {
        last_end: i64,
    },
    /// Not a row (no event time, not an object).
    Bad,
}

pub struct WindowRuntime {
    conf: WindowConf,
    sql: FlowSql,
    input: String,
    reader: RowReader,
    /// Pane start → its rows and the smallest input position they came from (replaying the
    /// input from there rebuilds the pane).
    panes: BTreeMap<i64, (Columns, u64)>,
    max_event: Option<i64>,
    /// Set for a parallel node's task: the event time all input partitions have reached
    /// (see [`crate::exchange::Clock`]); it, not the rows' own maximum, moves the watermark.
    clock: Option<Option<i64>>,
    /// Every window ending at or before this has been emitted.
    emitted_to: i64,
    /// Rows that arrived after all their windows were emitted.
    pub late: u64,
    /// Rows that could not be read (no event time, not an object).
    pub bad: u64,
}

impl WindowRuntime {
    /// `input`: the source result table id the SQL reads; `schema` its rows' schema as given
    /// to `sql`.
    pub fn new(conf: WindowConf, sql: FlowSql, input: &str) -> Result<Self, FlowError> {
        let schema = sql
            .input_schema(input)
            .ok_or_else(|| FlowError::Sql(format!("{input} is not an input of this node")))?;
        Ok(WindowRuntime {
            conf,
            sql,
            input: input.to_string(),
            reader: RowReader::new(schema),
            panes: BTreeMap::new(),
            max_event: None,
            clock: None,
            emitted_to: i64::MIN,
            late: 0,
            bad: 0,
        })
    }

    pub fn sql(&self) -> &FlowSql {
        &self.sql
    }

    /// The greatest event time seen (or the clock, when set), minus the allowed lateness.
    pub fn watermark(&self) -> Option<i64> {
        self.clock
            .unwrap_or(self.max_event)
            .map(|t| t - self.conf.wait_ms)
    }

    /// Take the watermark from an outside clock from now on.
    pub fn set_clock(&mut self, time: Option<i64>) {
        self.clock = Some(time);
    }

    pub fn conf(&self) -> &WindowConf {
        &self.conf
    }

    /// Every window ending at or before this has been emitted.
    pub fn emitted_to(&self) -> i64 {
        self.emitted_to
    }

    pub fn max_event(&self) -> Option<i64> {
        self.max_event
    }

    /// Continue from a checkpoint: windows ending at or before `emitted_to` were emitted,
    /// and the greatest event time seen was `max_event`.
    pub fn resume(&mut self, emitted_to: i64, max_event: Option<i64>) {
        self.emitted_to = emitted_to;
        self.max_event = max_event;
    }

    /// Rows held, not yet emitted in every window they belong to.
    pub fn pending_rows(&self) -> usize {
        self.panes.values().map(|(c, _)| c.len()).sum()
    }

    /// The smallest input position of a row still held: replaying the input from there
    /// rebuilds every open window. `None` when nothing is held.
    pub fn replay_from(&self) -> Option<u64> {
        self.panes.values().map(|(_, seq)| *seq).min()
    }

    /// Take one stream row read from input position `seq`. Bad and late rows are counted,
    /// not kept.
    pub fn push(&mut self, line: &[u8], seq: u64) -> Pushed {
        let t = match self.reader.read(line) {
            Ok(t) => t,
            Err(_) => {
                self.bad += 1;
                return Pushed::Bad;
            }
        };
        let pane = if self.conf.kind == WindowType::None {
            0
        } else {
            let pane = self.conf.pane(t);
            let last_end = self.conf.last_end_of(pane);
            if last_end <= self.emitted_to {
                self.late += 1;
                return Pushed::Late { last_end };
            }
            pane
        };
        let reader = &self.reader;
        let (cols, first) = self
            .panes
            .entry(pane)
            .or_insert_with(|| (Columns::new(reader.schema()), seq));
        *first = (*first).min(seq);
        self.reader.append_to(cols);
        self.max_event = Some(self.max_event.map_or(t, |m| m.max(t)));
        Pushed::Kept
    }

    /// Emit every window the watermark has passed. `idle_ms`: how long the input has been
    /// idle past its idle timeout; it moves the watermark on so the last windows close
    /// when the data stops.
    pub async fn advance(&mut self, idle_ms: i64) -> Result<Vec<Emitted>, FlowError> {
        if self.conf.kind == WindowType::None {
            return self.flush_unwindowed().await;
        }
        let Some(watermark) = self.watermark().map(|w| w + idle_ms.max(0)) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        // The next window end with rows in it: the first pane's first end, or the one after
        // what was emitted.
        while let Some(&first) = self.panes.keys().next() {
            let end = (first + self.conf.freq_ms).max(self.emitted_to + self.conf.freq_ms);
            if end > watermark {
                break;
            }
            let start = self.conf.window_start(end);
            let parts: Vec<RecordBatch> = self
                .panes
                .range(start..end)
                .filter(|(_, (c, _))| !c.is_empty())
                .map(|(_, (c, _))| c.batch())
                .collect::<Result<_, _>>()?;
            self.emitted_to = end;
            // Panes no later window takes are done.
            let conf = self.conf;
            self.panes.retain(|&p, _| conf.last_end_of(p) > end);
            if parts.is_empty() {
                continue;
            }
            let rows_in = parts.iter().map(RecordBatch::num_rows).sum();
            let batches = self.sql.run(vec![(self.input.clone(), parts)]).await?;
            out.push(Emitted {
                start,
                end,
                batches,
                rows_in,
            });
        }
        Ok(out)
    }

    /// `none` windows: whatever arrived goes through the SQL now, stamped with the greatest
    /// event time among it.
    async fn flush_unwindowed(&mut self) -> Result<Vec<Emitted>, FlowError> {
        let Some((cols, _)) = self.panes.remove(&0) else {
            return Ok(Vec::new());
        };
        let at = self.max_event.take().unwrap_or_default();
        let rows_in = cols.len();
        let batches = self
            .sql
            .run(vec![(self.input.clone(), vec![cols.batch()?])])
            .await?;
        Ok(vec![Emitted {
            start: at,
            end: at,
            batches,
            rows_in,
        }])
    }
}
