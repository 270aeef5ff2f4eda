"""runtime/edgecl_runtime/bundle: the gate, reading and checking bundles, signatures, verify."""
from .base import EX, GATE, RT, Mutant

PACKAGE = "runtime.bundle"
BUNDLE = "tests/runtime/bundle"
SIGNING = "tests/runtime/bundle/test_signing_contract.py"
MUTANTS = [
    Mutant("gate-l1-ge", "gate level 1 fails at max|dlogit| == threshold (> became >=)",
           "runtime/edgecl_runtime/bundle/gate.py",
           'elif not t["max_abs_diff"] <= thr["max_abs_diff"]:',
           'elif not t["max_abs_diff"] < thr["max_abs_diff"]:', (GATE, RT, EX)),
    Mutant("gate-l2-le", "gate level 2 fails at agreement == threshold (< became <=)",
           "runtime/edgecl_runtime/bundle/gate.py",
           'if not agree >= thr["top1_agreement"]:', 'if not agree > thr["top1_agreement"]:',
           (GATE, RT, EX)),
    Mutant("gate-l3-sign", "gate level 3 ignores accuracy drops (abs() dropped)",
           "runtime/edgecl_runtime/bundle/gate.py",
           'if not abs(delta) <= thr["accuracy_delta_pp"]:', 'if not delta <= thr["accuracy_delta_pp"]:',
           (GATE, RT, EX)),
    Mutant("bundle-no-sha", "bundle check skips the sha256 comparison (size only)",
           "runtime/edgecl_runtime/bundle/files.py",
           'if hashlib.sha256(data).hexdigest() != str(entry.get("sha256", "")).lower():',
           'if False and hashlib.sha256(data).hexdigest() != str(entry.get("sha256", "")).lower():',
           ("tests/runtime/bundle/test_read.py", RT, EX)),
    Mutant("trust-first-key", "the trust-folder loop stops after the first key file (rotation breaks)",
           "runtime/edgecl_runtime/bundle/signing.py",
           "        keys.append(key)\n", "        keys.append(key)\n        break\n",
           (SIGNING, BUNDLE, RT)),
    Mutant("golden-first-rows", "the device gate runs every golden row but compares only the first 8",
           "runtime/edgecl_runtime/bundle/verify.py",
           'return evaluate_gate(precision, golden["logits"], out, thresholds=thr)',
           'return evaluate_gate(precision, golden["logits"][:8], out[:8], thresholds=thr)',
           ("tests/runtime/bundle/test_verify_rows.py", BUNDLE, RT)),
    Mutant("bundle-outside-listed", "a manifest entry that points outside the bundle is hashed, not refused",
           'runtime/edgecl_runtime/bundle/files.py',
           '    if not name or pure.is_absolute() or ".." in pure.parts or "\\0" in name:\n'
           '        raise FileProblem(f"{name} points outside the bundle")\n    path = root / name\n'
           '    if root.resolve() not in path.resolve().parents:\n',
           '    path = root / name\n    if False:\n',
           ("tests/runtime/bundle/test_read.py", BUNDLE, RT)),
    Mutant("bundle-newer-accepted", "a manifest newer than the runtime is read anyway",
           "runtime/edgecl_runtime/bundle/read.py",
           "if version > MANIFEST_VERSION:", "if version > MANIFEST_VERSION + 1:",
           ("tests/runtime/bundle/test_read.py", BUNDLE, RT)),
]
