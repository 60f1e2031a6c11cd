"""A private RabbitMQ server for the AMQP tests: loopback only, a free port, its state in a temporary directory.

``RabbitServer.start()`` runs Debian's ``rabbitmq-server`` (as the ``rabbitmq`` user when we are root) with
its node name, Erlang distribution port and epmd port all its own, so it never meets another RabbitMQ on
the machine; ``stop()`` ends it through the PID we started. ``findRabbitServer()`` locates the program and,
in CI (``$CI`` set), installs the Debian package when it is missing. With ``tls=True`` the node also has a
TLS listener (``tlsUrl``) whose certificate is signed by a throw-away CA (``caFile``) made with the
``openssl`` command.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"   # Debian's script, without the sbin wrapper's su dance
START_TIMEOUT = 60.0


def freePort() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def findRabbitServer() -> str | None:
    """Path of the rabbitmq-server script; in CI a missing one is installed from Debian's packages."""
    if Path(SERVER).exists():
        return SERVER
    if os.environ.get("CI") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "rabbitmq-server"], env=env, check=False,
                       stdout=subprocess.DEVNULL, timeout=600)
    return SERVER if Path(SERVER).exists() else None


def _acceptsAmqp(port: int) -> bool:
    """Whether the server answers an AMQP protocol header with its Connection.Start frame."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            s.settimeout(2)
            return s.recv(1) == b"\x01"   # frame type METHOD
    except OSError:
        return False


def makeCertificates(directory: Path) -> None:
    """``ca.pem`` (a CA) and ``server.pem``/``server.key`` (for localhost and 127.0.0.1, signed by it) in ``directory``."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pykarabo test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (directory / "server.ext").write_text("subjectAltName = DNS:localhost, IP:127.0.0.1\n"
                                          "basicConstraints = CA:FALSE\n"
                                          "keyUsage = critical, digitalSignature, keyEncipherment\n"
                                          "extendedKeyUsage = serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext")


class RabbitServer:
    """One RabbitMQ node owned by the test session."""

    def __init__(self, program: str = SERVER, tls: bool = False):
        self.program = program
        self.port = freePort()
        self.distPort = freePort()
        self.epmdPort = freePort()
        self.nodeName = f"pykarabo{uuid.uuid4().hex[:10]}@localhost"
        self.dir = Path(tempfile.mkdtemp(prefix="pykarabo-rabbitmq-"))
        self.proc: subprocess.Popen | None = None
        self.tlsPort = freePort() if tls else None
        config = (f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
                  "loopback_users = none\n"
                  "log.console = false\n"
                  "log.file.level = warning\n")
        if tls:
            makeCertificates(self.dir)
            config += (f"listeners.ssl.1 = 127.0.0.1:{self.tlsPort}\n"
                       f"ssl_options.cacertfile = {self.dir / 'ca.pem'}\n"
                       f"ssl_options.certfile = {self.dir / 'server.pem'}\n"
                       f"ssl_options.keyfile = {self.dir / 'server.key'}\n"
                       "ssl_options.verify = verify_none\n"
                       "ssl_options.fail_if_no_peer_cert = false\n")
        (self.dir / "rabbitmq.conf").write_text(config)
        (self.dir / "enabled_plugins").write_text("[].\n")
        self._user = None
        if os.geteuid() == 0:
            # RabbitMQ refuses to run as root; its state must belong to the user it runs as.
            self._user = pwd.getpwnam("rabbitmq")
            for path in [self.dir, *self.dir.iterdir()]:
                os.chown(path, self._user.pw_uid, self._user.pw_gid)

    @property
    def url(self) -> str:
        """The AMQP URL of this server (RabbitMQ's default guest account)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}"

    @property
    def caFile(self) -> Path | None:
        """The CA that signed the TLS listener's certificate (None without TLS)."""
        return self.dir / "ca.pem" if self.tlsPort else None

    def tlsUrl(self, host: str = "localhost") -> str:
        """The ``amqps://`` URL of the TLS listener (without the CA: add ``?cafile=``)."""
        return f"amqps://guest:guest@{host}:{self.tlsPort}"

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.dir),    # the Erlang cookie goes here, not into the system's RabbitMQ home
            RABBITMQ_NODENAME=self.nodeName,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.distPort),
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_EPMD_PORT=str(self.epmdPort),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_PID_FILE=str(self.dir / "rabbitmq.pid"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.dir / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.dir / "rabbitmq-env.conf"),
            # No busy-waiting schedulers: on a small shared machine they steal the CPU the clients need.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none",
        )
        return env

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        out = open(self.dir / "server.out", "ab")
        kwargs = {}
        if self._user is not None:
            kwargs = dict(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        self.proc = subprocess.Popen([self.program], env=self._env(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.proc.returncode}: {self.log()}")
            if _acceptsAmqp(self.port):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"rabbitmq-server did not accept AMQP on port {self.port} in {timeout} s: {self.log()}")

    def stop(self) -> None:
        """Stop the node (SIGTERM to the process we started, then its process group if it lingers)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # The port must be free again before a restart binds it.
        deadline = time.monotonic() + 10
        while _acceptsAmqp(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self) -> None:
        """Stop and start again on the same port (queues and exchanges are gone, as after a crash)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the node, the epmd daemon it started, and remove its directory."""
        self.stop()
        epmd = shutil.which("epmd") or next(iter(Path("/usr/lib/erlang").glob("erts-*/bin/epmd")), None)
        if epmd:
            subprocess.run([str(epmd), "-port", str(self.epmdPort), "-kill"], capture_output=True, timeout=10,
                           env=dict(os.environ, ERL_EPMD_ADDRESS="127.0.0.1"))
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        """The end of the server's console output, for error messages."""
        try:
            return (self.dir / "server.out").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """Output of ``rabbitmqctl -n NODE ARGS`` against this node (to inspect queues and bindings)."""
        kwargs = {}
        if self._user is not None:
            kwargs = dict(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        ctl = str(Path(self.program).with_name("rabbitmqctl"))
        proc = subprocess.run([ctl, "-q", "-n", self.nodeName, *args], env=self._env(), cwd=self.dir,
                              capture_output=True, text=True, timeout=timeout, **kwargs)
        if proc.returncode:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout
