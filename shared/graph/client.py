"""The Graph client: one aiohttp session per process, a request cap per tenant, retries, paging, counting."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
from yarl import URL

from shared import metrics
from shared.graph import links, retry
from shared.graph.errors import GraphUnavailable, error_for
from shared.graph.tokens import Credentials, TokenProvider
from shared.settings import Settings
from shared.tls import ssl_context

log = logging.getLogger(__name__)
# OData punctuation stays readable in the query; everything else is percent-encoded.
_QUERY_SAFE = "$,()':*"
# A 403 to a token older than this takes a new one: the permission may have been granted since it was issued.
RENEW_REFUSED_AFTER = 60.0
READ_CHUNK = 64 * 1024


def build_url(base: str, path: str, params: Mapping[str, Any] | None = None) -> str:
    """An absolute URL: ``path`` is relative to ``base`` unless it is absolute already (a nextLink)."""
    url = path if path.startswith(("https://", "http://")) else base.rstrip("/") + "/" + path.lstrip("/")
    if params:
        query = "&".join(
            f"{quote(str(k), safe='$')}={quote(str(v), safe=_QUERY_SAFE)}" for k, v in params.items()
        )
        url += ("&" if "?" in url else "?") + query
    return url


@dataclass
class Response:
    """``complete`` is False when the body was longer than the caller would read (``body`` is cut short)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    complete: bool = True

    def json(self) -> Any:
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return None


