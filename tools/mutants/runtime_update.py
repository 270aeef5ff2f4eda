"""runtime/edgecl_runtime/update: the qkv rebuild maths and applying an over-the-air update."""
from .base import Mutant

PACKAGE = "runtime.update"
UPDATE, OTA = "tests/runtime/update", "tests/ota"
MATH, PROOF = "tests/runtime/update/test_math.py", "tests/ota/test_update_proof.py"
MUTANTS = [
    Mutant("rank1-reversed", "rank-1 terms added in reverse index order",
           "runtime/edgecl_runtime/update/math.py",
           "for j in range(down64.shape[0]):", "for j in reversed(range(down64.shape[0])):",
           (MATH, UPDATE)),
    Mutant("acc-float32", "the accumulator is float32, not float64",
           "runtime/edgecl_runtime/update/math.py",
           "acc = w.astype(np.float64)", "acc = w.astype(np.float32)", (MATH, UPDATE)),
    Mutant("products-float32", "rank-1 products rounded to float32 before the float64 addition",
           "runtime/edgecl_runtime/update/math.py",
           "acc += up64[:, j:j + 1] * down64[j:j + 1, :]",
           "acc += (up64[:, j:j + 1] * down64[j:j + 1, :]).astype(np.float32)", (MATH, UPDATE)),
    Mutant("proof-after-publish", "the proof runs after the staging folder is renamed into place",
           "runtime/edgecl_runtime/update/apply.py",
           "        gates = prove(stage, update, *proof)\n        before_publish(target)\n",
           "        before_publish(target)\n    gates = prove(target, update, *proof)\n",
           (PROOF, OTA)),
    Mutant("proof-no-sha", "the final sha256 check of the rebuilt files is dropped",
           "runtime/edgecl_runtime/update/apply.py",
           "    check_files(stage, manifest)\n", "", (PROOF, OTA)),
    Mutant("update-escapes-folder", "an update.json naming ../ files is followed outside its folders",
           "runtime/edgecl_runtime/update/format.py",
           'any(p in ("", ".", "..") for p in parts)', 'any(p in ("", ".") for p in parts)',
           ("tests/ota/test_update_refusals.py", OTA, UPDATE)),
    Mutant("update-any-base", "an update is applied to a base bundle it was not made from",
           "runtime/edgecl_runtime/update/apply.py",
           "        check_base(base, MANIFEST_NAME, update[\"base\"])\n", "", (OTA, UPDATE)),
    Mutant("update-newer-accepted", "an update of a newer format than the runtime is applied anyway",
           "runtime/edgecl_runtime/update/apply.py",
           "    if update[\"update_version\"] > UPDATE_VERSION:\n", "    if False:\n",
           ("tests/ota/test_update_refusals.py", OTA, UPDATE)),
]
