"""A mocked bluetoothd on a private D-Bus, for bleak's real BlueZ backend in tests.

:class:`MockBluez` starts a ``dbus-daemon`` of its own (a unix socket in a temporary directory),
runs python-dbusmock's ``bluez5`` template on it as ``org.bluez``, and drives it over D-Bus like
the kernel and bluetoothd would: adapters appear and disappear (``InterfacesAdded``/``Removed``),
devices appear with their first advertisement and every later one changes their ``ServiceData``
and ``RSSI`` (``PropertiesChanged``), which is how BlueZ tells bleak what it hears. A process (this
one, or a ``serve`` it starts) reaches it through ``DBUS_SYSTEM_BUS_ADDRESS``.

Devices are added with the mock's generic ``AddObject`` and BlueZ's own property types rather than
the template's ``AddDevice``: that one declares ``ServiceData`` and ``ManufacturerData`` as arrays
(``aa{sv}``) where bluetoothd sends dictionaries (``a{sv}``, ``a{qv}``), which bleak's parser does
not take.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dbus

from kmc_monitor.devices.protocol.gatt import BTHOME_SERVICE_UUID

__all__ = ["MockBluez"]

BLUEZ = "org.bluez"
DEVICE = "org.bluez.Device1"
MOCK = "org.freedesktop.DBus.Mock"
BLUEZ_MOCK = "org.bluez.Mock"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
START_S = 15.0


class MockBluez:
    """See the module docstring; :meth:`close` stops both processes."""

    def __init__(self) -> None:
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise RuntimeError("dbus-daemon is not installed: `make system-deps` installs it")
        self._dir = tempfile.mkdtemp(prefix="kmc-dbus-")
        self.address = f"unix:path={Path(self._dir) / 'system_bus_socket'}"
        self._daemon = subprocess.Popen(
            [daemon, "--session", "--nofork", "--nopidfile", f"--address={self.address}", "--print-address"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._mock: subprocess.Popen[bytes] | None = None
        try:
            assert self._daemon.stdout is not None
            self._daemon.stdout.readline()  # the daemon listens once it prints its address
            self._mock = subprocess.Popen(
                [sys.executable, "-m", "dbusmock", "--system", "--template", "bluez5"],
                env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.bus = dbus.bus.BusConnection(self.address)
            deadline = time.monotonic() + START_S
            while not self.bus.name_has_owner(BLUEZ):
                if time.monotonic() > deadline or self._mock.poll() is not None:
                    raise RuntimeError("python-dbusmock's bluez5 template did not start")
                time.sleep(0.05)
        except BaseException:
            self.close()
            raise
        self.root = self.bus.get_object(BLUEZ, "/")
        self._devices: dict[str, set[str]] = {}

    def close(self) -> None:
        for proc in (self._mock, self._daemon):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._daemon.stdout is not None:
            self._daemon.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    # Adapters ------------------------------------------------------------------------------------
    def add_adapter(self, name: str = "hci0") -> str:
        path = str(self.root.AddAdapter(name, "kmc-test", dbus_interface=BLUEZ_MOCK))
        self._devices[path] = set()
        return path

    def remove_adapter(self, name: str = "hci0") -> None:
        """The adapter is gone (dongle pulled, bluetoothd restarted), its devices with it."""
        self.root.RemoveAdapterWithDevices(name, dbus_interface=BLUEZ_MOCK)
        self._devices.pop(f"/org/bluez/{name}", None)

    def calls(self, method: str, name: str = "hci0") -> list[list[object]]:
        """The arguments of every call of ``method`` on the adapter (the mock logs them)."""
        adapter = self.bus.get_object(BLUEZ, f"/org/bluez/{name}")
        return [list(args) for _t, m, args in adapter.GetCalls(dbus_interface=MOCK) if m == method]

    # Advertisements ------------------------------------------------------------------------------
    def advertise(self, mac: str, service_data: bytes, rssi_dbm: int, adapter: str = "hci0") -> None:
        """One BTHome advertisement heard by ``adapter``: a new device, or its properties changed."""
        adapter_path = f"/org/bluez/{adapter}"
        path = f"{adapter_path}/dev_{mac.upper().replace(':', '_')}"
        sd = dbus.Dictionary({BTHOME_SERVICE_UUID: dbus.Array(service_data, signature="y")}, signature="sv")
        known = self._devices.setdefault(adapter_path, set())
        if path in known:
            self.bus.get_object(BLUEZ, path).UpdateProperties(
                DEVICE, {"ServiceData": sd, "RSSI": dbus.Int16(rssi_dbm)}, dbus_interface=MOCK
            )
            return
        props = dbus.Dictionary(
            {
                "Address": dbus.String(mac.upper()),
                "AddressType": dbus.String("public"),
                "Alias": dbus.String(mac.upper().replace(":", "-")),
                "Adapter": dbus.ObjectPath(adapter_path),
                "Paired": dbus.Boolean(False),
                "Bonded": dbus.Boolean(False),
                "Connected": dbus.Boolean(False),
                "Trusted": dbus.Boolean(False),
                "Blocked": dbus.Boolean(False),
                "LegacyPairing": dbus.Boolean(False),
                "ServicesResolved": dbus.Boolean(False),
                "UUIDs": dbus.Array([BTHOME_SERVICE_UUID], signature="s"),
                "RSSI": dbus.Int16(rssi_dbm),
                "ServiceData": sd,
                "ManufacturerData": dbus.Dictionary({}, signature="qv"),
            },
            signature="sv",
        )
        self.root.AddObject(path, DEVICE, props, [], dbus_interface=MOCK)
        added = dbus.Dictionary({DEVICE: props}, signature="sa{sv}")
        signal = [dbus.ObjectPath(path), added]
        self.root.EmitSignal(OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", signal, dbus_interface=MOCK)
        known.add(path)
