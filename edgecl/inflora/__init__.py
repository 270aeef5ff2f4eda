"""InfLoRA core: subspace memory, branch design, branches, statistics and merging."""
from edgecl.inflora.branch import Adapter, KVBranch, qkv_layers
from edgecl.inflora.design import design_branch, project_away_old
from edgecl.inflora.memory import SubspaceMemory, threshold_for_task
from edgecl.inflora.merge import MergeError, merge_adapter, merge_state_dict
from edgecl.inflora.stats import SecondMoments, recording

__all__ = [
    "Adapter", "KVBranch", "MergeError", "SecondMoments", "SubspaceMemory", "design_branch",
    "merge_adapter", "merge_state_dict", "project_away_old", "qkv_layers", "recording",
    "threshold_for_task",
]
