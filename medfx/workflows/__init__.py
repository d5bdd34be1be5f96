"""The workflow layer: the only code that lays out run directories, sets up logging and chains stages.

One module per command family (``pipeline`` = ``medfx run`` / ``train-head`` / ``evaluate``, ``features`` =
``extract`` / ``probe`` / ``gaussianity``, ``generate`` = ``sample`` / ``fid`` / ``synthesize``, ``train`` =
``pretrain`` / ``finetune``). Library packages (``data``, ``models``, ``diffusion``, ``features``, ...) never
import from here. Importing this package is cheap: each module imports heavy libraries where they are used.
"""
