"""WSGI entry for granian or gunicorn: the one module that does work on import."""

import atexit
import gc
import multiprocessing.util
import signal

from mlops_pipeline.orphans import die_with_parent, worker_parent

# First, before the slow imports: a worker outliving its server would keep answering 200 on the
# port for a dead replica (and one whose server died while it loaded must not start serving).
die_with_parent(signal.SIGKILL, worker_parent())

from mlops_pipeline.config import Settings  # noqa: E402
from mlops_pipeline.logs import configure_logging  # noqa: E402
from mlops_pipeline.processes import build_worker  # noqa: E402

configure_logging()
worker = build_worker(Settings())
app = worker.app
# Stop the worker's threads and close its database connections when it exits. granian's workers
# are multiprocessing children, which leave through os._exit: atexit never runs there, but
# multiprocessing's finalizers do. gunicorn's leave through the interpreter (atexit) after its
# worker_exit hook (api/gunicorn_conf.py). close is idempotent: whichever runs first does it.
multiprocessing.util.Finalize(None, worker.close, exitpriority=10)
atexit.register(worker.close)
# The loaded app (Flask, ONNX Runtime, numpy) is ~50,000 long-lived objects that every full
# collection would otherwise rescan; freezing them cuts ~5% of the mean time per request.
gc.freeze()
