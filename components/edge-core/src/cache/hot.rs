//! Hot collections: small collections held whole in memory and searched
//! exactly with the SIMD kernels.

use crate::filter::Filter;
use crate::kernels;
use crate::model::*;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// A row's document, source and write time (ZeroDB's fields).
#[derive(Clone, Default)]
struct RowText {
    document: Option<String>,
    source: Option<String>,
    written_at_us: u64,
}

impl RowText {
    fn of(record: &VectorRecord) -> RowText {
        RowText {
            document: record.document.clone(),
            source: record.source.clone(),
            written_at_us: record.written_at_us,
        }
    }

    fn bytes(&self) -> usize {
        [&self.document, &self.source]
            .into_iter()
            .flatten()
            .map(String::len)
            .sum::<usize>()
            + 56
    }
}

/// A whole collection in memory, searched exactly with the SIMD kernels.
pub struct HotCollection {
    /// How its vectors are compared.
    pub metric: Metric,
    /// Dimension count of every row.
    pub dims: usize,
    /// The collection version the rows are at.
    pub version: u64,
    ids: Vec<String>,
    /// Row-major, `dims` floats a row.
    values: Vec<f32>,
    norms: Vec<f32>,
    /// Parsed, so that filters are evaluated without parsing; numbers keep
    /// their JSON text.
    metadata: Vec<Map<String, Json>>,
    /// Bytes of each row's metadata text, for the cache's budget.
    metadata_bytes: Vec<usize>,
    /// Each row's document, source and write time.
    texts: Vec<RowText>,
    positions: HashMap<String, usize>,
}

impl HotCollection {
    /// Holds `records` (each of `dims` values) at collection `version`.
    pub fn new(metric: Metric, dims: usize, version: u64, records: Vec<VectorRecord>) -> Self {
        let mut hot = HotCollection {
            metric,
            dims,
            version,
            ids: Vec::with_capacity(records.len()),
            values: Vec::with_capacity(records.len() * dims),
            norms: Vec::with_capacity(records.len()),
            metadata: Vec::with_capacity(records.len()),
            metadata_bytes: Vec::with_capacity(records.len()),
            texts: Vec::with_capacity(records.len()),
            positions: HashMap::with_capacity(records.len()),
        };
        hot.apply(&records, &[], version);
        hot
    }

