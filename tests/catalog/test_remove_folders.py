"""``assistant-admin models remove`` leaves no empty folder behind (issue 19).

Two versions of one model are imported (each test-loads SmolLM2 in a child: the model marker);
removing one keeps the name's folder for the other, removing the last one removes it too.
"""

from __future__ import annotations

import argparse

import pytest

from assistant.catalog.service import Catalog
from assistant.cli.admin_models import cmd_remove
from tests.catalog.conftest import MakeFolder, assert_nothing_left

pytestmark = pytest.mark.model


def test_removing_the_last_version_removes_the_models_folder(
    catalog: Catalog,
    make_folder: MakeFolder,
    smol_path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    for version in ("1.0", "2.0"):
        folder = make_folder({"smol.gguf": smol_path}, name="smollm2", version=version)
        catalog.import_folder(folder)
    models = catalog.paths.models_dir
    (models / "other").mkdir()  # someone else's folder: never touched
    assert sorted(p.name for p in (models / "smollm2").iterdir()) == ["1.0", "2.0"]

    assert cmd_remove(argparse.Namespace(name="smollm2@1.0"), catalog) == 0
    assert [p.name for p in (models / "smollm2").iterdir()] == ["2.0"]
    assert cmd_remove(argparse.Namespace(name="smollm2@2.0"), catalog) == 0
    assert "Removed smollm2@2.0." in capsys.readouterr().out
    assert not (models / "smollm2").exists()
    assert sorted(p.name for p in models.iterdir()) == ["other"]
    assert not catalog.staging_dir.exists()  # the removal's own staging folder went too
    assert_nothing_left(catalog)
