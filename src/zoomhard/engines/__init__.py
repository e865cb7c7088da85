"""Ways to run a sweep other than the local one (`zoomhard.sweep.run_sweep`).

    local   threads on this machine (zoomhard.sweep)
    ray     a Ray Data pipeline on a Ray cluster, or on a local one (zoomhard.engines.ray)

Every engine writes the same run folder: same rows, same top-1, resumable by any other.
"""

ENGINES = ("local", "ray")