    /// Number of vectors held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds no vector.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dims..(i + 1) * self.dims]
    }

    /// Estimated memory held, in bytes, for the cache's budget.
    pub fn bytes(&self) -> usize {
        self.values.len() * 4
            + self.norms.len() * 4
            + self.ids.iter().map(|id| 2 * id.len() + 80).sum::<usize>()
            // A parsed document takes a few times its text.
            + 3 * self.metadata_bytes.iter().sum::<usize>()
            + 48 * self.metadata.len()
            + self.texts.iter().map(RowText::bytes).sum::<usize>()
    }

    /// The vector `id`, with its metadata as JSON text; `None` when absent.
    pub fn get(&self, id: &str) -> Option<VectorRecord> {
        let &i = self.positions.get(id)?;
        let text = self.texts[i].clone();
        Some(VectorRecord {
            id: id.to_string(),
            values: self.row(i).to_vec(),
            metadata: metadata_text(&self.metadata[i]),
            document: text.document,
            source: text.source,
            written_at_us: text.written_at_us,
        })
    }

    /// Applies writes made through the edge; the caller has validated dims.
    pub fn apply(&mut self, upserted: &[VectorRecord], deleted: &[&str], version: u64) {
        for r in upserted.iter().filter(|r| r.values.len() == self.dims) {
            let norm = kernels::norm(&r.values);
            let metadata = serde_json::from_str(&r.metadata).unwrap_or_default();
            match self.positions.get(&r.id) {
                Some(&i) => {
                    self.values[i * self.dims..(i + 1) * self.dims].copy_from_slice(&r.values);
                    self.norms[i] = norm;
                    self.metadata[i] = metadata;
                    self.metadata_bytes[i] = r.metadata.len();
                    self.texts[i] = RowText::of(r);
                }
                None => {
                    self.positions.insert(r.id.clone(), self.ids.len());
                    self.ids.push(r.id.clone());
                    self.values.extend_from_slice(&r.values);
                    self.norms.push(norm);
                    self.metadata.push(metadata);
                    self.metadata_bytes.push(r.metadata.len());
                    self.texts.push(RowText::of(r));
                }
            }
        }
        for id in deleted {
            let Some(i) = self.positions.remove(*id) else { continue };
            let last = self.ids.len() - 1;
            self.ids.swap_remove(i);
            self.norms.swap_remove(i);
            self.metadata.swap_remove(i);
            self.metadata_bytes.swap_remove(i);
            self.texts.swap_remove(i);
            if i != last {
                let (head, tail) = self.values.split_at_mut(last * self.dims);
                head[i * self.dims..(i + 1) * self.dims].copy_from_slice(&tail[..self.dims]);
                self.positions.insert(self.ids[i].clone(), i);
            }
            self.values.truncate(last * self.dims);
        }
        self.version = version;
    }

    /// Exact top-k by the collection's metric among the rows that match
    /// `filter`, best first, scored like the origin (cosine similarity, L2
    /// distance, inner product). A row the metric cannot score (stored
    /// before vectors were checked per metric) is left out, as the origin
    /// leaves it out: no score is ever NaN or infinite.
    pub fn search(&self, request: &SearchRequest, filter: Option<&Filter>) -> SearchResult {
        let query = &request.vector;
        let query_norm = kernels::norm(query);
        // Sort key: lower is better.
        let mut scored: Vec<(f32, u32)> = (0..self.len())
            .filter(|&i| filter.is_none_or(|f| f.matches(&self.metadata[i])))
            .map(|i| {
                let row = self.row(i);
                let key = match self.metric {
                    Metric::Cosine => -kernels::cosine_from(kernels::dot(query, row), query_norm, self.norms[i]),
                    Metric::L2 => kernels::l2_squared(query, row),
                    Metric::Dot => -kernels::dot(query, row),
                };
                (key, i as u32)
            })
            .filter(|(key, _)| key.is_finite())
            .collect();
        let k = (request.k as usize).min(scored.len());
        if k < scored.len() {
            scored.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
            scored.truncate(k);
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let hits = scored
            .into_iter()
            .map(|(key, i)| {
                let i = i as usize;
                let with_metadata = request.include_metadata;
                let text = &self.texts[i];
                SearchHit {
                    id: self.ids[i].clone(),
                    score: match self.metric {
                        Metric::Cosine | Metric::Dot => -key,
                        Metric::L2 => key.sqrt(),
                    },
                    values: request.include_values.then(|| self.row(i).to_vec()),
                    metadata: with_metadata.then(|| metadata_text(&self.metadata[i])),
                    document: text.document.clone().filter(|_| with_metadata),
                    source: text.source.clone().filter(|_| with_metadata),
                    written_at_us: with_metadata.then_some(text.written_at_us),
                }
            })
            .collect();
        SearchResult {
            hits,
            version: self.version,
        }
    }
}

