"""The sweep, one module per step, dependencies one way:

``settings`` (sweep.toml and flags, validated) → ``inputs`` (variants and the
binary for each device) → ``plan`` (pure: matrix, compatibility, order) →
``launch`` (one launch on one device: argv, cooldown, run, parse) →
``executor`` (devices in parallel, every launch stored as it ends) →
``progress`` (the live display) → ``run`` (``run_sweep``, the plain callable
behind ``benchorch sweep``).
"""
