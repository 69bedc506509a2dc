"""Metrics live in the app's own registry: two apps never share counts."""

from __future__ import annotations

from prometheus_client import generate_latest

from service.metrics import Metrics


def test_rejections_are_counted_by_reason_in_each_apps_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.reject("busy_predict")
    first.reject("busy_predict")
    first.reject("timeout")
    text = generate_latest(first.registry).decode()
    assert 'brainxai_rejections_total{reason="busy_predict"} 2.0' in text
    assert 'brainxai_rejections_total{reason="timeout"} 1.0' in text
    assert "busy_predict" not in generate_latest(second.registry).decode()
