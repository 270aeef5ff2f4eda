"""Package discovery for edgecl's three source roots.

``pyproject.toml`` holds the metadata; this file only maps the roots, because setuptools'
declarative ``find`` cannot mount a folder under another name: ``exporters/`` installs as
``edgecl.exporters`` and ``runtime/edgecl_runtime/`` as ``edgecl_runtime``.  Every sub-package
below a root is found here, so a new package needs no edit anywhere.
"""
from setuptools import find_packages, setup

ROOTS = {"edgecl": "edgecl", "edgecl.exporters": "exporters", "edgecl_runtime": "runtime/edgecl_runtime"}


def _packages() -> list[str]:
    found: list[str] = []
    for name, folder in ROOTS.items():
        found.append(name)
        found.extend(f"{name}.{sub}" for sub in find_packages(folder))
    return sorted(set(found))


setup(packages=_packages(), package_dir=ROOTS)
