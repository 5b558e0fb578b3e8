"""CairnClient: Cairn's REST API (docs/api.md) with qdrant-client's method names.

    from cairn_client import CairnClient, PointStruct, VectorParams
    client = CairnClient("http://127.0.0.1:6333")
    client.create_collection("docs", VectorParams(size=4, distance="Cosine"))
    client.upsert("docs", [PointStruct(1, [0.1, 0.2, 0.3, 0.4], {"lang": "en"})])
    hits = client.query_points("docs", [0.1, 0.2, 0.3, 0.4], limit=3).points

Thread-safety: a client may be shared by threads; each thread gets its own
keep-alive connection (transport.py).
"""
import os
import urllib.parse

from .errors import ApiError
from .models import (Batch, CollectionDescription, CollectionInfo, CollectionsResponse,
                     CountResult, PointStruct, QueryResponse, Record, ScoredPoint, UpdateResult,
                     VectorParams, check_point_id, vector_to_json)
from .transport import Transport

_FILTER_KEYS = ("must", "should", "must_not", "min_should")


def _quote(name):
    return urllib.parse.quote(name, safe="")


def _selector(points_selector):
    """{"points": [...]} or {"filter": {...}} from ids, a filter or a selector."""
    if isinstance(points_selector, dict):
        if "points" in points_selector or "filter" in points_selector:
            return dict(points_selector)
        if any(k in points_selector for k in _FILTER_KEYS):
            return {"filter": points_selector}
        raise ValueError("a points selector is a list of ids, a filter, or "
                         "{'points': [...]} / {'filter': {...}}")
    if isinstance(points_selector, (list, tuple)):
        return {"points": [check_point_id(p) for p in points_selector]}
    raise TypeError(f"a points selector is a list of ids or a filter, got {points_selector!r}")


def _params(search_params, target_recall, exact=None):
    params = dict(search_params or {})
    if target_recall is not None:
        params["target_recall"] = float(target_recall)
    if exact is not None:
        params["exact"] = bool(exact)
    return params or None


