//! The bus chosen at start-up: `NATS_URL=memory` for a single process, else JetStream.
use crate::{
    Batch, Bus, BusError, Consumer, ConsumerOpts, Delivery, LastMessage, MemoryBus, NatsBus,
};
use std::time::Duration;

#[derive(Clone)]
pub enum AnyBus {
    Memory(MemoryBus),
    Nats(Box<NatsBus>),
}

impl AnyBus {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BusError> {
        if url == "memory" {
            Ok(AnyBus::Memory(MemoryBus::new()))
        } else {
            Ok(AnyBus::Nats(Box::new(NatsBus::connect(url, prefix).await?)))
        }
    }

    /// Retention of the streams this bus creates (see `NatsBus::with_max_age`); the in-process
    /// bus keeps everything.
    pub fn with_max_age(self, max_age: std::time::Duration) -> Self {
        match self {
            AnyBus::Nats(n) => AnyBus::Nats(Box::new(n.with_max_age(max_age))),
            m => m,
        }
    }

    /// Copies of each stream this bus creates (see `NatsBus::with_replicas`).
    pub fn with_replicas(self, n: usize) -> Self {
        match self {
            AnyBus::Nats(n0) => AnyBus::Nats(Box::new(n0.with_replicas(n))),
            m => m,
        }
    }

    /// Remove a topic and its messages.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), BusError> {
        match self {
            AnyBus::Memory(m) => {
                m.delete_topic(topic);
                Ok(())
            }
            AnyBus::Nats(n) => n.delete_topic(topic).await,
        }
    }

    /// Make `topic`'s stream now (it is made on first use otherwise), so a producer
    /// publishing to its subject directly has a stream that keeps what it sends.
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), BusError> {
        match self {
            AnyBus::Memory(_) => crate::check_topic(topic),
            AnyBus::Nats(n) => n.ensure_known(topic).await,
        }
    }

    /// The NATS subject producers publish `topic` to (none for the in-process bus).
    pub fn subject(&self, topic: &str) -> Option<String> {
        match self {
            AnyBus::Memory(_) => None,
            AnyBus::Nats(n) => Some(n.subject(topic)),
        }
    }
}

pub enum AnyConsumer {
    Memory(<MemoryBus as Bus>::Consumer),
    Nats(Box<<NatsBus as Bus>::Consumer>),
}

impl Bus for AnyBus {
    type Consumer = AnyConsumer;

    async fn publish(&self, topic: &str, records: &[Vec<u8>]) -> Result<u64, BusError> {
        match self {
            AnyBus::Memory(b) => b.publish(topic, records).await,
            AnyBus::Nats(b) => b.publish(topic, records).await,
        }
    }

    async fn publish_dedup(
        &self,
        topic: &str,
        msg_id: &str,
        records: &[Vec<u8>],
    ) -> Result<Option<u64>, BusError> {
        match self {
            AnyBus::Memory(b) => b.publish_dedup(topic, msg_id, records).await,
            AnyBus::Nats(b) => b.publish_dedup(topic, msg_id, records).await,
        }
    }

    async fn publish_dedup_batches(
        &self,
        topic: &str,
        batches: Vec<(String, Batch)>,
    ) -> Result<Vec<Option<u64>>, BusError> {
        match self {
            AnyBus::Memory(b) => b.publish_dedup_batches(topic, batches).await,
            AnyBus::Nats(b) => b.publish_dedup_batches(topic, batches).await,
        }
    }

    async fn consumer(
        &self,
        topic: &str,
        name: &str,
        opts: ConsumerOpts,
    ) -> Result<AnyConsumer, BusError> {
        Ok(match self {
            AnyBus::Memory(b) => AnyConsumer::Memory(b.consumer(topic, name, opts).await?),
            AnyBus::Nats(b) => AnyConsumer::Nats(Box::new(b.consumer(topic, name, opts).await?)),
        })
    }

    async fn lag(&self, topic: &str, name: &str) -> Result<u64, BusError> {
        match self {
            AnyBus::Memory(b) => b.lag(topic, name).await,
            AnyBus::Nats(b) => b.lag(topic, name).await,
        }
    }

    async fn last(&self, topic: &str) -> Result<Option<LastMessage>, BusError> {
        match self {
            AnyBus::Memory(b) => b.last(topic).await,
            AnyBus::Nats(b) => b.last(topic).await,
        }
    }

    async fn tail(&self, topic: &str, n: usize) -> Result<Vec<Vec<u8>>, BusError> {
        match self {
            AnyBus::Memory(b) => b.tail(topic, n).await,
            AnyBus::Nats(b) => b.tail(topic, n).await,
        }
    }
}

impl Consumer for AnyConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        match self {
            AnyConsumer::Memory(c) => c.fetch(max, wait).await,
            AnyConsumer::Nats(c) => c.fetch(max, wait).await,
        }
    }

    async fn ack(&mut self, d: Delivery) -> Result<(), BusError> {
        match self {
            AnyConsumer::Memory(c) => c.ack(d).await,
            AnyConsumer::Nats(c) => c.ack(d).await,
        }
    }

    async fn ack_all(&mut self, ds: Vec<Delivery>) -> Result<(), BusError> {
        match self {
            AnyConsumer::Memory(c) => c.ack_all(ds).await,
            AnyConsumer::Nats(c) => c.ack_all(ds).await,
        }
    }
}
