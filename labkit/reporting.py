"""Reporting a model: a model card in Markdown, written from measured numbers.

``model_card`` introduced in 21_privacy_ethics.ipynb. A model card (Mitchell et al., 2019) says what a model is
for, what data it was trained and tested on, how well it did (with uncertainty), and where it should not be used.
Every number in it should come from a measurement, never from memory: pass the lesson's own results.
"""

import math
import numbers

__all__ = ["model_card", "format_metric", "card_sections"]

_REQUIRED = ("Intended use", "Data", "Metrics", "Limitations")


def _need_text(value, what):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


def _is_interval(value):
    return all(hasattr(value, name) for name in ("value", "low", "high"))


def format_metric(value):
    """A metric as table cells ``(value, interval)``: a float gives ``('0.912', '')``; an Interval (from
    :func:`labkit.validation.bootstrap_ci`) gives ``('0.912', '0.870 to 0.950 (95 %)')``."""
    if _is_interval(value):
        numbers_ = [float(value.value), float(value.low), float(value.high)]
        if not all(math.isfinite(v) for v in numbers_):
            raise ValueError(f"interval values must be finite numbers, got {value!r}")
        level = float(getattr(value, "level", 0.95))
        return f"{numbers_[0]:.3f}", f"{numbers_[1]:.3f} to {numbers_[2]:.3f} ({level:.0%})"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"a metric must be a number or an Interval, got {type(value).__name__} ({value!r:.40})")
    if not math.isfinite(float(value)):
        raise ValueError(f"a metric must be finite, got {value!r}")
    return f"{float(value):.4g}" if abs(float(value)) >= 1000 else f"{float(value):.3f}", ""


def _as_lines(content, what):
    """str -> paragraph; list/tuple of str -> bullets; dict -> '**key**: value' bullets."""
    if isinstance(content, str):
        return [_need_text(content, what)]
    if isinstance(content, dict) and content:
        return [f"- **{_need_text(str(k), what)}**: {_need_text(str(v), what)}" for k, v in content.items()]
    if isinstance(content, (list, tuple)) and content:
        return [f"- {_need_text(str(item), what)}" for item in content]
    raise ValueError(f"{what} must be a non-empty string, list of strings or dict, got {content!r}")


def _metric_table(metrics):
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError(f"metrics must be a non-empty dict name -> float or Interval, got {metrics!r}")
    rows = ["| metric | value | interval |", "|---|---|---|"]
    for name, value in metrics.items():
        shown, interval = format_metric(value)
        rows.append(f"| {_need_text(str(name), 'a metric name')} | {shown} | {interval} |")
    return rows


def model_card(name, intended_use, data, metrics, limitations, **sections):
    """A model card as Markdown text.

    name, intended_use: non-empty strings. data: a string, a list of strings or a dict (e.g. data set -> what it
    is). metrics: dict name -> float or :class:`labkit.validation.Interval` (shown with its interval).
    limitations: a string or a list of strings. ``sections``: further sections, title_with_underscores=content
    (str, list or dict), e.g. ``privacy="..."``, ``ethical_considerations=[...]``; shown after the required ones.
    Raises ValueError/TypeError for missing or malformed parts. Introduced in 21_privacy_ethics.ipynb.
    """
    title = _need_text(name, "name")
    parts = [f"# Model card: {title}", "", "## Intended use", *_as_lines(_need_text(intended_use, "intended_use"),
                                                                           "intended_use")]
    parts += ["", "## Data", *_as_lines(data, "data")]
    parts += ["", "## Metrics", *_metric_table(metrics)]
    parts += ["", "## Limitations", *_as_lines(limitations, "limitations")]
    for key, content in sections.items():
        heading = key.replace("_", " ").strip().capitalize()
        if not heading:
            raise ValueError(f"section name {key!r} is empty")
        parts += ["", f"## {heading}", *_as_lines(content, f"section {key!r}")]
    return "\n".join(parts) + "\n"


def card_sections(card):
    """The second-level headings of a model card (list of str), e.g. to check that none is missing."""
    if not isinstance(card, str):
        raise TypeError(f"card must be the Markdown text of a model card, got {type(card).__name__}")
    return [line[3:].strip() for line in card.splitlines() if line.startswith("## ")]
