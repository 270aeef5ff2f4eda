"""The benchmark scripts whose numbers RESULTS.md quotes: the kernel-by-kernel accounting."""
from .base import Mutant

PACKAGE = "benchmarks"
KERNELS, KTEST = "benchmarks/bench_kernels.py", ("tests/benchmarks/test_bench_kernels.py",)
MUTANTS = [
    Mutant("kernels-every-copy-an-output", "every copy's outputs leave the session (their conversion is timed as the kernel)",
           KERNELS, "outputs = [onnx.ValueInfoProto(name=o) for o in nodes[-1].output if o]",
           "outputs = [onnx.ValueInfoProto(name=o) for c in nodes for o in c.output if o]", KTEST),
    Mutant("kernels-attention-by-first-operand", "attention told from weight GEMMs by the first operand",
           KERNELS, "node.input[1] not in inits", "node.input[0] not in inits", KTEST),
    Mutant("kernels-one-peak", "every GEMM floor taken at the float peak, int8 ones included",
           KERNELS, 'peaks["int8" if base in INT8_GEMMS else "fp32"]', 'peaks["fp32"]', KTEST),
    Mutant("kernels-copies-share-outputs", "the copies of a kernel write the same output names",
           KERNELS, 'f"{o}__{c}" if o else ""', 'f"{o}__0" if o else ""', KTEST),
    Mutant("kernels-attention-in-roofline-dropped", "the roofline leaves attention's matrix kernels out",
           KERNELS, "if fl and op.split()[0] in MATRIX)", "if fl and kind_of(op).startswith(\"GEMM\"))", KTEST),
]
