"""--data-weights: documents drawn from sources in proportion, seeded, resumable, shard-disjoint."""

from __future__ import annotations

import pytest

from mlm_cli.data.mixing import WeightedSources, parse_weights
from mlm_cli.data.sources import CorpusSpec, DocumentStream
from mlm_cli.errors import BadInputError
from mlm_cli.workflows.batch_stream_setup import mixed_documents

pytestmark = pytest.mark.run_once  # numpy and files only


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixing")
    for name, count in (("a", 20_000), ("b", 20_000), ("c", 20_000), ("small", 50)):
        (folder / f"{name}.txt").write_text("".join(f"{name} {i}\n" for i in range(count)))
    return folder


def take(stream, count: int, batch_size: int = 1000) -> list[str]:
    documents: list[str] = []
    for batch in stream.batches(batch_size):
        documents.extend(batch)
        if len(documents) >= count:
            break
    return documents[:count]


def mix(sources, names: list[str], weights: list[float], *, shuffled: bool = False, repeat: bool = True,
        shard: tuple[int, int] = (0, 1), seed: int = 0):
    spec = CorpusSpec(tuple(str(sources / f"{name}.txt") for name in names))
    return mixed_documents(spec, weights, None, shard, shuffle_buffer=500 if shuffled else None, seed=seed,
                           repeat=repeat)


@pytest.mark.parametrize("weights", [[0.8, 0.2], [5.0, 3.0, 2.0]])
def test_each_source_gives_its_share_of_10k_documents(sources, weights):
    names = ["a", "b", "c"][: len(weights)]
    documents = take(mix(sources, names, weights), 10_000)
    for name, weight in zip(names, weights):
        share = sum(doc.startswith(name + " ") for doc in documents) / len(documents)
        assert abs(share - weight / sum(weights)) < 0.01, (name, share)
    assert len(set(documents)) == len(documents)  # no source repeated yet


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_resumed_mix_continues_with_the_same_documents(sources, shuffled):
    whole = mix(sources, ["a", "b"], [0.8, 0.2], shuffled=shuffled)
    batches = whole.batches(700)
    seen = [next(batches) for _ in range(5)]
    state = whole.state_dict()
    rest = [next(batches) for _ in range(10)]
    resumed = mix(sources, ["a", "b"], [0.8, 0.2], shuffled=shuffled)
    resumed.load_state_dict(state)
    again = resumed.batches(700)
    assert [next(again) for _ in range(10)] == rest
    assert seen != rest and mix(sources, ["a", "b"], [0.8, 0.2], shuffled=shuffled, seed=1).state_dict() != state


def test_a_source_that_runs_out_starts_over_or_ends_the_mix(sources):
    documents = take(mix(sources, ["a", "small"], [0.5, 0.5]), 10_000)
    small = [doc for doc in documents if doc.startswith("small ")]
    assert abs(len(small) / len(documents) - 0.5) < 0.02
    assert set(small) == {f"small {i}" for i in range(50)}  # every pass reads all of it
    ended = take(mix(sources, ["a", "small"], [0.5, 0.5], repeat=False), 10_000)
    assert sum(doc.startswith("small ") for doc in ended) == 50 and len(ended) < 200


def test_data_shards_mix_disjoint_parts(sources):
    first = take(mix(sources, ["a", "b"], [0.8, 0.2], shard=(0, 2)), 5_000)
    second = take(mix(sources, ["a", "b"], [0.8, 0.2], shard=(1, 2)), 5_000)
    assert not set(first) & set(second)
    assert abs(sum(doc.startswith("a ") for doc in first) / 5_000 - 0.8) < 0.02


def test_an_empty_source_is_one_clear_error(sources, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    streams = [DocumentStream(CorpusSpec((str(sources / "a.txt"),))), DocumentStream(CorpusSpec((str(tmp_path /
                                                                                                    "empty.txt"),)))]
    with pytest.raises(BadInputError, match="has no documents"):
        take(WeightedSources(streams, ["a.txt", "empty.txt"], [0.5, 0.5], seed=0, repeat=True), 100)


@pytest.mark.parametrize("text, expected", [("0.8,0.2", [0.8, 0.2]), ("1", [1.0]), (None, None)])
def test_weights_parse(text, expected):
    assert parse_weights(text) == expected


@pytest.mark.parametrize("text", ["0.8,-0.2", "a,b", "0,1", "nan,1", ""])
def test_bad_weights_are_refused(text):
    with pytest.raises(ValueError):
        parse_weights(text)
