"""/v1/limits and /v1/policy: the tenant's own caps and rates, and its number policy."""

from __future__ import annotations

from fastapi import APIRouter

from dialer.api.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["tenant"], responses=PROBLEM_RESPONSES)
