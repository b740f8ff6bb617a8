"""The MD engine: force fields and integrators that make reference trajectories.

* ``Potential`` with ``MMFFPotential`` (RDKit MMFF94) and ``GFN2Potential`` (tblite GFN2-xTB);
  ``torch_mmff``: MMFF94 in torch, differentiable, batched, on any device.
* ``integrators``: velocity Verlet (NVE) and Langevin BAOAB (NVT) in numpy.
* ``generate_md``: a molecule (named or SMILES) to an equilibrated NVE trajectory, written in
  resumable chunks that ``chemnoether.data.load_generated`` reads; ``energy_report`` checks it.
* ``cli``: ``chemnoether md generate``.

Learned dynamics (a trained model run as MD) is ``chemnoether.learned_md``.
"""

from chemnoether.simulation.generate import generate_md
from chemnoether.simulation.potentials import GFN2Potential, MMFFPotential, Potential
from chemnoether.simulation.report import energy_report

__all__ = ["GFN2Potential", "MMFFPotential", "Potential", "energy_report", "generate_md"]
