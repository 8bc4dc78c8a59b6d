"""snnrl.jit.compile_c: C sources built once per source, flags, compiler and CPU, cached; a notice, not a crash,
where they cannot be built."""

from __future__ import annotations

import logging
import shutil

import pytest

from snnrl import jit

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine")

SOURCE = "int add_one(int x) { return x + 1; }\n"


def test_builds_once_and_loads_from_the_cache(tmp_path, capsys):
    source = tmp_path / "example.c"
    source.write_text(SOURCE)
    lib = jit.compile_c(source, "an example", cache=tmp_path / "cache")
    assert lib is not None and lib.add_one(41) == 42
    assert "compiling an example" in capsys.readouterr().err
    built = sorted((tmp_path / "cache").iterdir())
    assert len(built) == 1 and built[0].suffix == ".so"                       # no partial file left behind
    assert jit.compile_c(source, "an example", cache=tmp_path / "cache").add_one(1) == 2
    assert capsys.readouterr().err == ""                                       # the second call built nothing
    source.write_text(SOURCE.replace("x + 1", "x + 2"))                        # another source: another build
    assert jit.compile_c(source, "an example", cache=tmp_path / "cache").add_one(1) == 3
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_source_that_does_not_compile_gives_one_notice_and_none(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(jit, "_NOTICES", set())
    source = tmp_path / "broken.c"
    source.write_text("this is not C\n")
    with caplog.at_level(logging.WARNING, logger="snnrl"):
        assert jit.compile_c(source, "a broken kernel", cache=tmp_path / "cache") is None
        assert jit.compile_c(source, "a broken kernel", cache=tmp_path / "cache") is None
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and "a broken kernel not built" in notices[0] and "\n" not in notices[0]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []               # nothing half-written kept
