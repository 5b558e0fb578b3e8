#!/usr/bin/env python3
"""Replays what the Python RAG frameworks send to Qdrant, against `cairn serve`.

The Python frameworks are not installed by the tests (not packaged for
Debian), so this script sends, request by request, what their default dense
flows send through qdrant-client's REST transport, and checks each answer
the way those clients read it (the pydantic models of qdrant-client: status,
envelope, required fields and their types), then the hits a user would get.

Sources read (the `search` tool's stored copies):
  * langchain-ai/langchain libs/partners/qdrant/langchain_qdrant/qdrant.py:
    QdrantVectorStore in RetrievalMode.DENSE, vector_name "" (from_texts,
    from_existing_collection, similarity_search with and without a filter,
    max_marginal_relevance_search, get_by_ids, delete).
  * llama-index-integrations/vector_stores/llama-index-vector-stores-qdrant
    llama_index/vector_stores/qdrant/base.py: QdrantVectorStore without
    hybrid (add on a new collection: create unnamed, payload index on doc_id,
    _detect_vector_format, upload_points with {"": ...}; query through
    client.search with NamedVector("", ...), with a metadata filter and with
    doc_ids; delete(ref_doc_id) by a doc_id filter), payloads from
    llama_index.core.vector_stores.utils.node_to_metadata_dict.
  * qdrant/qdrant-client qdrant_client/qdrant_remote.py and
    http/models/models.py: bodies are pydantic `model_dump_json(by_alias=True)`
    without exclude_none, so every optional field is sent, as null when unset,
    in the model's field order, compact; write routes get ?wait=true. Lists
    given to query_points become {"nearest": [...], "mmr": null}.
    The stored models are 1.15/1.16-era (PointsList has update_filter,
    CreateCollection has metadata); the server must take them either way.

Embeddings are deterministic fakes (a seeded Gaussian per text, as
LangChain's DeterministicFakeEmbedding), so a query with a document's text
finds that document first.

Usage: python_frameworks_replay.py --binary build/cairn [--keep]
Standard library only. Exit 0 on success, 1 with a message on the first
mismatch.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

DIM = 16
USER_AGENT = "python-client/1.15.1 python/3.11.2"


# ---------------------------------------------------------------- the server


class Server:
    """`cairn serve --port 0` in a temporary data directory."""

    def __init__(self, binary, root):
        self.log_path = os.path.join(root, "serve.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data", os.path.join(root, "data"), "--port", "0",
             "--workers", "2"], stdout=self.log, stderr=self.log)
        self.url = None
        deadline = time.time() + 60
        while time.time() < deadline and self.url is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cairn serve exited with {self.proc.returncode}: {self.tail()}")
            with open(self.log_path, "rb") as f:
                for line in f:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and event.get("event") == "listening":
                        self.url = f"http://127.0.0.1:{event['port']}"
            time.sleep(0.05)
        if self.url is None:
            raise RuntimeError("cairn serve did not print its listening line in 60 s")

    def tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.log.close()


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


# --------------------------------------------------- qdrant-client's REST side


def dumps(body):
    """pydantic v2 model_dump_json: compact, keys in the model's order."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class Rest:
    """qdrant-client's httpx transport, reduced to what the flows send."""

    def __init__(self, url):
        self.url = url
        self.log = []  # (method, path, body) of every request, in order

    def call(self, method, path, body=None, query=None):
        target = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        data = dumps(body).encode() if body is not None else None
        self.log.append((method, target, data))
        headers = {"User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + target, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            raise Failure(f"{method} {target}: HTTP {status}, body is not JSON: {raw[:200]!r}")
        if status != 200:
            # qdrant-client raises UnexpectedResponse: the flow stops here.
            raise Failure(f"{method} {target}: HTTP {status}: {answer}")
        return answer

    def result(self, method, path, body=None, query=None):
        """The envelope's result, checked as InlineResponse* models are."""
        answer = self.call(method, path, body, query)
        expect(isinstance(answer, dict) and "result" in answer, f"{path}: no result: {answer}")
        expect(answer.get("status") == "ok", f"{path}: status {answer.get('status')!r}")
        expect(isinstance(answer.get("time"), (int, float)), f"{path}: time {answer.get('time')!r}")
        return answer["result"]


# The request models, as dicts in pydantic field order with unset fields null.

def vector_params(size, distance):
    return {"size": size, "distance": distance, "hnsw_config": None, "quantization_config": None,
            "on_disk": None, "datatype": None, "multivector_config": None}


def create_collection(vectors, sparse_vectors):
    return {"vectors": vectors, "shard_number": None, "sharding_method": None,
            "replication_factor": None, "write_consistency_factor": None,
            "on_disk_payload": None, "hnsw_config": None, "wal_config": None,
            "optimizers_config": None, "quantization_config": None,
            "sparse_vectors": sparse_vectors, "strict_mode_config": None, "metadata": None}


def point_struct(pid, vector, payload):
    return {"id": pid, "vector": vector, "payload": payload}


def points_list(points):
    return {"points": points, "shard_key": None, "update_filter": None}


def field_condition(key, match):
    return {"key": key, "match": match, "range": None, "geo_bounding_box": None,
            "geo_radius": None, "geo_polygon": None, "values_count": None, "is_empty": None,
            "is_null": None}


def qfilter(must=None, should=None, must_not=None):
    return {"should": should, "min_should": None, "must": must, "must_not": must_not}


def query_request(query, using, qfilter_, limit, offset, with_vector, with_payload):
    return {"shard_key": None, "prefetch": None, "query": query, "using": using,
            "filter": qfilter_, "params": None, "score_threshold": None, "limit": limit,
            "offset": offset, "with_vector": with_vector, "with_payload": with_payload,
            "lookup_from": None}


def search_request(vector, qfilter_, limit):
    return {"shard_key": None, "vector": vector, "filter": qfilter_, "params": None,
            "limit": limit, "offset": None, "with_payload": True, "with_vector": False,
            "score_threshold": None}


# The answer models: what pydantic requires of what the flows read.

def check_update_result(r, what):
    expect(isinstance(r, dict) and r.get("status") in ("acknowledged", "completed"),
           f"{what}: UpdateResult.status: {r}")
    expect(r.get("operation_id") is None or isinstance(r["operation_id"], int),
           f"{what}: UpdateResult.operation_id: {r}")


def check_point_id(pid, what):
    if isinstance(pid, int) and not isinstance(pid, bool):
        return
    expect(isinstance(pid, str), f"{what}: id {pid!r} is neither an integer nor a string")
    uuid.UUID(pid)  # ExtendedPointId: the client parses string ids as UUIDs


def is_sparse_output(x):
    """models.SparseVector: indices (ints) and values (numbers) of one length."""
    return (isinstance(x, dict) and set(x) == {"indices", "values"}
            and all(isinstance(i, int) for i in x["indices"])
            and all(isinstance(f, (int, float)) for f in x["values"])
            and len(x["indices"]) == len(x["values"]))


def check_vector_output(v, what):
    ok = v is None or (isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)) or (
        isinstance(v, dict) and all(isinstance(x, list) or is_sparse_output(x)
                                    for x in v.values()))
    expect(ok, f"{what}: vector {str(v)[:80]} is not a VectorStructOutput")


