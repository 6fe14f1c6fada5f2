"""Progress bars on stderr (tqdm), silent when not on a terminal or with --quiet."""

from __future__ import annotations

from tqdm import tqdm


class FileProgress:
    """Percent bar with ETA for one file; ``update(fraction)`` is the graph callback."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self._bar = tqdm(total=1000, desc=label, unit="‰", disable=not enabled, leave=False,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
        self._last = 0

    def update(self, fraction: float) -> None:
        now = int(fraction * 1000)
        if now > self._last:
            self._bar.update(now - self._last)
            self._last = now

    def __enter__(self) -> "FileProgress":
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()


def batch_bar(total_seconds: float, files: int, enabled: bool) -> tqdm:
    """Bar over the audio duration of a batch (seconds), so the ETA follows file lengths."""
    return tqdm(total=max(total_seconds, 1e-3), unit="s audio", disable=not enabled, dynamic_ncols=True,
                desc=f"{files} files", bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                                                  "{n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")
