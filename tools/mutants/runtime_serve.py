"""runtime/edgecl_runtime/serve: the stdin/stdout server, allowed paths, hot swap, limits."""
from .base import RT, Mutant

PACKAGE = "runtime.serve"
SERVE = "tests/runtime/serve"
MUTANTS = [
    Mutant("serve-no-sha", "serve loads bundles without checking sha256",
           "runtime/edgecl_runtime/serve/server.py",
           "load_bundle(path, check_hashes=True)", "load_bundle(path, check_hashes=False)",
           ("tests/runtime/serve/test_tampered_bundle.py", "tests/runtime/serve/test_server.py", SERVE)),
    Mutant("paths-prefix", "allowed-root containment by string prefix: allowed-evil/ passes for allowed/",
           "runtime/edgecl_runtime/serve/paths.py",
           "return any(real == root or root in real.parents for root in self.roots)",
           "return any(str(real).startswith(str(root)) for root in self.roots)",
           ("tests/runtime/serve/test_paths.py", SERVE)),
    Mutant("serve-untrusted-bundles", "serve loads bundles without the operator's trusted keys",
           "runtime/edgecl_runtime/serve/server.py",
           "functools.partial(load_bundle, trusted=trusted,", "functools.partial(load_bundle, trusted=None,",
           (SERVE, RT)),
    Mutant("serve-untrusted-updates", "serve applies over-the-air updates without the trusted keys",
           "runtime/edgecl_runtime/serve/updates.py",
           "apply_update(base, folder, out, trusted=self.trusted, backend=self.backend)",
           "apply_update(base, folder, out, trusted=None, backend=self.backend)",
           ("tests/ota/test_serve_update_trust.py", "tests/ota/test_serve_update.py")),
    Mutant("serve-line-unbounded", "serve reads a request line without the byte cap",
           "runtime/edgecl_runtime/serve/lines.py",
           "chunk = _as_bytes(stream.readline(max_bytes + 1))", "chunk = _as_bytes(stream.readline())",
           (SERVE, RT)),
    Mutant("serve-nan-request", "serve accepts NaN/Infinity in a request",
           "runtime/edgecl_runtime/serve/lines.py",
           "return loads_finite(text)", "return json.loads(text)",
           ("tests/runtime/serve/test_request_json.py", SERVE)),
]
