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

from common import DOCS, fail as fail_as, run, settings

NAME = "llamaindex_store"

# A paraphrase of the tax document (not the question the langchain driver asks).
QUESTION = "Are profits from selling stock owned over a year taxed at a lower rate than income?"
EXPECTED = "tax"


def fail(message):
    fail_as(NAME, message)


def main():
    base, key, project, namespace = settings(NAME, "li")
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
    run(NAME, main)
