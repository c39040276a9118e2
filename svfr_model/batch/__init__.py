"""Many videos, one command: a resumable batch of ``restore_file`` runs, here or on a Ray cluster.

Stage above ``restore/`` (one video) and below ``commands/`` (the ``batch`` CLI):

- ``inputs.py``: files, folders, globs and manifests (CSV / JSON lines) -> one entry per video, with the
  output name that mirrors its relative path;
- ``journal.py``: the SQLite journal in the output folder (each video's state, input and options hashes,
  timings, error) and what a rerun does with each video;
- ``worker.py``: one worker (the models loaded once, one whole video at a time, written under a staging
  name and renamed) and the CPU planner (detection and tracking ahead of the restore);
- ``runner.py``: the driver loop every pool shares (queue, retries, Ctrl-C, progress, summary);
- ``local.py``: this process, one video after another; ``cluster.py``: Ray actors (imported only for
  ``--ray``; Ray is an optional extra).
"""
