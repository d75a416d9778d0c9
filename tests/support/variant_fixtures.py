"""Session fixture: a small model's recipe variants, exported once per session.

``exported_variants`` runs the real exporter (``benchorch.variants.export``) on
``demo:conv_bn_relu`` at ``1,3,32,32`` float with every recipe step, and
returns the loaded :class:`benchorch.variants.manifest.Manifest` (``.root`` is
the folder, ``.files`` the checked files with their benchmark dims, types and
memory format). On a torch without XNNPACK (PyPI 2.13) the ``mobile`` variants
are in ``.skipped``; on Debian's 1.13.1 they are files. Tests must not modify
the folder: copy a file first if it must change.
"""

from __future__ import annotations

import pytest

from benchorch.variants.manifest import Manifest

EXPORT_MODEL = "demo:conv_bn_relu"
EXPORT_DIMS = "1,3,32,32"


@pytest.fixture(scope="session")
def exported_variants(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    pytest.importorskip("torch")
    from benchorch.variants.export import ExportOptions, export_variants

    out = tmp_path_factory.mktemp("variants") / "conv_bn_relu"
    export_variants(ExportOptions(EXPORT_MODEL, out, dims=EXPORT_DIMS, types="float"))
    return Manifest.load(out)
