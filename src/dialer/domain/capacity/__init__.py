"""Capacity planning: how fast a campaign can dial, what limits it, and when it will be done.

Pure arithmetic on the campaign's settings and a few assumptions about the calls (how often they
are answered, how long they ring and talk). The model, in four steps:

1. Hold time. A call holds a concurrency slot from origination to its end: setup, then ringing,
   then talking for an answered call. Its mean over the outcome mix is the mean hold time.
2. Sustainable start rate. Each concurrency cap allows ``cap / hold`` starts per second at
   steady state (Little's law); each start rate allows its own sustained rate (a burst only
   helps for an instant). The smallest of them is the sustainable rate; its limit *binds*.
3. Attempts per lead. An attempt ends answered (the lead is done) or in an outcome the retry
   policy retries, or not. With ``r`` the chance that an attempt is retried, a lead gets
   ``1 + r + r² + … + r^(max_attempts-1)`` attempts on average.
4. Completion. A fluid run of the campaign: leads are grouped by their time zones, each group
   is dialled at the sustainable rate (shared by the groups whose calling window is open) and
   comes back for another attempt after its retry delay. The run ends when less than half a
   lead is left, which places the last retry delays and the window's closed hours on the
   calendar.

Assumptions: outcomes are independent of the attempt number and of the contact; talk time is
exponential (cut at ``max_call_duration``); this campaign is alone under the global and tenant
limits; the engine's own latency (a few milliseconds per call) is left out.

The modules follow the model: ``inputs`` (what a plan is computed from), ``steady_state``
(steps 1 and 2), ``attempts`` (step 3), ``completion`` (step 4) and ``plan`` (all of it).
"""
