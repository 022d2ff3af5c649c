"""Figure titles state a finding only when its claim's verdict is reproduced, never by an estimate's sign."""

import numpy as np
import pandas as pd
import pytest

from sticky import claims
from sticky.experiments import context, priming


def _row(verdict: str) -> dict:
    return dict(verdict=verdict, ci_low=-0.28, ci_high=0.10)


def test_headline_states_the_finding_only_when_reproduced():
    assert claims.headline(_row("reproduced"), "A holds", "A against B") == "A holds"
    for verdict in ("inconclusive", "not reproduced"):
        assert claims.headline(_row(verdict), "A holds", "A against B") == f"A against B ({verdict})"


def _titles(verdict: str) -> list[str]:
    """The titles of the charts whose finding a sign used to choose, for a negative estimate whose interval
    holds 0 and a row with ``verdict``."""
    rates = pd.DataFrame(dict(mentions=[1, 10], in_context_rate=[0.5, 0.4], memorized_rate=[0.3, 0.4],
                              ci_low=[0.4, 0.3], ci_high=[0.6, 0.5]))
    fit = dict(rho_fact=-0.09, rho_fact_low=-0.28, rho_fact_high=0.10)
    frequency = context.frequency_chart(rates, fit, _row(verdict), "micro-world")
    results = pd.DataFrame(dict(p_before=[1e-4, 1e-2], priming_score=[3.0, 1.0], theme=["a", "a"], text_id=[0, 1]))
    threshold = priming.threshold_chart(results, dict(rho_prime=-0.2, threshold_log10=np.nan), "micro-world",
                                        row=_row(verdict))
    return [chart.to_dict()["title"]["text"] for chart in (frequency, threshold)]


@pytest.mark.parametrize("verdict", ["inconclusive", "not reproduced"])
def test_a_result_that_is_not_reproduced_gets_no_finding_in_a_title(verdict):
    frequency, threshold = _titles(verdict)
    assert "resist" not in frequency and verdict in frequency
    assert "falls" not in threshold and verdict in threshold


def test_a_reproduced_result_states_its_finding():
    frequency, threshold = _titles("reproduced")
    assert "frequent facts resist counterfactual context" in frequency and "[-0.28, 0.10]" in frequency
    assert "priming falls as p_before rises" in threshold


def test_the_priming_chart_refuses_to_guess_a_title():
    with pytest.raises(ValueError, match="needs row"):
        priming.threshold_chart(pd.DataFrame(dict(p_before=[0.1], priming_score=[1.0])), {}, "micro-world")
