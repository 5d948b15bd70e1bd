"""The edge's side of the embedding benchmark (scripts/bench-embed), over HTTP
with the standard library only, against a running zerodb-edge:

- sentences/s that the host's model embeds, one sentence a request (batch 1)
  and 32 a request (batch 32), over tests/fixtures/embeddings/bench-sentences.json
  (each text made new with a round number in front, so that none is answered
  by the edge's embedding cache);
- one text's `embeddings/generate` answered from the edge's embedding cache
  (the same text again) against one that reaches the model (a new text), p50,
    for a short query and a 120-word passage, as the edge's `server-timing`
  says;
- `embeddings/search` end to end over those sentences: a repeated query (a
  hit) and a new one each time (a miss: the model, then the search), p50/p99.

Usage: embedding_bench_edge.py BASE_URL API_KEY PROJECT_ID [--seconds N]
Prints one JSON line.
"""

import argparse
import http.client
import itertools
import json
import pathlib
import statistics
import time
import urllib.parse

SENTENCES = pathlib.Path(__file__).resolve().parents[1] / "fixtures/embeddings/bench-sentences.json"


class Edge:
    """One kept-alive connection to the edge, as a client in production holds."""

    def __init__(self, base, key, project):
        url = urllib.parse.urlsplit(base)
        self.connection = http.client.HTTPConnection(url.hostname, url.port)
        self.prefix = f"/api/v1/projects/{project}"
        self.key = key

    def post(self, path, body):
        """POSTs `body`; answers (seconds taken, JSON answer, x-zerodb-cache)."""
        data = json.dumps(body)
        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        start = time.perf_counter()
        self.connection.request("POST", f"{self.prefix}/{path}", data, headers)
        response = self.connection.getresponse()
        raw = response.read()
        took = time.perf_counter() - start
        if response.status != 200:
            raise SystemExit(f"{path}: {response.status} {raw[:300]!r}")
        self.server_s = server_seconds(response.getheader("server-timing") or "")
        return took, json.loads(raw), response.getheader("x-zerodb-cache")


def server_seconds(timing):
    """The edge's and the origin's time from a `server-timing` header."""
    total = 0.0
    for part in timing.split(","):
        for item in part.split(";")[1:]:
            if item.strip().startswith("dur="):
                total += float(item.strip()[4:]) / 1e3
    return total


def quantile(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds):
    return round(seconds * 1e3, 3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("api_key")
    parser.add_argument("project_id")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    edge = Edge(args.base_url, args.api_key, args.project_id)
    sentences = json.loads(SENTENCES.read_text())
    rounds = itertools.count()

    def new_texts(n):
        r = next(rounds)
        return [f"{r} {sentences[(r * n + i) % len(sentences)]}" for i in range(n)]

    def sentences_per_s(batch):
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            _, answer, cache = edge.post("embeddings/generate", {"texts": new_texts(batch)})
            assert cache == "miss" and len(answer["embeddings"]) == batch, (cache, len(answer["embeddings"]))
            done += batch
        return done / (time.perf_counter() - start)

    for _ in range(3):  # warm-up: the model's first passes, the instances' first calls
        edge.post("embeddings/generate", {"texts": new_texts(32)})
    batch_1 = sentences_per_s(1)
    batch_32 = sentences_per_s(32)

    # One text, cached at the edge, against a new text each time: a short
    # query, and a passage of about 120 words as a store's documents are,
    # by the edge's own `server-timing` (scripts/bench-embed times the same
    # at the client with wrk). Each warm instance has a cache of its own: a
    # repeat is timed only when it was a hit, as the header says.
    passage = " ".join(sentences[:9])
    by_text = {}
    for name, text in (("query", sentences[0]), ("passage", passage)):
        timed = {"hit_server": [], "miss_server": []}
        for _ in range(300):
            _, _, status = edge.post("embeddings/generate", {"texts": [text]})
            if status == "hit":
                timed["hit_server"].append(edge.server_s)
            _, _, status = edge.post("embeddings/generate", {"texts": [f"{next(rounds)} {text}"]})
            assert status == "miss", status
            timed["miss_server"].append(edge.server_s)
        p50 = {k: statistics.median(v) for k, v in timed.items()}
        by_text[name] = {
            "words": len(text.split()),
            "timed_hits": len(timed["hit_server"]),
            "hit_server_p50_ms": ms(p50["hit_server"]),
            "model_server_p50_ms": ms(p50["miss_server"]),
            "server_speedup": round(p50["miss_server"] / p50["hit_server"], 1),
        }

    # Text search over the sentences, a repeated query and new ones.
    namespace = f"bench_{int(time.time())}"
    for i in range(0, len(sentences), 32):
        edge.post("embeddings/embed-and-store", {"texts": sentences[i:i + 32], "namespace": namespace})
    query = {"query": "what does the weather do to the harvest", "limit": 5, "namespace": namespace, "threshold": 0.0}
    search_hits, search_misses = [], []
    for _ in range(300):
        took, _, cache = edge.post("embeddings/search", query)
        if cache == "hit":
            search_hits.append(took)
        # A new query always reaches the model; its search is answered by
        # the edge's copy once the small namespace is held whole (a hot
        # collection), by PostgreSQL before.
        took, _, _ = edge.post("embeddings/search", {**query, "query": new_texts(1)[0]})
        search_misses.append(took)

    print(json.dumps({
        "batch_1_sentences_per_s": round(batch_1, 1),
        "batch_32_sentences_per_s": round(batch_32, 1),
        "cache": by_text,
        "timed_search_hits": len(search_hits),
        "search_hit_p50_ms": ms(quantile(search_hits, 0.5)),
        "search_hit_p99_ms": ms(quantile(search_hits, 0.99)),
        "search_miss_p50_ms": ms(quantile(search_misses, 0.5)),
        "search_miss_p99_ms": ms(quantile(search_misses, 0.99)),
    }))


if __name__ == "__main__":
    main()
