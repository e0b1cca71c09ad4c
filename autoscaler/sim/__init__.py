"""The named simulators, together: the in-memory cluster (`cluster`), the simulated cloud and
its node registrar (`cloud`), and the scenario runner behind `smart-autoscaler simulate`
(`scenario`). None of them is used against a real cluster unless named (`--provider simulated`)."""
