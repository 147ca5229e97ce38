"""Fetching a render's video from its result URL, which is untrusted.

The URL comes from the API's answer, and the API passes on whatever the upstream model returned, so each hop is
checked before it is requested: http(s) only, a bounded number of redirects (followed here, never by aiohttp, so
the key is decided per hop: only the API's own origin gets it). What comes back must start like a video container,
whatever its Content-Type claims, must stay under the caller's size cap, and must arrive within a total deadline
and at a minimum rate, so a slow or endless body cannot hold a tracker slot. On any failure the partial file is
removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiohttp
from yarl import URL

from bot.videoapi.errors import (
    DownloadStalled,
    DownloadTooLarge,
    NotAVideo,
    UnsafeVideoUrl,
    VideoApiError,
    error_from_file_host,
    error_from_response,
    transport_error,
)

log = logging.getLogger(__name__)

# ISO BMFF (MP4, MOV, 3GP): the file is a sequence of boxes, size then type; every real file starts with one of
# these. QuickTime files written before `ftyp` existed start with moov/mdat or a wide/free/skip padding box.
MP4_BOX_TYPES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"})
# EBML header: every Matroska and WebM file starts with it.
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# Enough of the body to tell a container: a box header is 8 bytes.
HEAD_BYTES = 8
REDIRECTS = frozenset({301, 302, 303, 307, 308})
SCHEMES = frozenset({"http", "https"})
# Bytes gathered before each write: few thread hops for a fast body, little memory for any.
_WRITE_BATCH = 256 * 1024
# How much of an error body is read; enough for any JSON envelope, bounded for a misbehaving server.
MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True)
class DownloadLimits:
    """How long and how slowly a video may take.

    `deadline` covers one `download` call in all (connecting, redirects, the body, and any retries). After
    `grace` seconds the body must bring at least `min_rate` bytes a second, judged over each `window` seconds
    (0 turns the rate check off): a start-up pause is forgiven, a trickle is not.
    """

    deadline: float = 600.0
    min_rate: float = 64 * 1024
    grace: float = 15.0
    window: float = 15.0
    max_redirects: int = 5


Origin = tuple[str, str, int | None]


def origin_of(url: URL) -> Origin:
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def looks_like_video(head: bytes) -> bool:
    """Whether `head` (the first bytes of a body) starts an MP4/MOV or a Matroska/WebM file."""
    return head[4:8] in MP4_BOX_TYPES or head.startswith(EBML_MAGIC)


def checked_url(url: URL) -> URL:
    """`url` if it may be fetched: http(s) with a host. Raises `UnsafeVideoUrl` otherwise."""
    if url.scheme.lower() not in SCHEMES or not url.host:
        # The scheme alone is named: the URL itself may carry a signature and is not worth a log line.
        raise UnsafeVideoUrl(f"The video URL is not http(s) (scheme {url.scheme[:20]!r})")
    return url


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to `limit` bytes of the body; `content.read(n)` alone may stop at the first network chunk."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(8192):
        chunks.append(chunk)
        total += len(chunk)
        if total >= limit:
            break
    return b"".join(chunks)[:limit]


class VideoFetch:
    """One attempt at streaming a result URL to a file, with every check above. The client retries it."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_origin: Origin,
        api_headers: Mapping[str, str],
        scrub: Callable[[bytes], bytes],
        timeout: aiohttp.ClientTimeout,
        limits: DownloadLimits,
    ) -> None:
        self._session = session
        self._api_origin = api_origin
        self._api_headers = dict(api_headers)
        self._scrub = scrub
        self._timeout = timeout
        self._limits = limits

    async def __call__(self, url: URL, dest: Path, *, max_bytes: int | None, deadline_at: float) -> int:
        """Stream `url` to `dest` and return its size; `deadline_at` is on the event loop's clock."""
        part = dest.with_name(dest.name + ".part")
        budget = asyncio.timeout_at(deadline_at)
        try:
            async with budget:
                size = await self._follow(url, part, max_bytes)
            await asyncio.to_thread(part.replace, dest)
            return size
        except TimeoutError as exc:
            await asyncio.to_thread(part.unlink, missing_ok=True)
            if budget.expired():
                raise DownloadStalled(
                    f"The video did not arrive within the download deadline ({self._limits.deadline:g} s)"
                ) from None
            raise transport_error(exc) from exc
        except aiohttp.ClientError as exc:
            # Local file errors (OSError) are not the API's fault and pass through as they are.
            await asyncio.to_thread(part.unlink, missing_ok=True)
            raise transport_error(exc) from exc
        except BaseException:
            await asyncio.to_thread(part.unlink, missing_ok=True)
            raise

    async def _follow(self, url: URL, part: Path, max_bytes: int | None) -> int:
        for _ in range(self._limits.max_redirects + 1):
            url = checked_url(url)
            own = origin_of(url) == self._api_origin
            headers = self._api_headers if own else {}
            async with self._session.get(url, headers=headers, timeout=self._timeout, allow_redirects=False) as answer:
                location = answer.headers.get("Location")
                if answer.status in REDIRECTS and location:
                    url = _next_hop(url, location)
                    continue
                if not 200 <= answer.status < 300:
                    raise await self._refusal(answer, own)
                return await self._stream(answer, part, max_bytes)
        raise UnsafeVideoUrl(f"The video URL redirected more than {self._limits.max_redirects} times")

    async def _refusal(self, answer: aiohttp.ClientResponse, own: bool) -> VideoApiError:
        if own:
            body = await read_limited(answer, MAX_ERROR_BODY)
            return error_from_response(answer.status, self._scrub(body), answer.headers, task_lookup=True)
        # A CDN's 401/403 says nothing about our key, usually that a signed URL expired.
        return error_from_file_host(answer.status, answer.headers)

    async def _stream(self, answer: aiohttp.ClientResponse, part: Path, max_bytes: int | None) -> int:
        declared = answer.content_length
        if max_bytes is not None and declared is not None and declared > max_bytes:
            raise DownloadTooLarge(
                f"The video is too large ({declared} bytes, limit {max_bytes})", limit=max_bytes, size=declared
            )
        handle = await asyncio.to_thread(part.open, "wb")
        try:
            return await self._copy(answer, handle, max_bytes)
        finally:
            await asyncio.to_thread(handle.close)

    async def _copy(self, answer: aiohttp.ClientResponse, handle: BinaryIO, max_bytes: int | None) -> int:
        loop = asyncio.get_running_loop()
        limits = self._limits
        pending: list[bytes] = []
        pending_size = 0
        written = 0
        checked = False
        # The first check point only opens the first window: nothing is judged during the grace period.
        next_check = loop.time() + limits.grace
        judging = False
        in_window = 0
        while True:
            if limits.min_rate > 0 and loop.time() >= next_check:
                if judging and in_window < limits.min_rate * limits.window:
                    raise DownloadStalled(
                        f"The video came too slowly ({in_window / limits.window / 1024:.1f} KB/s, "
                        f"minimum {limits.min_rate / 1024:g} KB/s)"
                    )
                judging, in_window, next_check = True, 0, loop.time() + limits.window
            chunk = await self._next_chunk(answer, next_check if limits.min_rate > 0 else None)
            if chunk is None:
                continue  # a check point came before any byte did
            if chunk:
                in_window += len(chunk)
                pending.append(chunk)
                pending_size += len(chunk)
                if max_bytes is not None and written + pending_size > max_bytes:
                    raise DownloadTooLarge(
                        f"The video is too large (over {max_bytes} bytes)", limit=max_bytes, size=None
                    )
            if not checked and (pending_size >= HEAD_BYTES or not chunk):
                head = b"".join(pending)[:HEAD_BYTES]
                if not looks_like_video(head):
                    raise NotAVideo(
                        f"The video URL gave no video (Content-Type {answer.content_type[:60]!r}, "
                        f"starts {head[:8].hex()})"
                    )
                checked = True
            if pending and (pending_size >= _WRITE_BATCH or not chunk):
                await asyncio.to_thread(handle.write, b"".join(pending))
                written += pending_size
                pending, pending_size = [], 0
            if not chunk:
                return written

    @staticmethod
    async def _next_chunk(answer: aiohttp.ClientResponse, until: float | None) -> bytes | None:
        """The next bytes of the body (b"" at its end), or None when `until` (loop time) came first."""
        if until is None:
            return await answer.content.readany()
        wait = asyncio.timeout_at(until)
        try:
            async with wait:
                return await answer.content.readany()
        except TimeoutError:
            if wait.expired():
                return None
            raise  # aiohttp's own read timeout: the connection stalled outright


def _next_hop(url: URL, location: str) -> URL:
    try:
        return url.join(URL(location))
    except ValueError:
        raise UnsafeVideoUrl("The video URL redirected to something that is not a URL") from None
