"""Drives the published llama-index-vector-stores-zerodb 0.1.0 client against a ZeroDB server.

It goes through LlamaIndex as an application would: a VectorStoreIndex over
the ZeroDB store gets six short documents on different topics
(POST .../embeddings/embed-and-store), and its retriever is asked a
paraphrase of one of them (POST .../embeddings/search); the paraphrased
document must come first, with its metadata intact.

The store embeds on the server: it sends texts on add and the query string on
search, and ignores the vectors LlamaIndex computes. LlamaIndex still insists
on an embedding model (its default is OpenAI's, which is not installed and
would call out), so MockEmbedding stands in; no LLM is used by a retriever.

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

NAME = "llamaindex_store"

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
# A paraphrase of the tax document (not the question the langchain driver asks).
QUESTION = "Are profits from selling stock owned over a year taxed at a lower rate than income?"
EXPECTED = "tax"


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
    namespace = os.environ.get("ZERODB_NAMESPACE") or f"li_{uuid.uuid4().hex[:12]}"
    return base, os.environ["ZERODB_API_KEY"], os.environ["ZERODB_PROJECT_ID"], namespace


def main():
    base, key, project, namespace = settings()
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import TextNode
    from llama_index_zerodb import ZeroDBVectorStore

    # As published, the store cannot be instantiated: it leaves LlamaIndex's
    # abstract `client` property (abstract in every llama-index-core from
    # 0.10, the oldest it allows) undefined. Defining it is all this adds; the
    # requests are the store's own.
    class Store(ZeroDBVectorStore):
        @property
        def client(self):
            return self._get_client()

    store = Store(api_key=key, project_id=project, base_url=base, namespace=namespace)
    # Nodes made directly (no node parser), each with an id of ours that the
    # store copies into the metadata it sends as `node_id`.
    nodes = [TextNode(id_=f"{namespace}-{t}", text=text, metadata={"topic": t, "rank": i})
             for i, (t, text) in enumerate(DOCS.items())]
    index = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=store),
                             embed_model=MockEmbedding(embed_dim=8))

    hits = index.as_retriever(similarity_top_k=3).retrieve(QUESTION)
    if not hits:
        fail("the retriever found nothing")
    top = hits[0]
    if top.node.get_content() != DOCS[EXPECTED]:
        fail(f"expected the {EXPECTED} document first, got {[h.node.get_content() for h in hits]!r}")
    # The store defaults a missing `similarity` to 0.0.
    scores = [h.score for h in hits]
    if not 0 < scores[0] <= 1.0 + 1e-6 or any(s > scores[0] for s in scores[1:]):
        fail(f"the first hit should have the highest score in (0, 1], got {scores!r}")
    # The store reads each hit's `metadata` key; the server may add keys of its own.
    want = {"topic": EXPECTED, "rank": list(DOCS).index(EXPECTED), "node_id": f"{namespace}-{EXPECTED}"}
    if any(top.node.metadata.get(k) != v for k, v in want.items()):
        fail(f"metadata did not round-trip: stored {want!r}, got {top.node.metadata!r}")
    # The node's id is the hit's `id` (else `vector_id`): the server's id, not ours.
    if not top.node.node_id:
        fail("the hit carried no id (neither `id` nor `vector_id`)")

    print(json.dumps({"client": "llama-index-vector-stores-zerodb==0.1.0", "ok": True,
                      "namespace": namespace, "stored": len(nodes), "top": EXPECTED,
                      "scores": scores, "node_id": top.node.node_id,
                      "metadata": top.node.metadata}))


if __name__ == "__main__":
    import httpx  # the clients' HTTP library: their failures, said in one line

    try:
        main()
    except httpx.HTTPStatusError as e:
        fail(f"{e.request.method} {e.request.url.path} answered {e.response.status_code}: "
             f"{e.response.text[:500]}")
    except httpx.HTTPError as e:
        fail(f"{e.request.method} {e.request.url} failed: {e!r}")
