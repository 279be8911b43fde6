"""The package's documented examples run (doctest), and leave nothing."""

import doctest
import os

import ipcx


def test_the_module_doc_examples_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = doctest.testmod(ipcx, raise_on_error=False)
    assert result.attempted >= 10 and result.failed == 0
    left = [p for p in tmp_path.rglob("*") if not p.is_dir()]
    assert left == [], "closed receivers remove their sockets"
    assert os.path.isdir(tmp_path)
