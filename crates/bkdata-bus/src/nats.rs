//! The JetStream bus: one stream per topic (`{PREFIX}_{topic}` with dots as underscores,
//! subject `{prefix}.{topic}`, file storage), durable pull consumers with explicit acks.
use crate::{
    check_topic, decode, encode, Batch, Bus, BusError, Consumer, ConsumerOpts, Delivery, Handle,
    LastMessage,
};
use async_nats::jetstream::{self, consumer::pull, consumer::PullConsumer, stream};
use futures_util::{FutureExt, StreamExt};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct NatsBus {
    js: jetstream::Context,
    prefix: String,
    known: Arc<Mutex<HashSet<String>>>,
    max_age: Duration,
    replicas: usize,
}

/// The servers of a comma-separated list of URLs.
fn servers(urls: &str) -> Result<Vec<async_nats::ServerAddr>, BusError> {
    let list: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse()
                .map_err(|e| BusError::Connection(format!("{u} is not a NATS URL: {e}")))
        })
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err(BusError::Connection("no NATS URL given".into()));
    }
    Ok(list)
}

fn stream_name_of(prefix: &str, topic: &str) -> String {
    let (base, k) = crate::split_partition(topic);
    let name = format!("{prefix}_{base}")
        .replace(['.', '-'], "_")
        .to_uppercase();
    if k == 0 {
        name
    } else {
        format!("{name}-P{k}")
    }
}

fn err(e: impl std::fmt::Display) -> BusError {
    BusError::Other(e.to_string())
}

/// The longest one exchange with the server may take. The client queues requests while it
/// reconnects and some of its waits have no end of their own (a restarted server forgets the
/// pulls it was sent): past this the exchange fails, and the job using it is retried on a
/// fresh consumer instead of hanging with no error.
const OP_TIMEOUT: Duration = Duration::from_secs(20);

async fn bounded<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, BusError>>,
) -> Result<T, BusError> {
    tokio::time::timeout(OP_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| {
            Err(BusError::Other(format!(
                "{what}: no answer from the server within {} s",
                OP_TIMEOUT.as_secs()
            )))
        })
}

impl NatsBus {
    /// Connect to `urls`, one server or a comma-separated list of a cluster's servers
    /// (e.g. `nats://127.0.0.1:4222`, or `nats://a:4222,nats://b:4222`: the client uses any
    /// that answers and moves to another when it goes); topics live under `prefix` (`bkdata`
    /// in production, a unique one per test).
    pub async fn connect(urls: &str, prefix: &str) -> Result<Self, BusError> {
        check_topic(prefix)?;
        let servers = servers(urls)?;
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .connect(servers)
            .await
            .map_err(|e| BusError::Connection(format!("{urls}: {e}")))?;
        Ok(NatsBus {
            js: jetstream::new(client),
            prefix: prefix.to_string(),
            known: Arc::default(),
            max_age: Duration::ZERO,
            replicas: 1,
        })
    }

    /// Streams this bus uses are kept on `n` servers of the cluster (JetStream's replicas; 1
    /// for a single server): new ones are made so, and one made with fewer is raised to `n`.
    pub fn with_replicas(mut self, n: usize) -> Self {
        self.replicas = n.max(1);
        self
    }

    /// Streams this bus creates keep messages this long (zero: until deleted). A stream that
    /// exists already keeps the retention it was created with.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The subject a producer publishes to for `topic`.
    pub fn subject(&self, topic: &str) -> String {
        format!("{}.{topic}", self.prefix)
    }

    /// `{PREFIX}_{TOPIC}` with dots and dashes as underscores; partition k of a topic is
    /// `{PREFIX}_{TOPIC}-P{k}` (no other name has a dash, so `rt.x.p1` and `rt.x_p1` differ).
    pub fn stream_name(&self, topic: &str) -> String {
        stream_name_of(&self.prefix, topic)
    }

