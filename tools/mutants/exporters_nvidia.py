"""exporters/nvidia: DeepStream nvinfer configs, Triton repository, Jetson files."""
from .base import Mutant

PACKAGE = "exporters.nvidia"
NV = "tests/exporters/nvidia"
DS, TRITON = "exporters/nvidia/deepstream.py", "exporters/nvidia/triton.py"
MUTANTS = [
    Mutant("ds-bgr", "nvinfer told the network takes BGR (channels swapped on every frame)",
           DS, "COLOR_FORMAT = {\"RGB\": 0, \"L\": 2}", "COLOR_FORMAT = {\"RGB\": 1, \"L\": 2}", (NV,)),
    Mutant("ds-no-scale", "nvinfer fed 0..255 pixels (net-scale-factor 1)",
           DS, "f\"net-scale-factor={1.0 / 255.0!r}\"", "f\"net-scale-factor={1.0!r}\"", (NV,)),
    Mutant("triton-unverified", "publish to Triton without checking the bundle's sha256",
           TRITON, "bundle = load_bundle(bundle_dir)", "bundle = load_bundle(bundle_dir, check_hashes=False)", (NV,)),
    Mutant("triton-batch-in-dims", "Triton dims keep the batch axis (max_batch_size doubles it)",
           TRITON, "\"dims\": dims[1:]}", "\"dims\": dims}", (NV,)),
]
