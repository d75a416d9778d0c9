"""Pure parsers of phone output, fed text shaped like real phones print it."""
# ruff: noqa: E501  (captured phone output keeps its real line lengths)

from __future__ import annotations

import pytest

from benchorch.devices import androidfacts as af
from benchorch.devices.cpumask import cpu_mask, mask_hex

PIXEL6_GETPROP = """\
[dalvik.vm.heapsize]: [512m]
[ro.board.platform]: [gs101]
[ro.build.fingerprint]: [google/oriole/oriole:13/TQ3A.230805.001/10316531:user/release-keys]
[ro.build.version.release]: [13]
[ro.build.version.sdk]: [33]
[ro.hardware]: [oriole]
[ro.product.cpu.abi]: [arm64-v8a]
[ro.product.cpu.abilist]: [arm64-v8a,armeabi-v7a,armeabi]
[ro.product.manufacturer]: [Google]
[ro.product.model]: [Pixel 6]
[ro.soc.manufacturer]: [Google]
[ro.soc.model]: [GS101]
[persist.sys.usb.config]: []
[ro.com.google.clientidbase]: [android-google]
"""

GALAXY_S10_GETPROP = """\
[ro.board.platform]: [exynos5]
[ro.build.fingerprint]: [samsung/beyond1ltexx/beyond1:12/SP1A.210812.016/G973FXXSGHWA3:user/release-keys]
[ro.build.version.release]: [12]
[ro.build.version.sdk]: [31]
[ro.hardware]: [exynos9820]
[ro.product.cpu.abilist]: [arm64-v8a,armeabi-v7a,armeabi]
[ro.product.manufacturer]: [samsung]
[ro.product.model]: [SM-G973F]
[ro.config.ringtone]: [Over_the_Horizon.ogg]
[ro.boot.multiline]: [first line
second line]
[ro.secure]: [1]
"""

OLD_GETPROP = """\
[ro.product.cpu.abi]: [armeabi-v7a]
[ro.product.cpu.abi2]: [armeabi]
[ro.hardware]: [qcom]
[ro.board.platform]: []
"""

PIXEL_BATTERY = """\
Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Dock powered: false
  Max charging current: 500000
  Max charging voltage: 5000000
  Charge counter: 3164000
  status: 2
  health: 2
  present: true
  level: 78
  scale: 100
  voltage: 4123
  temperature: 284
  technology: Li-ion
"""

SAMSUNG_BATTERY = """\
Current Battery Service state:
  AC powered: false
  USB powered: false
  Wireless powered: false
  Max charging current: 0
  Max charging voltage: 0
  Charge counter: 0
  status: 3
  health: 2
  present: true
  level: 41
  scale: 100
  voltage: 3811
  temperature: 337
  technology: Li-ion
  batterySWSelfDischarging: false
  mSecPlugTypeSummary: 0
  LED Charging: true
  LED Low Battery: true
  current now: -391
  charge counter: 1502000
  Adaptive Fast Charging Settings: true
  Super Fast Charging Settings: false
"""

PIXEL6_CPUS = """\
cpu0 1803000 1197000
cpu1 1803000 300000
cpu2 1803000 300000
cpu3 1803000 574000
cpu4 2253000 400000
cpu5 2253000 400000
cpu6 2802000 500000
cpu7 2802000 -
"""

# Snapdragon 720G (Galaxy A52): 6 little + 2 big.
A52_CPUS = """\
cpu0 1804800 1804800
cpu1 1804800 1804800
cpu2 1804800 691200
cpu3 1804800 691200
cpu4 1804800 691200
cpu5 1804800 691200
cpu6 2304000 2304000
cpu7 2304000 2304000
"""

# Snapdragon 8 Gen 2: prime 3.19 GHz, 2+2 at 2.8 GHz in two policies, 3 at 2.0 GHz.
SD8G2_CPUS = """\
cpu0 2016000 -
cpu1 2016000 -
cpu2 2016000 -
cpu3 2803200 -
cpu4 2803200 -
cpu5 2803200 -
cpu6 2803200 -
cpu7 3187200 -
"""

