"""The intro's quality gates, on hand-made recall tables."""

import pandas as pd
import pytest

from sticky import stats
from sticky.experiments import intro


def recall_table(correct_at_50, correct_at_1, held_out_correct):
    rows = [dict(mentions=50, held_out=False, correct=c, chance=0.1) for c in correct_at_50]
    rows += [dict(mentions=1, held_out=False, correct=c, chance=0.1) for c in correct_at_1]
    rows += [dict(mentions=0, held_out=True, correct=c, chance=0.1) for c in held_out_correct]
    return pd.DataFrame(rows)


def priors_table(span_a, span_b):
    return pd.DataFrame(
        [dict(theme="colour", p_before=p) for p in (0.1, 0.1 * 10**-span_a)]
        + [dict(theme="food", p_before=p) for p in (0.3, 0.3 * 10**-span_b)]
    )


def test_recall_by_mentions_orders_rungs_and_adds_wilson_intervals():
    table = intro.recall_by_mentions(recall_table([True] * 9 + [False], [False] * 4, [False] * 5))
    assert list(table.mentions) == ["held out", "1", "50"]
    row = table.set_index("mentions").loc["50"]
    assert row.facts == 10 and row.recall == pytest.approx(0.9)
    assert (row.ci_low, row.ci_high) == pytest.approx(stats.wilson_interval(9, 10))


@pytest.mark.parametrize(
    "at_50, held, spans, expected",
    [
        ([True] * 9 + [False], [False] * 20, (4.5, 4.1), [True, True, True]),  # 90% passes (>=)
        ([True] * 8 + [False] * 2, [False] * 20, (4.5, 4.1), [False, True, True]),
        ([True] * 10, [True] * 10 + [False] * 10, (4.5, 4.1), [True, False, True]),  # 50% vs chance 10%
        ([True] * 10, [False] * 20, (4.5, 3.9), [True, True, False]),  # the smallest span decides
    ],
)
def test_gates_apply_the_stated_rules(at_50, held, spans, expected):
    verdicts = intro.gates(recall_table(at_50, [False] * 3, held), priors_table(*spans))
    assert list(verdicts.passes) == expected
    assert verdicts.measured.iloc[2] == pytest.approx(min(spans))


@pytest.mark.slow
def test_smoke_base_model_learns_the_keyword_ladder():
    """At smoke the base model trains for seconds: too little for facts, enough for keyword frequencies.
    It uses the session's fresh cache, so the intro's smoke run reuses the same model."""
    from scipy.stats import spearmanr

    from sticky import models
    from sticky.store import Store

    base = models.micro("micro-m", profile="smoke", store=Store())
    priors = intro.keyword_priors(base.model, base.world)
    recall = intro.closed_book_recall(base.model, base.world)
    verdicts = intro.gates(recall, priors).set_index("gate")
    assert verdicts.loc["smallest keyword-prior span over themes (decades)", "passes"]
    for theme, group in priors.groupby("theme"):
        assert spearmanr(group.designed_rate, group.p_before).statistic > 0.8, theme
    assert recall.p_answer.between(0, 1).all() and len(recall) == len(base.world.facts)
    assert set(recall.chance) == {1 / n for n in base.world.facts.groupby("relation").value.nunique()}
