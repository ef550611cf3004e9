"""Loaded into a test worker (worker_settings): makes a segment slow enough to be caught mid-way, or makes
it kill its worker, as the kernel's OOM killer would. Set by the worker's environment:

    WORKER_HOOK_PAUSE_S       seconds every segment waits, once claimed, before it analyses
    WORKER_HOOK_CRASH_AT_S    the segment starting at this second SIGKILLs its worker, on every try

Not a line of this is in the application: the hook wraps the engine call the segment service makes."""
import os
import signal
import time

from analysis.services import segments

_engine_analyse_segment = segments.analyse_segment
PAUSE_S = float(os.environ.get("WORKER_HOOK_PAUSE_S") or 0)
CRASH_AT_S = os.environ.get("WORKER_HOOK_CRASH_AT_S")


def analyse_segment(path, **kwargs):
    if CRASH_AT_S and abs(kwargs.get("t_start", 0.0) - float(CRASH_AT_S)) < 1e-6:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(PAUSE_S)
    return _engine_analyse_segment(path, **kwargs)


segments.analyse_segment = analyse_segment
