"""Drives the published langchain-zerodb 0.1.0 client against a ZeroDB server.

It stores six short documents on different topics through the client's
add_texts (POST .../embeddings/embed-and-store), asks a paraphrase of one of
them (POST .../embeddings/search, which embeds the query on the server) and
checks that the paraphrased document comes first, with the highest score and
its metadata intact.

Env: ZERODB_BASE_URL (loopback only), ZERODB_API_KEY, ZERODB_PROJECT_ID,
optional ZERODB_NAMESPACE (default: a fresh random one, so that earlier runs'
documents cannot answer). Prints one JSON line on success; exits non-zero
with a message on any mismatch.
"""
import json
import os

from common import DOCS, fail as fail_as, run, settings

NAME = "langchain_store"

# A paraphrase of the volcanoes document (no sentence of it copied).
QUESTION = "Why does a volcano erupt, sending magma up as lava and ash?"
EXPECTED = "volcanoes"


def fail(message):
    fail_as(NAME, message)


def main():
    base, key, project, namespace = settings(NAME, "lc")
    # LangSmith tracing would post to its hosted service.
    os.environ["LANGSMITH_TRACING"] = os.environ["LANGCHAIN_TRACING_V2"] = "false"
    from langchain_zerodb import ZeroDBVectorStore

    store = ZeroDBVectorStore(api_key=key, project_id=project, base_url=base, namespace=namespace)
    topics = list(DOCS)
    # Metadata of several JSON types, to see it come back unchanged.
    metadatas = [{"topic": t, "rank": i, "tags": [t, "test"], "checked": i % 2 == 0}
                 for i, t in enumerate(topics)]
    ids = store.add_texts([DOCS[t] for t in topics], metadatas=metadatas)
    # add_texts returns the response's vector_ids (or [] when it has none).
    if len(ids) != len(topics) or len(set(ids)) != len(topics):
        fail(f"embed-and-store should give {len(topics)} distinct vector_ids, got {ids!r}")

    hits = store.similarity_search_with_score(QUESTION, k=3)
    if not hits:
        fail("similarity_search_with_score found nothing")
    top, top_score = hits[0]
    if top.page_content != DOCS[EXPECTED]:
        fail(f"expected the {EXPECTED} document first, got {[d.page_content for d, _ in hits]!r}")
    # The client defaults a missing `similarity` to 0.0: a real one is a number in (0, 1].
    scores = [s for _, s in hits]
    if not all(type(s) in (int, float) for s in scores) or not 0 < top_score <= 1.0 + 1e-6:
        fail(f"scores should be numbers with the first in (0, 1], got {scores!r}")
    if any(s > top_score for s in scores[1:]):
        fail(f"the first hit should have the highest score, got {scores!r}")
    want = metadatas[topics.index(EXPECTED)]
    # The client reads each hit's `metadata` key; the server may add keys of its own.
    if any(top.metadata.get(k) != v for k, v in want.items()):
        fail(f"metadata did not round-trip: stored {want!r}, got {top.metadata!r}")

    # The plain search goes through the same route and must agree.
    plain = store.similarity_search(QUESTION, k=1)
    if [d.page_content for d in plain] != [DOCS[EXPECTED]]:
        fail(f"similarity_search disagrees: {[d.page_content for d in plain]!r}")

    print(json.dumps({"client": "langchain-zerodb==0.1.0", "ok": True, "namespace": namespace,
                      "stored": len(ids), "top": EXPECTED, "scores": scores,
                      "metadata": top.metadata}))


if __name__ == "__main__":
    run(NAME, main)
