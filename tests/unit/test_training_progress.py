"""The training job's progress: a bar on a terminal, log lines otherwise, and fault injection."""

from __future__ import annotations

import logging
import sys

import pytest

from jobs.train_interest import epoch_logger

EPOCH = "epoch {:3d} loss 6.1000 valid NDCG@10 0.1400 (3s)"


def test_on_a_terminal_training_shows_an_epoch_bar(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = epoch_logger(None, max_epochs=4)
    for epoch in range(3):
        progress(EPOCH.format(epoch))
    progress("refit on train + valid: 3 epochs (1s)")
    err = capsys.readouterr().err
    assert "training:" in err and "3/4" in err and "loss 6.1000 valid NDCG@10 0.1400" in err


def test_off_a_terminal_each_epoch_is_a_log_line(monkeypatch, caplog) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    with caplog.at_level(logging.INFO, logger="jobs.train_interest"):
        progress = epoch_logger(None, max_epochs=4)
        for epoch in range(2):
            progress(EPOCH.format(epoch))
    assert [r.getMessage() for r in caplog.records] == [EPOCH.format(0), EPOCH.format(1)]


def test_an_injected_failure_raises_after_that_many_epochs(monkeypatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    progress = epoch_logger(2, max_epochs=4)
    progress(EPOCH.format(0))
    with pytest.raises(RuntimeError, match="after 2 epochs"):
        progress(EPOCH.format(1))
