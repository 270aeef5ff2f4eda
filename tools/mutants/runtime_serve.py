"""runtime/edgecl_runtime/serve: the stdin/stdout server, allowed paths, hot swap, limits."""
from .base import RT, Mutant

PACKAGE = "runtime.serve"
SERVE = "tests/runtime/serve"
MUTANTS = [
    Mutant("serve-no-sha", "serve loads bundles without checking sha256",
           "runtime/edgecl_runtime/serve/server.py",
           "load_bundle(path, check_hashes=True)", "load_bundle(path, check_hashes=False)",
           ("tests/runtime/serve/test_server.py", SERVE, RT)),
    Mutant("paths-prefix", "allowed-root containment by string prefix: allowed-evil/ passes for allowed/",
           "runtime/edgecl_runtime/serve/paths.py",
           "return any(real == root or root in real.parents for root in self.roots)",
           "return any(str(real).startswith(str(root)) for root in self.roots)",
           ("tests/runtime/serve/test_paths.py", SERVE)),
]
