#!/usr/bin/env python3
"""Replays the hybrid (dense + sparse) flows of the Python RAG frameworks' Qdrant stores.

A sibling of python_frameworks_replay.py (whose server, transport and
request models it reuses): what LangChain, LlamaIndex and Haystack send
through qdrant-client's REST transport when they run with sparse vectors,
request by request, checked the way the client reads each answer, then the
documents a user would get.

Sources read (the `search` tool's stored copies):
  * langchain-ai/langchain libs/partners/qdrant/langchain_qdrant/qdrant.py:
    QdrantVectorStore in RetrievalMode.HYBRID and SPARSE (construct_instance:
    vectors {"": ...} and sparse_vectors {"langchain-sparse": {}};
    _build_vectors; _validate_collection_for_dense/_sparse;
    similarity_search_with_score: query_points with two Prefetch and
    FusionQuery(RRF), or a SparseVector with using).
  * run-llama/llama_index llama-index-vector-stores-qdrant base.py with
    enable_hybrid=True: create with "text-dense" and "text-sparse-new",
    the doc_id payload index, sparse_vector_name() from get_collection,
    upload_points {"text-sparse-new": SparseVector, "text-dense": [...]},
    query in HYBRID mode through search_batch with a NamedVector and a
    NamedSparseVector fused client-side (relative_score_fusion), SPARSE mode
    with the sparse request alone, delete(ref_doc_id) by filter.
  * deepset-ai/haystack-core-integrations qdrant document_store.py and
    converters.py with use_sparse_embeddings=True (and sparse_idf=True):
    recreate_collection ("text-dense" with on_disk, "text-sparse" with
    SparseIndexParams(on_disk) and the idf modifier), write_documents
    (retrieve by id with vectors, then upsert; a document without
    embeddings is written as vector {}), count, _query_hybrid (two Prefetch
    without a limit, RRF), _query_by_sparse, filter_documents (scroll with
    vectors), delete_documents.

Sparse vectors are made from the texts by a small tokenizer (lowercased
words, hashed to indices with CRC-32, BM25-style document weights, query
weight 1 per word), as the frameworks' BM25 encoders shape them.

Usage: python_hybrid_replay.py --binary build/cairn [--keep]
Standard library only. Exit 0 on success, 1 with a message on the first
mismatch.
"""
import json
import os
import re
import sys
import urllib.request
import uuid
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_frameworks_replay as base  # noqa: E402
from python_frameworks_replay import (  # noqa: E402
    DIM, TEXTS, Failure, Rest, check_collection_info, check_point_id,
    check_scored_points, check_update_result, create_collection, embed, expect,
    field_condition, point_struct, points_list, qfilter, search_request, vector_params)


# ------------------------------------------------------------ sparse vectors


