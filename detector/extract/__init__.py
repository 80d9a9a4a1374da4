"""Name extraction from candidate payloads: DNS question/answer names and the TLS ClientHello SNI.

Pure functions, bytes in and small frozen results out; none of them raises on any input.
"""

from detector.extract.dns import DnsAnswer, DnsInfo, dns_names, dns_qname
from detector.extract.tls import MAX_HELLO_LEN, TLS_CAP, TlsHello, client_hello_sni

__all__ = [
    "MAX_HELLO_LEN",
    "TLS_CAP",
    "DnsAnswer",
    "DnsInfo",
    "TlsHello",
    "client_hello_sni",
    "dns_names",
    "dns_qname",
]
