// etcd's cluster version, per log feature: a member proposes an entry of a newer kind only while every
// member of the current membership (learners too: they apply the log) can apply it. Peers say so in
// their message stream's handshake. What a peer said is remembered for this process's lifetime, so a
// member that is down or unreachable now still counts with what it last advertised: the gate does not
// close (and fall back to older, racier paths) whenever one member is briefly away. A member that comes
// back on an older build says so in its new handshake before it can take part (it must connect to
// receive the log), which replaces what it said before. A member not heard from since this process
// started counts as unable.

/** Each peer's log features as it last advertised them, kept until the peer is removed. */
export class AdvertisedLogFeatures {
  // One entry per peer that passed the handshake (a member of the membership): bounded by it.
  private readonly byPeer = new Map<bigint, ReadonlySet<string>>();

  /** A peer's handshake advertised `features` (replacing what it said before, more or less). */
  record(id: bigint, features: ReadonlySet<string>): void {
    this.byPeer.set(id, features);
  }

  /** The peer was removed from the membership. */
  forget(id: bigint): void {
    this.byPeer.delete(id);
  }

  /** Whether the peer's last handshake since this process started advertised `feature`. */
  advertises(id: bigint, feature: string): boolean {
    return this.byPeer.get(id)?.has(feature) ?? false;
  }
}

/** Whether every member but `self` advertised `feature` (as last heard: see AdvertisedLogFeatures). */
export function everyMemberApplies(
  members: readonly { readonly id: bigint }[],
  self: bigint,
  advertises: (id: bigint, feature: string) => boolean,
  feature: string,
): boolean {
  return members.every((m) => m.id === self || advertises(m.id, feature));
}
