"""The fuzzing campaign's bounded pass (tests/fuzz.py; `make fuzz` runs the
long one): every kept regression input through both targets, then short
seeded libFuzzer runs of the parser and of the whole decoder."""

import pytest

import fuzz


def test_kept_regressions_end_in_documented_errors():
    assert fuzz.replay() >= 6


def test_the_crc_fixer_makes_a_mutated_stream_pass_its_checksums():
    from scalecodec import container

    data = bytearray((fuzz.SEEDS / "spatial-1-2-q4.scc").read_bytes())
    data[-10] ^= 0x55  # inside the last chunk's payload
    with pytest.raises(container.ContainerError, match="CRC"):
        container.parse(bytes(data))
    assert len(container.parse(fuzz.fix_crcs(bytes(data))).chunks) == 2


@pytest.mark.parametrize("target, runs", [("parse", 20_000), ("decode", 100)])
def test_a_short_seeded_campaign_finds_no_crash(tmp_path, target, runs):
    result = fuzz.run_target(target, runs, seed=1, workdir=tmp_path)
    assert result["returncode"] == 0, result["log_tail"]
    assert result["runs"] >= runs
