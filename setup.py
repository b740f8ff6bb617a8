"""Install ``chemnoether-dgl.pth`` into site-packages; everything else is in pyproject.toml.

The .pth runs ``chemnoether_dgl_hook`` at interpreter start-up, so that ``import dgl`` works before
``import chemnoether`` (docs/design.md, "DGL on a current torch"). A .pth only acts at the root of
site-packages, which setuptools has no setting for, hence two command overrides:

- regular wheels (``pip install .``, ``python -m build``): ``build_py`` copies the file to the root
  of ``build_lib``, which is the root of the wheel;
- editable wheels (``pip install -e .``, PEP 660): the wheel setuptools makes holds only its path
  finder, so the file is added to it afterwards, with its RECORD line, which is what lets
  ``pip uninstall`` remove it.
"""

import base64
import csv
import hashlib
import io
import os
import time
import zipfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH_NAME = "chemnoether-dgl.pth"
PTH_SOURCE = Path(__file__).resolve().parent / PTH_NAME


def _pth_bytes() -> bytes:
    if not PTH_SOURCE.is_file():
        raise FileNotFoundError(f"{PTH_SOURCE} is missing: it ships in the sdist through MANIFEST.in; restore it from git")
    return PTH_SOURCE.read_bytes()


def add_file_to_wheel(wheel_path: Path, name: str, data: bytes) -> None:
    """Add ``name`` at the root of the wheel and to its RECORD (sha256 as the wheel spec says); atomic."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    partial = wheel_path.with_name(wheel_path.name + ".partial")
    with zipfile.ZipFile(wheel_path) as source:
        if name in source.namelist():
            return
        records = [info for info in source.infolist() if info.filename.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            raise RuntimeError(f"{wheel_path}: expected one .dist-info/RECORD, found {len(records)}")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as target:
            added = zipfile.ZipInfo(name, date_time=records[0].date_time)
            added.external_attr = 0o644 << 16
            added.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(added, data)  # first: the spec wants .dist-info at the end
            for info in source.infolist():
                content = source.read(info)
                if info is records[0]:
                    line = io.StringIO()
                    csv.writer(line, lineterminator="\n").writerow([name, f"sha256={digest}", len(data)])
                    content = content.rstrip(b"\n") + b"\n" + line.getvalue().encode()
                target.writestr(info, content)
    os.replace(partial, wheel_path)


class BuildPyWithPth(build_py):
    """``build_py`` that also puts the .pth at the root of ``build_lib`` (regular wheels)."""

    def _adds_pth(self) -> bool:
        # in an editable build, build_lib is a scratch folder that does not become the wheel
        return not getattr(self, "editable_mode", False)

    def run(self):
        super().run()
        if self._adds_pth():
            _pth_bytes()  # a clear error when the file is missing
            self.copy_file(str(PTH_SOURCE), os.path.join(self.build_lib, PTH_NAME), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        return [*outputs, os.path.join(self.build_lib, PTH_NAME)] if self._adds_pth() else outputs


class EditableWheelWithPth(editable_wheel):
    """``editable_wheel`` whose wheel also installs the .pth."""

    def run(self):
        started = time.time()
        super().run()
        # the wheel setuptools just wrote (build backends give it a fresh dist_dir; the margin is
        # for file systems whose timestamps lag the clock)
        wheels = [path for path in Path(self.dist_dir).glob("*.whl") if path.stat().st_mtime >= started - 2]
        if len(wheels) != 1:
            raise RuntimeError(f"expected one new editable wheel in {self.dist_dir}, found {len(wheels)}: {wheels}")
        add_file_to_wheel(wheels[0], PTH_NAME, _pth_bytes())


# guarded so that tests can import add_file_to_wheel; setuptools runs this file as __main__
if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
