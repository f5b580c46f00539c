//! A realtime node's progress ([`Checkpoint`], kept in `flow_nodes.checkpoint`) and the ids of
//! its output messages ([`OutId`]): what lets a node restarted after a crash resume where its
//! output says it was, and never emit a window twice.
use serde::{Deserialize, Serialize};

/// Rows per output message.
pub(super) const ROWS_PER_MESSAGE: usize = 1000;

/// A realtime node's progress, kept in `flow_nodes.checkpoint`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    /// The deploy that last set the input position (a start `from_tail` or `from_head`, or
    /// the first start). Output messages carry it: only this epoch's tell where the node is.
    pub epoch: i64,
    /// The output topic's last position when the epoch began.
    pub out_base: u64,
    /// Read the input from here to rebuild the open windows.
    pub replay_from: u64,
    /// Input up to here has been read and counted.
    pub consumed: u64,
    /// Windows ending at or before this have been emitted.
    pub emitted_to: i64,
    pub max_event: Option<i64>,
    /// A parallel node's task: the greatest event time heard from each input partition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources_max: Vec<Option<i64>>,
    /// A parallel node (see [`crate::exchange`]): its tasks' progress and its exchanges'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Parallel>,
}

impl Checkpoint {
    /// A new epoch's start: input read and counted up to `consumed`, no window emitted yet.
    pub fn fresh(epoch: i64, out_base: u64, consumed: u64) -> Self {
        Checkpoint {
            epoch,
            out_base,
            replay_from: consumed + 1,
            consumed,
            emitted_to: i64::MIN,
            max_event: None,
            sources_max: Vec::new(),
            parallel: None,
        }
    }
}

/// A parallel node's progress. Each part is written by its own job (`jsonb_set` on its
/// path), so tasks and exchanges never overwrite each other.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Parallel {
    /// Task k's checkpoint: its input is the node's exchange topic, partition k.
    pub tasks: Vec<Checkpoint>,
    /// Input partition p has been exchanged up to position `sources[p]`.
    pub sources: Vec<u64>,
}

/// What an output message's id says: `f{node}.{epoch}.w{end}.s{seq}.{part}.{parts}` for a
/// window, `f{node}.{epoch}.n.s{seq}.{part}.{parts}` for unwindowed output of input `seq`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OutId {
    pub(super) node: i64,
    pub(super) epoch: i64,
    pub(super) end: Option<i64>,
    pub(super) seq: u64,
    pub(super) part: usize,
    pub(super) parts: usize,
}

impl OutId {
    pub(super) fn format(&self) -> String {
        let w = self.end.map_or("n".to_string(), |e| format!("w{e}"));
        format!(
            "f{}.{}.{w}.s{}.{}.{}",
            self.node, self.epoch, self.seq, self.part, self.parts
        )
    }

    /// The window end, or the input position of unwindowed output.
    pub(super) fn key(&self) -> i64 {
        self.end.unwrap_or(self.seq as i64)
    }

    pub(super) fn parse(s: &str) -> Option<OutId> {
        let mut it = s.split('.');
        let node = it.next()?.strip_prefix('f')?.parse().ok()?;
        let epoch = it.next()?.parse().ok()?;
        let w = it.next()?;
        let end = match w {
            "n" => None,
            _ => Some(w.strip_prefix('w')?.parse().ok()?),
        };
        let seq = it.next()?.strip_prefix('s')?.parse().ok()?;
        let part = it.next()?.parse().ok()?;
        let parts = it.next()?.parse().ok()?;
        Some(OutId {
            node,
            epoch,
            end,
            seq,
            part,
            parts,
        })
    }
}

/// A window's lines cut into messages of at most [`ROWS_PER_MESSAGE`] rows, each with its id.
pub(super) fn split_parts(
    node: i64,
    epoch: i64,
    end: Option<i64>,
    seq: u64,
    lines: Vec<Vec<u8>>,
) -> Vec<(OutId, Vec<Vec<u8>>)> {
    if lines.is_empty() {
        return Vec::new();
    }
    let parts = lines.len().div_ceil(ROWS_PER_MESSAGE);
    let mut out = Vec::with_capacity(parts);
    let mut it = lines.into_iter().peekable();
    for part in 0..parts {
        let chunk: Vec<Vec<u8>> = it.by_ref().take(ROWS_PER_MESSAGE).collect();
        out.push((
            OutId {
                node,
                epoch,
                end,
                seq,
                part,
                parts,
            },
            chunk,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_ids_round_trip() {
        for id in [
            OutId {
                node: 7,
                epoch: 3,
                end: Some(1_795_305_900_000),
                seq: 42,
                part: 0,
                parts: 2,
            },
            OutId {
                node: 7,
                epoch: 3,
                end: Some(-300_000),
                seq: 0,
                part: 1,
                parts: 2,
            },
            OutId {
                node: 1,
                epoch: 9,
                end: None,
                seq: 5,
                part: 0,
                parts: 1,
            },
        ] {
            assert_eq!(
                OutId::parse(&id.format()),
                Some(id.clone()),
                "{}",
                id.format()
            );
        }
        assert_eq!(OutId::parse("raw.1:5"), None);
        assert_eq!(OutId::parse("f1.2.x3.s4.0.1"), None);
    }

    #[test]
    fn parts_of_a_window() {
        let lines: Vec<Vec<u8>> = (0..2500).map(|i| format!("{i}").into_bytes()).collect();
        let parts = split_parts(1, 2, Some(60_000), 9, lines);
        let sizes: Vec<(usize, usize, usize)> = parts
            .iter()
            .map(|(id, l)| (id.part, id.parts, l.len()))
            .collect();
        assert_eq!(sizes, vec![(0, 3, 1000), (1, 3, 1000), (2, 3, 500)]);
    }
}
