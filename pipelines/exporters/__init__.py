"""Exports that push to other systems: SIEM / notification-gateway events and BGP routes.

- `events`: the `Event` type and its JSON encoding (one schema for every target).
- `base`: the `EventTarget` interface and the registry `EVENT_TARGETS` (URL scheme → target);
  `open_target(url)` is how the service opens a configured target.
- `webhook`: signed JSON batches over HTTP(S), bounded queue, bounded retries.
- `syslog`: RFC 5424 over UDP, TCP (RFC 6587 octet counting) or a local socket.
- `rtbh`, `rtbh_feed`: the ExaBGP text-API driver behind `minewatch bgp-feed` (RTBH blackhole
  routes and FlowSpec discard rules that follow the block list).
"""