def tokens(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def token_index(token):
    return zlib.crc32(token.encode()) & 0x7FFFFFFF


def sparse_doc(text, k1=1.2, b=0.75, avg_len=9.0):
    """BM25-style document weights: tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg))."""
    words = tokens(text)
    tf = {}
    for w in words:
        tf[token_index(w)] = tf.get(token_index(w), 0) + 1
    norm = k1 * (1 - b + b * len(words) / avg_len)
    items = sorted(tf.items())
    return {"indices": [i for i, _ in items],
            "values": [t * (k1 + 1) / (t + norm) for _, t in items]}


def sparse_query(text):
    idx = sorted({token_index(w) for w in tokens(text)})
    return {"indices": idx, "values": [1.0] * len(idx)}


def same_sparse(got, want):
    """Equal up to float32 rounding (the server stores float32 values)."""
    return (isinstance(got, dict) and got.get("indices") == want["indices"]
            and len(got.get("values", [])) == len(want["values"])
            and all(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(got["values"], want["values"])))


def prefetch(query, using, qfilter_, limit):
    """models.Prefetch as the client sends it (its query resolved to NearestQuery)."""
    return {"prefetch": None, "query": {"nearest": query, "mmr": None}, "using": using,
            "filter": qfilter_, "params": None, "score_threshold": None, "limit": limit,
            "lookup_from": None}


def hybrid_request(prefetches, qfilter_, limit, offset, with_vector, with_payload,
                   score_threshold=None):
    body = base.query_request({"fusion": "rrf"}, None, qfilter_, limit, offset, with_vector,
                              with_payload)
    body["prefetch"] = prefetches
    body["score_threshold"] = score_threshold
    return body


def sparse_params(on_disk=None, modifier=None):
    return {"index": {"full_scan_threshold": None, "on_disk": on_disk, "datatype": None},
            "modifier": modifier}


def check_sparse_config(info, name, what):
    sparse = info["config"]["params"].get("sparse_vectors")
    expect(isinstance(sparse, dict) and name in sparse,
           f"{what}: config.params.sparse_vectors lacks {name!r}: {sparse}")


# ------------------------------------------------------- LangChain, HYBRID


def langchain_hybrid(rest):
    name = "langchain_hybrid"
    sparse_name = "langchain-sparse"
    texts = [t for t, _, _ in TEXTS]
    metadatas = [{"source": s, "author": a} for _, s, a in TEXTS]
    expect(rest.result("GET", f"/collections/{name}/exists") == {"exists": False}, "exists")
    # construct_instance(HYBRID): SparseVectorParams() with every field unset.
    created = rest.result("PUT", f"/collections/{name}", create_collection(
        {"": vector_params(DIM, "Cosine")}, {sparse_name: {"index": None, "modifier": None}}))
    expect(created is True, f"create_collection: {created}")
    ids = [uuid.uuid4().hex for _ in texts]
    points = [point_struct(pid, {"": embed(t), sparse_name: sparse_doc(t)},
                           {"page_content": t, "metadata": md})
              for pid, t, md in zip(ids, texts, metadatas)]
    check_update_result(rest.result("PUT", f"/collections/{name}/points", points_list(points),
                                    {"wait": "true"}), "upsert")
    # from_existing_collection(HYBRID): both validations read the config.
    info = rest.result("GET", f"/collections/{name}")
    vectors = check_collection_info(info, "get_collection")
    expect(isinstance(vectors, dict) and "" in vectors, f"dense config: {vectors}")
    check_sparse_config(rest.result("GET", f"/collections/{name}"), sparse_name, "get_collection")

    def search(query, k, qfilter_=None):
        body = hybrid_request([prefetch(embed(query), "", qfilter_, k),
                               prefetch(sparse_query(query), sparse_name, qfilter_, k)],
                              qfilter_, k, 0, False, True)
        result = rest.result("POST", f"/collections/{name}/points/query", body)
        check_scored_points(result.get("points"), "query_points(hybrid)")
        return [(p["payload"]["page_content"], p["payload"]["metadata"], p["score"])
                for p in result["points"]]

    docs = search(texts[6], 4)
    expect(len(docs) == 4 and docs[0][0] == texts[6], f"hybrid search: {docs[:2]}")
    # First in both lists: 1/2 + 1/2 under RRF with k = 2.
    expect(abs(docs[0][2] - 1.0) < 1e-6, f"hybrid search: fused score {docs[0][2]}, want 1.0")
    news = qfilter(must=[field_condition("metadata.source", {"value": "news"})])
    docs = search("river villages rain", 10, news)
    expect(docs and all(d[1]["source"] == "news" for d in docs), f"filtered hybrid: {docs}")
    expect(docs[0][0] == texts[4], f"filtered hybrid: top {docs[0][0]!r}")
    # RetrievalMode.SPARSE on the same collection.
    body = base.query_request({"nearest": sparse_query("posting lists on disk"), "mmr": None},
                              sparse_name, None, 3, 0, False, True)
    result = rest.result("POST", f"/collections/{name}/points/query", body)
    check_scored_points(result.get("points"), "query_points(sparse)")
    expect(result["points"][0]["payload"]["page_content"] == texts[0],
           f"sparse search: {result['points'][:1]}")
    print(f"langchain hybrid: {len(rest.log)} requests replayed")


# ----------------------------------------------------- LlamaIndex, hybrid


def relative_score_fusion(dense, sparse, alpha=0.5, top_k=2):
    """llama_index.vector_stores.qdrant.utils.relative_score_fusion, reduced."""
    def norm(hits):
        if not hits:
            return {}
        scores = [h["score"] for h in hits]
        lo, hi = min(scores), max(scores)
        return {h["id"]: ((h["score"] - lo) / (hi - lo) if hi > lo else 1.0, h) for h in hits}
    nd, ns = norm(dense), norm(sparse)
    fused = {}
    for pid in set(nd) | set(ns):
        s = (1 - alpha) * ns.get(pid, (0.0, None))[0] + alpha * nd.get(pid, (0.0, None))[0]
        fused[pid] = (s, (nd.get(pid) or ns.get(pid))[1])
    ranked = sorted(fused.values(), key=lambda x: -x[0])
    return [h for _, h in ranked[:top_k]]


def llamaindex_hybrid(rest):
    name = "llamaindex_hybrid"
    dense_name, sparse_name = "text-dense", "text-sparse-new"
    docs = {}
    nodes = []
    for text, source, author in TEXTS:
        doc_id = docs.setdefault(source, str(uuid.uuid4()))
        nodes.append((str(uuid.uuid4()), text, doc_id, {"source": source, "author": author}))
    expect(rest.result("GET", f"/collections/{name}/exists") == {"exists": False}, "exists")
    created = rest.result("PUT", f"/collections/{name}", create_collection(
        {dense_name: vector_params(DIM, "Cosine")}, {sparse_name: sparse_params()}))
    expect(created is True, f"create_collection: {created}")
    check_update_result(rest.result("PUT", f"/collections/{name}/index",
                                    {"field_name": "doc_id", "field_schema": "keyword"},
                                    {"wait": "true"}), "create_payload_index")
    # sparse_vector_name(): the new name if the collection has it.
    check_sparse_config(rest.result("GET", f"/collections/{name}"), sparse_name,
                        "sparse_vector_name")
    points = [point_struct(nid, {sparse_name: sparse_doc(text), dense_name: embed(text)},
                           base.node_payload(nid, text, did, md))
              for nid, text, did, md in nodes]
    check_update_result(rest.result("PUT", f"/collections/{name}/points", points_list(points),
                                    {"wait": "true"}), "upload_points")

    def query(text, k, qfilter_=None, mode="hybrid"):
        dense = search_request({"name": dense_name, "vector": embed(text)}, qfilter_, k)
        sparse = search_request({"name": sparse_name, "vector": sparse_query(text)}, qfilter_, k)
        searches = [dense, sparse] if mode == "hybrid" else [sparse]
        answers = rest.result("POST", f"/collections/{name}/points/search/batch",
                              {"searches": searches})
        expect(isinstance(answers, list) and len(answers) == len(searches), f"search_batch: {answers}")
        for a in answers:
            check_scored_points(a, "search_batch")
        hits = relative_score_fusion(answers[0], answers[1], top_k=k) if mode == "hybrid" \
            else answers[0]
        return [(json.loads(h["payload"]["_node_content"])["text"], h["payload"]) for h in hits]

    hits = query(TEXTS[9][0], 2)
    expect(hits and hits[0][0] == TEXTS[9][0], f"hybrid query: {hits[:1]}")
    hits = query("central bank rates", 3, mode="sparse")
    expect(hits and hits[0][0] == TEXTS[3][0], f"sparse query: {hits[:1]}")
    alice = qfilter(must=[qfilter(must=[field_condition("author", {"value": "alice"})])])
    hits = query("library archive downtown", 5, alice)
    expect(hits and all(h[1]["author"] == "alice" for h in hits) and hits[0][0] == TEXTS[6][0],
           f"filtered hybrid query: {[h[0] for h in hits]}")
    delete = {"filter": qfilter(must=[field_condition("doc_id", {"value": docs["news"]})]),
              "shard_key": None}
    check_update_result(rest.result("POST", f"/collections/{name}/points/delete", delete,
                                    {"wait": "true"}), "delete")
    hits = query("central bank rates", 3, mode="sparse")
    expect(all(h[1]["doc_id"] != docs["news"] for h in hits), f"after delete: {hits}")
    print(f"llamaindex hybrid: {len(rest.log)} requests replayed")


# --------------------------------------------------------- Haystack, hybrid


def haystack_hybrid(rest):
    name = "Document"
    dense_name, sparse_name = "text-dense", "text-sparse"
    expect(rest.result("GET", f"/collections/{name}/exists") == {"exists": False}, "exists")
    body = create_collection({dense_name: dict(vector_params(DIM, "Cosine"), on_disk=False)},
                             {sparse_name: sparse_params(on_disk=False, modifier="idf")})
    body["init_from"] = None
    expect(rest.result("PUT", f"/collections/{name}", body) is True, "create_collection")
    hay_ns = uuid.UUID("3896d314-1e95-4a3a-b45a-945f9f0b541d")
    docs = [(f"doc{i}", text, {"source": s, "author": a}) for i, (text, s, a) in enumerate(TEXTS)]
    docs.append(("doc-bare", "A document written before any embedder ran.", {"source": "raw"}))
    ids = [uuid.uuid5(hay_ns, d[0]).hex for d in docs]
    # write_documents(policy=FAIL): the ids must not exist yet.
    found = rest.result("POST", f"/collections/{name}/points",
                        {"shard_key": None, "ids": ids, "with_payload": True, "with_vector": True})
    expect(found == [], f"retrieve before write: {found}")
    points = []
    for pid, (doc_id, text, meta) in zip(ids, docs):
        payload = {"id": doc_id, "content": text, "blob": None, "meta": meta, "score": None}
        vector = {} if doc_id == "doc-bare" else {dense_name: embed(text),
                                                   sparse_name: sparse_doc(text)}
        points.append(point_struct(pid, vector, payload))
    check_update_result(rest.result("PUT", f"/collections/{name}/points", points_list(points),
                                    {"wait": "true"}), "upsert")
    count = rest.result("POST", f"/collections/{name}/points/count",
                        {"shard_key": None, "filter": None, "exact": True})
    expect(count == {"count": len(docs)}, f"count: {count}")

    def hybrid(text, top_k, qfilter_=None, return_embedding=False):
        pf = [prefetch(sparse_query(text), sparse_name, qfilter_, None),
              prefetch(embed(text), dense_name, qfilter_, None)]
        result = rest.result("POST", f"/collections/{name}/points/query",
                             hybrid_request(pf, None, top_k, None, return_embedding, True))
        check_scored_points(result.get("points"), "query_points(hybrid)")
        return result["points"]

    hits = hybrid(TEXTS[5][0], 3, return_embedding=True)
    expect(hits[0]["payload"]["content"] == TEXTS[5][0], f"hybrid: {hits[:1]}")
    v = hits[0]["vector"]
    expect(isinstance(v, dict) and len(v[dense_name]) == DIM and
           same_sparse(v[sparse_name], sparse_doc(TEXTS[5][0])), f"hybrid: returned vectors {v}")
    news = qfilter(must=[field_condition("meta.source", {"value": "news"})])
    hits = hybrid("elections provinces", 5, news)
    expect(hits and hits[0]["payload"]["content"] == TEXTS[11][0] and
           all(h["payload"]["meta"]["source"] == "news" for h in hits), f"filtered hybrid: {hits}")
    # _query_by_sparse with the idf modifier.
    body = base.query_request({"nearest": sparse_query("snapshots copy a collection"),
                               "mmr": None}, sparse_name, None, 2, None, False, True)
    body["score_threshold"] = None
    result = rest.result("POST", f"/collections/{name}/points/query", body)
    check_scored_points(result.get("points"), "query_points(sparse)")
    expect(result["points"][0]["payload"]["content"] == TEXTS[10][0], f"sparse: {result}")
    # filter_documents: scroll with vectors; the bare document has none.
    page = rest.result("POST", f"/collections/{name}/points/scroll",
                       {"shard_key": None, "offset": None, "limit": 10000, "filter": None,
                        "with_payload": True, "with_vector": True, "order_by": None})
    records = page["points"]
    expect(len(records) == len(docs) and page["next_page_offset"] is None, f"scroll: {page}")
    by_id = {r["payload"]["id"]: r for r in records}
    for r in records:
        check_point_id(r["id"], "scroll")
    expect(by_id["doc-bare"]["vector"] == {}, f"bare document: {by_id['doc-bare']['vector']}")
    expect(same_sparse(by_id["doc0"]["vector"][sparse_name], sparse_doc(TEXTS[0][0])),
           "scroll: sparse vector")
    # delete_documents.
    check_update_result(rest.result("POST", f"/collections/{name}/points/delete",
                                    {"points": ids[:3], "shard_key": None}, {"wait": "true"}),
                        "delete")
    count = rest.result("POST", f"/collections/{name}/points/count",
                        {"shard_key": None, "filter": None, "exact": True})
    expect(count == {"count": len(docs) - 3}, f"count after delete: {count}")
    hits = hybrid(TEXTS[0][0], 3)
    expect(all(h["payload"]["id"] not in ("doc0", "doc1", "doc2") for h in hits),
           f"deleted documents still found: {hits}")
    print(f"haystack hybrid: {len(rest.log)} requests replayed")


def replay(servers):
    url = servers.current.url
    banner = json.loads(urllib.request.urlopen(url + "/", timeout=30).read())
    expect(isinstance(banner.get("version"), str), f"GET /: {banner}")
    langchain_hybrid(Rest(url))
    llamaindex_hybrid(Rest(url))
    haystack_hybrid(Rest(url))
    # A restart (the sparse indexes are rebuilt from the point store)
    # answers the same hybrid query.
    request = hybrid_request(
        [prefetch(sparse_query(TEXTS[7][0]), "text-sparse", None, None),
         prefetch(embed(TEXTS[7][0]), "text-dense", None, None)], None, 5, None, False, False)
    before = Rest(url).result("POST", "/collections/Document/points/query", request)
    after = Rest(servers.restart().url).result("POST", "/collections/Document/points/query",
                                               request)
    expect(before == after, f"after a restart: {after} != {before}")


def main():
    return base.run_replay("python_hybrid_replay", __doc__, "cairn-pyhybrid-", replay)


if __name__ == "__main__":
    sys.exit(main())
