"""``generate_md(stop_requested=...)``: a stop asked for between blocks of steps ends the run there."""

import pytest

from chemnoether.data.md_chunks import load_generated
from chemnoether.simulation import generate_md


def test_a_requested_stop_raises_between_blocks_and_keeps_the_complete_chunks(tmp_path):
    asked = []

    def stop_after_two_blocks() -> bool:  # 2,000 steps per block: the first chunk (200 frames) is complete by then
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(KeyboardInterrupt):
        generate_md("ethanol", 100_000, out=tmp_path / "md", chunk_frames=200, equilibration_steps=0, progress=False,
                    stop_requested=stop_after_two_blocks)
    kept = load_generated(tmp_path / "md")
    assert kept.n_frames >= 200 and kept.n_frames % 200 == 0 and kept.n_frames < 100_001
