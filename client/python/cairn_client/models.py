"""Dataclasses for what goes to the server and what comes back.

Field names follow Qdrant's Python models (PointStruct, Record, ScoredPoint,
CollectionInfo, ...) so that code written for qdrant-client reads the same.
Filters stay plain dicts in Qdrant's JSON shape ({"must": [...]}); see
docs/api.md for the conditions the server takes.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

PointId = Union[int, str]
# A vector: a list of numbers, anything with tolist() (numpy arrays,
# array.array), or {"name": [...]} for a named vector.
Vector = Any
Payload = Dict[str, Any]

DISTANCES = ("Cosine", "Euclid", "Dot", "Manhattan")


def vector_to_json(vector):
    """A plain list (or {name: list}) from what the caller passed."""
    if vector is None:
        return None
    if isinstance(vector, dict):
        return {name: vector_to_json(v) for name, v in vector.items()}
    if hasattr(vector, "tolist"):
        vector = vector.tolist()
    if isinstance(vector, (list, tuple)):
        return [float(x) for x in vector]
    raise TypeError(f"a vector must be a sequence of numbers, got {type(vector).__name__}")


def check_point_id(point_id):
    # bool is an int subclass; True is no point id.
    if isinstance(point_id, bool) or not isinstance(point_id, (int, str)):
        raise TypeError(f"a point id is an int or a str, got {point_id!r}")
    return point_id


@dataclass
class VectorParams:
    size: int
    distance: str = "Cosine"

    def to_json(self):
        if self.distance not in DISTANCES:
            raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {self.distance!r}")
        return {"size": int(self.size), "distance": self.distance}


@dataclass
class PointStruct:
    id: PointId
    vector: Vector = None
    payload: Optional[Payload] = None

    def to_json(self):
        out = {"id": check_point_id(self.id)}
        # No vector is Qdrant's empty map: a point stored without one.
        out["vector"] = vector_to_json(self.vector) if self.vector is not None else {}
        if self.payload is not None:
            out["payload"] = self.payload
        return out


@dataclass
class Record:
    id: PointId
    payload: Optional[Payload] = None
    vector: Vector = None

    @classmethod
    def from_json(cls, j):
        return cls(id=j["id"], payload=j.get("payload"), vector=j.get("vector"))


@dataclass
class ScoredPoint:
    id: PointId
    score: float
    version: int = 0
    payload: Optional[Payload] = None
    vector: Vector = None

    @classmethod
    def from_json(cls, j):
        return cls(id=j["id"], score=j["score"], version=j.get("version", 0),
                   payload=j.get("payload"), vector=j.get("vector"))


@dataclass
class QueryResponse:
    points: List[ScoredPoint]


@dataclass
class UpdateResult:
    operation_id: Optional[int]
    status: str

    @classmethod
    def from_json(cls, j):
        return cls(operation_id=j.get("operation_id"), status=j.get("status", ""))


@dataclass
class CountResult:
    count: int


@dataclass
class CollectionDescription:
    name: str


@dataclass
class CollectionsResponse:
    collections: List[CollectionDescription]


@dataclass
class CollectionInfo:
    status: str
    points_count: int
    indexed_vectors_count: int
    # config.params.vectors as given at creation: {"size", "distance"}, or
    # {name: {"size", "distance"}} for a named vector.
    vectors: Dict[str, Any]
    # Cairn's own section: max_postings, target_recall, live_heads, ...
    cairn: Dict[str, Any] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, j):
        params = j.get("config", {}).get("params", {})
        return cls(status=j.get("status", ""), points_count=j.get("points_count", 0),
                   indexed_vectors_count=j.get("indexed_vectors_count", 0),
                   vectors=params.get("vectors", {}), cairn=j.get("cairn", {}) or {}, raw=j)


@dataclass
class Batch:
    """The column form of an upsert: ids, vectors (a list of vectors or a
    2-D array) and optional payloads, one per id."""
    ids: List[PointId]
    vectors: Any
    payloads: Optional[List[Optional[Payload]]] = None

    def points(self):
        vectors = self.vectors.tolist() if hasattr(self.vectors, "tolist") else list(self.vectors)
        if len(vectors) != len(self.ids):
            raise ValueError(f"{len(self.ids)} ids but {len(vectors)} vectors")
        payloads = self.payloads if self.payloads is not None else [None] * len(self.ids)
        if len(payloads) != len(self.ids):
            raise ValueError(f"{len(self.ids)} ids but {len(payloads)} payloads")
        return [PointStruct(i, v, p) for i, v, p in zip(self.ids, vectors, payloads)]
