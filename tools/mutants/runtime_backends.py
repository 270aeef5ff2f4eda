"""runtime/edgecl_runtime/backends: ONNX Runtime providers and options, int8cpu, TensorRT."""
from .base import RT, Mutant

PACKAGE = "runtime.backends"
BACKENDS, CLF = "tests/runtime/backends", "tests/runtime/predict/test_classifier.py"
ORT = "runtime/edgecl_runtime/backends/ort.py"
MUTANTS = [
    Mutant("tf32-left-on", "an FP32 model on CUDA runs with TF32 on (breaks the 1e-4 gate)",
           ORT, "if name == \"CUDAExecutionProvider\" and precision == \"fp32\":",
           "if name == \"CUDAExecutionProvider\" and precision == \"fp16\":", (CLF, BACKENDS, RT)),
    Mutant("cuda-silent-cpu", "asking for CUDA where it is absent silently runs on CPU",
           ORT, "        if head not in available:\n", "        if False:\n", (CLF, BACKENDS, RT)),
    Mutant("trt-int8cpu-unchecked", "--backend trt takes the int8cpu model (TensorRT cannot build its ops)",
           "runtime/edgecl_runtime/backends/__init__.py", "        check_trt_precision(precision)  # int8cpu",
           "        pass  # int8cpu", (BACKENDS, RT)),
    Mutant("refit-on-11-3", "TensorRT 11.3 builds get the REFIT flag despite its dropped-GEMM-bias defect",
           "runtime/edgecl_runtime/backends/trt/refit.py",
           "    why = NO_REFIT.get(version_tuple(trt_version)[:2])\n    if why:\n        return None, why\n", "",
           ("tests/runtime/backends/trt/test_refit.py", "tests/ota/test_update_refit.py")),
    Mutant("refit-shape-change", "an update that changes the graph or a weight's shape is refitted anyway",
           "runtime/edgecl_runtime/backends/trt/refit.py",
           "    return changed, _frame(a) == _frame(b)", "    return changed, True",
           ("tests/runtime/backends/trt/test_refit.py", "tests/ota/test_update_refit.py")),
    Mutant("refit-missing-not-supplied", "weights the refitter asks for besides the changed ones are not supplied",
           "runtime/edgecl_runtime/backends/trt/refit.py",
           "    extra = [n for n in refitter.get_missing_weights() if n not in changed]",
           "    extra = []", ("tests/runtime/backends/trt/test_refit.py", "tests/ota/test_update_refit.py")),
    Mutant("refit-head-unsliced", "a refittable engine returns its padded head's logits, not the bundle's classes",
           "runtime/edgecl_runtime/backends/trt/engine.py",
           "        return np.concatenate(parts, axis=0)[:, :self.classes]",
           "        return np.concatenate(parts, axis=0)", ("tests/ota/test_update_refit.py",)),
]
