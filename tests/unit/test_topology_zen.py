"""The 768-CPU preset (zen5c-2s: two EPYC 9965) and the cache-domain level of the topology:
hwloc's numbering, the CCX distance class, and what a transfer costs by distance."""

from __future__ import annotations

from importlib import resources

import pytest

from emu.hw.machine import MachineError, cost_reasons, load_machine
from emu.hw.topology import (
    OTHER_CCX,
    OTHER_SOCKET,
    SAME_CPU,
    SAME_SOCKET,
    SMT_SIBLING,
    Topology,
)
from emu.machine.spec import RunSpec
from emu.testcases import resolve

ZEN = "zen5c-2s"


def test_the_part_as_hwloc_numbers_it():
    """Package > L3 (one per CCD) > Core > PU, depth first: 16 cores (32 PUs) per L3."""
    m = load_machine(ZEN)
    topo = Topology.of(m)
    assert (m.ncpus, m.ncores, topo.ccx_per_socket) == (768, 384, 12)
    assert [topo.core_of(c) for c in (0, 1, 2, 31, 32)] == [0, 0, 1, 15, 16]
    assert [topo.ccx_of(c) for c in (0, 31, 32, 383, 384, 767)] == [0, 0, 1, 11, 12, 23]
    assert [topo.socket_of(c) for c in (383, 384)] == [0, 1]


def test_distance_classes_of_the_ccx_level():
    topo = Topology.of(load_machine(ZEN))
    assert topo.distance(5, 5) == SAME_CPU
    assert topo.distance(0, 1) == SMT_SIBLING
    assert topo.distance(0, 31) == SAME_SOCKET        # the same L3
    assert topo.distance(31, 32) == OTHER_CCX          # the next CCD, through the IO die
    assert topo.distance(0, 383) == OTHER_CCX
    assert topo.distance(383, 384) == OTHER_SOCKET
    assert topo.distance(384, 416) == OTHER_CCX


@pytest.mark.parametrize("name", ["skylake-2s", "desktop-16", ZEN])
def test_a_row_of_distances_is_the_pairwise_one(name):
    topo = Topology.of(load_machine(name))
    for a in range(0, topo.ncpus, 13):
        assert topo.distance_row(a) == [topo.distance(a, b) for b in range(topo.ncpus)]


@pytest.mark.parametrize("name", ["skylake-2s", "desktop-16"])
def test_a_one_domain_socket_has_no_other_ccx(name):
    """The existing presets keep their distances: their socket is one cache domain."""
    topo = Topology.of(load_machine(name))
    assert topo.ccx_per_socket == 1
    assert not any(OTHER_CCX in topo.distance_row(a) for a in range(topo.ncpus))


def test_transfer_prices_rise_with_distance():
    m = load_machine(ZEN)
    spec = RunSpec(testcase=resolve("mmap1_processes"), tasks=1, machine=m)
    table = spec.transfer_table()
    assert len(table) == len(table[0]) == 768
    smt, ccx, ccd, sock, into_home = table[0][1], table[0][2], table[0][32], \
        table[0][384], table[384][0]
    assert 0 == table[7][7] < smt < ccx < ccd < sock
    assert (smt, ccx, ccd, sock) == tuple(m.cost(c) for c in (
        "line_smt_sibling", "line_same_socket", "line_other_ccx", "line_other_socket"))
    assert into_home == m.cost("line_other_socket_to_home")


def test_the_preset_prices_what_skylake_prices_and_gives_each_a_reason():
    """The kernel model looks its costs up by name: the new preset has every cost of the
    case study's, plus the CCX transfer, each with its reason."""
    zen, sky = load_machine(ZEN), load_machine("skylake-2s")
    assert set(zen.costs) == set(sky.costs) | {"line_other_ccx"}
    reasons = cost_reasons(ZEN)
    assert set(reasons) == set(zen.costs)
    assert all(reasons.values())


def test_will_it_scale_placement_fills_the_machine():
    topo = Topology.of(load_machine(ZEN))
    assert sorted(topo.place(768)) == list(range(768))
    assert topo.place(384) == list(range(0, 768, 2))   # one task per core, no SMT


def _preset(tmp_path, **over) -> str:
    text = (resources.files("emu.hw") / "presets" / f"{ZEN}.toml").read_text()
    for key, value in over.items():
        lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
        if value is not None:
            lines.insert(lines.index("[costs]") if key == "cores_per_ccx" else len(lines),
                         f"{key} = {value}")
        text = "\n".join(lines) + "\n"
    path = tmp_path / "m.toml"
    path.write_text(text)
    return str(path)


def test_a_ccx_that_does_not_divide_the_socket_is_refused(tmp_path):
    with pytest.raises(MachineError, match="cores_per_ccx 7 does not divide"):
        load_machine(_preset(tmp_path, cores_per_ccx=7))


def test_several_domains_need_their_transfer_cost(tmp_path):
    with pytest.raises(MachineError, match="no line_other_ccx cost"):
        load_machine(_preset(tmp_path, line_other_ccx=None))
