"""Buildpacks behind the pipeline's interface (gitserver.pipeline.buildpack), chosen by name.

The server's `buildpacks` setting (CEDARBOX_BUILDPACKS) lists them in detect order as
`module:attribute` names; the default is the Python buildpack. The tests put a no-op buildpack
there for pushes whose build is not what they test.
"""

from __future__ import annotations

import importlib
from functools import cache

from gitserver.errors import UsageError
from gitserver.pipeline.buildpack import Buildpack


@cache
def load_buildpacks(spec: str) -> tuple[Buildpack, ...]:
    """The buildpacks named in `spec` ("module:Class,module:Class"), instantiated in order."""
    loaded: list[Buildpack] = []
    for name in filter(None, (part.strip() for part in spec.split(","))):
        module_name, _, attribute = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise UsageError(
                f"Buildpack {name!r} cannot be loaded: {exc}.",
                hint="Set CEDARBOX_BUILDPACKS to module:Class names, or unset it for Python.",
            ) from None
        loaded.append(factory())
    if not loaded:
        raise UsageError("No buildpacks are configured.", hint="Unset CEDARBOX_BUILDPACKS.")
    return tuple(loaded)
