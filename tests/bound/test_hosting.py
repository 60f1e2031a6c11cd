"""Hosting bound devices in a process: the factory a device server calls."""

from __future__ import annotations

import pytest

from pykarabo.bound import Configurator, Hash, PythonDevice, startDevice
from pykarabo.errors import KaraboError
from tests.bound.test_device import LifeDevice


class FakeServer:
    def __init__(self):
        self.gone = []

    def deviceGone(self, deviceId):
        self.gone.append(deviceId)


def test_start_device_reports_to_its_server_when_killed(bus):
    server = FakeServer()
    device = startDevice(LifeDevice, {"deviceId": "BOUND/HOSTED/1", "serverId": "boundServer"}, broker=bus.url,
                         topic=bus.topic, server=server)
    info = bus.request("BOUND/HOSTED/1", "slotPing", 1)[0]
    assert info["serverId"] == "boundServer" and info["classId"] == "LifeDevice" and info["type"] == "device"
    assert info["heartbeatInterval"] == 30
    device.slotKillDevice()
    assert server.gone == ["BOUND/HOSTED/1"]


def test_start_device_refuses_what_is_no_bound_device():
    with pytest.raises(KaraboError, match="not a bound device class"):
        startDevice(dict, {})


def test_configurations_are_validated_before_going_online():
    with pytest.raises(KaraboError, match="without a deviceId"):
        LifeDevice(Hash())
    with pytest.raises(TypeError, match="is a Hash"):
        LifeDevice("deviceId=x")
    with pytest.raises(Exception, match="limited"):
        LifeDevice({"deviceId": "X", "limited": 99})
    device = Configurator(PythonDevice).create("LifeDevice", {"deviceId": "X"})
    assert device["limited"] == 1 and device["deviceId"] == "X"

