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
import sys
import uuid
from urllib.parse import urlsplit

NAME = "langchain_store"

DOCS = {
    "pasta": "To cook pasta, bring a large pot of salted water to a rolling boil "
    "and cook the spaghetti for about ten minutes until al dente.",
    "orbits": "A satellite in low Earth orbit circles the planet roughly every "
    "ninety minutes; raising the orbit takes a prograde burn of its engine.",
    "tax": "Capital gains on shares held for more than a year are usually taxed "
    "at a lower rate than ordinary income under the tax code.",
    "tennis": "In tennis a player must win four points and lead by two to take a "
    "game, and win six games to take a set.",
    "volcanoes": "Volcanoes erupt when molten rock called magma rises through "
    "cracks in the crust and escapes as lava and ash.",
    "jazz": "Jazz musicians improvise melodies over chord changes, a tradition "
    "shaped by Louis Armstrong and Charlie Parker.",
}
# A paraphrase of the volcanoes document (no sentence of it copied).
QUESTION = "Why does a volcano erupt, sending magma up as lava and ash?"
EXPECTED = "volcanoes"


def fail(message):
    sys.exit(f"{NAME}: FAIL: {message}")


def settings():
    missing = [k for k in ("ZERODB_BASE_URL", "ZERODB_API_KEY", "ZERODB_PROJECT_ID")
               if not os.environ.get(k)]
    if missing:
        fail(f"set {', '.join(missing)} (a local server's base URL, key and project id)")
    base = os.environ["ZERODB_BASE_URL"]
    # The client's default base URL is the hosted service: only a local server
    # may ever be named, so a typo cannot send test data out.
    if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        fail(f"ZERODB_BASE_URL must be a loopback address, got {base!r}")
    # The edge is local; a proxy from the environment must not carry the calls.
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(k, None)
    # LangSmith tracing would post to its hosted service.
    os.environ["LANGSMITH_TRACING"] = os.environ["LANGCHAIN_TRACING_V2"] = "false"
    namespace = os.environ.get("ZERODB_NAMESPACE") or f"lc_{uuid.uuid4().hex[:12]}"
    return base, os.environ["ZERODB_API_KEY"], os.environ["ZERODB_PROJECT_ID"], namespace


def main():
    base, key, project, namespace = settings()
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
    import httpx  # the clients' HTTP library: their failures, said in one line

    try:
        main()
    except httpx.HTTPStatusError as e:
        fail(f"{e.request.method} {e.request.url.path} answered {e.response.status_code}: "
             f"{e.response.text[:500]}")
    except httpx.HTTPError as e:
        fail(f"{e.request.method} {e.request.url} failed: {e!r}")
