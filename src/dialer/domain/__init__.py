"""The pure core of Dialer: entities, statuses, retry policy, calling windows and pacing math.

Nothing here does I/O or knows about databases, Redis, HTTP or settings."""
