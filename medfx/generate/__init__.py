"""Generation: sampling checkpoints to image folders, Fréchet distances of generated sets, and targeted
synthetic rebalancing of the training split (validation and test always stay real).

>>> from medfx.generate import generate_to_dir, synthesize, mixed_training_set
>>> manifest = generate_to_dir("runs/demo/last.pt", "samples/demo", per_class=100, steps=50)
"""

from .rebalance import (
    MixedDataset,
    SynthesisResult,
    mixed_training_set,
    real_train_counts,
    rebalance_counts,
    synthesize,
)
from .sample import (
    checkpoint_class_names,
    checkpoint_image_shape,
    compare_image_sets,
    generate_to_dir,
    is_generated_dir,
    load_generated,
    read_manifest,
)

__all__ = [
    "MixedDataset",
    "SynthesisResult",
    "checkpoint_class_names",
    "checkpoint_image_shape",
    "compare_image_sets",
    "generate_to_dir",
    "is_generated_dir",
    "load_generated",
    "mixed_training_set",
    "read_manifest",
    "real_train_counts",
    "rebalance_counts",
    "synthesize",
]