/// A metadata object back to its JSON text.
fn metadata_text(metadata: &Map<String, Json>) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hot collection's exact search against an oracle written here in
    /// f64 (cosine similarity, Euclidean distance, inner product) over 500
    /// rows × 16 dims: 50 queries, k of 1, 5 and 20, every metric, with and
    /// without equality filters, which the oracle applies to the rows'
    /// attributes directly (not through JSON or [`Filter`]).
    #[test]
    fn hot_search_is_exact() {
        let (rows, dims) = (500usize, 16usize);
        let mut state = 0x0DDB_1A5E_5BAD_5EEDu64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let tag = |i: usize| format!("t{}", i % 4);
        let n = |i: usize| ((i / 4) % 3) as i64;
        let records: Vec<VectorRecord> = (0..rows)
            .map(|i| {
                VectorRecord::new(
                    format!("r{i}"),
                    (0..dims).map(|_| next()).collect(),
                    format!(r#"{{"tag":"{}","n":{},"i":{i}}}"#, tag(i), n(i)),
                )
            })
            .collect();
        let queries: Vec<Vec<f32>> = (0..50).map(|_| (0..dims).map(|_| next()).collect()).collect();
        // (filter text, the tag and n a row must have). `2.0` equals the
        // integer 2 under jsonb equality; "t9" matches no row.
        let filters: [(Option<&str>, Option<&str>, Option<i64>); 5] = [
            (None, None, None),
            (Some(r#"{"tag":"t1"}"#), Some("t1"), None),
            (Some(r#"{"tag":"t2","n":1}"#), Some("t2"), Some(1)),
            (Some(r#"{"n":2.0}"#), None, Some(2)),
            (Some(r#"{"tag":"t9"}"#), Some("t9"), None),
        ];
        let f64s = |v: &[f32]| v.iter().map(|x| f64::from(*x)).collect::<Vec<f64>>();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut checked = 0;
        for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
            let hot = HotCollection::new(metric, dims, 1, records.clone());
            for (qi, query) in queries.iter().enumerate() {
                let q = f64s(query);
                for (text, want_tag, want_n) in filters {
                    // The oracle: (score, row), best first.
                    let mut expected: Vec<(f64, usize)> = (0..rows)
                        .filter(|&i| want_tag.is_none_or(|t| tag(i) == t) && want_n.is_none_or(|v| n(i) == v))
                        .map(|i| {
                            let r = f64s(&records[i].values);
                            let score = match metric {
                                Metric::Cosine => dot(&q, &r) / (dot(&q, &q).sqrt() * dot(&r, &r).sqrt()),
                                Metric::L2 => q.iter().zip(&r).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt(),
                                Metric::Dot => dot(&q, &r),
                            };
                            (score, i)
                        })
                        .collect();
                    match metric {
                        Metric::L2 => expected.sort_by(|a, b| a.0.total_cmp(&b.0)),
                        _ => expected.sort_by(|a, b| b.0.total_cmp(&a.0)),
                    }
                    let filter = text.map(|t| Filter::parse(t).unwrap());
                    for k in [1u32, 5, 20] {
                        let request = SearchRequest {
                            vector: query.clone(),
                            k,
                            filter: text.map(Into::into),
                            include_values: qi % 2 == 0,
                            include_metadata: qi % 3 == 0,
                        };
                        let found = hot.search(&request, filter.as_ref());
                        let what = format!("{metric:?}, query {qi}, filter {text:?}, k {k}");
                        assert_eq!(found.version, 1);
                        assert_eq!(found.hits.len(), expected.len().min(k as usize), "{what}");
                        for (at, hit) in found.hits.iter().enumerate() {
                            let (score, row) = expected[at];
                            assert!(
                                (f64::from(hit.score) - score).abs() <= 1e-5,
                                "{what}: hit {at} scores {} where {score} is expected",
                                hit.score
                            );
                            // Rows scored within 1e-6 of each other may come in
                            // either order; any other row is in its exact place.
                            let tied: Vec<String> = expected
                                .iter()
                                .filter(|(s, _)| (s - score).abs() <= 1e-6)
                                .map(|(_, i)| format!("r{i}"))
                                .collect();
                            if tied.len() == 1 {
                                assert_eq!(hit.id, format!("r{row}"), "{what}: hit {at}");
                            } else {
                                assert!(
                                    tied.contains(&hit.id),
                                    "{what}: hit {at} is {}, not one of {tied:?}",
                                    hit.id
                                );
                            }
                            let i: usize = hit.id[1..].parse().unwrap();
                            assert_eq!(
                                hit.values.as_ref(),
                                request.include_values.then_some(&records[i].values)
                            );
                            let metadata = hit
                                .metadata
                                .as_deref()
                                .map(|m| serde_json::from_str::<Json>(m).unwrap());
                            let want = serde_json::from_str::<Json>(&records[i].metadata).unwrap();
                            assert_eq!(metadata, request.include_metadata.then_some(want), "{what}");
                        }
                        let mut ids: Vec<&str> = found.hits.iter().map(|h| h.id.as_str()).collect();
                        ids.sort_unstable();
                        ids.dedup();
                        assert_eq!(ids.len(), found.hits.len(), "{what}: a row is returned twice");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 50 * 5 * 3);
    }
}
