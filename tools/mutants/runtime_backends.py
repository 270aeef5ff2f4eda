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
]
