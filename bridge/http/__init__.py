"""The status-page face: the page, its JSON API, ``/metrics``, ``/healthz`` and ``/readyz``.

* ``face``: ``StatusPage``, the aiohttp application, started by the daemon when the
  configuration has an ``http:`` section;
* ``security``: the access token, the session cookie, cross-site request protection;
* ``live``: the server-sent events that keep an open page current without reloading;
* ``views``: what the page and the API show of meters, buses and faces;
* ``stats``: per-bus figures (transactions/s, round trips, failed polls, cycle time) and when
  each meter went on- or offline;
* ``metrics``: the Prometheus exposition, built from the core's state at each scrape;
* ``probe``: the container's HEALTHCHECK (``python -m leviton_bridge.http.probe CONFIG``).

May import: the driver, ``leviton_bridge.config`` and ``leviton_bridge.core``. Never another
face, the daemon or the command line. Importing the package imports nothing heavy: ``face``
(aiohttp) loads only when the page is configured.
"""
