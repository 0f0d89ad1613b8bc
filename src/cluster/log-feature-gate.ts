// etcd's cluster version, per log feature: a member proposes an entry of a newer kind only while every
// member of the current membership (learners too: they apply the log) says it can apply it. Peers say
// so in their message stream's handshake; a peer not connected now counts as unable, so the gate
// stays shut while a member is down (it may come back running an older build).

/** Whether every member but `self` advertises `feature` now. */
export function everyMemberApplies(
  members: readonly { readonly id: bigint }[],
  self: bigint,
  advertises: (id: bigint, feature: string) => boolean,
  feature: string,
): boolean {
  return members.every((m) => m.id === self || advertises(m.id, feature));
}
