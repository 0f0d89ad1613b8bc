// The Common Name of a TLS peer's certificate, as etcd reads it (the subject's first CN): the user of
// a call with --client-cert-auth, and what --peer-cert-allowed-cn checks.
import type { Socket } from 'node:net';
import tls from 'node:tls';

export function commonNameOf(cert: tls.PeerCertificate): string | undefined {
  const cn: unknown = (cert.subject as unknown as Record<string, unknown> | undefined)?.['CN'];
  if (typeof cn === 'string') return cn;
  if (Array.isArray(cn) && typeof cn[0] === 'string') return cn[0];
  return undefined;
}

/** The CN of the certificate a client presented on `socket`, when it verified; undefined over plain TCP. */
export function verifiedCommonNameOf(socket: Socket): string | undefined {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  return commonNameOf(socket.getPeerCertificate());
}