    async fn stream(&self, topic: &str) -> Result<stream::Stream, BusError> {
        check_topic(topic)?;
        let name = self.stream_name(topic);
        let created = self
            .js
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![self.subject(topic)],
                storage: stream::StorageType::File,
                max_age: self.max_age,
                num_replicas: self.replicas,
                ..Default::default()
            })
            .await;
        let s = match created {
            Ok(s) => s,
            // Two processes creating the stream at once: the loser's create is refused
            // ("already in use"), and the winner's stream is the one to use.
            Err(e) => self.js.get_stream(&name).await.map_err(|_| err(e))?,
        };
        // A stream made before the bus was replicated (or with fewer copies) is raised to
        // the replicas asked for; fewer are never asked of it (a second process with an older
        // setting does not undo the first's).
        let mut config = s.cached_info().config.clone();
        if self.replicas > 1 && config.num_replicas < self.replicas {
            config.num_replicas = self.replicas;
            self.js.update_stream(config).await.map_err(|e| {
                err(format!(
                    "{name}: raising to {} replicas: {e}",
                    self.replicas
                ))
            })?;
        }
        Ok(s)
    }

    /// How many servers keep `topic`'s stream (its replicas).
    pub async fn replicas_of(&self, topic: &str) -> Result<usize, BusError> {
        let mut s = bounded("stream info", async {
            self.js
                .get_stream(self.stream_name(topic))
                .await
                .map_err(err)
        })
        .await?;
        let info = bounded("stream info", async { s.info().await.map_err(err) }).await?;
        Ok(info.config.num_replicas)
    }

    pub(crate) async fn ensure_known(&self, topic: &str) -> Result<(), BusError> {
        let known = self.known.lock().unwrap().contains(topic);
        if !known {
            self.stream(topic).await?;
            self.known.lock().unwrap().insert(topic.to_string());
        }
        Ok(())
    }

    /// Delete every stream of this bus's prefix (tests clean up with it).
    pub async fn delete_all_topics(&self) -> Result<usize, BusError> {
        let prefix = format!("{}_", self.prefix.replace(['.', '-'], "_").to_uppercase());
        let mut names = self.js.stream_names();
        let mut mine = Vec::new();
        while let Some(name) = names.next().await {
            let name = name.map_err(err)?;
            if name.starts_with(&prefix) {
                mine.push(name);
            }
        }
        for name in &mine {
            self.js.delete_stream(name).await.map_err(err)?;
        }
        self.known.lock().unwrap().clear();
        Ok(mine.len())
    }

    /// Delete a topic's stream (tests, and removing raw data).
    pub async fn delete_topic(&self, topic: &str) -> Result<(), BusError> {
        self.known.lock().unwrap().remove(topic);
        match self.js.delete_stream(self.stream_name(topic)).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(err(e)),
        }
    }
}

fn check_name(name: &str) -> Result<(), BusError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(())
    } else {
        Err(BusError::Other(format!(
            "invalid consumer name {name:?}: use letters, digits, '_' and '-'"
        )))
    }
}

pub struct NatsConsumer {
    consumer: PullConsumer,
    /// Pulls given up on before they ended (see `PULL_GRACE`): a message the server sent
    /// just before is still on its way, so they stay subscribed and are drained by the next
    /// fetches until each ends (the client library ends a waiting one at its expiry + 5 s;
    /// a `no_wait` one whose end was lost is dropped after `UNFINISHED_FOR`). Dropping one
    /// sooner would leave such a message unseen until its ack wait.
    unfinished: Vec<(tokio::time::Instant, pull::Batch)>,
}

impl Bus for NatsBus {
    type Consumer = NatsConsumer;

    async fn publish(&self, topic: &str, records: &[Vec<u8>]) -> Result<u64, BusError> {
        bounded("publishing", async move {
            self.ensure_known(topic).await?;
            let payload = encode(records)?;
            // Wait for the server's ack: the batch is stored when this returns.
            let ack = self
                .js
                .publish(self.subject(topic), payload.into())
                .await
                .map_err(err)?
                .await
                .map_err(err)?;
            Ok(ack.sequence)
        })
        .await
    }

    async fn publish_dedup(
        &self,
        topic: &str,
        msg_id: &str,
        records: &[Vec<u8>],
    ) -> Result<Option<u64>, BusError> {
        let mut batch = Batch::default();
        for r in records {
            batch.push_with(|b| b.extend_from_slice(r))?;
        }
        let acks = self
            .publish_dedup_batches(topic, vec![(msg_id.to_string(), batch)])
            .await?;
        Ok(acks.into_iter().next().flatten())
    }

    async fn publish_dedup_batches(
        &self,
        topic: &str,
        batches: Vec<(String, Batch)>,
    ) -> Result<Vec<Option<u64>>, BusError> {
        bounded("publishing", async move {
            self.ensure_known(topic).await?;
            let subject = self.subject(topic);
            // Sending is in order (the stream keeps it); the acks are then awaited together.
            let mut pending = Vec::with_capacity(batches.len());
            for (msg_id, batch) in batches {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", msg_id.as_str());
                pending.push(
                    self.js
                        .publish_with_headers(subject.clone(), headers, batch.into_payload().into())
                        .await
                        .map_err(err)?,
                );
            }
            let acks = futures_util::future::join_all(
                pending
                    .into_iter()
                    .map(std::future::IntoFuture::into_future),
            )
            .await;
            acks.into_iter()
                .map(|a| {
                    let ack = a.map_err(err)?;
                    Ok((!ack.duplicate).then_some(ack.sequence))
                })
                .collect()
        })
        .await
    }

