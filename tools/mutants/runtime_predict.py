"""runtime/edgecl_runtime/predict: the Classifier API (softmax, top-k, partial results), video."""
from .base import Mutant

PACKAGE = "runtime.predict"
PREDICT = "tests/runtime/predict"
CLF = "runtime/edgecl_runtime/predict/classifier.py"
MUTANTS = [
    Mutant("topk-worst-first", "top-k lists the least probable classes first",
           CLF, "np.argsort(-probs, kind=\"stable\")", "np.argsort(probs, kind=\"stable\")", (PREDICT,)),
    Mutant("softmax-unstable", "softmax without subtracting the row maximum (overflow on large logits)",
           CLF, "    z = z - z.max(axis=-1, keepdims=True)\n", "", (PREDICT,)),
    Mutant("classify-slots-shift", "after a bad item, predictions land on the wrong input's record",
           CLF, "slots.append(len(records))", "slots.append(len(arrays) - 1)", (PREDICT,)),
    Mutant("chunks-drop-tail", "the last partial batch chunk is never run",
           CLF, "for i in range(0, len(batch), self.batch_size)]",
           "for i in range(0, len(batch) - len(batch) % self.batch_size, self.batch_size)]", (PREDICT,)),
    Mutant("classes-count-unchecked", "a bundle whose logits do not match its class list is accepted",
           CLF, "if isinstance(k, int) and k > 0 and k != len(self.classes):",
           "if False:", ("tests/runtime/predict/test_class_count.py", PREDICT)),
    Mutant("roofline-attention-int8-as-float", "an integer attention product counted at the float peak",
           "runtime/edgecl_runtime/predict/roofline.py",
           'split["int8" if op.removesuffix(" (attention)") in INT8_MATRIX_OPS else "float"]',
           'split["int8" if op in INT8_MATRIX_OPS else "float"]', (PREDICT,)),
    Mutant("roofline-missing-peak-skipped", "FLOPs without a measured peak left out of the roofline",
           "runtime/edgecl_runtime/predict/roofline.py",
           "            if not peak or not np.isfinite(peak) or peak <= 0:\n                return None",
           "            if not peak or not np.isfinite(peak) or peak <= 0:\n                continue", (PREDICT,)),
    Mutant("bench-float-peak-from-int8-probe", "an INT8 file's float FLOPs set against the integer probe",
           "runtime/edgecl_runtime/cli/_serving.py",
           'float_peak = gemm_peak("fp32", threads, chunk_s=chunk) if integer',
           'float_peak = gemm_peak(precision, threads, chunk_s=chunk) if integer', (PREDICT,)),
]
