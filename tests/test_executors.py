"""executors.map_ordered: the same results in the same order on every executor, and a Dask
worker that dies mid-task loses nothing (the task is rerun on another worker)."""

import os
import sys

import pytest

from helm_efficiency.util.executors import map_ordered

pytest.importorskip("distributed")


def square(x):
    return x * x


def die_once(item):
    """Kill this worker process the first time item 3 is seen (a marker file remembers)."""
    value, marker = item
    if value == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return value * value


@pytest.fixture(autouse=True)
def ship_this_module_by_value():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_every_executor_gives_the_same_ordered_results():
    items = list(range(20))
    expected = [x * x for x in items]
    assert map_ordered(square, items) == expected
    assert map_ordered(square, items, jobs=2) == expected
    assert map_ordered(square, items, jobs=2, executor="dask") == expected


def test_a_worker_that_dies_mid_task_loses_nothing(tmp_path):
    marker = str(tmp_path / "died")
    results = map_ordered(die_once, [(i, marker) for i in range(8)], jobs=2, executor="dask")
    assert os.path.exists(marker)  # a worker really died
    assert results == [i * i for i in range(8)]


def test_unknown_executor_is_refused():
    with pytest.raises(ValueError, match="unknown executor 'ray'"):
        map_ordered(square, [1], executor="ray")
