"""The provider guard's state (circuit breaker and adaptive pacing): in this process
(``memory``), or shared by every process through Redis (``redis``)."""
