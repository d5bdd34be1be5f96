"""Generation: what a checkpoint samples, Fréchet distances of generated sets, and targeted synthetic rebalancing
of the training split (validation and test always stay real). Writing sample folders is the workflow layer's
(``medfx.workflows.generate``: ``generate_to_dir``, ``synthesize``).

>>> from medfx.generate import plan_generation
>>> gen = plan_generation("runs/demo/last.pt", per_class=100, steps=50)
>>> for start, images, labels, seeds in gen.batches(): ...
"""

from .rebalance import (
    MixedDataset,
    mixed_training_set,
    real_train_counts,
    rebalance_counts,
)
from .sample import (
    Generation,
    checkpoint_class_names,
    checkpoint_image_shape,
    compare_image_sets,
    is_generated_dir,
    load_generated,
    plan_generation,
    read_manifest,
)

__all__ = [
    "Generation",
    "MixedDataset",
    "checkpoint_class_names",
    "checkpoint_image_shape",
    "compare_image_sets",
    "is_generated_dir",
    "load_generated",
    "mixed_training_set",
    "plan_generation",
    "read_manifest",
    "real_train_counts",
    "rebalance_counts",
]
