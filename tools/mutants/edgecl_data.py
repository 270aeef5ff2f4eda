"""edgecl/data: loaders, sources, preprocessing, task splits."""
from .base import DATA, Mutant

PACKAGE = "edgecl.data"
LOADER = "tests/data/test_data_loader.py"
MUTANTS = [
    Mutant("shuffle-no-seed", "loader shuffle ignores the seed",
           "edgecl/data/loader.py",
           "make_generator(seed, epoch, 0)", "make_generator(0, epoch, 0)", (LOADER, DATA)),
    Mutant("shuffle-no-epoch", "loader shuffle ignores the epoch (same order every epoch)",
           "edgecl/data/loader.py",
           "make_generator(seed, epoch, 0)", "make_generator(seed, 0, 0)", (LOADER, DATA)),
]
