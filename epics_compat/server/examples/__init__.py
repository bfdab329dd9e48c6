"""Example IOCs written with ``epics_compat.server``: run each with
``python -m epics_compat.server.examples.<name> --help``.

- ``simple``: ``<prefix>A`` (an integer, 1) and ``<prefix>B`` (a float, 2.0);
- ``ticker``: a counter that counts up every second (``<prefix>count``), its period
  (``<prefix>period``) and a switch (``<prefix>running``);
- ``motor``: two simulated motor records (``<prefix>m1``, ``<prefix>m2``) that
  pyepics' Motor and ophyd's EpicsMotor drive;
- ``waveform``: a detector image (``<prefix>image``, 64 x 48) with its size, an
  acquire button and a frame counter, and a random-walk waveform (``<prefix>trace``).
"""
