"""The training side of signed bundles: which private key signs a run's bundles, checked early.

The key itself is never stored: run.json keeps the absolute path of the PEM file (config
``sign_key``), so every bundle a later ``learn`` writes is signed with it; the file is loaded
(and so checked) before any learning or export work, so a missing or wrong key costs nothing.
Signing uses :mod:`edgecl_runtime.bundle.signing` (Ed25519 over the manifest's canonical bytes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgecl_runtime.atomic_io import write_json_atomic
from edgecl_runtime.errors import BundleError
from edgecl_runtime.bundle.signing import load_private_key

from edgecl.errors import ConfigError
from edgecl.run.run import Run
from edgecl.run.store import RUN_FILE


def key_path(path: str | Path) -> str:
    """The absolute path run.json stores for ``path`` (so a later call from elsewhere finds it)."""
    return str(Path(path).expanduser().resolve())


def check_sign_key(path: str | Path) -> Any:
    """The Ed25519 private key at ``path``; a one-line ConfigError when it is missing or not one."""
    try:
        return load_private_key(Path(path).expanduser())
    except BundleError as exc:
        raise ConfigError(f"--sign-key: {exc}") from None
    except OSError as exc:  # a folder, no permission
        raise ConfigError(f"--sign-key: cannot read {path} ({exc.strerror or exc}); "
                          "pass the .key file `edgecl keygen` wrote") from None


def new_sign_key(run: Run, given: str | Path | None) -> Run:
    """``run`` with ``given`` as its signing key: checked, then stored in run.json (key rotation).

    The same key again (or none given) changes nothing; only the path is written, never the key.
    """
    if given is None or key_path(given) == run.config.sign_key:
        return run
    check_sign_key(given)
    return new_stored_option(run, "sign_key", key_path(given))


def new_stored_option(run: Run, key: str, value: Any) -> Run:
    """``run`` with the stored execution option ``key`` (kept in run.json, not part of the run's
    identity, e.g. ``updates``) set to ``value``; None or the same value changes nothing."""
    if value is None or getattr(run.config, key) == value:
        return run
    data = run.to_dict()  # the run as parsed once this session, not run.json read again
    data["config"][key] = value
    write_json_atomic(run.store.root / RUN_FILE, data)
    return Run.from_dict(run.store, data)

