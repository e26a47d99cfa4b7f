"""Where embarrassingly parallel work runs: this process, a local process pool, or Dask.

`rescore` maps over run folders, `build_simulated` over (stack, model) pairs. Both call
`map_ordered`, which returns results in input order whatever ran them, so the outputs are
identical across executors (tests/test_rescore.py compares the files byte for byte).

Dask (`pip install 'helm-efficiency[dask]'`) rather than Ray: it is pure Python and a few MB
(Ray's wheels are two orders of magnitude larger), a `LocalCluster` needs no configuration on a
laptop, and the same code reaches a cluster by address: `dask scheduler` plus `dask worker` by
hand, dask-jobqueue on SLURM, dask-kubernetes or the Dask Helm chart on Kubernetes. A task
whose worker dies is rerun on another worker (the scheduler's `allowed-failures`), and each
rescore task commits its run through a journal, so a run is either old or new, never half.
"""

from collections import deque
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sized, TypeVar, cast

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

EXECUTORS = ("local", "dask")
# Items a local pool holds at once per process: enough to keep it busy, few enough to bound memory.
IN_FLIGHT_PER_PROCESS = 3

Item = TypeVar("Item")
Result = TypeVar("Result")


@contextmanager
def local_pool(jobs: int) -> Iterator[Optional["Executor"]]:
    """A process pool of `jobs` to pass to several map_ordered calls (None for jobs <= 1), so
    its workers start once. Start it before building large data: its workers are forked from
    this process, and a worker forked later would carry (and be charged for) that memory."""
    if jobs <= 1:
        yield None
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs) as pool:
        yield pool


def map_ordered(fn: Callable[[Item], Result], items: Iterable[Item], jobs: int = 1, progress: str = "", executor: str = "local",
                address: Optional[str] = None, unit: str = "item", total: Optional[int] = None,
                pool: Optional["Executor"] = None, started: Optional[Callable[[int], None]] = None) -> List[Result]:
    """[fn(item) for item in items], with a progress bar when `progress` names the work.

    local: in this process (jobs <= 1) or a process pool of `jobs` (or `pool`, from local_pool),
    which takes items from the iterable only as it has room (a few per process), so a generator
    of large items is never all in memory at once. dask: on the cluster at `address` (e.g.
    tcp://scheduler:8786), or on a LocalCluster of `jobs` single-threaded worker processes
    started (and stopped) here. `total`: the number of items, for the progress bar, when
    `items` has no length. `started(i)`: called as item i is handed out (local executor), so a
    caller can report progress while long items run (the bar moves only as items finish).
    """
    from tqdm import tqdm

    total = len(cast(Sized, items)) if total is None and hasattr(items, "__len__") else total
    bar = dict(desc=progress, unit=unit, disable=not progress, total=total)
    if executor == "dask":
        return _map_dask(fn, list(items), jobs, address, bar)
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    note = started or (lambda i: None)
    if pool is None and jobs <= 1:
        results: List[Result] = []
        for i, item in enumerate(tqdm(items, **bar)):
            note(i)
            results.append(fn(item))
        return results
    with (local_pool(jobs) if pool is None else _borrowed(pool)) as pool:
        workers = getattr(pool, "_max_workers", jobs)
        results = []
        pending: Deque["Future[Result]"] = deque()
        with tqdm(**bar) as progress_bar:
            for i, item in enumerate(items):
                note(i)
                pending.append(cast("Executor", pool).submit(fn, item))  # jobs > 1 or a pool given: never None
                while len(pending) >= IN_FLIGHT_PER_PROCESS * workers:
                    results.append(pending.popleft().result())
                    progress_bar.update(1)
            while pending:
                results.append(pending.popleft().result())
                progress_bar.update(1)
    return results


@contextmanager
def _borrowed(pool: "Executor") -> Iterator["Executor"]:
    yield pool


def _map_dask(fn: Callable[[Item], Result], items: List[Item], jobs: int, address: Optional[str], bar: Dict[str, Any]) -> List[Result]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as e:
        raise RuntimeError("the dask executor needs Dask: pip install 'helm-efficiency[dask]'") from e
    from tqdm import tqdm

    cluster = None if address else LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                                dashboard_address=None, silence_logs=40)
    client = Client(address or cluster)
    try:
        futures = client.map(fn, items, pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        results: List[Any] = [None] * len(items)  # each filled as its future completes
        with tqdm(**bar) as progress:
            for future in as_completed(futures):
                results[position[future.key]] = future.result()
                progress.update(1)
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
