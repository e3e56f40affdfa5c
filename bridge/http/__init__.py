"""The bridge's status page, its JSON API, ``/metrics``, ``/healthz`` and systemd supervision.

* ``server``: the aiohttp application (``StatusServer``), started by ``Bridge.run`` when the
  configuration has an ``http:`` section;
* ``security``: the access token, the session cookie, cross-site request protection;
* ``live``: the server-sent events that keep an open page current without reloading;
* ``views``: what the page and the API show of meters, buses and publishers;
* ``stats``: per-bus figures (transactions/s, round trips, failed polls, cycle time) and when
  each meter went on- or offline;
* ``metrics``: the Prometheus exposition, built from the bridge's state at each scrape;
* ``health``: whether the bridge is healthy (``/healthz``, the systemd watchdog);
* ``systemd``: ``READY=1``, ``WATCHDOG=1`` and ``STOPPING=1`` over ``$NOTIFY_SOCKET``;
* ``probe``: the container's HEALTHCHECK (``python -m leviton_bridge.http.probe CONFIG``).

Importing this package imports nothing heavy: ``server`` (aiohttp) loads only when the page is
configured.
"""
