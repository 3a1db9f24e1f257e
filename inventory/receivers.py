from __future__ import annotations

from . import directory
from .models import Station


def forget_directory_on_change(sender, **kwargs) -> None:
    """A station or commodity saved or deleted here: this process reads its directory again."""
    (directory.stations if sender is Station else directory.commodities).forget()
