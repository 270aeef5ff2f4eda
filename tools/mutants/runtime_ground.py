"""The runtime's ground floor: contract (thresholds), atomic_io, strict_json, errors."""
from .base import EX, GATE, RT, Mutant

PACKAGE = "runtime.ground"
ATOMIC = "tests/runtime/test_atomic_io.py"
MUTANTS = [
    Mutant("fp32-loose", "FP32 top-1 / accuracy thresholds loosened to 0.95 and 5 pp",
           "runtime/edgecl_runtime/contract.py",
           '"fp32": {"max_abs_diff": 1e-4, "top1_agreement": 1.0, "accuracy_delta_pp": 0.1}',
           '"fp32": {"max_abs_diff": 1e-4, "top1_agreement": 0.95, "accuracy_delta_pp": 5.0}',
           (GATE, RT, EX)),
    Mutant("int8-agree", "INT8 top-1 agreement threshold loosened from 0.99 to 0.9",
           "runtime/edgecl_runtime/contract.py",
           '"int8": {"max_abs_diff": 1.0, "top1_agreement": 0.99,',
           '"int8": {"max_abs_diff": 1.0, "top1_agreement": 0.9,',
           (GATE, "tests/exporters/quantize/test_int8.py", RT, EX)),
    Mutant("atomic-in-place", "write_bytes_atomic writes the final name in place (no temporary file)",
           "runtime/edgecl_runtime/atomic_io.py",
           "    with atomic_path(path, mode) as tmp:\n        tmp.write_bytes(data)\n",
           "    Path(path).parent.mkdir(parents=True, exist_ok=True)\n    Path(path).write_bytes(data)\n",
           (ATOMIC, RT)),
    Mutant("atomic-no-fsync", "atomic_path renames without fsync (a power cut can leave an empty file)",
           "runtime/edgecl_runtime/atomic_io.py",
           "            os.fsync(fh.fileno())\n", "            pass\n",
           (ATOMIC, RT)),
    Mutant("json-overflow-accepted", "strict JSON lets 1e999 through as inf (parse_float dropped)",
           "runtime/edgecl_runtime/strict_json.py",
           "json.loads(text, parse_constant=_constant, parse_float=_float, object_pairs_hook=_object)",
           "json.loads(text, parse_constant=_constant, object_pairs_hook=_object)", ("tests/runtime/test_strict_json.py", RT)),
    Mutant("json-nan-accepted", "strict JSON accepts NaN/Infinity literals (parse_constant dropped)",
           "runtime/edgecl_runtime/strict_json.py",
           "json.loads(text, parse_constant=_constant, parse_float=_float, object_pairs_hook=_object)",
           "json.loads(text, parse_float=_float, object_pairs_hook=_object)", ("tests/runtime/test_strict_json.py", RT)),
    Mutant("atomic-temp-kept", "a failed atomic write leaves its temporary file behind",
           "runtime/edgecl_runtime/atomic_io.py",
           "    finally:\n        tmp.unlink(missing_ok=True)\n",
           "    except BaseException:\n        raise\n", (ATOMIC, RT)),
]