    async fn consumer(
        &self,
        topic: &str,
        name: &str,
        opts: ConsumerOpts,
    ) -> Result<NatsConsumer, BusError> {
        bounded("opening a consumer", async move {
            check_name(name)?;
            let stream = self.stream(topic).await?;
            let mut start_seq = opts.start_seq;
            if opts.take_over && start_seq.is_none() {
                // Messages the last owner held come back only after their ack wait, behind newer
                // ones: restart the consumer after its ack floor to have them first, in order.
                if let Ok(info) = stream.consumer_info(name).await {
                    if info.num_ack_pending > 0 {
                        start_seq = Some(info.ack_floor.stream_sequence + 1);
                    }
                }
            }
            if start_seq.is_some() {
                // A consumer's start cannot be changed: replace it (absent is fine).
                let _ = stream.delete_consumer(name).await;
            }
            let consumer = stream
                .get_or_create_consumer(
                    name,
                    pull::Config {
                        durable_name: Some(name.to_string()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: opts.ack_wait,
                        deliver_policy: match (start_seq, opts.from_start) {
                            (Some(s), _) => jetstream::consumer::DeliverPolicy::ByStartSequence {
                                start_sequence: s.max(1),
                            },
                            (None, true) => jetstream::consumer::DeliverPolicy::All,
                            (None, false) => jetstream::consumer::DeliverPolicy::New,
                        },
                        ..Default::default()
                    },
                )
                .await
                .map_err(err)?;
            Ok(NatsConsumer {
                consumer,
                unfinished: Vec::new(),
            })
        })
        .await
    }

    async fn last(&self, topic: &str) -> Result<Option<LastMessage>, BusError> {
        bounded("reading the last message", async move {
            let mut stream = self.stream(topic).await?;
            let state = stream.info().await.map_err(err)?.state.clone();
            if state.messages == 0 {
                return Ok(None);
            }
            let msg = stream
                .get_raw_message(state.last_sequence)
                .await
                .map_err(err)?;
            Ok(Some(LastMessage {
                seq: msg.sequence,
                msg_id: msg
                    .headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_string()),
                records: decode(&msg.payload),
            }))
        })
        .await
    }

    async fn tail(&self, topic: &str, n: usize) -> Result<Vec<Vec<u8>>, BusError> {
        bounded("reading the tail", async move {
            let mut stream = self.stream(topic).await?;
            let info = stream.info().await.map_err(err)?;
            let (first, mut seq) = (info.state.first_sequence, info.state.last_sequence);
            let mut out = Vec::new();
            while out.len() < n && seq >= first.max(1) {
                if let Ok(msg) = stream.get_raw_message(seq).await {
                    out.extend(decode(&msg.payload).into_iter().rev());
                }
                seq -= 1;
            }
            out.truncate(n);
            out.reverse();
            Ok(out)
        })
        .await
    }

    async fn lag(&self, topic: &str, name: &str) -> Result<u64, BusError> {
        bounded("reading the lag", async move {
            let stream = self.stream(topic).await?;
            match stream.consumer_info(name).await {
                Ok(info) => Ok(info.num_pending + info.num_ack_pending as u64),
                Err(_) => Ok(stream.get_info().await.map_err(err)?.state.messages),
            }
        })
        .await
    }
}

/// How long past a waiting pull's expiry the client waits for the server to end it before
/// going on without it (it is kept in `unfinished`). The server does not always send the end:
/// NATS 2.9 sometimes expires a partly filled pull without its 408, and a restarting server
/// loses it; the client library's own timer (expiry + 5 s) stalled a builder for 5 s.
const PULL_GRACE: Duration = Duration::from_millis(100);
/// A `no_wait` pull is answered at once; this bounds the wait for its next message when its
/// answer is lost.
const NO_WAIT_GAP: Duration = Duration::from_secs(1);
/// An unfinished pull older than this will get nothing more: it is dropped.
const UNFINISHED_FOR: Duration = Duration::from_secs(30);

fn delivery(msg: jetstream::Message) -> Result<Delivery, BusError> {
    let info = msg.info().map_err(err)?;
    Ok(Delivery {
        seq: info.stream_sequence,
        redelivered: info.delivered > 1,
        records: decode(&msg.payload),
        handle: Handle::Nats(Box::new(msg)),
    })
}

