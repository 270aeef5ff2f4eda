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
    Mutant("fp16-input-float32", "an FP16 model is fed float32 input",
           ORT, "\"tensor(float16)\": np.float16", "\"tensor(float16)\": np.float32", (CLF, BACKENDS, RT)),
]
