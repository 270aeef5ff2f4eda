"""The one spelling of export formats (``learn`` and ``export``) and the rule that ``export`` keeps
what a run ships.

``--formats`` takes the contract's request words (fp16, int8, int8cpu, trt; FP32 is always
exported), comma-separated. Bare words name a whole set (``fp16,int8``; ``none``: FP32 only);
``+word`` adds to and ``-word`` removes from a base set. The base is the run's own formats: for a
new run the defaults (or the ``--config`` file's ``export_formats``), for ``export`` the run's
``export_formats`` together with every format the bundles it touches already ship.

Why a keep rule: a device may run any file of a shipped bundle, so a re-export, an update, a
Triton publication or a new signature must never remove one behind the user's back. Removing a
shipped format takes naming it (``-int8cpu``); anything else that would drop one is refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from edgecl_runtime.contract import FORMATS, MANIFEST_NAME, REQUESTS

from edgecl.errors import OptionError, UsageError

_BY_NAME = {f.name: f.request for f in FORMATS if f.request}  # manifest key -> request word
EXAMPLE = "e.g. --formats fp16,int8,int8cpu or --formats +trt,-int8cpu"


def canonical(words: Iterable[str]) -> tuple[str, ...]:
    """``words`` in the contract's order, each once."""
    chosen = set(words)
    return tuple(r for r in REQUESTS if r in chosen)


@dataclass(frozen=True)
class FormatChoice:
    """A checked ``--formats`` value: ``exact`` the bare words (None: none given, the base stays),
    ``add`` the ``+`` words, ``drop`` the ``-`` words; ``text`` how the user wrote it."""

    exact: frozenset[str] | None = None
    add: frozenset[str] = frozenset()
    drop: frozenset[str] = frozenset()
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> "FormatChoice":
        """One OptionError line (exit 2) for an unknown word or a word both kept and removed."""
        exact: set[str] | None = None
        add: set[str] = set()
        drop: set[str] = set()
        for raw in str(text).split(","):
            word = raw.strip()
            if not word:
                continue
            sign, name = (word[0], word[1:].strip()) if word[0] in "+-" else ("", word)
            if name == "none" and not sign:
                exact = exact or set()
                continue
            if name not in REQUESTS:
                raise OptionError(f"--formats: unknown format {name!r}: use {', '.join(REQUESTS)} "
                                  f"(FP32 is always exported), {EXAMPLE}")
            if sign == "+":
                add.add(name)
            elif sign == "-":
                drop.add(name)
            else:
                exact = (exact or set()) | {name}
        both = sorted((add | (exact or set())) & drop)
        if both:
            raise OptionError(f"--formats {text!r} both keeps and removes {', '.join(both)}: name each format once")
        return cls(None if exact is None else frozenset(exact), frozenset(add), frozenset(drop), str(text))

    @classmethod
    def of(cls, value: Any) -> "FormatChoice | None":
        """A choice from what a caller may give: None (no choice), a choice, ``"fp16,+trt"``, or a
        list/set of words (``export_formats: [fp16, int8]``, ``{"fp16"}``)."""
        if value is None or isinstance(value, FormatChoice):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
            words = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
            choice = cls.parse(",".join(words))
            return choice if choice.exact is not None or choice.add or choice.drop else cls(frozenset(), text="none")
        raise OptionError(f"--formats must be text or a list of format words, got {value!r}: {EXAMPLE}")

    def apply(self, base: Iterable[str]) -> tuple[str, ...]:
        """The formats this choice makes of ``base`` (contract order)."""
        start = set(base) if self.exact is None else set(self.exact)
        return canonical((start | self.add) - self.drop)

    @property
    def named(self) -> frozenset[str]:
        """The formats the user asked for by name (bare or ``+``)."""
        return (self.exact or frozenset()) | self.add


def shipped_formats(bundle: Path) -> frozenset[str]:
    """Request words of the formats ``bundle`` ships (a file in its manifest); empty without one."""
    try:
        manifest = json.loads((bundle / MANIFEST_NAME).read_text())
        formats = manifest["formats"]
        return frozenset(_BY_NAME[n] for n, e in formats.items() if n in _BY_NAME and (e or {}).get("file"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return frozenset()


@dataclass(frozen=True)
class FormatPlan:
    """What one export writes: ``formats`` (besides FP32), ``kept`` those of them nobody named (the
    run's own or already shipped), ``dropped`` shipped formats removed because the user named them."""

    formats: tuple[str, ...]
    kept: tuple[str, ...]
    dropped: tuple[str, ...]

    def line(self) -> str:
        """One line for the terminal: what is exported, what was kept, what was removed."""
        text = "formats: fp32" + "".join(f", {f}" for f in self.formats)
        text += f" (kept from the run and its shipped bundles: {', '.join(self.kept) or 'none'}"
        return text + (f"; removed as asked: {', '.join(self.dropped)})" if self.dropped else ")")


def plan_formats(run_formats: Iterable[str], shipped: Iterable[str], choice: FormatChoice | None,
                 where: str, unbuildable: Iterable[str] = ()) -> FormatPlan:
    """The formats of an export: the choice applied to the run's formats plus the ``shipped`` ones
    (no choice: all of them). A shipped format the result lacks is refused (UsageError, exit 2)
    unless the choice removes it by name; ``where`` names the shipped bundle(s) in that message.
    A shipped format this machine cannot build (``unbuildable``: a TensorRT plan without TensorRT)
    is refused too: re-exporting would replace the shipped file with a failure record."""
    shipped = frozenset(shipped)
    _refuse_unbuildable(shipped, frozenset(unbuildable), choice, where)
    base = canonical(set(run_formats) | shipped)
    wanted = choice.apply(base) if choice is not None else base
    lost = canonical(shipped - set(wanted))
    unexplained = [f for f in lost if choice is None or f not in choice.drop]
    if unexplained:
        keep = ",".join(canonical(set(wanted) | set(unexplained)))
        raise UsageError(f"--formats {choice.text if choice else ''} would remove {', '.join(unexplained)} from "
                         f"{where}, which a device may run: keep {'it' if len(unexplained) == 1 else 'them'} "
                         f"(--formats {keep}) or remove by name (--formats "
                         f"{','.join('-' + f for f in unexplained)})")
    named = choice.named if choice is not None else frozenset()
    return FormatPlan(wanted, tuple(f for f in wanted if f not in named and f in base), lost)


def _refuse_unbuildable(shipped: frozenset[str], unbuildable: frozenset[str], choice: FormatChoice | None,
                       where: str) -> None:
    """UsageError when a shipped format would be rebuilt on a machine that cannot build it."""
    stuck = canonical(shipped & unbuildable - (choice.drop if choice is not None else frozenset()))
    if stuck:
        raise UsageError(f"{where} ships {', '.join(stuck)}, which this machine cannot build (TensorRT is not "
                         f"installed): re-export on a machine that has it, or remove it by name (--formats "
                         f"{','.join('-' + f for f in stuck)})")


__all__ = ["FormatChoice", "FormatPlan", "plan_formats", "shipped_formats", "canonical"]