impl NatsConsumer {
    /// Send one pull (a waiting one when `expires` is set) and take its messages into `out`
    /// until it ends or nothing came for `gap`; one given up on is kept in `unfinished`.
    async fn pull(
        &mut self,
        max: usize,
        expires: Option<Duration>,
        gap: Duration,
        out: &mut Vec<Delivery>,
    ) -> Result<(), BusError> {
        // Sending is queued by the client (also while it reconnects).
        let consumer = &self.consumer;
        let mut batch = bounded("pulling", async move {
            match expires {
                Some(wait) => {
                    consumer
                        .batch()
                        .max_messages(max)
                        .expires(wait)
                        .messages()
                        .await
                }
                None => consumer.fetch().max_messages(max).messages().await,
            }
            .map_err(err)
        })
        .await?;
        loop {
            match tokio::time::timeout(gap, batch.next()).await {
                Ok(Some(msg)) => out.push(delivery(msg.map_err(err)?)?),
                Ok(None) => return Ok(()),
                Err(_) => {
                    self.unfinished.push((tokio::time::Instant::now(), batch));
                    return Ok(());
                }
            }
        }
    }

    /// Up to `max` messages that reached unfinished pulls, without waiting; those that
    /// ended (or are too old to get more) are dropped.
    fn drain_unfinished(&mut self, max: usize, out: &mut Vec<Delivery>) {
        let mut kept = Vec::new();
        for (since, mut batch) in std::mem::take(&mut self.unfinished) {
            loop {
                if out.len() >= max {
                    kept.push((since, batch));
                    break;
                }
                match batch.next().now_or_never() {
                    Some(Some(Ok(msg))) => match delivery(msg) {
                        Ok(d) => out.push(d),
                        // Not ours to judge: acked or not, it comes again after its wait.
                        Err(_) => continue,
                    },
                    // Ended, or failed (what failed the pull fails the next one too).
                    Some(None) | Some(Some(Err(_))) => break,
                    None if since.elapsed() < UNFINISHED_FOR => {
                        kept.push((since, batch));
                        break;
                    }
                    None => break,
                }
            }
        }
        self.unfinished = kept;
    }
}

impl Consumer for NatsConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let max = max.max(1);
        let mut out = Vec::new();
        self.drain_unfinished(max, &mut out);
        if out.is_empty() && !wait.is_zero() {
            // Wait for the first message only: a pull for many that waits would hold what
            // came until the rest came or it expired.
            let wait = wait.max(Duration::from_millis(10));
            self.pull(1, Some(wait), wait + PULL_GRACE, &mut out)
                .await?;
            if out.is_empty() {
                return Ok(out);
            }
        }
        // Then what is ready now (a `no_wait` pull).
        if out.len() < max {
            self.pull(max - out.len(), None, NO_WAIT_GAP, &mut out)
                .await?;
        }
        // A message that reached a pull given up on just now came before these.
        self.drain_unfinished(max, &mut out);
        out.sort_by_key(|d| d.seq);
        // A message whose ack wait ran out while its reader was busy (a starved worker) can
        // come twice in one batch (its first delivery, drained late from a pull given up on,
        // and its redelivery): hand it out once. (Seen as rows stored twice by a shipper held
        // to 5 % of a core.) Redeliveries across fetches stay, as the contract says.
        out.dedup_by_key(|d| d.seq);
        Ok(out)
    }

    async fn ack(&mut self, d: Delivery) -> Result<(), BusError> {
        bounded("acking", confirm(d)).await
    }

    async fn ack_all(&mut self, ds: Vec<Delivery>) -> Result<(), BusError> {
        bounded("acking", async move {
            futures_util::future::join_all(ds.into_iter().map(confirm))
                .await
                .into_iter()
                .collect()
        })
        .await
    }
}

/// Ack a delivery and wait for the server's confirmation, so a crash right after does not
/// redeliver it.
async fn confirm(d: Delivery) -> Result<(), BusError> {
    match d.handle {
        Handle::Nats(msg) => msg.double_ack().await.map_err(err),
        Handle::Memory => Err(BusError::Other("a memory delivery acked on NATS".into())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn partitions_have_streams_of_their_own_names() {
        let n = |t: &str| super::stream_name_of("bkdata", t);
        assert_eq!(n("raw.42"), "BKDATA_RAW_42");
        assert_eq!(n("raw.42.p3"), "BKDATA_RAW_42-P3");
        assert_ne!(n("rt.2_x.p1"), n("rt.2_x_p1"));
        assert_ne!(n("rt.2_x.p1"), n("rt.2_x.p1.p1"));
    }

    #[test]
    fn a_cluster_is_a_comma_separated_list() {
        let s = super::servers("nats://127.0.0.1:4231, nats://127.0.0.1:4232,,").unwrap();
        assert_eq!(s.len(), 2);
        assert!(super::servers(" , ").is_err());
        assert!(super::servers("nats://127.0.0.1:notaport").is_err());
    }
}
