// piscina task: bcrypt, as Go's golang.org/x/crypto/bcrypt does it (hashes interchange both ways:
// snapshots and data carry them between etcd and Lattice). Seconds of CPU at etcd's cost 10 per
// hundred calls, which is why it runs here and not on the main thread.
import bcrypt from 'bcryptjs';

export type BcryptTask =
  | { readonly op: 'hash'; readonly password: string; readonly cost: number }
  | { readonly op: 'compare'; readonly password: string; readonly hash: string };

export default function bcryptTask(task: BcryptTask): string | boolean {
  if (task.op === 'hash') return bcrypt.hashSync(task.password, bcrypt.genSaltSync(task.cost));
  return bcrypt.compareSync(task.password, task.hash);
}
