"""The bridge's core: polling the meters and what it knows of them.

* ``bridge``: ``BridgeCore``, the pollers of every bus, the faces they feed, one reset path;
* ``poller``: ``BusPoller``, one bus polled one request at a time (each meter watched by the
  driver's ``MeterSupervisor``);
* ``meter_state``: what the core knows of each meter, and what each poll cycle did;
* ``faces``: the contract every face implements (``Face``, ``FaceStatus``, ``ResetOutcome``);
* ``codec``: the one JSON form of a meter that every face speaking JSON uses;
* ``history``: what the interval history is (rows, quality, sums) and the read-only view of
  it the history face lends the others (``BridgeCore.history``);
* ``health``: liveness (the core polls) and readiness (every face up);
* ``systemd``: ``READY=1``, the watchdog and ``STOPPING=1`` over ``$NOTIFY_SOCKET``.

May import: the driver (``leviton_driver``) and ``leviton_bridge.config``. Never a face
(``mqtt``, ``bacnet``, ``http``, ...), the daemon, the command line or the simulator.
"""
