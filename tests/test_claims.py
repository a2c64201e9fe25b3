"""The scoreboard of the paper's claims, computed from the released evaluations."""

import pytest

from wsnas import claims, reference


@pytest.fixture(scope="module")
def board():
    return claims.scoreboard(reference.load_evaluations())


def test_every_claim_has_evidence_and_a_verdict(board) -> None:
    assert len(board) == len(claims.CHECKS)
    assert set(board["verdict"]) <= {claims.SUPPORTED, claims.PARTLY, claims.NOT_SUPPORTED}
    assert board["evidence"].str.len().gt(40).all()


def test_batchnorm_claim_rests_on_all_seven_spaces(board) -> None:
    row = board.iloc[0]
    assert "7 of 7 spaces" in row["evidence"] and row["verdict"] == claims.SUPPORTED


def test_size_claim_reproduces_the_papers_minus_071(board) -> None:
    row = board.loc[board["chapter"] == "bias"].iloc[0]
    assert "-0.71 from the paper's rounded table" in row["evidence"]
