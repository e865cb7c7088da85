"""Test-time augmentation: the study's zoom ensembles against MEMO (AugMix or zoom-in views).

    views.py      random views made in a batch on tensors (RandomResizedCrop, AugMix)
    memo.py       MEMO: marginal entropy, the batch-norm prior, episodic adaptation
    zoom.py       zoom-mean / zoom-max over a set of zoom transforms
    reference.py  MEMO's AugMix one PIL image at a time (the reference for tests and benchmarks)
    run.py        the `zoomhard tta` comparison
"""

from .memo import Memo, batchnorm_prior, marginal_entropy
from .run import METHODS, TTAConfig, TTAReport, format_table, parse_methods, run_tta
from .zoom import parse_transforms, zoom_in_transforms

__all__ = ["METHODS", "Memo", "TTAConfig", "TTAReport", "batchnorm_prior", "format_table", "marginal_entropy",
           "parse_methods", "parse_transforms", "run_tta", "zoom_in_transforms"]
