"""The service's health and Prometheus metrics page (`campaign.http`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import cast

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

from dialer.campaign import Campaign
from dialer.metrics import Metrics


class Health(Resource):
    isLeaf = True

    def __init__(self, campaign: Campaign, now: Callable[[], datetime]) -> None:
        super().__init__()
        self.campaign, self.now = campaign, now

    def render_GET(self, request: Request) -> bytes:
        c = self.campaign
        body = {"status": "stopping" if c.stopping else ("paused" if c.paused else "running"),
                "node": c.settings.node, "calls_in_progress": len(c.calls),
                "channels": c.channels.max_channels, "now": self.now().isoformat()}
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(body).encode()


class MetricsPage(Resource):
    isLeaf = True

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return bytes(generate_latest(self.metrics.registry))


def health_site(campaign: Campaign, metrics: Metrics, now: Callable[[], datetime]) -> Site:
    root = Resource()
    # zope.interface: mypy cannot see that a Resource provides IResource
    root.putChild(b"health", cast(IResource, Health(campaign, now)))
    root.putChild(b"metrics", cast(IResource, MetricsPage(metrics)))
    return Site(root)
