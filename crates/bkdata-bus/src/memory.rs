//! The in-process bus: the same semantics as JetStream, kept in memory.
use crate::{
    check_topic, decode, encode, Batch, Bus, BusError, Consumer, ConsumerOpts, Delivery, Handle,
    LastMessage,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
struct ConsumerState {
    /// Index into `messages` of the next never-delivered message.
    next: usize,
    /// Delivered, not acked: seq → redelivery deadline.
    pending: BTreeMap<u64, Instant>,
    ack_wait: Duration,
}

#[derive(Default)]
struct Topic {
    messages: Vec<Vec<u8>>,
    /// The id each message was published with (same index as `messages`).
    msg_ids: Vec<Option<String>>,
    consumers: HashMap<String, ConsumerState>,
    /// Message ids seen (the in-process bus keeps them all; JetStream keeps a window).
    ids: std::collections::HashSet<String>,
}

#[derive(Default)]
struct Inner {
    topics: Mutex<HashMap<String, Topic>>,
    published: Notify,
}

#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn delete_topic(&self, topic: &str) {
        self.inner.topics.lock().unwrap().remove(topic);
    }
}

pub struct MemoryConsumer {
    inner: Arc<Inner>,
    topic: String,
    name: String,
}

impl Bus for MemoryBus {
    type Consumer = MemoryConsumer;

    async fn publish(&self, topic: &str, records: &[Vec<u8>]) -> Result<u64, BusError> {
        check_topic(topic)?;
        let payload = encode(records)?;
        let seq = {
            let mut topics = self.inner.topics.lock().unwrap();
            let t = topics.entry(topic.to_string()).or_default();
            t.messages.push(payload);
            t.msg_ids.push(None);
            t.messages.len() as u64
        };
        self.inner.published.notify_waiters();
        Ok(seq)
    }

    async fn publish_dedup(
        &self,
        topic: &str,
        msg_id: &str,
        records: &[Vec<u8>],
    ) -> Result<Option<u64>, BusError> {
        check_topic(topic)?;
        let payload = encode(records)?;
        let seq = {
            let mut topics = self.inner.topics.lock().unwrap();
            let t = topics.entry(topic.to_string()).or_default();
            if !t.ids.insert(msg_id.to_string()) {
                return Ok(None);
            }
            t.messages.push(payload);
            t.msg_ids.push(Some(msg_id.to_string()));
            t.messages.len() as u64
        };
        self.inner.published.notify_waiters();
        Ok(Some(seq))
    }

    async fn publish_dedup_batches(
        &self,
        topic: &str,
        batches: Vec<(String, Batch)>,
    ) -> Result<Vec<Option<u64>>, BusError> {
        check_topic(topic)?;
        let mut out = Vec::with_capacity(batches.len());
        {
            let mut topics = self.inner.topics.lock().unwrap();
            let t = topics.entry(topic.to_string()).or_default();
            for (msg_id, batch) in batches {
                if t.ids.insert(msg_id.clone()) {
                    t.messages.push(batch.into_payload());
                    t.msg_ids.push(Some(msg_id));
                    out.push(Some(t.messages.len() as u64));
                } else {
                    out.push(None);
                }
            }
        }
        self.inner.published.notify_waiters();
        Ok(out)
    }

    async fn consumer(
        &self,
        topic: &str,
        name: &str,
        opts: ConsumerOpts,
    ) -> Result<MemoryConsumer, BusError> {
        check_topic(topic)?;
        let mut topics = self.inner.topics.lock().unwrap();
        let t = topics.entry(topic.to_string()).or_default();
        let start = if opts.from_start { 0 } else { t.messages.len() };
        let c = t
            .consumers
            .entry(name.to_string())
            .or_insert_with(|| ConsumerState {
                next: start,
                ..Default::default()
            });
        if let Some(s) = opts.start_seq {
            *c = ConsumerState {
                next: (s.max(1) - 1) as usize,
                ..Default::default()
            };
        }
        if opts.take_over {
            // What the last owner holds comes again now, before anything newer.
            let now = Instant::now();
            c.pending.values_mut().for_each(|due| *due = now);
        }
        c.ack_wait = opts.ack_wait;
        Ok(MemoryConsumer {
            inner: self.inner.clone(),
            topic: topic.to_string(),
            name: name.to_string(),
        })
    }

