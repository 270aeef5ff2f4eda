"""exporters' top-level modules: bundle, manifest, formats, request, update_package."""
from .base import EX, Mutant

PACKAGE = "exporters.top"
BUNDLE = "tests/exporters/test_bundle.py"
MUTANTS = [
    Mutant("gate-failed-exit-0", "a requested format that failed its gate does not fail the export",
           "exporters/manifest.py", "entry.get(\"status\") != \"passed\"]",
           "entry.get(\"status\") == \"export_failed\"]", (BUNDLE, EX)),
    Mutant("manifest-top-level-only", "files in sub-folders (deepstream/, polygraphy/) are not hashed",
           "exporters/manifest.py", "for path in sorted(root.rglob(\"*\")):", "for path in sorted(root.glob(\"*\")):",
           (BUNDLE, EX)),
    Mutant("update-golden-old-rows", "the update ships golden rows of the base task too",
           "exporters/update_package.py", "np.asarray(target_golden[\"task_ids\"]) > base_task)",
           "np.asarray(target_golden[\"task_ids\"]) >= base_task)", ("tests/ota",)),
]
