"""Reading the next chunk of a batch while the current one is validated, scored and written.

Arrow's CSV and Parquet readers, numpy and the compiled trees release the GIL for their heavy work, so on two
cores the read of chunk ``n + 1`` (about a third of a CSV batch's time) runs beside the rest of chunk ``n``.
One chunk is read ahead, never more, so memory still does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(chunks: Iterator[T]) -> Generator[T, None, None]:
    """Yield the items of ``chunks`` in order, producing the next one in a thread while the caller works.

    Exceptions of ``chunks`` are raised here, at the item where they happened. When the caller stops early,
    the one item being read is finished (not abandoned half-way) and ``chunks`` is closed.

    Args:
        chunks: Any iterator; it is advanced by one worker thread only, never concurrently.

    Yields:
        The same items, in the same order.

    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        try:
            pending = pool.submit(next, chunks, _END)
            while True:
                item = pending.result()
                if item is _END:
                    return
                pending = pool.submit(next, chunks, _END)
                yield item  # type: ignore[misc]
        finally:
            if not pending.cancel():
                pending.exception()  # a read in flight finishes before its iterator is closed
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
