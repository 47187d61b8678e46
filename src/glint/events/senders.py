"""Which sender the publisher's thread uses: the thin AMQP one for the plain
RabbitMQ set-up it reproduces exactly, oslo.messaging for anything else."""

from __future__ import annotations

from glint.events.amqp_sender import AmqpSender, Broker
from glint.events.publisher import CONTROL_EXCHANGE, OsloSender, Sender
from glint.settings import NotificationSettings

RABBIT_GROUP = "oslo_messaging_rabbit"
AMQP_PORT = 5672


def sender_for(settings: NotificationSettings) -> Sender:
    """An AmqpSender when `plain_rabbit` finds the brokers, else an
    OsloSender (which raises ValueError for an unusable transport URL)."""
    brokers = plain_rabbit(settings)
    return OsloSender(settings) if brokers is None else AmqpSender(settings, brokers)


def plain_rabbit(settings: NotificationSettings) -> list[Broker] | None:
    """The brokers when only the messagingv2 driver is on, the transport URL
    is a `rabbit://` one without query options, and the config files set no
    `[oslo_messaging_rabbit]` option nor another `control_exchange`: the
    set-up whose output AmqpSender reproduces. None for any other."""
    import oslo_messaging
    from oslo_config import cfg
    from oslo_messaging.opts import list_opts

    url = settings.transport_url or settings.default_transport_url
    if settings.drivers != ("messagingv2",) or url is None:
        return None
    conf = cfg.ConfigOpts()
    conf(args=[], project="glance",
         default_config_files=[str(path) for path in settings.config_files])
    for group, options in list_opts():
        conf.register_opts(options, group=group)
        if group == RABBIT_GROUP and any(conf[group][option.dest] != option.default
                                         for option in options):
            return None
    # Glance's exchange unless the files name another one (as OsloSender does).
    conf.set_default("control_exchange", CONTROL_EXCHANGE)
    if conf.control_exchange != CONTROL_EXCHANGE:
        return None
    try:
        parsed = oslo_messaging.TransportURL.parse(conf, url)
    except oslo_messaging.InvalidTransportURL:
        return None
    if parsed.transport != "rabbit" or parsed.query or not parsed.hosts:
        return None
    return [Broker(host.hostname, host.port or AMQP_PORT, host.username or "guest",
                   host.password or "guest", parsed.virtual_host or "/")
            for host in parsed.hosts]
