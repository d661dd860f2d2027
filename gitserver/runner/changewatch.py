"""Has anyone written the platform state since the supervisor last looked?

A push, `ps:scale` or `config:set` runs in another process and only writes the store; the
supervisor reacts within one fast tick instead of waiting for its next regular tick.
"""

from __future__ import annotations

from gitserver.store import Store


class ChangeWatch:
    """Compares the store's change token with the one seen after the last tick."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: object = None

    def changed(self) -> bool:
        return self.store.change_token() != self._seen

    def seen(self) -> None:
        """Call after a tick: its own writes change the token too."""
        self._seen = self.store.change_token()
