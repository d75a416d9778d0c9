"""Pure parts: profiles, fault options, path rewriting and the streaming output filter."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchorch.errors import UsageError
from benchorch.virtualphone.faults import Faults, FaultState
from benchorch.virtualphone.profile import builtin_names, load_profile
from benchorch.virtualphone.sandbox import OutputRewriter, Sandbox
from benchorch.virtualphone.server import make_banner


def test_builtin_profiles_cover_the_required_shapes() -> None:
    names = builtin_names()
    assert {"pixel8", "galaxy_a54", "x86_64_emulator"} <= set(names)
    pixel = load_profile("pixel8")
    assert pixel.ncpus == 9 and len(pixel.clusters) == 3
    assert pixel.abis == ("arm64-v8a",)
    assert pixel.props["ro.build.version.sdk"] == "34"
    a54 = load_profile("galaxy_a54")
    assert a54.ncpus == 8 and len(a54.clusters) == 2
    emu = load_profile("x86_64_emulator")
    assert emu.abis[0] == "x86_64"
    for name in names:
        p = load_profile(name)
        maxes = [c.max_khz for c in p.clusters]
        assert all(c.min_khz <= c.cur_khz <= c.max_khz for c in p.clusters)
        assert len({c for cl in p.clusters for c in cl.cpus}) == p.ncpus
        assert maxes == sorted(maxes)


def test_profile_from_file_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text(
        '[props]\n"ro.product.model" = "M"\n'
        '[[clusters]]\nname = "all"\ncpus = [0, 1]\nmax_khz = 1000\n'
        "[faults]\nfull_disk = true\n"
    )
    prof = load_profile(good)
    assert prof.name == "mine" and prof.ncpus == 2 and prof.faults == {"full_disk": True}
    assert Faults.from_dict(prof.faults).full_disk
    with pytest.raises(UsageError, match="no virtual-phone profile named 'nope'"):
        load_profile("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[props\n")
    with pytest.raises(UsageError, match="invalid TOML"):
        load_profile(bad)
    missing = tmp_path / "missing.toml"
    missing.write_text('[props]\n"a" = "b"\n')
    with pytest.raises(UsageError, match="clusters"):
        load_profile(missing)


def test_faults_merge_and_validate() -> None:
    base = Faults.from_dict({"hang": "x", "full_disk": True})
    merged = base.merged(hang="y", drop_after_push_bytes=None)
    assert (merged.hang, merged.full_disk, merged.drop_after_push_bytes) == ("y", True, None)
    with pytest.raises(UsageError, match="unknown fault"):
        Faults.from_dict({"explode": True})
    with pytest.raises(UsageError, match="--hang"):
        Faults(hang="(").validate()
    once = FaultState(Faults(drop_after_push_bytes=1, drop_times=1))
    assert once.take_drop() and not once.take_drop()
    hot = FaultState(Faults(hot_c=80.0, cool_rate_c_per_s=2.0), started_at=100.0)
    assert hot.temp_c(30.0, now=105.0) == 70.0
    assert hot.temp_c(30.0, now=200.0) == 30.0


def test_hang_substitutes_the_matching_word_only() -> None:
    state = FaultState(Faults(hang="speed_bench"))
    line = "echo $$ > /data/local/tmp/p; exec taskset f0 ./bin/speed_benchmark_torch --iter=5"
    assert state.hangs(line)
    assert (
        state.substitute_hang(line, "HANG")
        == "echo $$ > /data/local/tmp/p; exec taskset f0 HANG --iter=5"
    )
    assert state.substitute_hang("a;'x/speed_bench' b", "H") == "a;'H' b"
    assert not state.hangs("echo hi")


def test_banner_names_the_features() -> None:
    banner = make_banner(load_profile("pixel8").props).decode()
    assert banner.startswith(
        "device::ro.product.name=shiba;ro.product.model=Pixel 8;ro.product.device=shiba;"
    )
    assert banner.endswith("features=shell_v2,stat_v2,ls_v2,fixed_push_mkdir")


@pytest.fixture
def sandbox(tmp_path: Path):
    box = Sandbox(
        load_profile("pixel8"), FaultState(Faults()), tmp_path / "root", tmp_path / "state"
    )
    yield box
    box.close()


def test_rewrite_whole_components_only(sandbox: Sandbox) -> None:
    root = str(sandbox.root)
    assert sandbox.rewrite("cd /data/local/tmp && ./b") == f"cd {root} && ./b"
    assert sandbox.rewrite("--model='/data/local/tmp/m.ptl'") == f"--model='{root}/m.ptl'"
    assert sandbox.rewrite("LD_LIBRARY_PATH=/data/local/tmp:/x") == f"LD_LIBRARY_PATH={root}:/x"
    assert (
        sandbox.rewrite("/x/data/local/tmp /data/local/tmpx")
        == "/x/data/local/tmp /data/local/tmpx"
    )
    assert sandbox.rewrite("cat /sys/class/x") == f"cat {sandbox.fake.sys}/class/x"
    assert sandbox.rewrite("cat /proc/1/stat") == "cat /proc/1/stat"
    assert sandbox.host_path("/data/local/tmp/../../../etc/passwd") is None
    assert sandbox.host_path("/data/local/tmp/a/../b") == sandbox.root / "b"


def test_unsafe_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="characters a shell would split"):
        Sandbox(load_profile("pixel8"), FaultState(Faults()), tmp_path / "a b", tmp_path / "state")


@given(
    text=st.lists(
        st.sampled_from(
            ["/host/root", "/host/root/x", "abc", "/host/ro", "\n", "E: /system/bin/sh: "]
        )
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_output_rewriter_is_independent_of_chunking(text: list[str], cuts: list[int]) -> None:
    pairs = [(b"/host/root", b"/data/local/tmp"), (b"E: /system/bin/sh: ", b"/system/bin/sh: ")]
    data = "".join(text).encode()
    whole = OutputRewriter(pairs)
    expected = whole.feed(data) + whole.flush()
    chunked = OutputRewriter(pairs)
    out = b""
    last = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        out += chunked.feed(data[last:cut])
        last = cut
    out += chunked.feed(data[last:]) + chunked.flush()
    assert out == expected
    assert b"/host/root" not in expected


def test_cli_lists_profiles_and_rejects_bad_flags() -> None:
    from click.testing import CliRunner

    from benchorch.cli.main import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["virtual-phone", "--list-profiles"])
    assert res.exit_code == 0
    assert res.output.split() == builtin_names()
    res = runner.invoke(cli, ["virtual-phone", "--battery-level", "101"])
    assert res.exit_code == 2
    res = runner.invoke(cli, ["virtual-phone", "--profile", "nope", "--list-profiles"])
    assert res.exit_code == 0  # listing needs no profile
