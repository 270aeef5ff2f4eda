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
]
