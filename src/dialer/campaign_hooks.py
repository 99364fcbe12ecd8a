"""The campaign file's ``pre_dial``: a request to the tenant's own system after admission (the
call's capacity, number lock and rate slot held) and before the provider's create.

    pre_dial:
      url: https://crm.example/pre-dial   # one of the tenant's webhook endpoints: its secret signs
      timeout: 2                          # seconds, at most 10
      on_error: skip                      # skip | proceed | retry

What the hook may answer is in ``dialer.domain.pre_dial``; docs/integrations.md has it all.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from dialer.campaign_steps import Strict
from dialer.domain.pre_dial import MAX_TIMEOUT, OnError, PreDialHook
from dialer.domain.urls import check_http_url


class PreDialSpec(Strict):
    url: Annotated[str, AfterValidator(check_http_url)]
    timeout: float = Field(default=2.0, gt=0, le=MAX_TIMEOUT)
    on_error: OnError = OnError.SKIP

    def hook(self) -> PreDialHook:
        return PreDialHook(self.url, self.timeout, self.on_error)


def pre_dial_hook(spec: PreDialSpec | None) -> PreDialHook | None:
    return spec.hook() if spec is not None else None


def pre_dial_document(hook: PreDialHook) -> dict[str, Any]:
    return {"url": hook.url, "timeout": hook.timeout, "on_error": hook.on_error.value}
