"""Rescore's outputs, byte for byte, on the wild suites and a priced synthetic suite: every file
hashed against tests/data/wild/rescore_golden.json (recorded with `python tests/rescore_golden.py
--update` on the code whose outputs are the reference). A change to reading, aggregation or
writing must keep them; a change meant to alter outputs re-records them and says why."""

import json
import socket

import pytest

from rescore_golden import GOLDEN, NAMES, differences, wild_hashes


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", NAMES)
def test_rescore_outputs_are_byte_identical_to_the_golden_hashes(name):
    expected = json.load(open(GOLDEN))[name]
    assert differences(expected, wild_hashes([name])[name]) == []
