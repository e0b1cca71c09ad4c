import atexit
import os
import sys

from autoscaler.cli import batch_finished, main

code = main()
if batch_finished() and isinstance(code, int):
    # A finished preview leaves tens of thousands of objects in reference cycles (it runs with
    # the cyclic collector off); the interpreter's teardown would collect and free them one by
    # one (~0.2 s for 20,000 pods), the OS frees them at once. Exit handlers still run and
    # output is flushed first; when flushing fails, the ordinary exit reports it as before.
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - e.g. a closed pipe: leave it to sys.exit
        pass
    else:
        os._exit(code)
sys.exit(code)
