"""The scorecard module (rows, verdicts, files) and chapter 7's reading of the chapters' rows."""

import base64
import io

import pandas as pd
import pytest

from sticky import scorecard
from sticky.experiments import scorecard as chapter7

ROW = dict(claim_id="rho", claim="P_before predicts priming", kind="paper finding", paper_value="strong negative",
           our_value=-0.8, ci_low=-0.9, ci_high=-0.7, verdict="reproduced", track="micro-world")


def test_frame_orders_columns_and_rejects_unknown_verdicts():
    table = scorecard.frame("priming", [ROW], "book")
    assert list(table.columns) == scorecard.COLUMNS and table.chapter[0] == "priming"
    with pytest.raises(ValueError, match="allowed: reproduced, not reproduced, inconclusive"):
        scorecard.frame("priming", [dict(ROW, verdict="partly")], "book")  # the first edition's, now only in v1
    assert scorecard.frame("priming", [dict(ROW, verdict_v1="partly")], "book").verdict_v1[0] == "partly"
    with pytest.raises(ValueError, match=r"claims \['rho'\] have no kind; allowed: paper finding"):
        scorecard.frame("priming", [dict(ROW, kind=None)], "book")


def test_chapter7_reads_every_written_row_and_names_the_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path))
    rows = [ROW, dict(ROW, claim_id="t", verdict="not reproduced")]
    scorecard.write(scorecard.frame("priming", rows, "smoke"), "priming")
    rows, missing = chapter7.collect()
    assert len(rows) == 2 and set(rows.page) == {"01_priming.html"}
    assert "01_priming" not in missing and all(m[:2] not in ("00", "07") for m in missing)
    html = chapter7.linked_table(rows)
    assert html.count('<a href="01_priming.html#priming-rho">') == 1 and "[-0.9, -0.7]" in html
    assert html.count('<a href="01_priming.html#priming-t">') == 1  # the section that tests each claim
    assert html.count('<a href="01_priming.html#priming-rules">rule</a>') == 2
    # the download link carries the table itself: decoded, it is the rows the chapters wrote
    link = chapter7.csv_link(rows)
    data = base64.b64decode(link.split("base64,", 1)[1].split('"', 1)[0])
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(data)), pd.read_csv(tmp_path / "priming" / "scorecard.csv"))
    assert chapter7.verdict_chart(rows).to_dict()["title"] == "1 of 2 claims reproduced (design checks not counted)"


def test_chapter7_reads_the_books_rows_at_one_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path / "book"))  # the book's runs write here
    scorecard.write(scorecard.frame("priming", [ROW], "book"), "priming")
    scorecard.write(scorecard.frame("poisoning", [ROW], "smoke"), "poisoning")
    # a reader's own run of chapter 7 writes elsewhere (chapters.execute sets both); it reads the book's rows
    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path / "run"))
    monkeypatch.setenv("STICKY_BOOK_FIGURES", str(tmp_path / "book"))
    rows, missing = chapter7.collect("book")
    assert set(rows.chapter) == {"priming"} and set(rows.profile) == {"book"}  # never a mix of profiles
    assert "02_poisoning" in missing and "01_priming" not in missing
    assert set(chapter7.collect()[0].chapter) == {"priming", "poisoning"}  # no profile named: every row


def test_kinds_counts_and_review_changes(tmp_path, monkeypatch):
    """Design checks are listed and never counted; the review table keeps the v1 verdict beside the new one."""
    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path))
    new = [dict(ROW, kind="paper finding", verdict="inconclusive", verdict_v1="reproduced", reason="too wide"),
           dict(ROW, claim_id="gate", kind="design check", verdict="reproduced")]
    scorecard.write(scorecard.frame("priming", [ROW, *new], "smoke"), "priming")
    rows, _ = chapter7.collect()
    counts = chapter7.counts_by_kind(rows)
    assert counts.loc["design check", "reproduced"] == 1 and counts.loc["paper finding", "inconclusive"] == 1
    assert counts.loc["paper finding", "reproduced"] == 1
    assert chapter7.verdict_chart(rows).to_dict()["title"] == "1 of 2 claims reproduced (design checks not counted)"
    changes = chapter7.review_changes(rows)
    assert changes[["v1 verdict", "verdict now"]].values.tolist() == [["reproduced", "inconclusive"]]
    assert "too wide" in chapter7.linked_table(rows)


def test_written_file_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path))
    table = scorecard.frame("priming", [ROW], "book")
    path = scorecard.write(table, "priming")
    assert path == tmp_path / "priming" / "scorecard.csv"
    pd.testing.assert_frame_equal(pd.read_csv(path), table)


def test_show_rule_displays_the_functions_own_source(monkeypatch):
    import inspect

    from IPython import display as ipd

    from sticky import scorecard

    shown = []
    monkeypatch.setattr(ipd, "display", lambda obj: shown.append(obj))
    scorecard.show_rule(scorecard.frame)
    assert shown[0].data.startswith("```python\ndef frame(")
    assert inspect.getsource(scorecard.frame).strip() in shown[0].data


def test_a_chapters_scorecard_shows_its_claims_narrow_and_closes_with_the_count():
    table = scorecard.frame("priming", [
        ROW, dict(ROW, claim_id="t", verdict="not reproduced", ci_low=float("nan"), ci_high=float("nan")),
        dict(ROW, claim_id="u", verdict="inconclusive", verdict_v1="partly", reason="interval holds 0 & more"),
        dict(ROW, claim_id="gate", kind="design check", verdict="reproduced")], "smoke")
    assert scorecard.verdict_summary(table) == ("3 counted claims: 1 reproduced, 1 not reproduced, 1 inconclusive. "
                                                "Design checks (shown, not counted): gate reproduced.")
    html = scorecard.show(table).data
    assert html.count("<tr>") == 5 and html.count("<th>") == 5  # a header and four claims, five columns
    assert "-0.8 [-0.9, -0.7]" in html and "v1: partly" in html and "holds 0 &amp; more" in html
    assert html.endswith("<p>3 counted claims: 1 reproduced, 1 not reproduced, 1 inconclusive. Design checks "
                         "(shown, not counted): gate reproduced.</p>")
    assert scorecard.verdict_summary(table[table.kind == "design check"]).startswith("0 counted claims: none.")


def test_a_claim_links_to_one_section_whatever_rate_it_is_read_at():
    """The label a chapter puts on the section that tests a claim drops the claim id's trailing number, which a
    profile or a parameter changes (chapter 2's headline rate is 0.01 at smoke, 0.001 at book)."""
    assert chapter7.claim_anchor("poisoning", "dos_persists_0.001") == "poisoning-dos-persists"
    assert chapter7.claim_anchor("poisoning", "dos_persists_0.01") == "poisoning-dos-persists"
    assert chapter7.claim_anchor("priming", "threshold_1e-3") == "priming-threshold"
    assert chapter7.claim_anchor("priming", "mitigation_ignore-k_20pct") == "priming-mitigation-ignore-k"
    assert chapter7.claim_anchor("poisoning", "dos_lowest_rate") == "poisoning-dos-lowest-rate"
