"""Point numba at the project's kernel-cache locator (`pipelines.kernel_cache`).

Called by the `pipelines`, `detector` and `blacklist` package initialisers, so before any of
their kernels is decorated. It must not import numba itself (commands that need no kernel
start without it): numba reads `NUMBA_CACHE_LOCATOR_CLASSES` when it is first imported, and
when it already has been, its config attribute is set instead.
"""

from __future__ import annotations

import os
import sys

# ours first; numba's own for any other cached function (their names need no module path)
LOCATORS = (
    "pipelines.kernel_cache.KernelLocator,"
    "UserProvidedCacheLocator,InTreeCacheLocator,UserWideCacheLocator"
)


def use_kernel_cache() -> None:
    """Make the project locator numba's first choice, unless the user chose locators."""
    os.environ.setdefault("NUMBA_CACHE_LOCATOR_CLASSES", LOCATORS)
    config = sys.modules.get("numba.core.config")
    if config is not None and not getattr(config, "CACHE_LOCATOR_CLASSES", None):
        config.CACHE_LOCATOR_CLASSES = os.environ["NUMBA_CACHE_LOCATOR_CLASSES"]  # type: ignore[attr-defined]
