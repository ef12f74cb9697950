import threading

import pytest

from machine_learning.inference.prefetch import read_ahead


def test_items_come_in_order_and_the_next_one_is_read_while_the_caller_works():
    read_by = []

    def chunks():
        for number in range(5):
            read_by.append(threading.current_thread().name)
            yield number

    assert list(read_ahead(chunks())) == [0, 1, 2, 3, 4]
    assert all(name.startswith("read-ahead") for name in read_by)


def test_an_error_of_the_reader_is_raised_at_the_item_where_it_happened():
    def chunks():
        yield 1
        raise ValueError("damaged row 2")

    got = []
    with pytest.raises(ValueError, match="damaged row 2"):
        for item in read_ahead(chunks()):
            got.append(item)
    assert got == [1]


def test_stopping_early_closes_the_reader_and_reads_at_most_one_more_item():
    read, closed = [], []

    def chunks():
        try:
            for number in range(100):
                read.append(number)
                yield number
        finally:
            closed.append(True)

    items = read_ahead(chunks())
    assert next(items) == 0
    items.close()
    assert closed == [True]
    assert len(read) <= 2
