//! Which partition a raw record goes to. With a `partition_key`, by a stable hash of that
//! JSON field's value, so records with the same value share a partition (and keep their
//! order) whichever server takes them; without one, a whole batch to the next partition in
//! turn, so batches stay whole and partitions fill evenly.
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the even spread goes next (per process: only evenness matters).
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The records of `window` (by index, in order) for each of `n` partitions.
pub fn spread(window: &[Vec<u8>], n: u32, key: Option<&str>) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); n.max(1) as usize];
    if n <= 1 {
        out[0] = (0..window.len()).collect();
        return out;
    }
    match key {
        None => {
            let k = (NEXT.fetch_add(1, Ordering::Relaxed) % u64::from(n)) as usize;
            out[k] = (0..window.len()).collect();
        }
        Some(key) => {
            for (i, rec) in window.iter().enumerate() {
                out[partition_of(rec, key, n) as usize].push(i);
            }
        }
    }
    out
}

/// The partition of a record by the value of its field `key`: a record that is not a JSON
/// object, or lacks the field, hashes as an empty value (all such records share a partition).
pub fn partition_of(record: &[u8], key: &str, n: u32) -> u32 {
    let value = field_text(record, key).unwrap_or_default();
    (fnv1a(value.as_bytes()) % u64::from(n.max(1))) as u32
}

/// FNV-1a: stable across processes, versions and machines (std's hasher promises none of it).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The field's value as text: a string as itself, anything else as its JSON. Only that
/// field is built; the rest of the record is skipped over.
fn field_text(record: &[u8], key: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(record);
    let v = Field(key).deserialize(&mut de).ok()??;
    Some(match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

struct Field<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = Option<serde_json::Value>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Field<'_> {
    type Value = Option<serde_json::Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            if found.is_none() && k == self.0 {
                found = Some(m.next_value()?);
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_keeps_equal_values_together_and_spreads_the_rest() {
        let recs: Vec<Vec<u8>> = (0..400)
            .map(|i| format!(r#"{{"x":{i},"host":"h{}"}}"#, i % 40).into_bytes())
            .collect();
        let groups = spread(&recs, 4, Some("host"));
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 400);
        for g in &groups {
            assert!(!g.is_empty(), "40 hosts over 4 partitions leave none empty");
            assert!(g.windows(2).all(|w| w[0] < w[1]), "order kept");
        }
        for i in 0..400 {
            let same = (i + 40) % 400;
            let p = partition_of(&recs[i], "host", 4);
            assert_eq!(p, partition_of(&recs[same], "host", 4));
        }
        // Stable: the same value goes to the same partition in every process.
        assert_eq!(
            partition_of(br#"{"host":"h1"}"#, "host", 8),
            fnv1a(b"h1") as u32 % 8
        );
        assert_eq!(
            partition_of(b"not json", "host", 8),
            partition_of(b"{}", "host", 8)
        );
        assert_eq!(
            field_text(br#"{"a":{"b":1},"k":7}"#, "k").as_deref(),
            Some("7")
        );
    }

    #[test]
    fn without_a_key_batches_stay_whole_and_take_turns() {
        let recs = vec![b"a".to_vec(), b"b".to_vec()];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..8 {
            let groups = spread(&recs, 4, None);
            let full: Vec<usize> = (0..4).filter(|k| !groups[*k].is_empty()).collect();
            assert_eq!(full.len(), 1);
            assert_eq!(groups[full[0]], vec![0, 1]);
            seen.insert(full[0]);
        }
        assert_eq!(
            seen.len(),
            4,
            "eight batches in turn reach all four partitions"
        );
    }
}
