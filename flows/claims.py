"""Pieces of work that a stage's tasks share: each task takes the next piece no other task has taken."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Claims:
    """`count` pieces of work (extract batches, paper parts), taken one at a time by whichever task asks first.

    A stage runs one task per worker and gives each of them every piece. A task takes a piece by
    creating its claim file in `directory` exclusively (O_EXCL), which exactly one process
    wins, on this machine or on a shared file system. A worker that finishes early takes more:
    the stage is balanced to within one piece, and Prefect's own cost (~0.13 CPU-second a task
    run, over the worker, the server and the flow) is paid once per worker, not once per piece.

    Pieces are taken in `order` (every piece number once), else in number order. Given largest
    first, the workers end within about the smallest piece of each other, not within whichever
    piece came last.
    """

    directory: Path
    count: int
    order: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.order is not None and sorted(self.order) != list(range(self.count)):
            raise ValueError(f"claim order {self.order} is not an order of pieces 0 to {self.count - 1}")

    def __iter__(self) -> Iterator[int]:
        """The pieces this caller takes, in the claim order; each is claimed only when the previous one is done."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for number in range(self.count) if self.order is None else self.order:
            try:
                os.close(os.open(self.directory / f"{number:06d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                continue
            yield number

    def gather(self, taken: list[dict[int, T]]) -> list[T]:
        """Every piece's result in order, from what each task returned (piece number to result).

        Raises RuntimeError if a piece was done twice or not at all (its claim file was there before
        the stage began: `directory` must be new for each stage of each build).
        """
        results: dict[int, T] = {}
        for done in taken:
            for number, result in done.items():
                if number in results:
                    raise RuntimeError(f"piece {number} of {self.directory} was done twice")
                results[number] = result
        missing = sorted(set(range(self.count)) - results.keys())
        if missing:
            raise RuntimeError(f"pieces {missing} of {self.directory} were claimed but not done")
        return [results[number] for number in range(self.count)]
