"""What ``serve`` may swap to once it serves a bundle: the same run, the same key, strictly newer.

Why: a signature says who made a manifest, not which run or which version it belongs to. A key
that signs several runs (or a second bundle of the same task) would otherwise let anyone who can
write to MODELS_DIR move the server to another run's classes, or sideways to another bundle of the
same task, or back to an older one re-numbered. The first bundle served fixes the pin: its
manifest ``run`` and the fingerprint of the trusted key that signed it (None without ``--trust``).
A candidate must match both, have a strictly higher task number and a strictly later ``created``.
"""
from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Optional

from ..errors import BundleError


def created_time(manifest: Any) -> float:
    """The manifest's ``created`` as POSIX seconds (UTC when no zone is given); NaN when unreadable."""
    text = manifest.get("created") if isinstance(manifest, dict) else None
    if not isinstance(text, str):
        return math.nan
    try:
        when = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return math.nan
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return when.timestamp()


def check_pin(bundle: Any, served: Any, signer: Optional[str]) -> float:
    """The candidate's creation time; one-line BundleError when ``bundle`` may not replace ``served``.

    ``served`` None (nothing served yet) accepts any bundle: it becomes the pin.
    """
    created = created_time(bundle.manifest)
    if served is None:
        return created
    pinned = served.classifier.bundle
    if bundle.run != pinned.run:
        raise BundleError(f"it belongs to run {bundle.run!r}, serve is pinned to run {pinned.run!r} (the run it "
                          "started with); restart serve to change runs")
    if bundle.signer != signer:
        raise BundleError("it is signed by another trusted key than the bundle serve started with (the key is "
                          "pinned); restart serve to rotate keys")
    if not bundle.task > served.task:
        raise BundleError(f"its task {bundle.task} is not newer than the served task {served.task}")
    if not created > served.created:  # NaN-safe: an unreadable date is never newer
        raise BundleError(f"it was created ({bundle.manifest.get('created')!r}) no later than the served "
                          "bundle; refused (an old bundle re-numbered, or no valid 'created')")
    return created


def pin_words(bundle: Any) -> str:
    """The log line's tail naming the pin the first bundle sets."""
    key = f", key {bundle.signer[:16]}" if bundle.signer else ", no --trust: any key"
    return f"; pinned to run {bundle.run!r}{key}"
