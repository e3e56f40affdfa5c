"""The Leviton meters bridge: command-line tools, the MQTT and BACnet daemon, the demo."""
