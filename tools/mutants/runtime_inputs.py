"""runtime/edgecl_runtime/inputs: opening images and the shared evaluation preprocessing."""
from .base import Mutant

PACKAGE = "runtime.inputs"
INPUTS, PRE = "tests/runtime/inputs", "tests/data/test_data_preprocess.py"
CROP = "tests/runtime/inputs/test_crop_contract.py"
MUTANTS = [
    Mutant("crop-top-zero", "centre crop takes the top rows instead of the centre",
           "runtime/edgecl_runtime/inputs/preprocess.py",
           "top = int(round((h - crop) / 2.0))", "top = 0", (CROP, INPUTS, PRE)),
    Mutant("crop-floor-offset", "centre-crop offset floor((size - crop) / 2), not round() as torchvision",
           "runtime/edgecl_runtime/inputs/preprocess.py",
           "left = int(round((w - crop) / 2.0))", "left = (w - crop) // 2", (CROP, INPUTS, PRE)),
    Mutant("wide-truncates", "16-bit images mapped to 8 bit by truncation instead of rounding",
           "runtime/edgecl_runtime/inputs/preprocess.py",
           "((v * 255 + 32767) // 65535)", "((v * 255) // 65535)", (PRE, INPUTS)),
    Mutant("alpha-on-white", "transparent pixels composited on white instead of black",
           "runtime/edgecl_runtime/inputs/preprocess.py",
           "black = Image.new(\"RGBA\", rgba.size, (0, 0, 0, 255))",
           "black = Image.new(\"RGBA\", rgba.size, (255, 255, 255, 255))", (PRE, INPUTS)),
    Mutant("fast-path-rgb-to-l", "vectorised path takes RGB batches for an L model (3 channels out)",
           "runtime/edgecl_runtime/inputs/preprocess.py",
           "(src_color == spec[\"color\"] or src_color == \"L\")", "(True)", (PRE, INPUTS)),
    Mutant("hidden-files-expanded", "folder expansion includes hidden files (.DS_Store, ._x.png)",
           "runtime/edgecl_runtime/inputs/images.py",
           "and not any(part.startswith(\".\") for part in f.relative_to(p).parts)", "",
           (INPUTS, PRE)),
]
