"""The MQTT face: the meters on an MQTT broker, with Home Assistant discovery.

* ``face``: ``MqttFace``, what the poller's news become on the broker, and the face's status;
* ``mapping``: every topic and discovery payload, generated from the reading catalogue;
* ``link``: the broker connection (paho-mqtt) and how it fares;
* ``commands``: the peak-demand reset command;
* ``cleanup``: clearing discovery this bridge published and no longer wants.

May import: the driver, ``leviton_bridge.config`` and ``leviton_bridge.core``. Never another
face, the daemon or the command line.
"""
