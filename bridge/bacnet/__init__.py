"""The BACnet/IP device: the meters as BACnet objects, served with bacpypes3.

Started by the daemon when the configuration has ``bacnet:``. One device (``device_instance``,
``device_name``, ...) on ``address``, optionally registered as a foreign device with a BBMD.

* ``mapping``: which objects exist, how they are named and numbered (pure: no network), and
  the checks that they can all live in one device;
* ``objects``: the object classes (one per reading, the reset objects, the device, its port);
* ``face``: ``BacnetFace``, the device's life cycle, fed by the poller;
* ``application``: the services executed (ReadPropertyMultiple, WriteProperty(Multiple),
  SubscribeCOV, Protocol_Services_Supported) and the rejection of all others;
* ``ingress``, ``wire``, ``fastpath``: every datagram screened before bacpypes3 sees it, and
  the common ReadPropertyMultiple answered from bytes;
* ``cov``: COV subscriptions, bounded per peer and in all;
* ``ede``: the EDE export (``leviton-bridge bacnet-ede``);
* ``compat``: every use of a bacpypes3 internal (bacpypes3 is pinned exactly).

What a BMS sees:

* Objects appear when a meter is identified (a meter configured as Series 1000 or 2000 has its
  objects from the start); ``databaseRevision`` goes up by one whenever objects are added or
  removed. It starts from the start time (seconds since 1970, modulo 2^32), because the bridge
  keeps nothing on disk: a BMS that caches the object list sees a new revision after a restart.
* A meter that stops answering: its objects get reliability ``communication-failure`` (status
  flag fault) and keep their last values; the next good read clears it. An object whose reading
  has never had a value reads 0 with reliability ``unreliable-other``.
* COV: every meter object supports SubscribeCOV (confirmed and unconfirmed notifications);
  analog objects notify when the value moves by their COV increment, every object when its
  status flags change.
* Writes: only the present value of the "Reset peak demand" binary values is writable (write
  ``active``); every other write is refused with ``property, write-access-denied``.
* Property_List follows the standard (it omits Object_Identifier, Object_Name, Object_Type and
  itself); ReadPropertyMultiple ALL, REQUIRED and OPTIONAL return the object's properties in its
  property order, ALL including Property_List.
* Services other than ReadProperty, ReadPropertyMultiple, WriteProperty, WritePropertyMultiple,
  SubscribeCOV, Who-Is and Who-Has are rejected (confirmed) or ignored (unconfirmed); malformed
  datagrams are dropped with at most one warning per peer and kind.

May import: the driver, ``leviton_bridge.config`` and ``leviton_bridge.core``. Never another
face, the daemon or the command line. Importing the package imports nothing: take what you
need from its modules (``bacnet.face``, ``bacnet.ede``, ``bacnet.mapping``).
"""
