"""The history face: every meter's intervals kept in a SQLite file, and lent to the other faces.

Started by the daemon when the configuration has ``history:``.

* ``log``: ``MeterLog``, one meter's interval in progress, built from its polls, and the rows
  its boundaries come to (measured, interpolated between two real readings, a gap, a restart);
* ``store``: ``HistoryStore``, the SQLite file (WAL): one transaction per boundary, a lock so
  that two bridges never write one file, a file that is not a store moved aside, the daily
  rows, what is kept how long;
* ``face``: ``HistoryFace``, the face: it hears the polls, writes at every boundary, never
  stops the bridge (a full disk or a read-only folder is a health note, and writing resumes),
  and registers the read-only view (``core.history.HistoryView``) with the core;
* ``report``: the monthly report (``leviton-bridge report``), from the boundary totals.

May import: the driver, ``leviton_bridge.config`` and ``leviton_bridge.core``. Never another
face, the daemon or the command line. Importing the package imports nothing: take what you
need from its modules.
"""
