//! The record bus between ingest, cleans, flows and shippers. A *topic* (e.g. `raw.42`,
//! `rt.2_nginx_access`) is a durable, ordered log of messages; each message carries a *batch*
//! of records. Consumers are durable and named: a consumer resumes after its last ack, several
//! handles on one name share the work, and a message not acked within `ack_wait` is delivered
//! again (at least once; shippers make writes idempotent by sequence).
//!
//! Two implementations pass one conformance suite (`tests/conformance.rs`): [`MemoryBus`]
//! (single process, tests) and [`NatsBus`] (JetStream: one stream per topic, subject
//! `{prefix}.{topic}`, durable pull consumers, explicit acks).
//!
//! **Wire format of a message**: the records of the batch, one per line (`\n`-separated, a
//! trailing newline optional, empty lines ignored). A producer can publish raw log lines
//! straight to `bkdata.raw.{raw_data_id}`.
mod any;
mod memory;
mod nats;

pub use any::{AnyBus, AnyConsumer};
pub use memory::MemoryBus;
pub use nats::NatsBus;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid topic {0:?}: use letters, digits, '_', '-' and '.'")]
    InvalidTopic(String),
    #[error("a record contains a newline and cannot travel in a batch")]
    NewlineInRecord,
    #[error("bus connection: {0}")]
    Connection(String),
    #[error("bus: {0}")]
    Other(String),
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerOpts {
    /// Redelivery after this long without an ack.
    pub ack_wait: Duration,
    /// Where a new consumer starts: the first message, or only new ones.
    pub from_start: bool,
    /// Reposition the consumer at this stream sequence, dropping its delivery state (pending
    /// messages included). For readers that keep their own committed position (shippers):
    /// from there on, messages arrive in order.
    pub start_seq: Option<u64>,
    /// The caller takes the consumer over from an owner that may have died holding
    /// messages it had not acked: those are delivered again at once and in order (the
    /// consumer restarts after the last message acked with all before it) instead of after
    /// their ack wait, behind newer ones. For readers whose output must keep the input's
    /// order (a clean feeding windowed flows). Messages acked after an unacked one come
    /// again too: the reader must tolerate a replay (publish with message ids).
    pub take_over: bool,
}

impl Default for ConsumerOpts {
    fn default() -> Self {
        ConsumerOpts {
            ack_wait: Duration::from_secs(30),
            from_start: true,
            start_seq: None,
            take_over: false,
        }
    }
}

/// One delivered message.
#[derive(Debug)]
pub struct Delivery {
    /// Position in the topic, from 1, increasing.
    pub seq: u64,
    pub records: Vec<Vec<u8>>,
    /// This message was delivered before and not acked in time.
    pub redelivered: bool,
    pub(crate) handle: Handle,
}

#[derive(Debug)]
pub(crate) enum Handle {
    Memory,
    Nats(Box<async_nats::jetstream::Message>),
}

/// The latest message of a topic, as [`Bus::last`] answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct LastMessage {
    pub seq: u64,
    /// The id it was published with (`publish_dedup`), if any.
    pub msg_id: Option<String>,
    pub records: Vec<Vec<u8>>,
}

/// Encode a batch: records one per line.
pub fn encode(records: &[impl AsRef<[u8]>]) -> Result<Vec<u8>, BusError> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.as_ref().len() + 1).sum());
    for r in records {
        let r = r.as_ref();
        if r.contains(&b'\n') {
            return Err(BusError::NewlineInRecord);
        }
        out.extend_from_slice(r);
        out.push(b'\n');
    }
    Ok(out)
}

/// A batch built in place: records one per line, written straight into the message payload.
#[derive(Debug, Default)]
pub struct Batch {
    payload: Vec<u8>,
    records: usize,
}

impl Batch {
    pub fn with_capacity(bytes: usize) -> Self {
        Batch {
            payload: Vec::with_capacity(bytes),
            records: 0,
        }
    }

