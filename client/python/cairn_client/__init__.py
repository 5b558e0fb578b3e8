"""Python client of Cairn's REST API (standard library only; docs/clients.md)."""
from .client import CairnClient
from .errors import ApiError, CairnError, TransportError
from .models import (Batch, CollectionDescription, CollectionInfo, CollectionsResponse,
                     CountResult, PointStruct, QueryResponse, Record, ScoredPoint, UpdateResult,
                     VectorParams)

__version__ = "0.1.0"

__all__ = [
    "ApiError", "Batch", "CairnClient", "CairnError", "CollectionDescription", "CollectionInfo",
    "CollectionsResponse", "CountResult", "PointStruct", "QueryResponse", "Record",
    "ScoredPoint", "TransportError", "UpdateResult", "VectorParams",
]
