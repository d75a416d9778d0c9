"""``benchorch nightly``: one night of benchmarks per configuration, idempotent.

Modules, imported one way (config <- night <- phones <- run <- status):

* ``config``: ``nightly.toml`` (every ``sweep.toml`` key plus ``[nightly]``);
* ``night``: the night's identity (date, configuration hash), its deadline,
  the PyTorch and benchorch revisions recorded with it;
* ``phones``: which configured phones are healthy tonight, and why the others
  are left out;
* ``run``: ``run_night``, the plain callable behind ``benchorch nightly run``;
* ``status``: planned, done, failed and not run (with reasons) per phone;
* ``labnight``: a night through the lab (``lab = "lab.toml"``): its phones, its
  parts queued at nightly priority, a second trigger's requeue, the account by
  the phone each part ended on.

The claim of a night (one row per night and configuration) lives in the
results store (``benchorch.store.nights``), so two triggers on any backend
give one night.
"""
