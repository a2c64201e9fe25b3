"""Profiles are data: five sections kept as sections, every value checked, shown by `wsnas profile`."""

from __future__ import annotations

import json

import pytest

from wsnas import profiles
from wsnas.cli import main
from wsnas.profiles import CONVENTIONS, SECTIONS, ProfileError, load_profile, profile_names, profile_sections
from wsnas.settings import evaluation_settings


@pytest.mark.parametrize("name", profile_names())
def test_each_profile_is_its_sections_and_the_flat_view_merges_them(name):
    sections = profile_sections(name)
    assert list(sections) == ["description", *SECTIONS]
    assert all(set(sections[section]) == set(kinds) for section, kinds in SECTIONS.items())
    flat = load_profile(name)
    assert flat == {"profile": name, "description": sections["description"],
                    **{key: value for section in SECTIONS for key, value in sections[section].items()}}
    assert evaluation_settings(name) == sections["evaluate"]


def test_overrides_land_in_their_section_and_are_checked():
    sections = profile_sections("smoke", epochs=3, num_eval_cells=5, permutation_seeds=2)
    assert (sections["train"]["epochs"], sections["evaluate"]["num_eval_cells"]) == (3, 5)
    assert sections["analysis"]["permutation_seeds"] == 2
    assert profile_sections("smoke")["train"]["epochs"] != 3  # the profile itself is untouched
    with pytest.raises(ProfileError, match="must be positive"):
        profile_sections("smoke", epochs=0)


def test_a_setting_in_the_wrong_section_is_refused(tmp_path, monkeypatch):
    text = (profiles.PROFILE_DIR / "smoke.toml").read_text().replace("[evaluate]\n", "[evaluate]\nepochs = 2\n", 1)
    (tmp_path / "moved.toml").write_text(text)
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)
    profiles._document.cache_clear()
    try:
        with pytest.raises(ProfileError, match=r"\[evaluate\] must hold exactly .* unknown \['epochs'\]"):
            load_profile("moved")
    finally:
        profiles._document.cache_clear()


def test_wsnas_profile_list_and_show(capsys):
    assert main(["profile", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in profile_names())
    assert main(["profile", "show", "paper", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {**profile_sections("paper"), "conventions": CONVENTIONS}
    assert main(["profile", "show", "paper"]) == 0
    assert "TensorFlow's decay is 1 - m" in capsys.readouterr().out
    assert main(["profile", "show", "huge"]) == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err
