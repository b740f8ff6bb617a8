"""``import chemnoether.gp`` stays light: the heads, kernels and conditioning need torch and numpy only."""

import json
import subprocess
import sys

HEAVY = ("scipy", "dgl", "rdkit", "ase", "pandas")


def test_importing_the_gp_package_loads_no_heavy_dependency():
    """In a fresh interpreter; torch is listed too, so that the probe is seen to report what is loaded."""
    names = ("torch", *HEAVY)
    code = f"import json, sys, chemnoether.gp, chemnoether.gp.lagged; print(json.dumps([m for m in {names!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["torch"]
