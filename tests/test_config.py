from pathlib import Path

import pytest

from mlcycle import config
from mlcycle.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_committed_params_yaml_equals_composition_of_conf():
    composed = config.compose([], conf_dir=ROOT / "conf")
    assert (ROOT / "params.yaml").read_text() == composed, "run `make params`"


def test_override_changes_a_value(workdir):
    assert config.load(["train.lr=0.5"]).train.lr == 0.5


def test_unknown_key_names_the_key(workdir):
    with pytest.raises(ConfigError, match="train.learning_rate"):
        config.load(["train.learning_rate=0.1"])


def test_wrong_type_names_the_key(workdir):
    with pytest.raises(ConfigError, match="train.max_epochs"):
        config.load(["train.max_epochs=many"])


def test_unknown_key_in_params_file_names_the_key(workdir):
    text = (workdir / "params.yaml").read_text().replace("train:\n", "train:\n  epochz: 3\n")
    (workdir / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match="train.epochz"):
        config.load()


def test_missing_params_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="params.yaml not found"):
        config.load()


def test_stage_reports_config_error_without_traceback(workdir, capsys):
    from mlcycle.stages import train

    assert train.main(["train.lr=fast"]) == 2
    err = capsys.readouterr().err
    assert "train.lr" in err and "Traceback" not in err


def test_keyword_labels_are_strings_not_yaml_booleans():
    params = config.compose([], conf_dir=ROOT / "conf")
    assert "- 'yes'" in params and "- 'no'" in params and "- 'off'" in params


def test_a_section_conf_leaves_unset_is_named(workdir):
    text = (workdir / "params.yaml").read_text().replace("  patience: 4\n", "")
    (workdir / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match="missing parameter.*train.patience"):
        config.load()


def test_the_schema_holds_no_competing_defaults():
    """Every value lives in conf/: the schema alone leaves the scalar fields unset."""
    from omegaconf import OmegaConf

    from mlcycle.params import Params

    missing = OmegaConf.missing_keys(OmegaConf.structured(Params))
    assert {"seed", "train", "paths", "model", "trainer"} <= missing


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "validate.table.max_feature_auc=high",
            "invalid parameter 'validate.table.max_feature_auc'",
        ),
        ("+validate.table.typo=1", "invalid parameter 'validate.table.typo': Key 'typo' not in"),
        ("task.table.columns.amount.nullable=perhaps", "'task.table.columns.amount.nullable'"),
        ("~collect.transactions.days", "missing parameter(s) collect.transactions.days"),
    ],
)
def test_a_modalitys_own_sections_are_typed_by_its_folder(override, message):
    """A table task's sections (its columns, sources, limits) are typed by
    mlcycle.modalities.table.params, checked as strictly as the core's before any work."""
    text = config.compose(["task=transactions"])
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(text)
    config.apply_overrides(cfg, [override])
    with pytest.raises(ConfigError) as e:
        config.validate(cfg)
    assert message in str(e.value)
