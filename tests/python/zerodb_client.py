#!/usr/bin/env python3
"""A ZeroDB API client written from ZeroDB's public spec, and a check of a
server's answers against it.

It makes the calls that ZeroDB's live-confirmed clients make (Agent-402's
``zerodb_client.py`` for raw vectors, the Go SDK's batch upsert, the project
memory records of §4.1) and checks every answer's shape: field names, types,
and what the spec says the values are. The section numbers in the messages
(§2.1, §9, ...) are those of ZeroDB_API.md, the spec the edge's ZeroDB
dialect follows. It was written from that spec alone, not from the server's
code: where the spec leaves a choice open, a comment says which reading is
taken.

    zerodb_client.py --base-url http://127.0.0.1:8080 --api-key KEY --project-id UUID

Exits 1 with a message on the first mismatch; otherwise prints one line
counting the calls made and the checks passed.
"""

import argparse
import math
import random
import re
import sys
import uuid
from datetime import datetime

import requests

DIMS = 384  # one of the allowed 384/768/1024/1536 (§2.1)
TIMEOUT = 30

# §9: "an ISO-8601 UTC created_at with microseconds and a Z".
CREATED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class Mismatch(Exception):
    pass


class Client:
    """The calls, each under one of ZeroDB's project prefixes (§1.2) and with
    one of its two auth headers (§1.3)."""

    PREFIXES = {
        "api": "/api/v1/projects/{pid}",  # canonical (§1.1, §1.2 #1)
        "v1": "/v1/projects/{pid}",  # the app's own prefix (§1.1)
        "public": "/v1/public/{pid}",  # the Dec-2025 "public" alias (§1.2 #2)
    }

    def __init__(self, base_url, api_key, project_id):
        self.base = base_url.rstrip("/")
        self.key = api_key
        self.pid = project_id
        self.session = requests.Session()
        self.calls = 0
        self.checks = 0
        self.current = ""

    # --- transport -------------------------------------------------------

    def headers(self, auth, key=None):
        key = self.key if key is None else key
        if auth == "x-api-key":
            return {"X-API-Key": key}
        if auth == "x-api-key-lower":  # header names are case-insensitive (§1.3)
            return {"x-api-key": key}
        if auth == "bearer":
            return {"Authorization": f"Bearer {key}"}
        if auth == "none":
            return {}
        raise ValueError(auth)

    def request(self, method, path, *, prefix="api", auth="x-api-key", key=None, pid=None, json=None, params=None):
        url = self.base + self.PREFIXES[prefix].format(pid=pid or self.pid) + path
        self.current = f"{method} {url}" + (f" {params}" if params else "")
        self.calls += 1
        try:
            reply = self.session.request(
                method, url, headers=self.headers(auth, key), json=json, params=params, timeout=TIMEOUT
            )
        except requests.RequestException as e:
            raise Mismatch(f"the request failed: {e}") from e
        self.reply = reply
        return reply

    def call(self, method, path, expect=200, **kw):
        """A call whose answer must have status `expect` (an int or a set)
        and a JSON body (or none, when `expect` allows 204); returns the
        parsed body."""
        reply = self.request(method, path, **kw)
        allowed = expect if isinstance(expect, (set, frozenset)) else {expect}
        self.check(reply.status_code in allowed, f"status {reply.status_code}, expected {sorted(allowed)}")
        if reply.status_code == 204:
            return None
        try:
            return reply.json()
        except ValueError:
            raise Mismatch(f"the body is not JSON: {reply.text[:300]!r}") from None

    # --- checks ----------------------------------------------------------

    def check(self, ok, message):
        if not ok:
            raise Mismatch(message)
        self.checks += 1

    def field(self, obj, name, types, where):
        self.check(isinstance(obj, dict), f"{where}: expected a JSON object, got {type(obj).__name__}")
        self.check(name in obj, f"{where}: no field {name!r} (fields: {sorted(obj)})")
        value = obj[name]
        self.check(is_a(value, types), f"{where}: {name!r} is {value!r}, expected {type_names(types)}")
        return value

    def error_detail(self, body, where):
        """`{"detail": "<message>"}` (§6, shape 1)."""
        detail = self.field(body, "detail", str, where)
        self.check(detail != "", f"{where}: empty detail")
        return detail

    def validation_detail(self, body, where):
        """422: `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`
        (§6, shape 2)."""
        detail = self.field(body, "detail", list, where)
        self.check(len(detail) > 0, f"{where}: empty detail list")
        for i, item in enumerate(detail):
            self.field(item, "loc", list, f"{where} detail[{i}]")
            self.field(item, "msg", str, f"{where} detail[{i}]")
            self.field(item, "type", str, f"{where} detail[{i}]")
        return detail

    def vector_object(self, obj, where, *, expect=None, namespace=None, with_embedding=True):
        """The vector object of §0/§2.1/§9; `expect` is what was written (the
        request's fields) and must round-trip."""
        vid = self.field(obj, "vector_id", str, where)
        self.check(self.field(obj, "project_id", str, where) == self.pid, f"{where}: project_id is not {self.pid}")
        ns = self.field(obj, "namespace", str, where)
        if namespace is not None:
            self.check(ns == namespace, f"{where}: namespace {ns!r}, expected {namespace!r}")
        metadata = self.field(obj, "vector_metadata", (dict, None), where)
        document = self.field(obj, "document", (str, None), where)
        source = self.field(obj, "source", (str, None), where)
        created = self.field(obj, "created_at", str, where)
        self.check(CREATED_AT.match(created), f"{where}: created_at {created!r} is not ISO-8601 UTC with microseconds and Z (§9)")
        # §9: the embedding "may be left out of list responses unless
        # detailed=true"; everywhere else it is part of the object.
        embedding = None
        if with_embedding:
            embedding = self.field(obj, "vector_embedding", list, where)
            self.check(all(is_a(x, float) for x in embedding), f"{where}: vector_embedding holds non-numbers")
        elif "vector_embedding" in obj and obj["vector_embedding"] is not None:
            embedding = self.field(obj, "vector_embedding", list, where)
        if expect is not None:
            if "vector_id" in expect:
                self.check(vid == expect["vector_id"], f"{where}: vector_id {vid!r}, expected {expect['vector_id']!r}")
            # §9 makes vector_metadata "optional ... (object or null)" without
            # saying which an upsert without metadata reads back as: null and
            # {} are both taken then.
            want = expect.get("vector_metadata")
            self.check(
                metadata == want or (want is None and metadata == {}),
                f"{where}: vector_metadata {metadata!r}, expected {want!r}",
            )
            self.check(document == expect.get("document"), f"{where}: document {document!r}, expected {expect.get('document')!r}")
            self.check(source == expect.get("source"), f"{where}: source {source!r}, expected {expect.get('source')!r}")
            if embedding is not None:
                self.check(
                    close_vectors(embedding, expect["vector_embedding"]),
                    f"{where}: vector_embedding does not round-trip (length {len(embedding)}, expected {DIMS})",
                )
        return obj

    def memory_record(self, obj, where, *, expect=None):
        """The project memory record of §4.1/§9."""
        mid = self.field(obj, "memory_id", str, where)
        self.check(is_uuid(mid), f"{where}: memory_id {mid!r} is not a UUID")
        for name in ("agent_id", "session_id"):
            value = self.field(obj, name, str, where)
            self.check(is_uuid(value), f"{where}: {name} {value!r} is not a UUID (§4.1)")
        role = self.field(obj, "role", str, where)
        self.check(role in ("user", "assistant", "system"), f"{where}: role {role!r}")
        self.field(obj, "content", str, where)
        self.field(obj, "memory_metadata", (dict, None), where)
        created = self.field(obj, "created_at", str, where)
        # The spec names created_at for records without giving its format
        # (§4.1): only that it is an ISO-8601 time is checked.
        self.check(parses_iso(created), f"{where}: created_at {created!r} is not ISO-8601")
        if expect is not None:
            for name in ("content", "agent_id", "session_id", "role", "memory_metadata"):
                self.check(obj[name] == expect[name], f"{where}: {name} {obj[name]!r}, expected {expect[name]!r}")
        return obj


