"""Which addresses a fetch may connect to: public ones only, unless private ones are allowed.

A host name is resolved and every address it resolves to is checked, so an IPv4 address in any notation
(decimal '2130706433', octal, hex, '127.1') is judged by the address it means. An IPv6 address that carries
an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) is judged by that one too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]  # (host, port) → addresses, as getaddrinfo gives them

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class Refused(Exception):
    """A host newsbot does not connect to: it does not resolve, or an address of it is not public."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host`, in the system resolver's order (Refused when it has none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(host) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if any (mapped, compatible, NAT64, 6to4 or a Teredo server)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _IPV4_COMPATIBLE or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[0]
    return None


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address; every special range, and any IPv6 address hiding a
    non-public IPv4 one, is not."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None and not is_public(address.teredo[1]):  # the client side, too
            return False
        inner = embedded_ipv4(address)
        if inner is not None and (not is_public(inner) or address in _IPV4_COMPATIBLE):
            return False  # IPv4-compatible addresses are deprecated: nothing public needs them
        if address in _NAT64_LOCAL:
            return False
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class AddressGuard:
    """Resolves a host and says which of its addresses may be connected to.

    `allow_private` lets every address through (NEWSBOT_ALLOW_PRIVATE_URLS=1, for an index fed from an
    intranet). `also_public` names networks to treat as public, for tests that stand an "outside" server on a
    loopback address; `resolve` replaces the system resolver, for tests of DNS answers.
    """

    allow_private: bool = False
    also_public: Sequence[IPNetwork] = ()
    resolve: Resolver = field(default=system_resolver)

    def allows(self, address: IPAddress) -> bool:
        """True when a fetch may connect to `address`."""
        return self.allow_private or is_public(address) or any(address in net for net in self.also_public)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` to connect to, each of them checked; Refused when there are none or any one
        is not allowed (a name that resolves to an inside address is refused whole)."""
        resolved = self.resolve(host, port)
        try:
            parsed = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        except ValueError:
            raise Refused(host) from None
        if not parsed or not all(self.allows(a) for a in parsed):
            raise Refused(host)
        return resolved
