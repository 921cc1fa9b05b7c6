"""A request's reads of segments: the visible catalog and each segment's member ids, read once
per request and shared by every field that asks (``Segment.members``, ``memberCount``,
``Contact.segments``)."""

from __future__ import annotations

import asyncio
import bisect

from bson import ObjectId
from strawberry.types import Info

from ...services.segments import Catalog, SegmentRecord, Segments, SegmentUnusable
from ...web.answer_cache import AnswerCache


def segments_service(info: Info) -> Segments:
    return info.context.services.segments


async def request_catalog(info: Info) -> Catalog:
    """The segments visible to this request (read once per request: fields resolved at the
    same time wait for the one read)."""
    read = info.context.extras.get("segment_catalog")
    if read is None:
        read = info.context.extras["segment_catalog"] = asyncio.ensure_future(
            segments_service(info).catalog()
        )
    catalog: Catalog = await read
    return catalog


async def member_ids(info: Info, record: SegmentRecord) -> list[ObjectId]:
    """The segment's member ids, computed once per request (members, memberCount and
    Contact.segments share, and so do aliases resolved at the same time)."""
    catalog = await request_catalog(info)
    cache = info.context.extras.get("segment_members")
    if cache is None:
        cache = info.context.extras["segment_members"] = AnswerCache(ttl=None)

    async def compute() -> list[ObjectId]:
        return await segments_service(info).members(record, catalog)

    found: list[ObjectId] = await cache.get((catalog.version, record.name), compute)
    return found


async def contact_segments(info: Info, contact_id: ObjectId) -> list[str]:
    """The names of the published segments the contact is in (a segment that cannot be
    evaluated is left out: its own fields say why)."""
    catalog = await request_catalog(info)
    out = []
    for name, record in catalog.by_name.items():
        if record.status != "published" or record.problems:
            continue
        try:
            ids = await member_ids(info, record)
        except SegmentUnusable:
            continue
        at = bisect.bisect_left(ids, contact_id)
        if at < len(ids) and ids[at] == contact_id:
            out.append(name)
    return out
