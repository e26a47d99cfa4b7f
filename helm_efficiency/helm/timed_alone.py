"""Local models timed alone: an `efficiency=` run serializes in-process generation.

`helm-run` sends requests on 4 threads by default. For an API that is the provider's business;
for a model HELM serves in this process (its local Hugging Face client), 4 generations then
share this machine's cores, and every timing, the lower envelope included, is contended.

When a run entry asks for the efficiency metric, the run expander calls `install()`: HELM's
in-process Hugging Face client then runs every request on one dedicated worker thread, one at
a time. HELM times a request inside the client's `make_request` (its `wrap_request_time`), so
the time a request waits for that thread is outside its timed region: each generation is timed
alone, as with `--num-threads 1`, whatever `--num-threads` says. One thread, not just one lock:
PyTorch's CPU kernels keep an OpenMP thread team per calling thread, and a team that has just
finished spins for a while; generations handed from HELM's 4 threads in turn would each run
beside the previous caller's spinning team. API clients are untouched. The measured concurrency
(`efficiency_concurrency`) then stays near 1, so no contention correction is applied.
"""

import functools
from concurrent.futures import ThreadPoolExecutor

_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="efficiency-timed-alone")
MARK = "_efficiency_timed_alone"


def _serialized(make_request):
    @functools.wraps(make_request)
    def make_request_alone(self, request):
        return _WORKER.submit(make_request, self, request).result()

    setattr(make_request_alone, MARK, True)
    return make_request_alone


def install() -> bool:
    """Serialize HELM's in-process Hugging Face generation (idempotent). False when that client
    cannot be imported (HELM installed without its Hugging Face extras)."""
    try:
        from helm.clients.huggingface_client import HuggingFaceClient
    except ImportError:
        return False
    if not getattr(HuggingFaceClient.make_request, MARK, False):
        HuggingFaceClient.make_request = _serialized(HuggingFaceClient.make_request)
    return True
