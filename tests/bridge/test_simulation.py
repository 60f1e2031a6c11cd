"""Simulator: same trains as the reference simulator; both simulators interoperate with both clients."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from pykarabo_bridge import Client

from pykarabo.bridge.simulation import FIRST_TRAIN_ID, Simulator, serve_simulation

CONFIGS = [("AGIPDModule", True, "online"), ("AGIPDModule", True, "file"),
           ("AGIPD", True, "online"), ("AGIPD", True, "file"), ("AGIPD", False, "file")]


@pytest.mark.interop
@pytest.mark.parametrize("detector,raw,data_like", CONFIGS)
def test_same_structure_as_reference(detector: str, raw: bool, data_like: str) -> None:
    """Sources, key order, shapes, dtypes and non-array values match karabo_bridge's generator."""
    from karabo_bridge.simulation import data_generator

    ref_data, ref_meta = next(data_generator(detector=detector, raw=raw, nsources=2, datagen="zeros",
                                             data_like=data_like, debug=False))
    data, meta = Simulator(detector, raw, 2, "zeros", data_like).next_train()
    assert list(data) == list(ref_data)
    for source, props in ref_data.items():
        assert list(data[source]) == list(props)
        for key, value in props.items():
            if isinstance(value, np.ndarray):
                assert (data[source][key].dtype, data[source][key].shape) == (value.dtype, value.shape), key
                if key != "image.data":
                    np.testing.assert_array_equal(data[source][key], value)
            else:
                assert data[source][key] == value, key
        assert list(meta[source]) == list(ref_meta[source])
        assert meta[source]["timestamp.tid"] == ref_meta[source]["timestamp.tid"] == FIRST_TRAIN_ID


def test_random_data_and_train_ids() -> None:
    """Random data lie in [1500, 1600); train IDs and the trainId array advance per train."""
    sim = Simulator("AGIPDModule", raw=True, pregenerate=2, seed=1)
    trains = [sim.next_train() for _ in range(3)]
    src = sim.sources[0]
    for i, (data, meta) in enumerate(trains):
        image = data[src]["image.data"]
        assert image.dtype == np.uint16 and image.shape == (128, 512, 64)
        assert 1500 <= image.min() and image.max() < 1600
        assert meta[src]["timestamp.tid"] == FIRST_TRAIN_ID + i
        assert (data[src]["image.trainId"] == FIRST_TRAIN_ID + i).all()
        assert len(meta[src]["timestamp.frac"]) == 18
    assert trains[0][0][src]["image.data"] is trains[2][0][src]["image.data"]   # pre-generated, reused
    with pytest.raises(NotImplementedError):
        Simulator("AGIPDModule", raw=False)


@contextmanager
def subprocess_server(args: list[str], marker: str) -> Iterator[str]:
    """Run a server process, yield the endpoint it prints on the line after ``marker``; always kill it."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 20
        line = ""
        while marker not in line:
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "server did not start"
        yield line.split(marker, 1)[1].strip() or proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait(timeout=10)


REFERENCE_SIM = ("from karabo_bridge.server import SimServer; "
                 "SimServer('tcp://127.0.0.1:*', sock='{sock}', protocol_version='{protocol}', detector='AGIPDModule', "
                 "raw=True, debug=False).loop()")


@pytest.mark.interop
@pytest.mark.parametrize("sock,protocol", [("REP", "2.2"), ("PUSH", "2.2"), ("PUB", "2.2"), ("REP", "1.0")])
def test_our_client_receives_from_reference_sim(sock: str, protocol: str) -> None:
    """Our Client decodes the real simulator's trains (started as a loopback-only subprocess); PUB may skip IDs."""
    code = REFERENCE_SIM.format(sock=sock, protocol=protocol)
    with subprocess_server(["-u", "-c", code], "started on:") as endpoint, \
            Client(endpoint, sock={"REP": "REQ", "PUSH": "PULL", "PUB": "SUB"}[sock], timeout=20) as client:
        assert endpoint.startswith("tcp://127.0.0.1:")
        tids = []
        for _ in range(3):
            data, meta = client.next()
            src = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"
            assert data[src]["image.data"].shape == (128, 512, 64)
            assert data[src]["image.data"].dtype == np.uint16
            tids.append(meta[src]["timestamp.tid"])
    if sock == "PUB":
        assert tids == sorted(set(tids))
    else:
        assert tids == list(range(tids[0], tids[0] + 3))


@pytest.mark.interop
@pytest.mark.parametrize("sock,protocol", [("REP", "2.2"), ("PUSH", "1.0")])
def test_reference_client_receives_from_our_sim_cli(sock: str, protocol: str) -> None:
    """``pykarabo bridge sim`` serves the real karabo_bridge.Client every train ID in order."""
    import karabo_bridge

    args = ["-m", "pykarabo", "bridge", "sim", "0", "-d", "AGIPDModule", "-r", "-z", sock, "-p", protocol]
    with subprocess_server(args, "started on:") as endpoint:
        client = karabo_bridge.Client(endpoint, sock={"REP": "REQ", "PUSH": "PULL"}[sock], timeout=20)
        try:
            tids = [client.next()[1]["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"]["timestamp.tid"] for _ in range(3)]
        finally:
            client._context.destroy(linger=0)
    assert tids == [FIRST_TRAIN_ID, FIRST_TRAIN_ID + 1, FIRST_TRAIN_ID + 2]


def test_rate_limit() -> None:
    """serve_simulation paces trains when a rate is given."""

    class Sink:
        def put(self, data: dict, metadata: dict, block: bool) -> None:
            pass

    t0 = time.perf_counter()
    assert serve_simulation(Sink(), Simulator("AGIPDModule", raw=True, datagen="zeros"), 6, rate=20) == 6
    assert time.perf_counter() - t0 >= 0.24
