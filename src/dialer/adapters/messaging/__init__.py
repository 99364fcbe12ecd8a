"""Messaging adapters: SMS over Twilio's Messages API, email over SMTP. Each implements a
sender of ``dialer.ports.messaging`` and turns its provider's wire formats into that port's
provider-neutral words."""
