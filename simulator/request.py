"""One Graph request and its answer, independent of HTTP so that $batch can run inner requests through the
same handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from simulator.errors import denied

if TYPE_CHECKING:
    from simulator.delta import DeltaStore
    from simulator.tenant import Tenant

READ_ANY = "Directory.Read.All"


@dataclass
class GraphRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    tenant: Tenant
    client_id: str
    permissions: frozenset[str]
    graph_url: str
    delta: DeltaStore
    body: Any = None

    def q(self, name: str) -> str | None:
        return self.query.get(name.lower())

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def has(self, *permissions: str) -> bool:
        return READ_ANY in self.permissions or any(p in self.permissions for p in permissions)

    def require(self, *permissions: str) -> None:
        if not self.has(*permissions):
            raise denied()

    @property
    def key(self) -> str:
        """What identifies a retry of the same request."""
        return self.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))


@dataclass
class GraphResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """A relative or absolute Graph URL as (path below the version, query with lower-cased $options)."""
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    path = path.removeprefix("v1.0/")
    query = {
        (k.lower() if k.startswith("$") else k): v for k, v in parse_qsl(parts.query, keep_blank_values=True)
    }
    return path, query