def check_scored_points(points, what):
    expect(isinstance(points, list), f"{what}: expected a list of ScoredPoint: {points}")
    for p in points:
        expect(isinstance(p, dict), f"{what}: ScoredPoint {p}")
        check_point_id(p.get("id"), what)
        expect(isinstance(p.get("version"), int), f"{what}: ScoredPoint.version: {p}")
        expect(isinstance(p.get("score"), (int, float)), f"{what}: ScoredPoint.score: {p}")
        expect(p.get("payload") is None or isinstance(p["payload"], dict), f"{what}: payload: {p}")
        check_vector_output(p.get("vector"), what)


def check_collection_info(info, what):
    for key in ("status", "optimizer_status", "segments_count", "config", "payload_schema"):
        expect(key in info, f"{what}: CollectionInfo.{key} missing")
    config = info["config"]
    for key in ("params", "hnsw_config", "optimizer_config", "wal_config"):
        expect(isinstance(config.get(key), dict), f"{what}: CollectionConfig.{key}: {config}")
    for key in ("m", "ef_construct", "full_scan_threshold"):
        expect(isinstance(config["hnsw_config"].get(key), int), f"{what}: HnswConfig.{key}")
    for key in ("deleted_threshold", "vacuum_min_vector_number", "default_segment_number",
                "flush_interval_sec"):
        expect(key in config["optimizer_config"], f"{what}: OptimizersConfig.{key}")
    for key in ("wal_capacity_mb", "wal_segments_ahead"):
        expect(isinstance(config["wal_config"].get(key), int), f"{what}: WalConfig.{key}")
    return config["params"].get("vectors")


