"""A bad record survives pickling: loader workers send it to the training process."""

from __future__ import annotations

import pickle

from vitp_core.corpus.records import BadRecordError, RecordSource


def test_bad_record_round_trips_through_pickle() -> None:
    error = BadRecordError(RecordSource("/data/corpus.jsonl", 7), "image unusable: truncated.")
    clone = pickle.loads(pickle.dumps(error))
    assert isinstance(clone, BadRecordError)
    assert clone.source == error.source and clone.reason == error.reason
    assert str(clone) == "/data/corpus.jsonl:7: image unusable: truncated."
    assert str(pickle.loads(pickle.dumps(BadRecordError(None, "x")))) == "x"
