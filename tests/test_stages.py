"""The group -> stage -> section mapping (workers/stages.py, fixtures/stages.json)."""
import json

import pytest

from workers.stages import GroupInfo, StageMap, StagesFileError, default_stages_file, normalise_group

MAIN_STAGES = [
    "plan", "create", "verify", "package", "deploy", "secure", "govern", "monitor", "manage", "systems",
]


@pytest.fixture(scope="module")
def stage_map():
    return StageMap.load()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("group::source code", "source_code"),
        ("group::distribution::deploy", "distribution_deploy"),
        ("group::pipeline execution", "pipeline_execution"),
        ("group::gitaly::cluster", "gitaly_cluster"),
        ("Group::Code Review", "code_review"),
        ("  group::project management ", "project_management"),
        ("anti-abuse", "anti-abuse"),
        ("5-min-app", "5-min-app"),
        ("source_code", "source_code"),
    ],
)
def test_normalise_group(raw, key):
    assert normalise_group(raw) == key


@pytest.mark.parametrize("raw", ["group::source code", "group::distribution::deploy", "anti-abuse"])
def test_normalise_group_is_idempotent(raw):
    once = normalise_group(raw)
    assert normalise_group(once) == once


def test_newest_mapping_places_groups(stage_map):
    assert stage_map.group("source_code") == GroupInfo("source_code", "Source Code", "create", "dev")
    assert stage_map.stage_of_group("group::source code") == "create"
    assert stage_map.stage_of_group("import_and_integrate") == "manage"
    assert stage_map.section_of_stage("manage") == "core_platform"
    assert stage_map.section_of_stage("deploy") == "cd"
    assert stage_map.stage_of_group("analytics_instrumentation") == "monitor"


@pytest.mark.parametrize(
    ("old", "group", "stage"),
    [
        ("group::product intelligence", "analytics_instrumentation", "monitor"),
        ("group::release", "environments", "deploy"),
        ("configure", "environments", "deploy"),
        ("group::monitor", "respond", "monitor"),
        ("group::distribution", "distribution_deploy", "systems"),
        ("authentication_and_authorization", "authentication", "govern"),
        ("import", "import_and_integrate", "manage"),
        ("integrations", "import_and_integrate", "manage"),
        ("editor", "ide", "create"),
        ("runner_saas", "hosted_runners", "verify"),
    ],
)
def test_aliases_resolve_to_successor(stage_map, old, group, stage):
    info = stage_map.group(old)
    assert info is not None
    assert (info.key, info.stage) == (group, stage)
    assert stage_map.stage_of_group(old) == stage


def test_group_without_successor_has_no_stage(stage_map):
    assert stage_map.group("group::memory") is None
    assert stage_map.stage_of_group("memory") is None


def test_remote_development_falls_back_to_create(stage_map):
    info = stage_map.group("remote_development")
    assert (info.stage, info.section) == ("create", "dev")


def test_retired_2022_group_keeps_its_stage(stage_map):
    info = stage_map.group("workspace")
    assert info.retired is True
    assert (info.stage, info.section) == ("manage", "core_platform")


@pytest.mark.parametrize("name", ["ai_catalog", "no such group", "", None])
def test_unknown_group_is_none(stage_map, name):
    assert stage_map.group(name) is None
    assert stage_map.stage_of_group(name) is None


def test_stage_and_section_names(stage_map):
    assert stage_map.stage_name("create") == "Create"
    assert stage_map.stage_name("platforms") == "SaaS Platforms"
    assert stage_map.stage_name("no_such_stage") == "No Such Stage"
    assert stage_map.section_name("core_platform") == "Core Platform"
    assert stage_map.section_of_stage("unknown") is None


def test_main_stages_are_known(stage_map):
    assert set(MAIN_STAGES) <= set(stage_map.stages())
    assert {g.key for g in stage_map.groups("deploy")} == {"environments"}


def test_default_file_is_in_fixtures():
    assert default_stages_file().parts[-2:] == ("fixtures", "stages.json")
    assert default_stages_file().is_file()


def test_custom_file(tmp_path):
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({
        "sections": {"dev": {"name": "Dev"}},
        "stages": {"create": {"name": "Create", "section": "dev"}},
        "groups": {"source_code": {"name": "Source Code", "stage": "create", "section": "dev"}},
        "aliases": {"group::old code": "source_code"},
    }))
    stage_map = StageMap.load(path)
    assert stage_map.stage_of_group("old_code") == "create"
    assert stage_map.stages() == ["create"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        json.dumps({"stages": {}}),
        json.dumps({"stages": {}, "groups": {"a": {"stage": "nowhere"}}}),
        json.dumps({
            "stages": {"create": {"section": "dev"}},
            "groups": {"a": {"stage": "create"}},
            "aliases": {"b": "missing_group"},
        }),
        json.dumps({
            "stages": {"create": {"section": "dev"}},
            "groups": {"a": {"stage": "create"}},
            "aliases": {"a": None},
        }),
    ],
    ids=["syntax", "not-object", "no-groups", "unknown-stage", "alias-to-nowhere", "alias-is-group"],
)
def test_invalid_stages_file_raises(tmp_path, content):
    path = tmp_path / "stages.json"
    path.write_text(content)
    with pytest.raises(StagesFileError):
        StageMap.load(path)


def test_missing_stages_file_raises(tmp_path):
    with pytest.raises(StagesFileError, match="cannot read"):
        StageMap.load(tmp_path / "absent.json")