# --- values ----------------------------------------------------------------


def is_a(value, types):
    types = types if isinstance(types, tuple) else (types,)
    for t in types:
        if t is None and value is None:
            return True
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            # JSON has one number type: 1 and 1.0 are the same float.
            return True
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t not in (None, float, int) and isinstance(value, t):
            return True
    return False


def type_names(types):
    types = types if isinstance(types, tuple) else (types,)
    names = {None: "null", str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
    return " or ".join(names.get(t, str(t)) for t in types)


def is_uuid(text):
    try:
        uuid.UUID(text)
        return True
    except (ValueError, TypeError, AttributeError):
        return False


def parses_iso(text):
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def close_vectors(got, want):
    # Stored as float32: compare with a relative tolerance.
    return len(got) == len(want) and all(math.isclose(g, w, rel_tol=1e-5, abs_tol=1e-6) for g, w in zip(got, want))


def random_vector(rng):
    # Rounded to 6 digits so that the JSON carries what float32 keeps.
    return [round(rng.gauss(0.0, 1.0), 6) for _ in range(DIMS)]


def near(vector, rng, scale):
    return [round(x + rng.gauss(0.0, scale), 6) for x in vector]


# --- the run ---------------------------------------------------------------


def vectors(c, rng, ns, ns2):
    """§2: upsert, batch upsert, search, list, stats, get, delete."""

    # §2.1 one upsert, every field; canonical prefix, X-API-Key.
    first = {
        "vector_embedding": random_vector(rng),
        "vector_id": f"doc-0-{ns}",
        "namespace": ns,
        "vector_metadata": {"kind": "a", "n": 0, "tags": ["x", "y"], "nested": {"ok": True}},
        "document": "the first document",
        "source": "pyclient",
    }
    body = c.call("POST", "/database/vectors/upsert", json=first)
    c.vector_object(body, "upsert answer (§2.1, §9)", expect=first, namespace=ns)

    # §2.1 without vector_id: the server makes a UUID; without namespace it
    # is "default". /v1/projects prefix, Bearer.
    anonymous = {"vector_embedding": random_vector(rng), "document": "no id given"}
    body = c.call("POST", "/database/vectors/upsert", prefix="v1", auth="bearer", json=anonymous)
    c.vector_object(body, "upsert answer without vector_id (§2.1)", expect=anonymous, namespace="default")
    generated = body["vector_id"]
    c.check(is_uuid(generated), f"the generated vector_id {generated!r} is not a UUID (§2.1)")

    # §2.2 batch upsert, a bare array (GO, live); /v1/projects, Bearer.
    batch = []
    for i in range(1, 4):
        batch.append(
            {
                "vector_embedding": near(first["vector_embedding"], rng, 0.6 * i),
                "vector_id": f"doc-{i}-{ns}",
                "namespace": ns,
                "vector_metadata": {"kind": "b" if i % 2 else "c", "n": i},
                "document": f"document {i}",
            }
        )
    body = c.call("POST", "/database/vectors/upsert-batch", prefix="v1", auth="bearer", json=batch)
    check_batch(c, body, len(batch), "upsert-batch answer, bare array (§2.2)")

    # §2.2 the {"vectors": [...]} form of the docs; /v1/public alias, X-API-Key.
    wrapped = [
        {
            # Near enough for a positive cosine (about 0.3), so that a
            # search with threshold 0 finds it.
            "vector_embedding": near(first["vector_embedding"], rng, 3.0),
            "vector_id": f"doc-{i}-{ns}",
            "namespace": ns,
            "vector_metadata": {"kind": "d", "n": i},
            "document": f"document {i}",
        }
        for i in range(4, 6)
    ]
    body = c.call("POST", "/database/vectors/upsert-batch", prefix="public", json={"vectors": wrapped})
    check_batch(c, body, len(wrapped), 'upsert-batch answer, {"vectors": [...]} (§2.2)')

    # A vector in a second namespace, for the search of every namespace.
    other = {
        "vector_embedding": random_vector(rng),
        "vector_id": f"other-{ns2}",
        "namespace": ns2,
        "vector_metadata": {"kind": "other"},
        "document": "in the other namespace",
    }
    c.vector_object(c.call("POST", "/database/vectors/upsert", json=other), "upsert answer", expect=other, namespace=ns2)

    stored = {v["vector_id"]: v for v in [first] + batch + wrapped}

    # §2.3 search with the query equal to a stored vector: that vector
    # first, similarity ≈ 1; A402C's fields.
    query = {"query_vector": first["vector_embedding"], "limit": 10, "threshold": 0.0, "namespace": ns}
    body = c.call("POST", "/database/vectors/search", json=query)
    hits = check_search(c, body, "search answer (§2.3, §9)", threshold=0.0, namespace=ns, stored=stored)
    c.check(len(hits) == len(stored), f"search found {len(hits)} vectors of namespace {ns}, expected {len(stored)}")
    c.check(hits[0]["vector_id"] == first["vector_id"], f"nearest hit is {hits[0]['vector_id']!r}, expected {first['vector_id']!r}")
    c.check(abs(hits[0]["similarity"] - 1.0) < 1e-3, f"a query equal to a stored vector has similarity {hits[0]['similarity']}, expected ≈ 1")

    # §2.3 metadata_filter (exact match, §2.7), /v1/public, Bearer.
    query = {"query_vector": first["vector_embedding"], "limit": 10, "threshold": 0.0, "namespace": ns, "metadata_filter": {"kind": "b"}}
    body = c.call("POST", "/database/vectors/search", prefix="public", auth="bearer", json=query)
    hits = check_search(c, body, "search answer with metadata_filter (§2.3, §2.7)", threshold=0.0, namespace=ns, stored=stored)
    want = sorted(v for v, s in stored.items() if s["vector_metadata"]["kind"] == "b")
    c.check(sorted(h["vector_id"] for h in hits) == want, f"metadata_filter kind=b found {[h['vector_id'] for h in hits]}, expected {want}")

    # §2.3 the threshold drops hits below it.
    query = {"query_vector": first["vector_embedding"], "limit": 10, "threshold": 0.99, "namespace": ns}
    body = c.call("POST", "/database/vectors/search", prefix="v1", json=query)
    hits = check_search(c, body, "search answer with threshold 0.99 (§2.3)", threshold=0.99, namespace=ns, stored=stored)
    c.check([h["vector_id"] for h in hits] == [first["vector_id"]], f"threshold 0.99 kept {[h['vector_id'] for h in hits]}, expected only the query's own vector")

    # §2.3/§9 without namespace every namespace is searched.
    query = {"query_vector": other["vector_embedding"], "limit": 5, "threshold": 0.5}
    body = c.call("POST", "/database/vectors/search", json=query)
    hits = check_search(c, body, "search answer without namespace (§2.3, §9)", threshold=0.5)
    c.check(
        bool(hits) and hits[0]["vector_id"] == other["vector_id"] and hits[0]["namespace"] == ns2,
        f"a search without namespace did not find the vector of namespace {ns2} first: {[(h['vector_id'], h['namespace']) for h in hits]}",
    )

    # §2.4 list (A402C: /vectors?limit&offset): a bare JSON array (§9);
    # without detailed the embeddings may be left out.
    body = c.call("GET", "/database/vectors", params={"namespace": ns, "limit": 100, "offset": 0})
    c.check(isinstance(body, list), f"list answer is {type(body).__name__}, expected a JSON array (§2.4, §9)")
    for i, v in enumerate(body):
        c.vector_object(v, f"list answer [{i}] (§2.4)", expect=stored.get(v.get("vector_id")), namespace=ns, with_embedding=False)
    c.check(sorted(v["vector_id"] for v in body) == sorted(stored), f"list of {ns} gave {sorted(v['vector_id'] for v in body)}, expected {sorted(stored)}")

    # detailed=true gives the embeddings; offset/limit page through.
    pages = []
    for offset in (0, 2, 4):
        body = c.call("GET", "/database/vectors", prefix="public", auth="bearer", params={"namespace": ns, "limit": 2, "offset": offset, "detailed": "true"})
        c.check(isinstance(body, list), "list answer is not a JSON array (§2.4)")
        c.check(len(body) <= 2, f"list with limit=2 gave {len(body)} vectors")
        for i, v in enumerate(body):
            c.vector_object(v, f"detailed list answer [{i}] (§2.4)", expect=stored.get(v.get("vector_id")), namespace=ns, with_embedding=True)
        pages.extend(v["vector_id"] for v in body)
    c.check(sorted(pages) == sorted(stored), f"pages of 2 gave {pages}, expected each of {sorted(stored)} once")

    # §2.6 stats of the namespace and of the project.
    body = c.call("GET", "/database/vectors/stats", params={"namespace": ns})
    check_stats(c, body, "stats answer (§2.6)", total=len(stored), names=[ns])
    body = c.call("GET", "/database/vectors/stats", prefix="v1", auth="bearer")
    check_stats(c, body, "stats answer without namespace (§2.6)", total=None, names=[ns, ns2, "default"])
    c.check(body["total_vectors"] >= len(stored) + 2, f"project stats count {body['total_vectors']} vectors, expected at least {len(stored) + 2}")

    # §2.4 get by id.
    for vid in (first["vector_id"], batch[0]["vector_id"]):
        body = c.call("GET", f"/database/vectors/{vid}", params={"namespace": ns})
        c.vector_object(body, "get answer (§2.4)", expect=stored[vid], namespace=ns)
    body = c.call("GET", f"/database/vectors/{generated}", prefix="public", auth="bearer", params={"namespace": "default"})
    c.vector_object(body, "get answer (§2.4)", expect=anonymous, namespace="default")

    # §2.1/§2.5 the same vector_id again is an update.
    changed = dict(first, vector_metadata={"kind": "a", "n": 0, "edited": True}, document="the first document, edited")
    c.vector_object(c.call("POST", "/database/vectors/upsert", prefix="v1", json=changed), "re-upsert answer (§2.1)", expect=changed, namespace=ns)
    body = c.call("GET", f"/database/vectors/{first['vector_id']}", prefix="v1", auth="bearer", params={"namespace": ns})
    c.vector_object(body, "get answer after re-upsert (§2.5)", expect=changed, namespace=ns)
    stored[first["vector_id"]] = changed
    body = c.call("GET", "/database/vectors/stats", prefix="public", params={"namespace": ns})
    check_stats(c, body, "stats answer after re-upsert (§2.1: same id = update)", total=len(stored), names=[ns])

    # §2.4 delete: 200 with a JSON confirmation; then get is 404 with detail.
    victim = wrapped[0]["vector_id"]
    body = c.call("DELETE", f"/database/vectors/{victim}", auth="bearer", params={"namespace": ns})
    c.check(isinstance(body, dict), f"delete answer is {body!r}, expected a JSON object (§2.4, §9)")
    del stored[victim]
    body = c.call("GET", f"/database/vectors/{victim}", expect=404, params={"namespace": ns})
    c.error_detail(body, "get of a deleted vector (§2.4)")
    body = c.call("GET", "/database/vectors", prefix="v1", params={"namespace": ns, "limit": 100})
    c.check(sorted(v["vector_id"] for v in body) == sorted(stored), f"list after delete gave {sorted(v['vector_id'] for v in body)}")
    body = c.call("GET", "/database/vectors/stats", params={"namespace": ns})
    check_stats(c, body, "stats answer after delete (§2.6)", total=len(stored), names=[ns])
    body = c.call("POST", "/database/vectors/search", prefix="public", json={"query_vector": wrapped[0]["vector_embedding"], "limit": 10, "threshold": 0.0, "namespace": ns})
    hits = check_search(c, body, "search answer after delete (§2.3)", threshold=0.0, namespace=ns, stored=stored)
    c.check(victim not in [h["vector_id"] for h in hits], "a deleted vector is still found by search")


def check_batch(c, body, count, where):
    """§2.2 `BulkOperationResult`."""
    success = c.field(body, "success_count", int, where)
    errors_n = c.field(body, "error_count", int, where)
    c.check(success == count and errors_n == 0, f"{where}: success_count {success}, error_count {errors_n}, expected {count} and 0")
    # "errors (string[], may be omitted)".
    if "errors" in body:
        errors = c.field(body, "errors", list, where)
        c.check(all(isinstance(e, str) for e in errors) and not errors, f"{where}: errors {errors!r}")
    c.field(body, "total_time_ms", float, where)


def check_search(c, body, where, *, threshold, namespace=None, stored=None):
    """§2.3 `VectorSearchResult`; each hit a vector object plus similarity,
    best first, none below the threshold."""
    hits = c.field(body, "vectors", list, where)
    total = c.field(body, "total_count", int, where)
    c.check(total == len(hits), f"{where}: total_count {total}, but {len(hits)} hits")
    c.field(body, "search_time_ms", float, where)
    previous = math.inf
    for i, hit in enumerate(hits):
        expect = stored.get(hit.get("vector_id")) if stored is not None else None
        if stored is not None:
            c.check(expect is not None, f"{where}: hit {hit.get('vector_id')!r} is not a vector of this run")
        c.vector_object(hit, f"{where} hit [{i}]", expect=expect, namespace=namespace)
        similarity = c.field(hit, "similarity", float, f"{where} hit [{i}]")
        c.check(similarity <= previous + 1e-9, f"{where}: hits are not sorted best-first")
        c.check(similarity >= threshold - 1e-9, f"{where}: hit similarity {similarity} is below the threshold {threshold}")
        c.check(similarity <= 1.0 + 1e-4, f"{where}: similarity {similarity} above 1 (cosine)")
        previous = similarity
    return hits


def check_stats(c, body, where, *, total, names):
    """§2.6: total_vectors, namespaces (names), avg_dimensions, total_size_mb."""
    count = c.field(body, "total_vectors", int, where)
    if total is not None:
        c.check(count == total, f"{where}: total_vectors {count}, expected {total}")
    namespaces = c.field(body, "namespaces", list, where)
    c.check(all(isinstance(n, str) for n in namespaces), f"{where}: namespaces {namespaces!r} is not a list of names")
    for name in names:
        c.check(name in namespaces, f"{where}: namespaces {namespaces!r} lacks {name!r}")
    dims = c.field(body, "avg_dimensions", float, where)
    c.check(abs(dims - DIMS) < 1e-6, f"{where}: avg_dimensions {dims}, expected {DIMS}")
    size = c.field(body, "total_size_mb", float, where)
    c.check(size >= 0, f"{where}: total_size_mb {size}")


def memory(c, rng):
    """§4.1 project memory records."""
    agent = str(uuid.uuid4())
    other_agent = str(uuid.uuid4())
    session = str(uuid.uuid4())
    base = random_vector(rng)
    # The spec's create body has no embedding (ZeroDB embeds `content`
    # itself); this edge has no embedding model yet, so it takes an optional
    # `embedding`, which this client sends so that search has something to
    # rank. That field is the edge's, not the spec's.
    specs = [
        ("user", agent, "I prefer tea over coffee", {"topic": "drinks"}),
        ("assistant", agent, "Noted: tea it is", {"topic": "drinks", "turn": 2}),
        ("system", other_agent, "The user is in Lisbon", {"topic": "place"}),
    ]
    records = []
    for i, (role, agent_id, content, metadata) in enumerate(specs):
        request = {
            "content": content,
            "agent_id": agent_id,
            "session_id": session,
            "role": role,
            "memory_metadata": metadata,
            "embedding": base if i == 0 else near(base, rng, 0.5 + i),
        }
        prefix, auth = [("api", "x-api-key"), ("v1", "bearer"), ("public", "x-api-key-lower")][i]
        # The spec gives no status for a record's creation (§4.1); FastAPI
        # creations answer 200 or 201, so either is taken.
        body = c.call("POST", "/database/memory", expect={200, 201}, prefix=prefix, auth=auth, json=request)
        c.memory_record(body, "memory create answer (§4.1, §9)", expect=request)
        records.append((request, body))
    ids = [body["memory_id"] for _, body in records]

    # List: the paginated envelope {data, total, skip, limit, has_more}.
    body = c.call("GET", "/database/memory", params={"session_id": session, "skip": 0, "limit": 10})
    data = check_memory_list(c, body, "memory list answer (§4.1)", skip=0, limit=10)
    c.check(sorted(r["memory_id"] for r in data) == sorted(ids), f"memory list of the session gave {[r['memory_id'] for r in data]}, expected {ids}")
    c.check(body["total"] == 3 and body["has_more"] is False, f"memory list: total {body['total']}, has_more {body['has_more']}, expected 3 and false")
    for r in data:
        request = records[ids.index(r["memory_id"])][0]
        c.memory_record(r, "memory list record (§4.1)", expect=request)

    body = c.call("GET", "/database/memory", prefix="v1", auth="bearer", params={"session_id": session, "skip": 0, "limit": 1})
    data = check_memory_list(c, body, "memory list answer, limit 1 (§4.1)", skip=0, limit=1)
    c.check(len(data) == 1 and body["total"] == 3 and body["has_more"] is True, f"memory list limit 1: {len(data)} records, total {body['total']}, has_more {body['has_more']}")

    body = c.call("GET", "/database/memory", prefix="public", params={"session_id": session, "agent_id": agent, "role": "assistant"})
    data = check_memory_list(c, body, "memory list answer by agent_id and role (§4.1)")
    c.check([r["memory_id"] for r in data] == [ids[1]], f"memory list by agent and role gave {[r['memory_id'] for r in data]}, expected [{ids[1]}]")

    # Get.
    body = c.call("GET", f"/database/memory/{ids[0]}", auth="bearer")
    c.memory_record(body, "memory get answer (§4.1)", expect=records[0][0])
    c.check(body["memory_id"] == ids[0], "memory get answered another record")

    # Update: the spec names PUT /database/memory/{id} without its body
    # (§4.1); this client sends the record fields it changes.
    update = {"content": "I prefer green tea", "memory_metadata": {"topic": "drinks", "edited": True}}
    body = c.call("PUT", f"/database/memory/{ids[0]}", prefix="v1", json=update)
    expect = dict(records[0][0], **update)
    c.memory_record(body, "memory update answer (§4.1)", expect=expect)
    body = c.call("GET", f"/database/memory/{ids[0]}", prefix="public", auth="bearer")
    c.memory_record(body, "memory get after update (§4.1)", expect=expect)

    # Search: the spec's body is a text `query` (§4.1), embedded by ZeroDB;
    # this edge has no embedding model, so the query is a vector (its
    # `query_vector`, as in vector search). The answer's `memories` is the
    # spec's; similarity and total_count as in vector search.
    body = c.call("POST", "/database/memory/search", json={"query_vector": base, "limit": 5, "session_id": session})
    memories = c.field(body, "memories", list, "memory search answer (§4.1)")
    total = c.field(body, "total_count", int, "memory search answer")
    c.check(total == len(memories), f"memory search: total_count {total}, but {len(memories)} memories")
    c.check(len(memories) == 3, f"memory search of the session found {len(memories)} records, expected 3")
    previous = math.inf
    for i, m in enumerate(memories):
        c.memory_record(m, f"memory search hit [{i}]")
        similarity = c.field(m, "similarity", float, f"memory search hit [{i}]")
        c.check(similarity <= previous + 1e-9, "memory search hits are not sorted best-first")
        previous = similarity
    c.check(memories[0]["memory_id"] == ids[0], f"nearest memory is {memories[0]['memory_id']}, expected {ids[0]}")
    c.check(abs(memories[0]["similarity"] - 1.0) < 1e-3, f"memory search similarity {memories[0]['similarity']}, expected ≈ 1")
    body = c.call("POST", "/database/memory/search", prefix="public", auth="bearer", json={"query_vector": base, "limit": 5, "agent_id": other_agent, "role": "system"})
    memories = c.field(body, "memories", list, "memory search answer by agent_id and role (§4.1)")
    c.check([m["memory_id"] for m in memories] == [ids[2]], f"memory search by agent and role gave {[m['memory_id'] for m in memories]}, expected [{ids[2]}]")

    # Non-UUID agent_id: "ZeroDB Memory API requires UUIDs" → 422 (§4.1, §6).
    bad = dict(records[0][0], agent_id="agent-7")
    body = c.call("POST", "/database/memory", expect=422, json=bad)
    c.validation_detail(body, "memory create with a non-UUID agent_id (§4.1, §6)")

    # Delete; then get is 404 with detail (§6). The spec gives no status for
    # a record's deletion: 200 (as vectors, §2.4) or 204 is taken.
    c.call("DELETE", f"/database/memory/{ids[2]}", expect={200, 204}, prefix="v1", auth="bearer")
    body = c.call("GET", f"/database/memory/{ids[2]}", expect=404)
    c.error_detail(body, "get of a deleted memory record (§6)")
    body = c.call("GET", "/database/memory", params={"session_id": session})
    data = check_memory_list(c, body, "memory list after delete (§4.1)")
    c.check(sorted(r["memory_id"] for r in data) == sorted(ids[:2]), "memory list after delete still holds the deleted record")


def check_memory_list(c, body, where, skip=None, limit=None):
    data = c.field(body, "data", list, where)
    total = c.field(body, "total", int, where)
    got_skip = c.field(body, "skip", int, where)
    got_limit = c.field(body, "limit", int, where)
    c.field(body, "has_more", bool, where)
    if skip is not None:
        c.check(got_skip == skip and got_limit == limit, f"{where}: skip {got_skip}, limit {got_limit}, expected {skip} and {limit}")
    c.check(total >= len(data), f"{where}: total {total} below the {len(data)} records given")
    c.check(len(data) <= got_limit, f"{where}: {len(data)} records, above limit {got_limit}")
    for i, r in enumerate(data):
        c.memory_record(r, f"{where} [{i}]")
    return data


def errors(c, rng, ns):
    """§1.3 and §6: the error statuses and bodies."""
    good = {"vector_embedding": random_vector(rng), "namespace": ns, "document": "never stored"}
    for auth in ("x-api-key", "bearer"):
        body = c.call("POST", "/database/vectors/upsert", expect=401, auth=auth, key="zdb_not_a_key", json=good)
        c.error_detail(body, f"a bad key with {auth} (§1.3: invalid token → 401)")
        body = c.call("GET", "/database/vectors/stats", expect=401, prefix="public", auth=auth, key="zdb_not_a_key")
        c.error_detail(body, f"a bad key with {auth} on /v1/public (§1.3)")
    body = c.call("GET", "/database/vectors", expect={401, 403}, auth="none", params={"namespace": ns})
    c.error_detail(body, "no auth (§1.3: 401 or 403)")

    missing = {"vector_id": "no-embedding", "namespace": ns, "document": "no vector"}
    body = c.call("POST", "/database/vectors/upsert", expect=422, json=missing)
    detail = c.validation_detail(body, "upsert without vector_embedding (§2.1, §6)")
    c.check(any("vector_embedding" in map(str, d["loc"]) for d in detail), f"422 detail does not point at vector_embedding: {detail!r}")
    body = c.call("POST", "/database/vectors/search", expect=422, prefix="v1", auth="bearer", json={"limit": 3, "namespace": ns})
    c.validation_detail(body, "search without query_vector (§2.3, §6)")

    body = c.call("POST", "/database/vectors", expect=405, json=good)
    c.error_detail(body, "POST .../database/vectors (§2.1, §6: 405)")

    # §2.1: a vector whose dimension differs from its namespace's is refused
    # "400 or 500 with detail like 'Vector dimension mismatch. Expected 384,
    # got 1536'"; §7 #11 judges 400.
    body = c.call("POST", "/database/vectors/upsert", expect=400, json=dict(good, vector_embedding=[0.5] * 768))
    c.error_detail(body, "upsert of a 768-dimension vector into a 384-dimension namespace (§2.1, §7 #11)")
    # A dimension outside 384/768/1024/1536: the spec gives the allowed set
    # (§2.1, §2.8, checked client-side by MCPH) but no status of its own for
    # it; its status evidence (400 or 500) is about a mismatch with the
    # stored dimension, and §6 gives 422 to schema validation. Ambiguous, so
    # 400 with a detail string or 422 with a detail list is taken.
    body = c.call("POST", "/database/vectors/upsert", expect={400, 422}, json=dict(good, vector_embedding=[0.5] * 100))
    if c.reply.status_code == 400:
        c.error_detail(body, "upsert of a 100-dimension vector (§2.1)")
    else:
        c.validation_detail(body, "upsert of a 100-dimension vector (§2.1, §6)")

    body = c.call("GET", f"/database/vectors/no-such-vector-{ns}", expect=404, params={"namespace": ns})
    c.error_detail(body, "get of an unknown vector (§2.4)")
    # §2.1 "non-UUID → 404" for the path's project id.
    body = c.call("GET", "/database/vectors/stats", expect=404, pid="not-a-uuid")
    c.error_detail(body, "a non-UUID project id (§2.1, §6)")
    body = c.call("GET", "/database/no-such-route", expect=404)
    c.error_detail(body, "an unknown route (§6)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--project-id", required=True, help="the project's UUID")
    parser.add_argument("--seed", help="the vectors' random seed (by default the run's namespace)")
    args = parser.parse_args()

    c = Client(args.base_url, args.api_key, args.project_id)
    run = uuid.uuid4().hex[:12]
    # Vectors of their own for each run, so that a project holding earlier
    # runs' vectors still has one nearest vector per query.
    seed = args.seed or run
    rng = random.Random(seed)
    ns, ns2 = f"pyclient-{run}", f"pyclient-{run}-other"
    stage = "start"
    try:
        for stage, step in (("vectors", lambda: vectors(c, rng, ns, ns2)), ("memory", lambda: memory(c, rng)), ("errors", lambda: errors(c, rng, ns))):
            step()
    except Mismatch as e:
        body = getattr(c, "reply", None)
        print(f"zerodb_client: MISMATCH in {stage}, call {c.calls} ({c.current}): {e} (rerun with --seed {seed})", file=sys.stderr)
        if body is not None:
            print(f"  answer: {body.status_code} {body.text[:600]}", file=sys.stderr)
        print(f"zerodb_client: FAILED after {c.calls} calls and {c.checks} passed checks", file=sys.stderr)
        return 1
    print(f"zerodb_client: OK, {c.calls} calls and {c.checks} checks passed (namespace {ns})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
