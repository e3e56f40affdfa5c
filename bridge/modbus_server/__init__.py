"""The Modbus TCP server face: the meters the bridge polls, served to any number of Modbus
clients from the values of the latest poll, at no cost to the RS485 line.

An RS485 line has one master; once the bridge polls a site's meters, nothing else can read
them without collisions. This face gives every other reader (a BMS, an EV charger's load
manager, another Home Assistant) the meters as they are on the line: a Series 1000/2000 with
the registers of its manual and its own answer to function 0x11, a Series 8000 with the
registers of its profile. It behaves as a Modbus gateway: a meter that is offline (or whose
last poll is older than ``max_age``) answers exception 0x0B, a unit id nobody configured 0x0A.

* ``face``: ``ModbusServerFace``, its life cycle, what it serves, its status and figures;
* ``image``: each meter's registers, built from its last poll, and what a read of them answers;
* ``server``: the TCP connections: Modbus TCP frames (pymodbus's framer and PDUs), limits
  (clients allowed, at most ``max_clients``, idle ones closed, malformed frames close their
  connection only), fairness between clients, and writes (only the demand reset, only when
  allowed, answered once the meter confirmed it).

May import: the driver, ``leviton_bridge.config`` and ``leviton_bridge.core``. Never another
face, the daemon or the command line.
"""
