"""The space link model: light time, bit rate, loss and outages, in mission time."""

from __future__ import annotations

import math

import pytest

from hil.ground.link import DOWN, UP, LinkSpec, SpaceLink

S = 1_000_000_000


def test_a_packet_arrives_after_its_transmission_and_the_light_time_not_before():
    link = SpaceLink(LinkSpec(light_time_s=1.28, uplink_bps=4000.0))
    packet = bytes(100)  # 800 bits: 0.2 s at 4 kbit/s
    t0 = 10 * S
    arrival = link.send(UP, t0, packet)
    assert arrival == t0 + 200_000_000 + 1_280_000_000
    assert link.receive(UP, arrival - 1) == [] and link.in_flight(UP) == 1
    assert link.receive(UP, arrival) == [packet] and link.receive(UP, 10**12) == []
    assert link.receive(DOWN, 10**12) == []  # the other direction carried nothing


def test_packets_queue_behind_each_other_at_the_bit_rate():
    """Ten packets sent at once leave back to back: the last arrives after all ten
    transmissions; the throughput is the bit rate."""
    bps = 256_000.0
    link = SpaceLink(LinkSpec(light_time_s=0.5, downlink_bps=bps))
    sizes = [64, 1000, 13, 500, 4096, 7, 99, 250, 2048, 1]
    arrivals = [link.send(DOWN, 0, bytes(n)) for n in sizes]
    tx = 0
    for n, a in zip(sizes, arrivals, strict=True):
        tx += math.ceil(8 * n * S / bps)
        assert a == tx + 500_000_000
    got = []
    for t in range(0, 2 * S, 10_000_000):
        got += link.receive(DOWN, t)
    assert [len(p) for p in got] == sizes  # in order, all of them
    c = link.counters(DOWN)
    assert (c.sent, c.delivered, c.bits) == (10, 10, 8 * sum(sizes))


def test_losses_are_drawn_at_the_link_rate_and_repeat_with_the_seed():
    spec = LinkSpec(light_time_s=0.0, uplink_bps=1e9, loss=0.2)
    n = 5000

    def lost(seed):
        link = SpaceLink(spec, seed)
        return [link.send(UP, k * S, b"x" * 20) is None for k in range(n)]

    a, b, c = lost(1), lost(1), lost(2)
    assert a == b and a != c
    k = sum(a)
    assert abs(k - 0.2 * n) < 4 * math.sqrt(n * 0.2 * 0.8)


def test_an_outage_blocks_what_is_sent_into_it():
    link = SpaceLink(LinkSpec(light_time_s=1.0, uplink_bps=8000.0, outages=((20.0, 30.0),)))
    p = bytes(100)  # 0.1 s on the link
    before = link.send(UP, 19 * S, p)
    straddles = link.send(UP, 19_950_000_000, p)  # its transmission runs into the outage
    inside = link.send(UP, 25 * S, p)
    after = link.send(UP, 30 * S, p)
    assert before is not None and after is not None
    assert straddles is None and inside is None
    c = link.counters(UP)
    assert (c.sent, c.blocked, c.lost) == (4, 2, 0)
    assert len(link.receive(UP, 40 * S)) == 2


@pytest.mark.parametrize("kw", [dict(light_time_s=-1.0), dict(uplink_bps=0.0),
                                dict(loss=1.0), dict(outages=((5.0, 5.0),))])
def test_a_link_that_cannot_be_is_refused(kw):
    with pytest.raises(ValueError):
        LinkSpec(**kw)
