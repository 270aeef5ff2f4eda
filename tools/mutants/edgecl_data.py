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
    Mutant("batches-floor", "the last, shorter batch is dropped even when drop_last is off (eval skips images)",
           "edgecl/data/loader.py", "n // batch_size if drop_last else -(-n // batch_size)",
           "n // batch_size if drop_last else n // batch_size", (LOADER, DATA)),
    Mutant("ranks-same-share", "every torchrun rank trains on rank 0's share of each batch",
           "edgecl/data/loader.py", "idx = idx[rank::world]", "idx = idx[0::world]",
           ("tests/data/test_rank_shares.py", LOADER, DATA)),
]