    async fn last(&self, topic: &str) -> Result<Option<LastMessage>, BusError> {
        let topics = self.inner.topics.lock().unwrap();
        Ok(topics.get(topic).and_then(|t| {
            let payload = t.messages.last()?;
            Some(LastMessage {
                seq: t.messages.len() as u64,
                msg_id: t.msg_ids.last().cloned().flatten(),
                records: decode(payload),
            })
        }))
    }

    async fn tail(&self, topic: &str, n: usize) -> Result<Vec<Vec<u8>>, BusError> {
        let topics = self.inner.topics.lock().unwrap();
        let mut out = Vec::new();
        if let Some(t) = topics.get(topic) {
            for m in t.messages.iter().rev() {
                if out.len() >= n {
                    break;
                }
                out.extend(decode(m).into_iter().rev());
            }
        }
        out.truncate(n);
        out.reverse();
        Ok(out)
    }

    async fn lag(&self, topic: &str, name: &str) -> Result<u64, BusError> {
        let topics = self.inner.topics.lock().unwrap();
        Ok(match topics.get(topic) {
            None => 0,
            Some(t) => match t.consumers.get(name) {
                None => t.messages.len() as u64,
                Some(c) => (t.messages.len() - c.next) as u64 + c.pending.len() as u64,
            },
        })
    }
}

impl MemoryConsumer {
    fn take(&self, max: usize) -> Vec<Delivery> {
        let now = Instant::now();
        let mut topics = self.inner.topics.lock().unwrap();
        let Some(t) = topics.get_mut(&self.topic) else {
            return Vec::new();
        };
        let Topic {
            messages,
            consumers,
            ..
        } = t;
        let c = consumers.entry(self.name.clone()).or_default();
        let mut out = Vec::new();
        // Expired deliveries first, then new messages.
        let due: Vec<u64> = c
            .pending
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(s, _)| *s)
            .take(max)
            .collect();
        for seq in due {
            c.pending.insert(seq, now + c.ack_wait);
            out.push(Delivery {
                seq,
                records: decode(&messages[seq as usize - 1]),
                redelivered: true,
                handle: Handle::Memory,
            });
        }
        while out.len() < max && c.next < messages.len() {
            let seq = c.next as u64 + 1;
            c.next += 1;
            c.pending.insert(seq, now + c.ack_wait);
            out.push(Delivery {
                seq,
                records: decode(&messages[seq as usize - 1]),
                redelivered: false,
                handle: Handle::Memory,
            });
        }
        out
    }

    fn next_deadline(&self) -> Option<Instant> {
        let topics = self.inner.topics.lock().unwrap();
        topics
            .get(&self.topic)?
            .consumers
            .get(&self.name)?
            .pending
            .values()
            .min()
            .copied()
    }
}

impl Consumer for MemoryConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a publish in between is not missed.
            let published = self.inner.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();
            let got = self.take(max.max(1));
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            // Wake on a publish, a pending delivery coming due, or the deadline.
            let until = self.next_deadline().map_or(deadline, |d| d.min(deadline));
            let _ = tokio::time::timeout_at(until, published).await;
        }
    }

    async fn ack(&mut self, d: Delivery) -> Result<(), BusError> {
        let mut topics = self.inner.topics.lock().unwrap();
        if let Some(c) = topics
            .get_mut(&self.topic)
            .and_then(|t| t.consumers.get_mut(&self.name))
        {
            c.pending.remove(&d.seq);
        }
        Ok(())
    }
}