class CairnClient:
    """url: http://HOST:PORT (default $CAIRN_URL, else http://127.0.0.1:6333);
    api_key: sent as the api-key header (default $CAIRN_API_KEY); timeout:
    seconds per request; retries: extra tries of idempotent requests after a
    503 or a reset connection (see transport.py)."""

    def __init__(self, url=None, api_key=None, timeout=30.0, retries=3, backoff=0.1):
        url = url or os.environ.get("CAIRN_URL") or "http://127.0.0.1:6333"
        if api_key is None:
            api_key = os.environ.get("CAIRN_API_KEY") or None
        self._t = Transport(url, api_key=api_key, timeout=timeout, retries=retries,
                            backoff=backoff)

    @property
    def url(self):
        return self._t.url

    @property
    def transport(self):
        return self._t

    def close(self):
        self._t.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, path, body=None, idempotent=False, timeout=None):
        return self._t.request(method, path, body, idempotent=idempotent, timeout=timeout)

    def _points_path(self, collection_name, suffix="", wait=None):
        path = f"/collections/{_quote(collection_name)}/points{suffix}"
        return path + ("?wait=true" if wait else "")

    # ------------------------------------------------------------ collections

    def get_collections(self):
        result = self._call("GET", "/collections", idempotent=True)
        return CollectionsResponse([CollectionDescription(c["name"]) for c in result["collections"]])

    def collection_exists(self, collection_name):
        result = self._call("GET", f"/collections/{_quote(collection_name)}/exists",
                            idempotent=True)
        return bool(result["exists"])

    def get_collection(self, collection_name):
        return CollectionInfo.from_json(
            self._call("GET", f"/collections/{_quote(collection_name)}", idempotent=True))

    def create_collection(self, collection_name, vectors_config, target_recall=None,
                          max_postings=None, sync_writes=None, timeout=None):
        """vectors_config: VectorParams, or {name: VectorParams} for a named
        vector. The cairn arguments are the collection's search defaults and
        durability (docs/api.md). Not retried: a repeat would answer 409."""
        if isinstance(vectors_config, dict):
            vectors = {name: p.to_json() if isinstance(p, VectorParams) else p
                       for name, p in vectors_config.items()}
        elif isinstance(vectors_config, VectorParams):
            vectors = vectors_config.to_json()
        else:
            raise TypeError("vectors_config is a VectorParams or {name: VectorParams}")
        body = {"vectors": vectors}
        cairn = {k: v for k, v in (("target_recall", target_recall),
                                   ("max_postings", max_postings),
                                   ("sync_writes", sync_writes)) if v is not None}
        if cairn:
            body["cairn"] = cairn
        return bool(self._call("PUT", f"/collections/{_quote(collection_name)}", body,
                               timeout=timeout))

    def delete_collection(self, collection_name, timeout=None):
        """True if it existed. Not retried (a repeat would answer False)."""
        return bool(self._call("DELETE", f"/collections/{_quote(collection_name)}",
                               timeout=timeout))

    def update_collection(self, collection_name, target_recall=None, max_postings=None):
        cairn = {k: v for k, v in (("target_recall", target_recall),
                                   ("max_postings", max_postings)) if v is not None}
        return bool(self._call("PATCH", f"/collections/{_quote(collection_name)}",
                               {"cairn": cairn}, idempotent=True))

    # ------------------------------------------------------------ points

    def upsert(self, collection_name, points, wait=True, batch_size=256):
        """points: a list of PointStruct (or dicts of that shape), or a Batch.
        Sent in requests of batch_size points; each request is all or nothing
        and is retried as a whole (an upsert by id repeats safely). Returns
        the last request's UpdateResult."""
        if isinstance(points, Batch):
            points = points.points()
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        encoded = [p.to_json() if isinstance(p, PointStruct) else PointStruct(**p).to_json()
                   for p in points]
        result = UpdateResult(operation_id=None, status="completed")
        for i in range(0, len(encoded), batch_size):
            result = UpdateResult.from_json(self._call(
                "PUT", self._points_path(collection_name, wait=wait),
                {"points": encoded[i:i + batch_size]}, idempotent=True))
        return result

    def upload_points(self, collection_name, points, batch_size=64, wait=True):
        """qdrant-client's name for a batched upload of PointStructs; points
        may be any iterable (a generator is read one batch at a time)."""
        batch = []
        for point in points:
            batch.append(point)
            if len(batch) == batch_size:
                self.upsert(collection_name, batch, wait=wait, batch_size=batch_size)
                batch = []
        if batch:
            self.upsert(collection_name, batch, wait=wait, batch_size=batch_size)

    def upload_collection(self, collection_name, vectors, payload=None, ids=None,
                          batch_size=64, wait=True):
        """Vectors (a list or a 2-D array), payloads and ids in columns; ids
        default to 0, 1, 2, ... as in qdrant-client."""
        rows = vectors.tolist() if hasattr(vectors, "tolist") else vectors
        payloads = iter(payload) if payload is not None else None
        id_iter = iter(ids) if ids is not None else None
        points = (PointStruct(next(id_iter) if id_iter is not None else i, row,
                              next(payloads) if payloads is not None else None)
                  for i, row in enumerate(rows))
        self.upload_points(collection_name, points, batch_size=batch_size, wait=wait)

    def retrieve(self, collection_name, ids, with_payload=True, with_vectors=False):
        result = self._call("POST", self._points_path(collection_name),
                            {"ids": [check_point_id(i) for i in ids],
                             "with_payload": with_payload, "with_vector": with_vectors},
                            idempotent=True)
        return [Record.from_json(r) for r in result]

    def scroll(self, collection_name, scroll_filter=None, limit=10, offset=None,
               with_payload=True, with_vectors=False):
        """One page: (records, next_page_offset); next_page_offset is None
        after the last page."""
        body = {"limit": int(limit), "with_payload": with_payload, "with_vector": with_vectors}
        if scroll_filter is not None:
            body["filter"] = scroll_filter
        if offset is not None:
            body["offset"] = check_point_id(offset)
        result = self._call("POST", self._points_path(collection_name, "/scroll"), body,
                            idempotent=True)
        return [Record.from_json(r) for r in result["points"]], result.get("next_page_offset")

    def scroll_all(self, collection_name, scroll_filter=None, page_size=256,
                   with_payload=True, with_vectors=False):
        """Every point (matching scroll_filter) in id order, page by page."""
        offset = None
        while True:
            records, offset = self.scroll(collection_name, scroll_filter, page_size, offset,
                                          with_payload, with_vectors)
            yield from records
            if offset is None:
                return

    def count(self, collection_name, count_filter=None, exact=True):
        body = {"exact": exact}
        if count_filter is not None:
            body["filter"] = count_filter
        result = self._call("POST", self._points_path(collection_name, "/count"), body,
                            idempotent=True)
        return CountResult(result["count"])

    def delete(self, collection_name, points_selector, wait=True):
        """points_selector: a list of ids, a filter dict, or {"points": ...} /
        {"filter": ...}."""
        return UpdateResult.from_json(self._call(
            "POST", self._points_path(collection_name, "/delete", wait=wait),
            _selector(points_selector), idempotent=True))

    def _payload_call(self, method, suffix, collection_name, body, points, wait):
        body.update(_selector(points))
        return UpdateResult.from_json(self._call(
            method, self._points_path(collection_name, suffix, wait=wait), body,
            idempotent=True))

    def set_payload(self, collection_name, payload, points, key=None, wait=True):
        """Merges payload's keys into each point's payload (at dot path key)."""
        body = {"payload": payload}
        if key is not None:
            body["key"] = key
        return self._payload_call("POST", "/payload", collection_name, body, points, wait)

    def overwrite_payload(self, collection_name, payload, points, wait=True):
        return self._payload_call("PUT", "/payload", collection_name, {"payload": payload},
                                  points, wait)

    def delete_payload(self, collection_name, keys, points, wait=True):
        return self._payload_call("POST", "/payload/delete", collection_name,
                                  {"keys": list(keys)}, points, wait)

    def clear_payload(self, collection_name, points_selector, wait=True):
        return self._payload_call("POST", "/payload/clear", collection_name, {},
                                  points_selector, wait)

    # ------------------------------------------------------------ search

    def query_points(self, collection_name, query=None, using=None, query_filter=None,
                     limit=10, offset=None, with_payload=True, with_vectors=False,
                     score_threshold=None, search_params=None, target_recall=None,
                     exact=None, timeout=None):
        """query: a vector (list, numpy array), a point id (nearest to that
        point, itself left out), or None (the points matching query_filter
        in id order). using: the collection's vector name. target_recall:
        the mean recall@10 to aim at (params.target_recall)."""
        body = {"limit": int(limit), "with_payload": with_payload, "with_vector": with_vectors}
        if query is not None:
            is_id = isinstance(query, (int, str)) and not isinstance(query, bool)
            body["query"] = query if is_id else vector_to_json(query)
        if using is not None:
            body["using"] = using
        self._search_fields(body, query_filter, offset, score_threshold,
                            _params(search_params, target_recall, exact))
        result = self._call("POST", self._points_path(collection_name, "/query"), body,
                            idempotent=True, timeout=timeout)
        return QueryResponse([ScoredPoint.from_json(p) for p in result["points"]])

    def search(self, collection_name, query_vector, query_filter=None, limit=10, offset=None,
               with_payload=True, with_vectors=False, score_threshold=None,
               search_params=None, target_recall=None, exact=None, timeout=None):
        """query_vector: a vector, or (name, vector) for a named vector."""
        if isinstance(query_vector, tuple) and len(query_vector) == 2 and \
                isinstance(query_vector[0], str):
            vector = {"name": query_vector[0], "vector": vector_to_json(query_vector[1])}
        else:
            vector = vector_to_json(query_vector)
        body = {"vector": vector, "limit": int(limit), "with_payload": with_payload,
                "with_vector": with_vectors}
        self._search_fields(body, query_filter, offset, score_threshold,
                            _params(search_params, target_recall, exact))
        result = self._call("POST", self._points_path(collection_name, "/search"), body,
                            idempotent=True, timeout=timeout)
        return [ScoredPoint.from_json(p) for p in result]

    @staticmethod
    def _search_fields(body, query_filter, offset, score_threshold, params):
        if query_filter is not None:
            body["filter"] = query_filter
        if offset is not None:
            body["offset"] = int(offset)
        if score_threshold is not None:
            body["score_threshold"] = float(score_threshold)
        if params is not None:
            body["params"] = params


__all__ = ["CairnClient", "ApiError"]
