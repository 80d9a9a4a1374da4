"""Detection: flow-level detectors, payload signatures, the engine and its memories."""

from pipelines.kernel_env import use_kernel_cache

use_kernel_cache()  # before any kernel of the package is decorated