class GraphClient:
    """Shared by every run of the process; ``for_tenant`` gives the per-run view that counts and retries."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: TokenProvider,
        graph_url: str,
        concurrency: int = 8,
        max_throttle_wait: float = 600.0,
    ):
        self.session = session
        self.tokens = tokens
        self.graph_url = graph_url.rstrip("/")
        self.concurrency = concurrency
        self.max_throttle_wait = max_throttle_wait
        self.renew_refused_after = RENEW_REFUSED_AFTER
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    @classmethod
    def from_settings(cls, settings: Settings, tokens: TokenProvider | None = None) -> GraphClient:
        connector = aiohttp.TCPConnector(ssl=ssl_context(settings.ca_file), limit=100)
        session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=120, sock_connect=15)
        )
        return cls(
            session,
            tokens or TokenProvider(settings.authority_url, settings.ca_file),
            settings.graph_url,
            settings.graph_concurrency,
            settings.graph_max_throttle_wait,
        )

    async def close(self) -> None:
        await self.session.close()

    def for_tenant(self, creds: Credentials) -> TenantGraph:
        semaphore = self._semaphores.setdefault(creds.tenant_id, asyncio.Semaphore(self.concurrency))
        return TenantGraph(self, creds, semaphore, retry.ThrottleBudget(self.max_throttle_wait))


class TenantGraph:
    """Graph for one run against one tenant: ``requests`` counts every request sent, retries included."""

    def __init__(
        self,
        client: GraphClient,
        creds: Credentials,
        semaphore: asyncio.Semaphore,
        budget: retry.ThrottleBudget,
    ):
        self.client = client
        self.creds = creds
        self.semaphore = semaphore
        self.budget = budget
        self.requests = 0

    async def renew_refused(self, token: str | None = None) -> bool:
        """After a 403 to ``token`` (by default the one requests go with now): whether there is another token
        to try, the refused one perhaps predating a grant (``TokenProvider.refresh``)."""
        refused = token or await self.client.tokens.token(self.creds)
        renewed = await self.client.tokens.refresh(self.creds, refused, self.client.renew_refused_after)
        return renewed is not None

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        return build_url(self.client.graph_url, path, params)

    async def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        url = self.url(path, params)
        response = await self.request("GET", url, headers=headers)
        if response.status >= 400:
            raise error_for(response.status, response.json(), _path_of(url))
        return response.json()

    async def post_json(self, path: str, body: Any) -> Any:
        url = self.url(path)
        response = await self.request("POST", url, body=body)
        if response.status >= 400:
            raise error_for(response.status, response.json(), _path_of(url))
        return response.json()

    async def get_pages(
        self, path: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a collection, following the whole ``@odata.nextLink`` (headers sent on each page).

        The next page is requested before this one is handed over, so that Graph works on it while the caller
        works on this one. At most one page is read ahead, and only by a nextLink Graph gave: no request is
        sent that plain paging would not send too. A page whose next or delta link leads outside the Graph
        base fails the read (GraphLinkRefused) before anything is sent there."""
        ahead = asyncio.ensure_future(self.get_json(self.url(path, params), headers=headers))
        try:
            while ahead is not None:
                page = await ahead
                self._check_links(page)
                link = page.get("@odata.nextLink")
                ahead = asyncio.ensure_future(self.get_json(link, headers=headers)) if link else None
                yield page
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    def _check_links(self, page: Mapping[str, Any]) -> None:
        for key, what in (("@odata.nextLink", "a next link"), ("@odata.deltaLink", "a delta link")):
            if (link := page.get(key)) is not None:
                links.check(self.client.graph_url, str(link), f"Graph answered with {what}")

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        max_body: int | None = None,
    ) -> Response:
        """Send with retries: 429/503 wait (within the run's budget), 5xx and network errors back off a few
        times, a 401 takes a fresh token once (R1), and so does a 403 to a token that may predate a grant
        (``renew_refused``). Any other answer is returned as it is. Nothing, and no token, goes to a URL
        outside the Graph base (GraphLinkRefused). With ``max_body``, no more than that many bytes and one are
        read of the answer (``Response.complete`` says whether it ended within them)."""
        links.check(self.client.graph_url, url, "a request was to go")
        throttled = transient = 0
        refreshed = renewed = False
        while True:
            token = await self.client.tokens.token(self.creds)
            try:
                response = await self._send(method, url, token, headers, body, max_body)
            except (TimeoutError, aiohttp.ClientError) as exc:
                if transient >= retry.MAX_TRANSIENT_ATTEMPTS:
                    raise GraphUnavailable(f"Microsoft Graph could not be reached: {exc!r}") from exc
                await asyncio.sleep(retry.backoff(transient))
                transient += 1
                continue
            if response.status == 401 and not refreshed:
                refreshed = True
                await self.client.tokens.refresh(self.creds, token)
                continue
            if response.status == 403 and not renewed:
                renewed = True
                if await self.renew_refused(token):
                    continue
            if response.status in retry.THROTTLE_STATUSES:
                metrics.GRAPH_THROTTLED.inc()
                wait = retry.throttle_delay(
                    retry.parse_retry_after(response.headers.get("Retry-After")), throttled
                )
                self.budget.spend(wait, time.monotonic())
                log.info("Graph throttled (%s), waiting %.1f s", response.status, wait)
                await asyncio.sleep(wait)
                throttled += 1
                continue
            if response.status in retry.TRANSIENT_STATUSES and transient < retry.MAX_TRANSIENT_ATTEMPTS:
                await asyncio.sleep(retry.backoff(transient))
                transient += 1
                continue
            return response

    async def _send(
        self,
        method: str,
        url: str,
        token: str,
        headers: Mapping[str, str] | None,
        body: Any,
        max_body: int | None = None,
    ) -> Response:
        all_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            all_headers["Content-Type"] = "application/json"
        async with self.semaphore:
            self.requests += 1
            metrics.GRAPH_REQUESTS.inc()
            async with self.client.session.request(
                method, URL(url, encoded=True), headers=all_headers, data=data
            ) as resp:
                if max_body is None:
                    return Response(resp.status, resp.headers, await resp.read())
                received, complete = await _read_at_most(resp, max_body)
                return Response(resp.status, resp.headers, received, complete)


async def _read_at_most(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The body if it is ``limit`` bytes or fewer, and True; else False and what was read (nothing when its
    length was announced, ``limit`` + 1 bytes at most when it was not). A body is never read whole first."""
    if resp.content_length is not None and resp.content_length > limit:
        return b"", False
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await resp.content.read(min(READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
