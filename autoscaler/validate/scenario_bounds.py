"""How much simulated time one scenario may ask for (the command line names it in its help
without loading the scenario schema)."""

MAX_SIMULATED_DAYS = 30
MAX_DURATION = MAX_SIMULATED_DAYS * 86400.0
MAX_STEPS = 200_000  # reconcile loops in one run (30 days at 15s; 1 day at 1s)