PIXEL_THERMAL = (
    "thermal_zone0\tBIG\t45312\n"
    "thermal_zone1\tMID\t41000\n"
    "thermal_zone2\tLITTLE\t39500\n"
    "thermal_zone3\tgpu\t-\n"
    "thermal_zone4\tbattery\t28400\n"
    "thermal_zone5\tskin-therm\t31.5\n"
    "thermal_zone6\tcpu-1-0-usr\t380\n"
    "thermal_zone7\tcpu-1-0-usr\t46000\n"
    "thermal_zone8\tpa-therm\t27\n"
)

TOYBOX_DF = """\
Filesystem     1K-blocks     Used Available Use% Mounted on
/dev/block/dm-8 113101212 40182708  72787432  36% /data
"""

BUSYBOX_WRAPPED_DF = """\
Filesystem           1K-blocks      Used Available Use% Mounted on
/dev/block/platform/soc/1d84000.ufshc/by-name/userdata
                      52403200  12345678  40057522  24% /data
"""

TOOLBOX_DF = """\
Filesystem               Size     Used     Free   Blksize
/data/local/tmp         12.5G     3.1G     9.4G   4096
"""


def test_getprop_pixel_facts() -> None:
    props = af.parse_getprop(PIXEL6_GETPROP)
    assert props["ro.product.model"] == "Pixel 6"
    assert props["persist.sys.usb.config"] == ""
    assert af.soc_from_props(props) == "GS101"
    assert af.abis_from_props(props) == ("arm64-v8a", "armeabi-v7a", "armeabi")
    assert props["ro.build.fingerprint"].startswith("google/oriole/oriole:13/")


def test_getprop_samsung_falls_back_to_board_platform_and_joins_multiline() -> None:
    props = af.parse_getprop(GALAXY_S10_GETPROP)
    assert af.soc_from_props(props) == "exynos5"
    assert props["ro.boot.multiline"] == "first line\nsecond line"
    assert props["ro.secure"] == "1"  # parsing resumed after the multi-line value


def test_getprop_old_phone_uses_legacy_abis_and_hardware() -> None:
    props = af.parse_getprop(OLD_GETPROP)
    assert af.abis_from_props(props) == ("armeabi-v7a", "armeabi")
    assert af.soc_from_props(props) == "qcom"  # empty ro.board.platform skipped


def test_battery_pixel_charging_over_usb() -> None:
    bat = af.parse_battery(PIXEL_BATTERY)
    assert bat == af.Battery(level=78, charging=True, temp_c=28.4)


def test_battery_samsung_discharging_ignores_lowercase_duplicates() -> None:
    bat = af.parse_battery(SAMSUNG_BATTERY)
    assert bat.level == 41 and bat.charging is False and bat.temp_c == pytest.approx(33.7)


def test_battery_full_and_plugged_counts_as_charging_and_scale_is_applied() -> None:
    text = "  AC powered: true\n  status: 5\n  level: 50\n  scale: 50\n"
    assert af.parse_battery(text) == af.Battery(100, True, None)


def test_battery_garbage_gives_unknowns() -> None:
    assert af.parse_battery("Can't find service: battery\n") == af.Battery(None, None, None)


def test_thermal_units_and_duplicates() -> None:
    zones = af.parse_thermal(PIXEL_THERMAL)
    assert zones["BIG"] == pytest.approx(45.312)
    assert "gpu" not in zones  # unreadable
    assert "skin-therm" not in zones  # not an integer
    assert zones["cpu-1-0-usr"] == pytest.approx(38.0)  # decidegrees
    assert zones["cpu-1-0-usr (thermal_zone7)"] == pytest.approx(46.0)
    assert zones["pa-therm"] == 27.0
    assert af.hottest(zones) == ("cpu-1-0-usr (thermal_zone7)", pytest.approx(46.0))
    assert af.hottest({}) is None


def test_pixel6_three_clusters_and_big_mask() -> None:
    cores = af.parse_cpus(PIXEL6_CPUS)
    assert cores[7].cur_khz is None and cores[0].cur_khz == 1197000
    clusters = af.clusters_from_cores(cores)
    assert [(c.name, c.cpus, c.max_khz) for c in clusters] == [
        ("big", (6, 7), 2802000),
        ("mid", (4, 5), 2253000),
        ("little", (0, 1, 2, 3), 1803000),
    ]
    assert mask_hex(cpu_mask(clusters[0].cpus)) == "c0"
    assert mask_hex(cpu_mask(clusters[2].cpus)) == "f"


