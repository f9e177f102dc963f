"""Model and dataset names are unique ignoring case (issue #25): TINY-DEMO never registers beside tiny-demo."""
import pytest

from jobs.models.registry import RegistryError, list_datasets, list_models, register_dataset, register_model


def test_a_model_name_in_another_case_is_refused(ws):
    path = list_models(ws)["tiny-demo"]
    with pytest.raises(RegistryError) as e:
        register_model(ws, "TINY-DEMO", path)
    assert str(e.value) == ("a model named 'TINY-DEMO' is already registered as 'tiny-demo' "
                            "(names are compared ignoring case); choose another name")
    assert "TINY-DEMO" not in list_models(ws)
    with pytest.raises(RegistryError, match="a model named 'tiny-demo' is already registered; choose"):
        register_model(ws, "tiny-demo", path)


def test_a_dataset_name_in_another_case_is_refused(ws):
    assert "demo-instruct" in list_datasets(ws)
    with pytest.raises(RegistryError) as e:
        register_dataset(ws, "Demo-Instruct", b'{"instruction": "a", "output": "b"}\n', overwrite=True)
    assert str(e.value) == ("a dataset named 'demo-instruct' already exists (names are compared ignoring case); "
                            "choose another name")
    assert "Demo-Instruct" not in list_datasets(ws)
    register_dataset(ws, "demo-instruct-2", b'{"instruction": "a", "output": "b"}\n')  # other names still register
