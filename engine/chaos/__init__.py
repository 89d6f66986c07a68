"""Fault injection and the delivery invariant: the pieces `streaminfer chaos` and the failure tests share.

- ``watch``: a ``read_committed`` reader that follows a topic from its start in the background, so a
  test or a chaos run sees every committed record, including those committed during shutdown.
- ``invariant``: every input offset scored or dead-lettered exactly once, in partition order.
- ``faults``: serve workers as child processes, and the signals that break them and the servers.
"""