def test_two_clusters_six_little_two_big() -> None:
    clusters = af.clusters_from_cores(af.parse_cpus(A52_CPUS))
    assert [(c.name, c.cpus) for c in clusters] == [("big", (6, 7)), ("little", (0, 1, 2, 3, 4, 5))]


def test_prime_core_is_big_and_middle_groups_merge() -> None:
    clusters = af.clusters_from_cores(af.parse_cpus(SD8G2_CPUS))
    assert [(c.name, c.cpus) for c in clusters] == [
        ("big", (7,)),
        ("mid", (3, 4, 5, 6)),
        ("little", (0, 1, 2)),
    ]
    four = af.parse_cpus("cpu0 1 -\ncpu1 2 -\ncpu2 3 -\ncpu3 4 -\n")
    assert [c.cpus for c in af.clusters_from_cores(four)] == [(3,), (1, 2), (0,)]


def test_single_frequency_and_unknown_frequencies() -> None:
    same = af.parse_cpus("cpu0 2000000 -\ncpu1 2000000 -\n")
    assert af.clusters_from_cores(same) == (af.CpuCluster("all", (0, 1), 2000000),)
    unknown = af.parse_cpus("cpu0 - -\ncpu1 - -\n")
    assert af.clusters_from_cores(unknown) == (af.CpuCluster("all", (0, 1), None),)
    assert af.clusters_from_cores(()) == ()


def test_cpu_list_syntax() -> None:
    assert af.parse_cpu_list("0-3,6,7\n") == (0, 1, 2, 3, 6, 7)
    assert af.parse_cpu_list("0\n") == (0,)
    assert af.parse_cpu_list("") == ()


def test_df_variants() -> None:
    assert af.parse_df(TOYBOX_DF) == 72787432 * 1024
    assert af.parse_df(BUSYBOX_WRAPPED_DF) == 40057522 * 1024
    assert af.parse_df(TOOLBOX_DF) == int(9.4 * (1 << 30))
    assert af.parse_df("df: /data/local/tmp: Permission denied\n") is None


def test_sections_split_at_markers() -> None:
    text = f"noise\n{af.MARKER}props\n[a]: [b]\n{af.MARKER}cpus\ncpu0 1 2\n{af.MARKER}empty\n"
    assert af.split_sections(text) == {"props": "[a]: [b]", "cpus": "cpu0 1 2", "empty": ""}


def test_rooted_from_id_lines() -> None:
    shell = "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input) context=u:r:shell:s0"
    assert af.rooted_from_id(shell) is False
    assert af.rooted_from_id(shell + "\nuid=0(root) gid=0(root) context=u:r:magisk:s0") is True
    assert af.rooted_from_id("uid=0(root) gid=0(root)") is True
    assert af.rooted_from_id("") is None


def test_device_info_and_health_from_one_combined_output() -> None:
    m = af.MARKER
    output = (
        f"{m}getprop\n{PIXEL6_GETPROP}{m}battery\n{PIXEL_BATTERY}{m}thermal\n{PIXEL_THERMAL}"
        f"{m}online\n0-7\n{m}cpus\n{PIXEL6_CPUS}{m}df\n{TOYBOX_DF}{m}root\n"
        "uid=2000(shell) gid=2000(shell) context=u:r:shell:s0\n"
    )
    sections = af.split_sections(output)
    info = af.device_info("R3CN30ABCDE", "device", sections)
    assert (info.model, info.manufacturer, info.soc, info.sdk) == ("Pixel 6", "Google", "GS101", 33)
    assert info.big_cpus == (6, 7) and info.rooted is False
    assert info.free_bytes == 72787432 * 1024 and info.battery_level == 78
    snap = af.health(sections, taken_at=123.0)
    assert snap.online_cpus == tuple(range(8))
    assert snap.cpu_cur_khz[0] == 1197000 and 7 not in snap.cpu_cur_khz
    assert snap.hottest_zone == "cpu-1-0-usr (thermal_zone7)" and snap.taken_at == 123.0


def test_scripts_open_every_section_they_are_read_by() -> None:
    for name in ("getprop", "battery", "thermal", "online", "cpus", "df", "root"):
        assert af.section_cmd(name) in af.INFO_SCRIPT
    for name in ("battery", "thermal", "online", "cpus"):
        assert af.section_cmd(name) in af.HEALTH_SCRIPT
