"""smart-autoscaler: the cheapest node that really fits."""

import os

# The planner's arrays are small, so a BLAS thread pool never helps it; yet numpy's import-time
# check (one dot product) wakes OpenBLAS's threads, which then spin on the other core while the
# first plan runs (measured: 46 ms of CPU for a 34 ms cold plan). One thread, unless the
# operator says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
