// Short messages for the banner under the header (saved, deleted, failed …), the last few only.
import { ApiFailure, errorText } from './api';
export interface Notice {
  readonly id: number;
  readonly kind: 'info' | 'error';
  readonly text: string;
}

const maxNotices = 4;
const noticeLifetimeMs = 6_000;
let notices: Notice[] = [];
let nextId = 0;
const listeners = new Set<(n: readonly Notice[]) => void>();

function emit(): void {
  for (const l of listeners) l(notices);
}

export function notify(text: string, kind: Notice['kind'] = 'info'): void {
  const n = { id: ++nextId, kind, text };
  notices = [...notices, n].slice(-maxNotices);
  emit();
  setTimeout(() => dismiss(n.id), noticeLifetimeMs);
}

export function dismiss(id: number): void {
  notices = notices.filter((n) => n.id !== id);
  emit();
}

export function subscribeNotices(l: (n: readonly Notice[]) => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** A failed call, unless it failed for want of a login (the login form is shown for that). */
export function reportError(what: string, err: unknown): void {
  if (err instanceof ApiFailure && err.status === 401) return;
  notify(`${what}: ${errorText(err)}`, 'error');
}