    /// Append one record written by `write`; a record holding a newline is refused (and not
    /// kept).
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), BusError> {
        let start = self.payload.len();
        write(&mut self.payload);
        if self.payload[start..].contains(&b'\n') {
            self.payload.truncate(start);
            return Err(BusError::NewlineInRecord);
        }
        self.payload.push(b'\n');
        self.records += 1;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

/// Decode a batch; empty lines are skipped, `\r\n` is accepted.
pub fn decode(payload: &[u8]) -> Vec<Vec<u8>> {
    payload
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The topic of partition `k` of a partitioned topic: the topic itself for partition 0 (so a
/// one-partition topic is what it always was), `{topic}.p{k}` for the others, each its own
/// log with its own positions, as a Kafka topic's partitions are.
pub fn partition_topic(topic: &str, k: u32) -> String {
    if k == 0 {
        topic.to_string()
    } else {
        format!("{topic}.p{k}")
    }
}

/// A partition topic's base topic and partition (`raw.42.p3` → `("raw.42", 3)`; a base topic
/// is its own partition 0).
pub fn split_partition(topic: &str) -> (&str, u32) {
    if let Some((base, tail)) = topic.rsplit_once(".p") {
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) && !tail.starts_with('0') {
            if let Ok(k) = tail.parse() {
                return (base, k);
            }
        }
    }
    (topic, 0)
}

pub(crate) fn check_topic(topic: &str) -> Result<(), BusError> {
    let ok = !topic.is_empty()
        && topic.len() <= 200
        && !topic.starts_with('.')
        && !topic.ends_with('.')
        && !topic.contains("..")
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(BusError::InvalidTopic(topic.to_string()))
    }
}

/// A bus. Cloning shares the connection.
/// `BKDATA_BUS_MAX_AGE_HOURS` (default 72, as a Kafka topic's usual 3 days; 0 = forever): how
/// long the streams keep records. A reader further behind than this loses the oldest.
pub fn max_age_from_env() -> Result<Duration, BusError> {
    match std::env::var("BKDATA_BUS_MAX_AGE_HOURS") {
        Err(_) => Ok(Duration::from_secs(72 * 3600)),
        Ok(v) if v.trim().is_empty() => Ok(Duration::from_secs(72 * 3600)),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(|h| Duration::from_secs(h * 3600))
            .map_err(|_| {
                BusError::Other(format!("BKDATA_BUS_MAX_AGE_HOURS must be hours, got {v:?}"))
            }),
    }
}

pub trait Bus: Clone + Send + Sync + 'static {
    type Consumer: Consumer;
    /// Append a batch; answers its sequence number.
    fn publish(
        &self,
        topic: &str,
        records: &[Vec<u8>],
    ) -> impl Future<Output = Result<u64, BusError>> + Send;
    /// Append a batch unless a batch with the same `msg_id` was appended recently (JetStream's
    /// duplicate window, 2 minutes by default): answers the sequence, or `None` for a duplicate.
    /// A stage that republishes after a crash uses its input position as the id.
    fn publish_dedup(
        &self,
        topic: &str,
        msg_id: &str,
        records: &[Vec<u8>],
    ) -> impl Future<Output = Result<Option<u64>, BusError>> + Send;
    /// `publish_dedup` of several batches, in order: all are sent before any ack is awaited,
    /// so a stage pays one round trip for them, not one each. Answers per batch as
    /// `publish_dedup` does.
    fn publish_dedup_batches(
        &self,
        topic: &str,
        batches: Vec<(String, Batch)>,
    ) -> impl Future<Output = Result<Vec<Option<u64>>, BusError>> + Send;
    /// Open (or create) the durable consumer `name` on `topic`.
    fn consumer(
        &self,
        topic: &str,
        name: &str,
        opts: ConsumerOpts,
    ) -> impl Future<Output = Result<Self::Consumer, BusError>> + Send;
    /// Messages in the topic not yet acked by consumer `name` (its lag), if known.
    fn lag(&self, topic: &str, name: &str) -> impl Future<Output = Result<u64, BusError>> + Send;
    /// The topic's latest message, `None` when it has none. A stage that is the only writer of
    /// its topic reads back from it how far it got (its message ids say).
    fn last(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<LastMessage>, BusError>> + Send;
    /// The latest `n` records of the topic, oldest first.
    fn tail(
        &self,
        topic: &str,
        n: usize,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, BusError>> + Send;
}

pub trait Consumer: Send {
    /// Up to `max` messages; waits up to `wait` when none is ready (zero: only what is ready).
    fn fetch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery>, BusError>> + Send;
    fn ack(&mut self, d: Delivery) -> impl Future<Output = Result<(), BusError>> + Send;
    /// Ack several deliveries; implementations may confirm them concurrently.
    fn ack_all(&mut self, ds: Vec<Delivery>) -> impl Future<Output = Result<(), BusError>> + Send {
        async move {
            for d in ds {
                self.ack(d).await?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip() {
        let recs = vec![
            b"a".to_vec(),
            b"{\"x\": 1}".to_vec(),
            "中文".as_bytes().to_vec(),
        ];
        assert_eq!(decode(&encode(&recs).unwrap()), recs);
        assert_eq!(decode(b"l1\r\n\nl2"), vec![b"l1".to_vec(), b"l2".to_vec()]);
        assert!(matches!(
            encode(&[b"a\nb".to_vec()]),
            Err(BusError::NewlineInRecord)
        ));
        assert!(check_topic("raw.42").is_ok());
        assert_eq!(partition_topic("raw.42", 0), "raw.42");
        assert_eq!(partition_topic("raw.42", 3), "raw.42.p3");
        assert_eq!(split_partition("raw.42.p3"), ("raw.42", 3));
        assert_eq!(split_partition("rt.2_x.p10"), ("rt.2_x", 10));
        for own in ["raw.42", "rt.2_p1", "rt.2_x.p", "rt.2_x.p01", "rt.2_x.px"] {
            assert_eq!(split_partition(own), (own, 0));
        }
        for bad in ["", "raw.*", "a..b", ".a", "a b", "raw.>"] {
            assert!(check_topic(bad).is_err(), "{bad}");
        }
    }
}
