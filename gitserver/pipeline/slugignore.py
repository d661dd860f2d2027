"""`.slugignore`: gitignore-like patterns (without `!`) for files left out of the slug."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class SlugIgnore:
    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> SlugIgnore:
        patterns = []
        for raw in text.splitlines():
            line = raw.strip()
            if line and not line.startswith("#") and not line.startswith("!"):
                patterns.append(line)
        return cls(tuple(patterns))

    def ignores(self, path: str) -> bool:
        """True if `path` (relative, '/'-separated) or one of its parents matches a pattern."""
        parts = path.split("/")
        for pattern in self.patterns:
            anchored = pattern.startswith("/")
            pat = pattern.strip("/")
            if "/" in pat or anchored:
                # Anchored at the root: match the path or any of its leading directories.
                if any(
                    fnmatch.fnmatchcase("/".join(parts[: i + 1]), pat) for i in range(len(parts))
                ):
                    return True
            elif any(fnmatch.fnmatchcase(part, pat) for part in parts):
                return True
        return False