def check_vector_params(params, size, what):
    expect(isinstance(params, dict) and params.get("size") == size
           and params.get("distance") == "Cosine", f"{what}: VectorParams {params}")


# ------------------------------------------------------------------ the data


def embed(text):
    """A deterministic fake embedding of `text`."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(DIM)]


TEXTS = [
    ("Cairn keeps posting lists on disk and a head graph in memory.", "docs", "alice"),
    ("The write-ahead log is synced before a write is acknowledged.", "docs", "bob"),
    ("A balanced k-means splits the vectors into small clusters.", "papers", "alice"),
    ("Markets rallied after the central bank held its rates.", "news", "carol"),
    ("The river flooded two villages after a week of rain.", "news", "dave"),
    ("SPANN reads a few postings per query from an SSD.", "papers", "bob"),
    ("A new library opened downtown with a large archive.", "news", "alice"),
    ("Filters are evaluated on each candidate's payload.", "docs", "carol"),
    ("The team won the final in extra time.", "news", "erin"),
    ("Binary codes estimate distances before exact rescoring.", "papers", "dave"),
    ("Snapshots copy a collection at a point in time.", "docs", "erin"),
    ("Elections were held in three provinces on Sunday.", "news", "bob"),
]


# ------------------------------------------------------------- LangChain flow


def langchain_flow(rest):
    name = "langchain_py"
    texts = [t for t, _, _ in TEXTS]
    metadatas = [{"source": s, "author": a} for _, s, a in TEXTS]
    # from_texts -> construct_instance: collection_exists, then create with
    # vectors_config={"": VectorParams(...)} and sparse_vectors_config={}.
    exists = rest.result("GET", f"/collections/{name}/exists")
    expect(exists == {"exists": False}, f"collection_exists: {exists}")
    created = rest.result("PUT", f"/collections/{name}",
                          create_collection({"": vector_params(DIM, "Cosine")}, {}))
    expect(created is True, f"create_collection: {created}")
    # add_texts: ids uuid4().hex, batches of 64, vectors {"": [...]}.
    ids = [uuid.uuid4().hex for _ in texts]
    points = [point_struct(pid, {"": embed(text)}, {"page_content": text, "metadata": md})
              for pid, text, md in zip(ids, texts, metadatas)]
    check_update_result(rest.result("PUT", f"/collections/{name}/points", points_list(points),
                                    {"wait": "true"}), "upsert")
    by_text = {text: str(uuid.UUID(pid)) for pid, text in zip(ids, texts)}

    # from_existing_collection -> _validate_collection_for_dense.
    vectors = check_collection_info(rest.result("GET", f"/collections/{name}"), "get_collection")
    expect(isinstance(vectors, dict) and "" in vectors,
           f"LangChain needs a dense vector named '' in config.params.vectors: {vectors}")
    check_vector_params(vectors[""], DIM, "get_collection")

    def similarity_search(query, k, qfilter_=None):
        body = query_request({"nearest": embed(query), "mmr": None}, "", qfilter_, k, 0,
                             False, True)
        result = rest.result("POST", f"/collections/{name}/points/query", body)
        expect(isinstance(result, dict), f"query_points: {result}")
        check_scored_points(result.get("points"), "query_points")
        docs = []
        for p in result["points"]:
            # _document_from_point
            expect(isinstance(p["payload"], dict), f"similarity_search: payload {p}")
            docs.append((p["payload"].get("page_content", ""), p["payload"].get("metadata") or {},
                         p["id"], p["score"]))
        return docs

    query = texts[5]
    docs = similarity_search(query, 4)
    expect(len(docs) == 4, f"similarity_search: {len(docs)} documents, want 4")
    expect(docs[0][0] == query and docs[0][2] == by_text[query],
           f"similarity_search: top hit {docs[0][:3]}, want {query!r}")
    expect(abs(docs[0][3] - 1.0) < 1e-4, f"similarity_search: self score {docs[0][3]}")
    expect(all(docs[i][3] >= docs[i + 1][3] for i in range(3)), "similarity_search: not sorted")

    news = qfilter(must=[field_condition("metadata.source", {"value": "news"})])
    docs = similarity_search(texts[3], 10, news)
    want = {t for t, s, _ in TEXTS if s == "news"}
    expect({d[0] for d in docs} == want, f"filtered search: {[d[0] for d in docs]}, want {want}")
    expect(all(d[1].get("source") == "news" for d in docs), "filtered search: wrong metadata")
    expect(docs[0][0] == texts[3], f"filtered search: top hit {docs[0][0]!r}")

    # max_marginal_relevance_search: NearestQuery with mmr, with_vectors=True.
    body = query_request({"nearest": embed(texts[0]),
                          "mmr": {"diversity": 0.5, "candidates_limit": 8}},
                         "", None, 3, None, True, True)
    result = rest.result("POST", f"/collections/{name}/points/query", body)
    check_scored_points(result.get("points"), "mmr")
    expect(len(result["points"]) == 3, f"mmr: {len(result['points'])} points")
    expect(isinstance(result["points"][0]["vector"], list), "mmr: with_vectors gave no vector")

    # get_by_ids, then delete(ids).
    some = [ids[0], ids[1]]
    records = rest.result("POST", f"/collections/{name}/points",
                          {"shard_key": None, "ids": some, "with_payload": True,
                           "with_vector": False})
    expect(isinstance(records, list) and len(records) == 2, f"retrieve: {records}")
    for r in records:
        check_point_id(r.get("id"), "retrieve")
    expect({r["payload"]["page_content"] for r in records} == {texts[0], texts[1]},
           f"retrieve: {records}")
    check_update_result(rest.result("POST", f"/collections/{name}/points/delete",
                                    {"points": some, "shard_key": None}, {"wait": "true"}),
                        "delete")
    docs = similarity_search(texts[0], 4)
    expect(texts[0] not in [d[0] for d in docs], "delete: the deleted document is still found")
    print(f"langchain: {len(rest.log)} requests replayed")


# ------------------------------------------------------------- LlamaIndex flow


def node_payload(node_id, text, doc_id, metadata):
    """node_to_metadata_dict(node, remove_text=False, flat_metadata=False)."""
    node_dict = {
        "id_": node_id, "embedding": None, "metadata": metadata,
        "excluded_embed_metadata_keys": [], "excluded_llm_metadata_keys": [],
        "relationships": {"1": {"node_id": doc_id, "node_type": "4", "metadata": {},
                                "hash": None, "class_name": "RelatedNodeInfo"}},
        "metadata_template": "{key}: {value}", "metadata_separator": "\n", "text": text,
        "mimetype": "text/plain", "start_char_idx": None, "end_char_idx": None,
        "metadata_seperator": "\n", "text_template": "{metadata_str}\n\n{content}",
        "class_name": "TextNode"}
    payload = dict(metadata)
    payload["_node_content"] = json.dumps(node_dict)
    payload["_node_type"] = "TextNode"
    payload["document_id"] = doc_id
    payload["doc_id"] = doc_id
    payload["ref_doc_id"] = doc_id
    return payload


def llamaindex_flow(rest):
    name = "llamaindex_py"
    # One source document per `source`, split into one node per text.
    docs = {}
    nodes = []
    for text, source, author in TEXTS:
        doc_id = docs.setdefault(source, str(uuid.uuid4()))
        nodes.append((str(uuid.uuid4()), text, doc_id, {"source": source, "author": author}))
    # __init__: collection_exists (False: nothing else until add).
    exists = rest.result("GET", f"/collections/{name}/exists")
    expect(exists == {"exists": False}, f"collection_exists: {exists}")
    # add -> _create_collection: unnamed VectorParams, then the doc_id index.
    created = rest.result("PUT", f"/collections/{name}",
                          create_collection(vector_params(DIM, "Cosine"), None))
    expect(created is True, f"create_collection: {created}")
    check_update_result(rest.result("PUT", f"/collections/{name}/index",
                                    {"field_name": "doc_id", "field_schema": "keyword"},
                                    {"wait": "true"}), "create_payload_index")
    # _detect_vector_format: an unnamed collection -> dense_vector_name "".
    info = rest.result("GET", f"/collections/{name}")
    vectors = check_collection_info(info, "get_collection")
    expect(isinstance(vectors, dict) and "size" in vectors,
           f"LlamaIndex expects an unnamed VectorParams here: {vectors}")
    # The doc_id index is real: Cairn's delete by doc_id reads only its points.
    expect(info["payload_schema"].get("doc_id", {}).get("data_type") == "keyword",
           f"payload_schema: {info['payload_schema']}")
    check_vector_params(vectors, DIM, "get_collection")
    dense_name = ""
    # upload_points(batch_size=64, wait=True): vectors {"": [...]}.
    points = [point_struct(nid, {dense_name: embed(text)}, node_payload(nid, text, did, md))
              for nid, text, did, md in nodes]
    check_update_result(rest.result("PUT", f"/collections/{name}/points", points_list(points),
                                    {"wait": "true"}), "upload_points")

    def query(text, k, qfilter_=None):
        """query() without hybrid: client.search with NamedVector(dense_name)."""
        body = search_request({"name": dense_name, "vector": embed(text)}, qfilter_, k)
        hits = rest.result("POST", f"/collections/{name}/points/search", body)
        check_scored_points(hits, "search")
        out = []
        for h in hits:  # parse_to_query_result -> metadata_dict_to_node
            node = json.loads(h["payload"]["_node_content"])
            out.append((node["text"], h["payload"], h["id"], h["score"]))
        return out

    by_text = {text: nid for nid, text, _, _ in nodes}
    hits = query(TEXTS[9][0], 2)
    expect(len(hits) == 2 and hits[0][0] == TEXTS[9][0] and hits[0][2] == by_text[TEXTS[9][0]],
           f"query: top hit {hits[:1]}, want {TEXTS[9][0]!r}")
    # MetadataFilters([MetadataFilter(key="author", value="alice")]) ->
    # Filter(must=[Filter(must=[FieldCondition(...)])]).
    alice = qfilter(must=[qfilter(must=[field_condition("author", {"value": "alice"})])])
    hits = query(TEXTS[2][0], 10, alice)
    want = {t for t, _, a in TEXTS if a == "alice"}
    expect({h[0] for h in hits} == want, f"filtered query: {[h[0] for h in hits]}, want {want}")
    expect(hits[0][0] == TEXTS[2][0], f"filtered query: top hit {hits[0][0]!r}")
    # VectorStoreQuery(doc_ids=[...]) -> must: doc_id match any.
    papers = docs["papers"]
    by_doc = qfilter(must=[field_condition("doc_id", {"any": [papers]})])
    hits = query(TEXTS[0][0], 10, by_doc)
    expect({h[1]["ref_doc_id"] for h in hits} == {papers} and len(hits) == 3,
           f"doc_ids query: {[(h[0], h[1]['ref_doc_id']) for h in hits]}")
    # delete(ref_doc_id): a FilterSelector on doc_id.
    delete = {"filter": qfilter(must=[field_condition("doc_id", {"value": docs["news"]})]),
              "shard_key": None}
    check_update_result(rest.result("POST", f"/collections/{name}/points/delete", delete,
                                    {"wait": "true"}), "delete")
    hits = query(TEXTS[3][0], 20)
    expect(len(hits) == len(TEXTS) - 5 and all(h[1]["doc_id"] != docs["news"] for h in hits),
           f"after delete: {[(h[0], h[1]['doc_id']) for h in hits]}")
    print(f"llamaindex: {len(rest.log)} requests replayed")


class Servers:
    """The server a replay talks to; restart() stops it and starts another
    on the same data directory."""

    def __init__(self, binary, root):
        self.binary, self.root = binary, root
        self.current = None
        self.restart()

    def restart(self):
        if self.current is not None:
            self.current.stop()
            self.current = None
        self.current = Server(self.binary, self.root)
        return self.current


def run_replay(name, doc, prefix, flows):
    """The command line every replay script shares: --binary and --keep, a
    temporary data directory, the server, then flows(servers); exit code 0
    on success, 1 with the server's log tail on a Failure."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--binary", required=True, help="the cairn binary")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and log")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix=prefix)
    servers = None
    try:
        servers = Servers(os.path.abspath(args.binary), root)
        flows(servers)
    except Failure as e:
        print(f"{name}: FAILED: {e}", file=sys.stderr)
        if servers is not None and servers.current is not None:
            print(f"server log tail:\n{servers.current.tail()}", file=sys.stderr)
        return 1
    finally:
        if servers is not None and servers.current is not None:
            servers.current.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{name}: passed")
    return 0


def replay(servers):
    url = servers.current.url
    # QdrantClient(url) with check_compatibility: GET / for the version.
    banner = json.loads(urllib.request.urlopen(url + "/", timeout=30).read())
    expect(isinstance(banner.get("version"), str) and banner["version"].count(".") == 2,
           f"GET /: {banner}")
    langchain_flow(Rest(url))
    llamaindex_flow(Rest(url))


def main():
    return run_replay("python_frameworks_replay", __doc__, "cairn-pyreplay-", replay)


if __name__ == "__main__":
    sys.exit(main())
